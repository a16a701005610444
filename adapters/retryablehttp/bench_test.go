package retryablecache_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	retryablecache "github.com/hoardhttp/hoard/adapters/retryablehttp"
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

func (c *canned) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return &http.Response{
		Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: c.header.Clone(), Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: req,
	}, nil
}

func drain(b *testing.B, resp *http.Response, err error) {
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}

// BenchmarkHit is retryablehttp.Client.Do of a 1 KiB response: Floor is
// the library over a canned-response transport, Cache is a fresh hit with
// the cache installed below the retry loop (over memstore, the canned
// transport as base), Above is a fresh hit through NewClientAbove.
func BenchmarkHit(b *testing.B) {
	const size = 1 << 10
	const url = "http://example.test/item?b=2&a=1"
	b.Run("Floor", func(b *testing.B) {
		rc := newRetryClient(3)
		rc.HTTPClient = &http.Client{Transport: newCanned(size)}
		req, _ := retryablehttp.NewRequest(http.MethodGet, url, nil)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := rc.Do(req)
			drain(b, resp, err)
		}
	})
	b.Run("Cache", func(b *testing.B) {
		base := newCanned(size)
		rc := newRetryClient(3)
		rc.HTTPClient = &http.Client{Transport: base}
		retryablecache.Install(rc, newCache(b))
		req, _ := retryablehttp.NewRequest(http.MethodGet, url, nil)
		resp, err := rc.Do(req)
		drain(b, resp, err)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			resp, err := rc.Do(req)
			drain(b, resp, err)
		}
		if base.n.Load() != 1 {
			b.Fatalf("origin requests = %d, want 1", base.n.Load())
		}
	})
	b.Run("Above", func(b *testing.B) {
		base := newCanned(size)
		rc := newRetryClient(3)
		rc.HTTPClient = &http.Client{Transport: base}
		hc := retryablecache.NewClientAbove(rc, newCache(b))
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		drain(b, resp, err)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			resp, err := hc.Do(req)
			drain(b, resp, err)
		}
		if base.n.Load() != 1 {
			b.Fatalf("origin requests = %d, want 1", base.n.Load())
		}
	})
}
