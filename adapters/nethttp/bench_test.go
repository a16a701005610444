package nethttpcache_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// canned is a RoundTripper that answers every request with the same
// response, without a network: the floor of any client-side cache hit.
type canned struct {
	status int
	header http.Header
	body   []byte
	n      atomic.Int64
	// fresh gives every response its own copy of header, as a real
	// transport does; the floor shares one map.
	fresh bool
}

func (c *canned) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	h := c.header
	if c.fresh {
		h = h.Clone()
	}
	return &http.Response{
		Status: strconv.Itoa(c.status), StatusCode: c.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: req,
	}, nil
}

func newCanned(size int, cc string) *canned {
	return &canned{status: 200, body: bytes.Repeat([]byte("x"), size), header: http.Header{
		"Content-Type":   {"application/json"},
		"Content-Length": {strconv.Itoa(size)},
		"Cache-Control":  {cc},
		"Etag":           {`"v1"`},
		"Date":           {time.Now().UTC().Format(http.TimeFormat)},
	}}
}

func drainResp(b *testing.B, resp *http.Response, err error) {
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}

func newBenchClient(b *testing.B, base http.RoundTripper, opts ...core.Option) (*http.Client, *core.Cache) {
	st, err := memstore.New(&memstore.Options{MaxBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	c, err := core.New(st, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return nethttpcache.NewClient(c, base), c
}

// BenchmarkFloor is http.Client.Do over a RoundTripper that returns a canned
// 1 KiB response.
func BenchmarkFloor(b *testing.B) {
	client := &http.Client{Transport: newCanned(1<<10, "max-age=3600")}
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/item", nil)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Do(req)
		drainResp(b, resp, err)
	}
}

// BenchmarkHit is a fresh hit through http.Client + nethttpcache + memstore.
func BenchmarkHit(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			base := newCanned(size, "max-age=3600")
			base.fresh = true
			client, _ := newBenchClient(b, base)
			req, _ := http.NewRequest(http.MethodGet, "http://example.test/item?b=2&a=1", nil)
			resp, err := client.Do(req)
			drainResp(b, resp, err)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for b.Loop() {
				resp, err := client.Do(req)
				drainResp(b, resp, err)
			}
			if base.n.Load() != 1 {
				b.Fatalf("origin hits = %d, want 1", base.n.Load())
			}
		})
	}
}

// BenchmarkHitHeaders is BenchmarkHit/1KiB for a request carrying the
// headers a client typically sends: with canonical names (the common case,
// which the cache must scan without allocating) and with lower-case names
// (which it merges into a canonical copy first).
func BenchmarkHitHeaders(b *testing.B) {
	hdr := [][2]string{
		{"Accept", "application/json"},
		{"Accept-Encoding", "gzip"},
		{"User-Agent", "bench/1.0"},
		{"X-Request-Id", "0123456789abcdef"},
	}
	for _, tc := range []struct {
		name  string
		canon bool
	}{{"canonical", true}, {"lowercase", false}} {
		b.Run(tc.name, func(b *testing.B) {
			base := newCanned(1<<10, "max-age=3600")
			base.fresh = true
			client, _ := newBenchClient(b, base)
			req, _ := http.NewRequest(http.MethodGet, "http://example.test/item?b=2&a=1", nil)
			for _, kv := range hdr {
				k := kv[0]
				if !tc.canon {
					k = strings.ToLower(k)
				}
				req.Header[k] = []string{kv[1]}
			}
			resp, err := client.Do(req)
			drainResp(b, resp, err)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				resp, err := client.Do(req)
				drainResp(b, resp, err)
			}
			if base.n.Load() != 1 {
				b.Fatalf("origin hits = %d, want 1", base.n.Load())
			}
		})
	}
}

// BenchmarkHitParallel is BenchmarkHit/1KiB from GOMAXPROCS goroutines.
func BenchmarkHitParallel(b *testing.B) {
	base := newCanned(1<<10, "max-age=3600")
	client, _ := newBenchClient(b, base)
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/item", nil)
	resp, err := client.Do(req)
	drainResp(b, resp, err)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkMissStore is a miss whose 1 KiB response is stored: a new URL
// every iteration.
func BenchmarkMissStore(b *testing.B) {
	base := newCanned(1<<10, "max-age=3600")
	base.fresh = true
	client, _ := newBenchClient(b, base)
	reqs := make([]*http.Request, 1<<16)
	for i := range reqs {
		reqs[i], _ = http.NewRequest(http.MethodGet, "http://example.test/item/"+strconv.Itoa(i), nil)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		resp, err := client.Do(reqs[i%len(reqs)].WithContext(core.ForceRefresh(context.Background())))
		drainResp(b, resp, err)
		i++
	}
}

// BenchmarkRevalidate304 is a stale 1 KiB entry revalidated by a 304 and
// rewritten, every iteration.
func BenchmarkRevalidate304(b *testing.B) {
	base := newCanned(1<<10, "max-age=0")
	base.fresh = true
	client, _ := newBenchClient(b, base)
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/item", nil)
	resp, err := client.Do(req)
	drainResp(b, resp, err)
	base.status = http.StatusNotModified
	base.body = nil
	base.header = http.Header{"Etag": {`"v1"`}, "Cache-Control": {"max-age=0"}}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Do(req)
		drainResp(b, resp, err)
		if !core.InfoOf(resp).Revalidated {
			b.Fatalf("not revalidated: %v", resp.Header.Get("Cache-Status"))
		}
	}
}

// BenchmarkHitVary is BenchmarkHit/1KiB for a response that varies on the
// negotiation fields a browser-like client sends, so each hit normalises
// them to select the variant (RFC 9111 §4.1).
func BenchmarkHitVary(b *testing.B) {
	base := newCanned(1<<10, "max-age=3600")
	base.header["Vary"] = []string{"Accept, Accept-Encoding, Accept-Language"}
	base.fresh = true
	client, _ := newBenchClient(b, base)
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/item", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	req.Header.Set("Accept-Language", "en-US,en;q=0.5")
	resp, err := client.Do(req)
	drainResp(b, resp, err)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := client.Do(req)
		drainResp(b, resp, err)
	}
	if base.n.Load() != 1 {
		b.Fatalf("origin hits = %d, want 1", base.n.Load())
	}
}

// BenchmarkHitObserver is BenchmarkHit/1KiB side by side without an
// observer, with one that does nothing (the cost of the event itself: the
// record, the store call's timing, the outcome) and with one that counts
// outcomes and bytes atomically (what a metrics observer does at least).
func BenchmarkHitObserver(b *testing.B) {
	var hits, bytes atomic.Int64
	observers := []struct {
		name string
		opts []core.Option
	}{
		{"None", nil},
		{"Noop", []core.Option{core.WithObserver(core.ObserverFunc(func(context.Context, *core.Event) {}))}},
		{"Counting", []core.Option{core.WithObserver(core.ObserverFunc(func(_ context.Context, ev *core.Event) {
			if ev.Outcome == core.OutcomeHit {
				hits.Add(1)
			}
			bytes.Add(ev.BytesFromCache)
		}))}},
	}
	for _, o := range observers {
		b.Run(o.name, func(b *testing.B) {
			base := newCanned(1<<10, "max-age=3600")
			base.fresh = true
			client, _ := newBenchClient(b, base, o.opts...)
			req, _ := http.NewRequest(http.MethodGet, "http://example.test/item?b=2&a=1", nil)
			resp, err := client.Do(req)
			drainResp(b, resp, err)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				resp, err := client.Do(req)
				drainResp(b, resp, err)
			}
			// CPU time per operation (the process's user and system time,
			// GC included): steadier than ns/op on a machine other
			// processes load, as the shared benchmark machine is.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
