package bench_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	bhttpcache "github.com/bartventer/httpcache"
	_ "github.com/bartventer/httpcache/store/memcache" // registers memcache://
	ghttpcache "github.com/gregjones/httpcache"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // the driver sqlitestore uses, for the bare SELECT

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
	"github.com/hoardhttp/hoard/stores/memstore"
	"github.com/hoardhttp/hoard/stores/pgstore"
	"github.com/hoardhttp/hoard/stores/redisstore"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

const (
	envRedis    = "HOARD_TEST_REDIS_URL"
	envPostgres = "HOARD_TEST_POSTGRES_URL"
)

// origin answers every request from memory, without a network: a 200 with
// a clone of header and body, or, when etag is set and the request carries
// If-None-Match: etag, a 304 with a clone of header and no body. Cloning the
// header per call is what a real transport does (every response owns its
// map), and what a cache must do for a hit.
type origin struct {
	header http.Header
	body   []byte
	etag   string
	n      atomic.Int64
}

func (o *origin) RoundTrip(req *http.Request) (*http.Response, error) {
	o.n.Add(1)
	if o.etag != "" && req.Header.Get("If-None-Match") == o.etag {
		h := o.header.Clone()
		h.Del("Content-Length")
		return &http.Response{
			Status: "304 Not Modified", StatusCode: http.StatusNotModified, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: h, Body: http.NoBody, Request: req,
		}, nil
	}
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: o.header.Clone(), Body: io.NopCloser(bytes.NewReader(o.body)),
		ContentLength: int64(len(o.body)), Request: req,
	}, nil
}

// newOrigin returns an origin of a size-byte body whose response carries
// Cache-Control: cc, an ETag, a Date and, with extra > 0, that many more
// header fields (X-Field-01: value-01, …) besides the five usual ones.
func newOrigin(size int, cc string, extra int) *origin {
	h := http.Header{
		"Content-Type":   {"application/json"},
		"Content-Length": {strconv.Itoa(size)},
		"Cache-Control":  {cc},
		"Etag":           {`"v1"`},
		"Date":           {time.Now().UTC().Format(http.TimeFormat)},
	}
	for i := range extra {
		h[fmt.Sprintf("X-Field-%02d", i+1)] = []string{fmt.Sprintf("value-%02d-%s", i+1, "abcdefghijklmnop")}
	}
	return &origin{header: h, body: bytes.Repeat([]byte("x"), size)}
}

// contender builds an http.Client over base: the floor, a peer, or hoard on
// one store. It skips b when a service the contender needs is not set up.
type contender struct {
	name   string
	client func(b *testing.B, base http.RoundTripper) *http.Client
}

var (
	floor = contender{"floor", func(b *testing.B, base http.RoundTripper) *http.Client {
		return &http.Client{Transport: base}
	}}
	gregjones = contender{"gregjones", func(b *testing.B, base http.RoundTripper) *http.Client {
		t := ghttpcache.NewTransport(ghttpcache.NewMemoryCache())
		t.Transport = base
		return &http.Client{Transport: t}
	}}
	// bartventer/httpcache v0.5.0 stores a response without Vary (or whose
	// Vary names no field the request carries) under the key of the URL's
	// list of variants, overwriting that list: it never serves a hit. A
	// Vary: Accept in the origin's responses, with every request carrying
	// Accept, gives the response a key of its own; see withVary.
	bartventer = contender{"bartventer", func(b *testing.B, base http.RoundTripper) *http.Client {
		return &http.Client{Transport: bhttpcache.NewTransport("memcache://", bhttpcache.WithTransport(withVary{base}))}
	}}
	hoardMem    = hoardOn("hoard-mem", newMemStore)
	hoardFile   = hoardOn("hoard-file", newFileStore)
	hoardSQLite = hoardOn("hoard-sqlite", func(b *testing.B) core.Store { return newSQLiteStore(b) })
	hoardRedis  = hoardOn("hoard-redis", func(b *testing.B) core.Store { return newRedisStore(b) })
	hoardPG     = hoardOn("hoard-pg", newPGStore)
)

// withVary adds Vary: Accept to every response of its RoundTripper, the
// workaround bartventer/httpcache v0.5.0 needs to serve hits at all. Every
// request carries the same Accept (see newRequest), so every request
// selects the same stored variant (RFC 9111 §4.1).
type withVary struct{ rt http.RoundTripper }

func (v withVary) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.rt.RoundTrip(req)
	if err == nil {
		resp.Header["Vary"] = []string{"Accept"}
	}
	return resp, err
}

func hoardOn(name string, store func(b *testing.B) core.Store) contender {
	return contender{name, func(b *testing.B, base http.RoundTripper) *http.Client {
		return hoardClient(b, store(b), base)
	}}
}

func hoardClient(b *testing.B, st core.Store, base http.RoundTripper) *http.Client {
	c, err := core.New(st, core.WithMaxBodySize(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return nethttpcache.NewClient(c, base)
}

func newMemStore(b *testing.B) core.Store {
	// 4 GiB: the 1e6-entry case stores about 1.4 GB, all of which must
	// stay (otter allocates by what is stored, not by the bound).
	st, err := memstore.New(&memstore.Options{MaxBytes: 4 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func newFileStore(b *testing.B) core.Store {
	st, err := filestore.New(b.TempDir(), &filestore.Options{SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// newSQLiteStore opens a store in a file of its own and returns it with the
// file's path.
func newSQLiteStore(b *testing.B) *sqlitestore.Store {
	path := filepath.Join(b.TempDir(), "hoard.db")
	st, err := sqlitestore.New(context.Background(), &sqlitestore.Options{Path: path, MaxBytes: 1 << 30, SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func suffix(b *testing.B) string {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(r[:])
}

// newRedisStore opens a store under a key prefix of its own on the Redis in
// HOARD_TEST_REDIS_URL, cleared when b ends.
func newRedisStore(b *testing.B) *redisstore.Store {
	opts, err := redis.ParseURL(conformance.RequireService(b, envRedis))
	if err != nil {
		b.Fatal(err)
	}
	client := redis.NewClient(opts)
	prefix := "hoard-bench:" + suffix(b) + ":"
	st, err := redisstore.New(context.Background(), client, &redisstore.Options{KeyPrefix: prefix})
	if err != nil {
		client.Close()
		b.Fatal(err)
	}
	// The cache closes the store when it is closed (before this runs), so
	// the keys are removed through the client: every key under the prefix.
	b.Cleanup(func() {
		defer client.Close()
		ctx := context.Background()
		var cursor uint64
		for {
			keys, next, err := client.Scan(ctx, cursor, prefix+"*", 1000).Result()
			if err != nil {
				b.Errorf("removing the keys under %s: %v", prefix, err)
				return
			}
			if len(keys) > 0 {
				if err := client.Unlink(ctx, keys...).Err(); err != nil {
					b.Errorf("removing the keys under %s: %v", prefix, err)
					return
				}
			}
			if cursor = next; cursor == 0 {
				return
			}
		}
	})
	return st
}

// newPGStore opens a store in tables of its own on the PostgreSQL in
// HOARD_TEST_POSTGRES_URL, dropped when b ends.
func newPGStore(b *testing.B) core.Store {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, conformance.RequireService(b, envPostgres))
	if err != nil {
		b.Fatal(err)
	}
	table := "hoard_bench_" + suffix(b)
	st, err := pgstore.New(ctx, pool, &pgstore.Options{Table: table, SweepInterval: -1})
	if err != nil {
		pool.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		st.Close()
		_, err := pool.Exec(ctx, `DROP TABLE IF EXISTS `+table+`, `+table+`_streams, `+table+`_chunks, `+table+`_meta;
			DROP FUNCTION IF EXISTS `+table+`_count_entries(), `+table+`_count_streams()`)
		if err != nil {
			b.Errorf("dropping %s: %v", table, err)
		}
		pool.Close()
	})
	return st
}

// get sends req and reads the whole body, failing b unless the status is
// 200 and the body has want bytes.
func get(b *testing.B, c *http.Client, req *http.Request, want int) {
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || n != int64(want) {
		b.Fatalf("status %d, %d bytes; want 200, %d bytes", resp.StatusCode, n, want)
	}
}

// newRequest is a GET of url with an Accept field, as real clients send
// (and as bartventer/httpcache needs, see withVary), the same for every
// contender.
func newRequest(b testing.TB, url string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header["Accept"] = []string{"application/json"}
	return req
}

// itemURL carries an unsorted query, so that hoard's key normalisation
// does real work.
const itemURL = "http://example.test/item?b=2&a=1"

// benchHit is a fresh hit: one request primes the cache, every timed one
// must be served from it (the origin sees exactly one request). extra adds
// header fields to the response; entries stores that many other responses
// first.
func benchHit(b *testing.B, c contender, size, extra, entries int) {
	o := newOrigin(size, "max-age=3600", extra)
	client := c.client(b, o)
	for i := range entries {
		get(b, client, newRequest(b, fmt.Sprintf("http://example.test/other/%d?b=2&a=1", i)), size)
	}
	req := newRequest(b, itemURL)
	get(b, client, req, size)
	settle()
	primed := o.n.Load()
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		get(b, client, req, size)
	}
	if c.name != floor.name && o.n.Load() != primed {
		b.Fatalf("origin requests during the timed loop: %d; want 0 (every one a hit)", o.n.Load()-primed)
	}
}

// settle waits, before the hits are timed, until the stored entry is older
// than 100 ms, as the entries a cache serves mostly are: filestore keeps in
// memory only the values of files whose status changed over 100 ms before it
// read them (see its package documentation). Every contender waits alike.
func settle() { time.Sleep(150 * time.Millisecond) }

// benchParallel is benchHit's 1 KiB case from GOMAXPROCS goroutines, each
// with a request of its own.
func benchParallel(b *testing.B, c contender) {
	const size = 1 << 10
	o := newOrigin(size, "max-age=3600", 0)
	client := c.client(b, o)
	get(b, client, newRequest(b, itemURL), size)
	settle()
	primed := o.n.Load()
	b.ReportAllocs()
	b.SetBytes(size)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := newRequest(b, itemURL)
		for pb.Next() {
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || n != size {
				b.Errorf("status %d, %d bytes", resp.StatusCode, n)
				return
			}
		}
	})
	if c.name != floor.name && o.n.Load() != primed {
		b.Fatalf("origin requests during the timed loop: %d; want 0", o.n.Load()-primed)
	}
}

// benchMiss is a miss whose 1 KiB response is stored: every request is for
// a URL not seen before. Afterwards the last URL must be a hit, proving
// that the responses were stored.
func benchMiss(b *testing.B, c contender) {
	const size = 1 << 10
	o := newOrigin(size, "max-age=3600", 0)
	client := c.client(b, o)
	var i int
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		i++
		get(b, client, newRequest(b, "http://example.test/miss/"+strconv.Itoa(i)), size)
	}
	before := o.n.Load()
	if before != int64(i) {
		b.Fatalf("origin requests: %d; want %d (every one a miss)", before, i)
	}
	get(b, client, newRequest(b, "http://example.test/miss/"+strconv.Itoa(i)), size)
	if o.n.Load() != before {
		b.Fatal("the last response stored was not served from the cache")
	}
}

// benchRevalidate serves a stale 1 KiB entry after a conditional request
// that the origin answers with 304 Not Modified (RFC 9111 §4.3): the origin
// sees every request, each with If-None-Match.
func benchRevalidate(b *testing.B, c contender) {
	const size = 1 << 10
	o := newOrigin(size, "max-age=0", 0)
	o.etag = `"v1"`
	client := c.client(b, o)
	req := newRequest(b, itemURL)
	get(b, client, req, size)
	var n int64
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		n++
		get(b, client, req, size)
	}
	if got := o.n.Load(); got != n+1 {
		b.Fatalf("origin requests: %d; want %d", got, n+1)
	}
}

// bareSQLite is a SELECT of the row that holds the stored entry, through
// the driver sqlitestore uses, scanned into sql.RawBytes (the driver's own
// copy of the value, the least a SELECT can cost): the floor of a SQLite hit.
//
// With deadline set, every SELECT runs under a context with a 2 s timeout,
// as the store's reads do (sqlitestore's StoreTimeout): database/sql and
// the driver then each start a goroutine per query to watch the context,
// which a SELECT on context.Background() does not pay.
func bareSQLite(size int, deadline bool) contender {
	name := "bare-sqlite"
	if deadline {
		name = "bare-sqlite-deadline"
	}
	return contender{name, func(b *testing.B, base http.RoundTripper) *http.Client {
		st := newSQLiteStore(b)
		client := hoardClient(b, st, base)
		get(b, client, newRequest(b, itemURL), size)
		key := onlyKey(b, st)
		db, err := sql.Open("sqlite", st.Path())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		stmt, err := db.Prepare(`SELECT value FROM entries WHERE key = ?`)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { stmt.Close() })
		kb := []byte(key)
		return &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			ctx := req.Context()
			if deadline {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
			}
			rows, err := stmt.QueryContext(ctx, kb)
			if err != nil {
				return nil, err
			}
			var n int
			for rows.Next() {
				var v sql.RawBytes
				if err := rows.Scan(&v); err != nil {
					rows.Close()
					return nil, err
				}
				n = len(v)
			}
			if err := rows.Close(); err != nil {
				return nil, err
			}
			return bareResponse(req, n, size), nil
		})}
	}}
}

// bareRedis is a go-redis GET of the bytes the hit reads (the stored
// entry, copied to a key of its own): the floor of a Redis hit.
func bareRedis(size int) contender {
	return contender{"bare-redis", func(b *testing.B, base http.RoundTripper) *http.Client {
		st := newRedisStore(b)
		client := hoardClient(b, st, base)
		get(b, client, newRequest(b, itemURL), size)
		key := onlyKey(b, st)
		ctx := context.Background()
		rc := st.Client()
		raw, err := rc.Get(ctx, st.KeyPrefix()+key).Bytes()
		if err != nil {
			b.Fatalf("reading the stored entry %q: %v", key, err)
		}
		bareKey := st.KeyPrefix() + "bare-get"
		if err := rc.Set(ctx, bareKey, raw, 0).Err(); err != nil {
			b.Fatal(err)
		}
		return &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			v, err := rc.Get(req.Context(), bareKey).Bytes()
			if err != nil {
				return nil, err
			}
			return bareResponse(req, len(v), size), nil
		})}
	}}
}

// bareResponse is an empty-bodied stand-in for the response a bare read
// would become: the benchmark loop expects size bytes, so it carries them
// only when the read returned at least size bytes (the stored entry also
// holds the header), else an error status.
func bareResponse(req *http.Request, got, size int) *http.Response {
	status := http.StatusOK
	if got < size {
		status = http.StatusInternalServerError
	}
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(zeros[:size])), ContentLength: int64(size), Request: req}
}

var zeros = make([]byte, 256<<10)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func onlyKey(b *testing.B, st core.Lister) string {
	var keys []string
	for it, err := range st.List(context.Background()) {
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, it.Key)
	}
	if len(keys) != 1 {
		b.Fatalf("stored keys: %q; want one", keys)
	}
	return keys[0]
}

// BenchmarkPeers runs every case for every contender: BenchmarkPeers/<case>/<contender>.
// Run the test binary N times with -count 1 rather than once with -count N
// (which repeats each contender N times in a row): then each run goes
// through all contenders, they are interleaved, and load from elsewhere
// weighs on all alike. make bench-peers does that; cmd/benchtable turns the
// output into the table of BENCHMARKS.md.
func BenchmarkPeers(b *testing.B) {
	all := []contender{floor, gregjones, bartventer, hoardMem, hoardFile, hoardSQLite, hoardRedis, hoardPG}
	peersAndStores := all[1:]
	run := func(name string, cs []contender, fn func(b *testing.B, c contender)) {
		b.Run(name, func(b *testing.B) {
			for _, c := range cs {
				b.Run(c.name, func(b *testing.B) { fn(b, c) })
			}
		})
	}
	hit := func(size, extra, entries int) func(b *testing.B, c contender) {
		return func(b *testing.B, c contender) { benchHit(b, c, size, extra, entries) }
	}
	run("hit-1KiB", append(all[:6:6], bareSQLite(1<<10, false), bareSQLite(1<<10, true), hoardRedis, bareRedis(1<<10), hoardPG), hit(1<<10, 0, 0))
	run("hit-64KiB", append(all[:6:6], bareSQLite(64<<10, false), bareSQLite(64<<10, true), hoardPG), hit(64<<10, 0, 0))
	run("hit-256KiB", []contender{hoardRedis, bareRedis(256 << 10)}, hit(256<<10, 0, 0))
	run("parallel-1KiB", all[:6], func(b *testing.B, c contender) { benchParallel(b, c) })
	run("miss-1KiB", peersAndStores, func(b *testing.B, c contender) { benchMiss(b, c) })
	run("revalidate-1KiB", peersAndStores, func(b *testing.B, c contender) { benchRevalidate(b, c) })
	run("hit-1KiB-30fields", all[:4], hit(1<<10, 25, 0))
	run("hit-1KiB-1e3entries", []contender{gregjones, hoardMem}, hit(1<<10, 0, 1e3))
	run("hit-1KiB-1e5entries", []contender{gregjones, hoardMem}, hit(1<<10, 0, 1e5))
	run("hit-1KiB-1e6entries", []contender{gregjones, hoardMem}, hit(1<<10, 0, 1e6))
}
