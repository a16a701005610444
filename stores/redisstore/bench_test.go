package redisstore_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
)

// cannedTransport answers every request with the same fresh response and
// no network, so a benchmark measures the cache and Redis alone.
type cannedTransport struct {
	header http.Header
	body   []byte
	n      atomic.Int64
}

func newCannedTransport(size int) *cannedTransport {
	return &cannedTransport{body: bytes.Repeat([]byte("x"), size), header: http.Header{
		"Content-Type":   {"application/json"},
		"Content-Length": {strconv.Itoa(size)},
		"Cache-Control":  {"max-age=3600"},
		"Etag":           {`"v1"`},
		"Date":           {time.Now().UTC().Format(http.TimeFormat)},
	}}
}

func (c *cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return &http.Response{
		Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: c.header.Clone(), Body: io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)), Request: req,
	}, nil
}

// BenchmarkHit is a fresh hit through http.Client + nethttpcache + core over
// the Redis in HOARD_TEST_REDIS_URL, for 1 KiB and 256 KiB bodies. Next to
// each, bare-GET-<size> is a go-redis GET of the very bytes the hit reads
// (the stored entry), on the same client in the same run: the floor of any
// Redis-backed hit. The ratio of the two is the cache's overhead.
func BenchmarkHit(b *testing.B) {
	client := testClient(b)
	for _, size := range []int{1 << 10, 256 << 10} {
		name := strconv.Itoa(size>>10) + "KiB"
		st := newTestStore(b, client)
		cache, err := core.New(st)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cache.Close() })
		base := newCannedTransport(size)
		hc := nethttpcache.NewClient(cache, base)
		req, _ := http.NewRequest(http.MethodGet, "http://example.test/item?b=2&a=1", nil)
		drain := func(b *testing.B, resp *http.Response, err error) {
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
		resp, err := hc.Do(req)
		drain(b, resp, err)

		// The stored entry, copied to a key of its own for the bare GET.
		ctx := context.Background()
		var key string
		for it, err := range st.List(ctx) {
			if err != nil {
				b.Fatal(err)
			}
			key = it.Key
		}
		raw, err := client.Get(ctx, st.KeyPrefix()+key).Bytes()
		if err != nil {
			b.Fatalf("reading the stored entry %q: %v", key, err)
		}
		bareKey := st.KeyPrefix() + "bare-get"
		if err := client.Set(ctx, bareKey, raw, 0).Err(); err != nil {
			b.Fatal(err)
		}

		b.Run("bare-GET-"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				v, err := client.Get(ctx, bareKey).Bytes()
				if err != nil || len(v) != len(raw) {
					b.Fatalf("GET: %d bytes, %v", len(v), err)
				}
			}
		})
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				resp, err := hc.Do(req)
				drain(b, resp, err)
			}
			if n := base.n.Load(); n != 1 {
				b.Fatalf("origin requests = %d, want 1 (every other request a hit)", n)
			}
		})
		// ratio-<size> alternates one bare GET and one hit per iteration
		// and reports the ratio of their total times (hit/bare), so that
		// load from other processes weighs on both alike.
		b.Run("ratio-"+name, func(b *testing.B) {
			var bare, hit time.Duration
			for b.Loop() {
				t0 := time.Now()
				v, err := client.Get(ctx, bareKey).Bytes()
				t1 := time.Now()
				if err != nil || len(v) != len(raw) {
					b.Fatalf("GET: %d bytes, %v", len(v), err)
				}
				resp, err := hc.Do(req)
				drain(b, resp, err)
				t2 := time.Now()
				bare += t1.Sub(t0)
				hit += t2.Sub(t1)
			}
			b.ReportMetric(float64(hit)/float64(bare), "hit/bare")
			b.ReportMetric(float64(bare.Nanoseconds())/float64(b.N), "bare-ns/op")
			b.ReportMetric(float64(hit.Nanoseconds())/float64(b.N), "hit-ns/op")
		})
	}
}
