package restycache_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	restycache "github.com/hoardhttp/hoard/adapters/resty"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// canned is a RoundTripper that answers every request with a prebuilt
// response, without a network: the floor of the library.
type canned struct {
	header http.Header
	body   []byte
	n      atomic.Int64
}

func newCanned(size int) *canned {
	return &canned{body: bytes.Repeat([]byte("x"), size), header: http.Header{
		"Content-Type":   {"application/octet-stream"},
		"Content-Length": {strconv.Itoa(size)},
		"Cache-Control":  {"max-age=3600"},
		"Etag":           {`"v1"`},
		"Date":           {time.Now().UTC().Format(http.TimeFormat)},
	}}
}

func (c *canned) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return &http.Response{
		Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: c.header.Clone(), Body: io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)), Request: req,
	}, nil
}

// BenchmarkHit is a GET of a 1 KiB response through resty (resty.New, the
// body read by resty):
//   - NoCache: no cache, a loopback httptest origin (what the cache saves);
//   - Floor: no cache, the canned transport (resty's own cost);
//   - Cache: the adapter over memstore, the canned transport below it, every
//     request a fresh hit.
func BenchmarkHit(b *testing.B) {
	const size = 1 << 10
	run := func(b *testing.B, c *resty.Client, url string) {
		b.Helper()
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			resp, err := c.R().Get(url)
			if err != nil {
				b.Fatal(err)
			}
			if len(resp.Body()) != size {
				b.Fatalf("body of %d bytes", len(resp.Body()))
			}
		}
	}
	b.Run("NoCache", func(b *testing.B) {
		body := bytes.Repeat([]byte("x"), size)
		origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=3600")
			w.Write(body)
		}))
		defer origin.Close()
		run(b, quiet(resty.New()), origin.URL+"/item?b=2&a=1")
	})
	b.Run("Floor", func(b *testing.B) {
		run(b, quiet(resty.New()).SetTransport(newCanned(size)), "http://example.test/item?b=2&a=1")
	})
	b.Run("Cache", func(b *testing.B) {
		st, err := memstore.New(&memstore.Options{MaxBytes: 64 << 20})
		if err != nil {
			b.Fatal(err)
		}
		cache, err := core.New(st)
		if err != nil {
			b.Fatal(err)
		}
		defer cache.Close()
		base := newCanned(size)
		c := restycache.Install(quiet(resty.New()).SetTransport(base), cache)
		url := "http://example.test/item?b=2&a=1"
		if _, err := c.R().Get(url); err != nil {
			b.Fatal(err)
		}
		run(b, c, url)
		if base.n.Load() != 1 {
			b.Fatalf("origin requests = %d, want 1", base.n.Load())
		}
	})
}
