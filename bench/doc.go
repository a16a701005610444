// Package bench holds the side-by-side benchmarks of hoard against the Go
// HTTP caches it is compared with (gregjones/httpcache and
// bartventer/httpcache) and against a floor: http.Client over a
// canned-response RoundTripper that clones its header map per call, the
// least any correct cache must do for a hit.
//
// The benchmarks live in their own module so that the root module does not
// depend on the peers. Run them with
//
//	make bench-peers
//
// which runs the test binary five times, each a run of BenchmarkPeers through
// every case and contender (so the contenders are interleaved; go test
// -count would repeat each contender in a row instead), and feeds the
// output to
// cmd/benchtable (the table with medians and ratios, written into
// BENCHMARKS.md) and cmd/benchchart (the SVG chart next to it).
//
// Contenders over a network service (Redis, PostgreSQL) read its address
// from HOARD_TEST_REDIS_URL and HOARD_TEST_POSTGRES_URL and are skipped,
// with a message saying which variable to set, when it is unset.
package bench
