package reqcache_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imroc/req/v3"

	reqcache "github.com/hoardhttp/hoard/adapters/req"
)

// canned answers every request with the same prebuilt response, without a
// network: the floor of any client-side cache hit.
type canned struct {
	header http.Header
	body   []byte
	n      atomic.Int64
}

func newCanned(size int) *canned {
	return &canned{body: bytes.Repeat([]byte("x"), size), header: http.Header{
		"Content-Type":   {"application/json"},
		"Content-Length": {strconv.Itoa(size)},
		"Cache-Control":  {"max-age=3600"},
		"Etag":           {`"v1"`},
		"Date":           {time.Now().UTC().Format(http.TimeFormat)},
	}}
}

func (c *canned) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return &http.Response{
		Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: c.header.Clone(), Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: r,
	}, nil
}

// cannedClient is a req client whose network round trip is replaced by c
// (a transport wrapper that never calls the real one).
func cannedClient(c *canned) *req.Client {
	client := req.C()
	client.GetTransport().WrapRoundTripFunc(func(http.RoundTripper) req.HttpRoundTripFunc { return c.RoundTrip })
	return client
}

// BenchmarkHit is a req GET of a 1 KiB response, read by req (auto-read):
// Floor is req over a canned-response transport, Cache is a fresh hit with
// the cache installed over memstore and the canned transport as base.
func BenchmarkHit(b *testing.B) {
	const size = 1 << 10
	const url = "http://example.test/item?b=2&a=1"
	b.Run("Floor", func(b *testing.B) {
		client := cannedClient(newCanned(size))
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.R().Get(url)
			if err != nil || len(resp.Bytes()) != size {
				b.Fatal(err)
			}
		}
	})
	b.Run("Cache", func(b *testing.B) {
		base := newCanned(size)
		client := cannedClient(base)
		reqcache.Install(client, newCache(b))
		if _, err := client.R().Get(url); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			resp, err := client.R().Get(url)
			if err != nil || len(resp.Bytes()) != size {
				b.Fatal(err)
			}
		}
		if base.n.Load() != 1 {
			b.Fatalf("origin requests = %d, want 1", base.n.Load())
		}
	})
}
