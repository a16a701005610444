package pgstore_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
)

// roundTripFunc is an http.RoundTripper of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// freshOrigin answers every request with the same body, fresh for an hour,
// without a network; *calls counts the requests.
func freshOrigin(size int, calls *int) http.RoundTripper {
	body := bytes.Repeat([]byte("x"), size)
	date := time.Now().UTC().Format(http.TimeFormat)
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		*calls++
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(size))
		h.Set("Cache-Control", "max-age=3600")
		h.Set("Date", date)
		return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(size), Request: r}, nil
	})
}

// BenchmarkHit is a fresh hit through http.Client + nethttpcache + core
// over the PostgreSQL in HOARD_TEST_POSTGRES_URL, for 1 KiB and 256 KiB
// bodies. Beside it, bare-SELECT-<size> reads the very row the hit reads
// with a bare `SELECT value FROM … WHERE key = $1` on the same pool: the
// floor of any PostgreSQL-backed hit, and Get-<size> is the store's Get
// alone. ratio-<size> alternates a bare SELECT and a hit per iteration and
// reports hit/bare, so that load from other processes weighs on both alike.
func BenchmarkHit(b *testing.B) {
	pool := newPool(b)
	for _, size := range []int{1 << 10, 256 << 10} {
		name := strconv.Itoa(size>>10) + "KiB"
		st := newStore(b, pool, nil)
		cache, err := core.New(st)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cache.Close() })
		var calls int
		hc := nethttpcache.NewClient(cache, freshOrigin(size, &calls))
		req, _ := http.NewRequest(http.MethodGet, "http://example.test/item?b=2&a=1", nil)
		hit := func(b *testing.B) {
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
		hit(b)
		ctx := context.Background()
		var key string
		for it, err := range st.List(ctx) {
			if err != nil {
				b.Fatal(err)
			}
			key = it.Key
		}
		tableName := st.EntriesTable()
		kb := []byte(key)
		bare := func(b *testing.B) {
			var v []byte
			if err := pool.QueryRow(ctx, `SELECT value FROM `+tableName+` WHERE key = $1`, kb).Scan(&v); err != nil || len(v) == 0 {
				b.Fatalf("bare SELECT: %d bytes, %v", len(v), err)
			}
		}
		b.Run("bare-SELECT-"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bare(b)
			}
		})
		b.Run("Get-"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.Get(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				hit(b)
			}
			if calls != 1 {
				b.Fatalf("origin requests = %d, want 1 (every other request a hit)", calls)
			}
		})
		b.Run("ratio-"+name, func(b *testing.B) {
			var tb, th time.Duration
			for b.Loop() {
				t0 := time.Now()
				bare(b)
				t1 := time.Now()
				hit(b)
				tb, th = tb+t1.Sub(t0), th+time.Since(t1)
			}
			b.ReportMetric(float64(th)/float64(tb), "hit/bare")
		})
	}
}
