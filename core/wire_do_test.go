package core_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// wireSend answers with 200, the header hdr returns for the request (names
// exactly as given, as a custom RoundTripper may return them) and a body
// naming the call, counting calls in n.
func wireSend(n *atomic.Int64, hdr func(r *http.Request) http.Header) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		k := n.Add(1)
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		return rvResp(r, http.StatusOK, hdr(r), "v"+itoa(int(k))), nil
	}
}

// TestResponseHeaderNamesFromSend checks that the rules that read response
// headers see them whatever their spelling (RFC 9110 §5.1): a send function
// may return names that are not canonical.
func TestResponseHeaderNamesFromSend(t *testing.T) {
	ctx := context.Background()
	t.Run("CacheControl", func(t *testing.T) {
		c := rvNew(t, nil)
		var n atomic.Int64
		send := wireSend(&n, func(*http.Request) http.Header { return http.Header{"cache-control": {"max-age=60"}} })
		rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/a", nil), send)
		resp, body := rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/a", nil), send)
		if body != "v1" || !core.InfoOf(resp).FromCache {
			t.Errorf("after a response with lower-case cache-control: max-age=60: body %q, Cache-Status %q; want v1 from the cache", body, resp.Header.Get("Cache-Status"))
		}
	})
	t.Run("NoStore", func(t *testing.T) {
		c := rvNew(t, nil, core.WithExpireAfter(time.Minute))
		var n atomic.Int64
		send := wireSend(&n, func(*http.Request) http.Header { return http.Header{"CACHE-CONTROL": {"no-store"}} })
		rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/a", nil), send)
		resp, body := rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/a", nil), send)
		if body != "v2" || core.InfoOf(resp).FromCache {
			t.Errorf("after a response with CACHE-CONTROL: no-store: body %q, Cache-Status %q; want v2 from the origin", body, resp.Header.Get("Cache-Status"))
		}
	})
	t.Run("Vary", func(t *testing.T) {
		c := rvNew(t, nil)
		var n atomic.Int64
		send := wireSend(&n, func(*http.Request) http.Header {
			return http.Header{"Cache-Control": {"max-age=60"}, "vary": {"Accept-Language"}}
		})
		rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/a", http.Header{"Accept-Language": {"fr"}}), send)
		resp, body := rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/a", http.Header{"Accept-Language": {"en"}}), send)
		if body != "v2" || core.InfoOf(resp).FromCache {
			t.Errorf("en after fr with a lower-case vary: body %q, Cache-Status %q; want v2 from the origin", body, resp.Header.Get("Cache-Status"))
		}
		if _, ok := resp.Header["vary"]; ok {
			t.Errorf("the response kept the name %q, want it canonical", "vary")
		}
	})
	t.Run("ETagRevalidation", func(t *testing.T) {
		clock := newRVClock()
		c := rvNew(t, nil, core.WithClock(clock.Now))
		var gotINM atomic.Value
		calls := 0
		send := func(r *http.Request) (*http.Response, error) {
			calls++
			if inm := r.Header.Get("If-None-Match"); inm != "" {
				gotINM.Store(inm)
				return rvResp(r, http.StatusNotModified, http.Header{"etag": {`"e1"`}, "cache-control": {"max-age=10"}}, ""), nil
			}
			return rvResp(r, http.StatusOK, http.Header{"etag": {`"e1"`}, "cache-control": {"max-age=10"}}, "v1"), nil
		}
		rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/a", nil), send)
		clock.Advance(20 * time.Second)
		resp, body := rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/a", nil), send)
		if v, _ := gotINM.Load().(string); v != `"e1"` {
			t.Errorf("If-None-Match sent for a stored lower-case etag: %q, want %q", v, `"e1"`)
		}
		if body != "v1" || !core.InfoOf(resp).Revalidated {
			t.Errorf("after the 304: body %q, Cache-Status %q; want v1 revalidated", body, resp.Header.Get("Cache-Status"))
		}
	})
	t.Run("LocationInvalidates", func(t *testing.T) {
		c := rvNew(t, nil)
		var n atomic.Int64
		send := wireSend(&n, func(r *http.Request) http.Header {
			if r.Method == http.MethodPost {
				return http.Header{"location": {"/b"}, "content-location": {"/c"}}
			}
			return http.Header{"Cache-Control": {"max-age=60"}}
		})
		for _, p := range []string{"/b", "/c"} {
			rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test"+p, nil), send)
		}
		post, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.test/a", strings.NewReader("x"))
		rvDo(t, c, post, send)
		for _, p := range []string{"/b", "/c"} {
			resp, _ := rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test"+p, nil), send)
			if core.InfoOf(resp).FromCache {
				t.Errorf("GET %s after a POST whose response names it in a lower-case field: served from the cache, want invalidated", p)
			}
		}
	})
}

// TestRequestHeaderNames checks that the rules that read request headers
// see them whatever their spelling (RFC 9110 §5.1), in a small header and
// in one past the fields a lookup walks: a stored fresh response is not
// served to a request that asks, in a name that is not canonical, for the
// origin.
func TestRequestHeaderNames(t *testing.T) {
	ctx := context.Background()
	filler := func(h http.Header) http.Header {
		for i := range 9 {
			h["X-Filler-"+itoa(i)] = []string{"v"}
		}
		return h
	}
	tests := []struct {
		name string
		h    http.Header
	}{
		{"cache-control no-cache", http.Header{"cache-control": {"no-cache"}}},
		{"CACHE-CONTROL max-age=0", http.Header{"CACHE-CONTROL": {"max-age=0"}, "Accept": {"a"}}},
		{"pragma no-cache", http.Header{"pragma": {"no-cache"}}},
		{"spellings merged", http.Header{"Cache-Control": {"max-stale=10"}, "cache-control": {"no-cache"}}},
		{"large header", filler(http.Header{"cache-control": {"no-cache"}})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := rvNew(t, nil)
			var n atomic.Int64
			send := wireSend(&n, func(*http.Request) http.Header { return http.Header{"Cache-Control": {"max-age=60"}} })
			rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/a", nil), send)
			req := rvGet(t, ctx, "GET", "http://example.test/a", tc.h)
			before := req.Header.Clone()
			resp, body := rvDo(t, c, req, send)
			if body != "v2" || core.InfoOf(resp).FromCache {
				t.Errorf("request with %v: body %q, Cache-Status %q; want v2 from the origin", tc.h, body, resp.Header.Get("Cache-Status"))
			}
			if len(req.Header) != len(before) {
				t.Errorf("the caller's header was changed: %v, want %v", req.Header, before)
			}
			// The canonical request is what was sent, and what the next
			// plain request is answered from.
			resp, body = rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/a", nil), send)
			if body != "v2" || !core.InfoOf(resp).FromCache {
				t.Errorf("plain request after it: body %q; want v2 from the cache", body)
			}
		})
	}
}

// TestHitAllocationsWithHeaders checks that reading every header spelling
// costs a hit nothing when the names are canonical (the common case): a hit
// for a request with several headers allocates as much as one without.
func TestHitAllocationsWithHeaders(t *testing.T) {
	c := rvNew(t, nil)
	var n atomic.Int64
	send := wireSend(&n, func(*http.Request) http.Header { return http.Header{"Cache-Control": {"max-age=3600"}} })
	ctx := context.Background()
	bare := rvGet(t, ctx, "GET", "http://example.test/item?b=2&a=1", nil)
	withHeaders := rvGet(t, ctx, "GET", "http://example.test/item?b=2&a=1", http.Header{
		"Accept": {"application/json"}, "Accept-Encoding": {"gzip"}, "User-Agent": {"test/1"}, "X-Request-Id": {"abc"},
	})
	rvDo(t, c, bare, send)
	hit := func(req *http.Request) func() {
		return func() {
			resp, err := c.Do(req, send)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	a := testing.AllocsPerRun(200, hit(bare))
	b := testing.AllocsPerRun(200, hit(withHeaders))
	if b > a {
		t.Errorf("hit allocations: %v with canonical headers, %v without; want no more", b, a)
	}
	if n.Load() != 1 {
		t.Errorf("origin calls = %d, want 1 (every request a hit)", n.Load())
	}
}

// TestHostManagement checks that the management calls, URL rules and the
// stored URL use the effective host (Request.Host) as keys do.
func TestHostManagement(t *testing.T) {
	ctx := context.Background()
	hostReq := func(host, path string) *http.Request {
		r := rvGet(t, ctx, "GET", "http://10.0.0.1"+path, nil)
		r.Host = host
		return r
	}
	newCache := func(t *testing.T, opts ...core.Option) (*core.Cache, func(*http.Request) (*http.Response, error)) {
		c := rvNew(t, nil, opts...)
		var n atomic.Int64
		return c, wireSend(&n, func(*http.Request) http.Header { return http.Header{"Cache-Control": {"max-age=60"}} })
	}
	t.Run("DeleteAndContains", func(t *testing.T) {
		c, send := newCache(t)
		rvDo(t, c, hostReq("a.example", "/x"), send)
		rvDo(t, c, hostReq("b.example", "/x"), send)
		if err := c.Delete(ctx, hostReq("B.example:80", "/x")); err != nil {
			t.Fatal(err)
		}
		for host, want := range map[string]bool{"a.example": true, "b.example": false} {
			got, err := c.Contains(ctx, hostReq(host, "/x"))
			if err != nil || got != want {
				t.Errorf("Contains(Host %s) after Delete(Host b): %v, %v; want %v", host, got, err, want)
			}
		}
	})
	t.Run("DeleteURL", func(t *testing.T) {
		c, send := newCache(t)
		rvDo(t, c, hostReq("a.example", "/x"), send)
		rvDo(t, c, hostReq("b.example", "/x"), send)
		if err := c.DeleteURL(ctx, "http://b.example/x"); err != nil {
			t.Fatal(err)
		}
		for host, want := range map[string]bool{"a.example": true, "b.example": false} {
			if got, _ := c.Contains(ctx, hostReq(host, "/x")); got != want {
				t.Errorf("Contains(Host %s) after DeleteURL(http://b.example/x): %v, want %v", host, got, want)
			}
		}
	})
	t.Run("StoredURL", func(t *testing.T) {
		c, send := newCache(t)
		rvDo(t, c, hostReq("b.example", "/x?api_key=s"), send)
		var urls []string
		for e, err := range c.Entries(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			urls = append(urls, e.URL)
		}
		if len(urls) != 1 || urls[0] != "http://b.example/x?api_key=REDACTED" {
			t.Errorf("stored URLs %q, want [http://b.example/x?api_key=REDACTED]", urls)
		}
	})
	t.Run("URLRules", func(t *testing.T) {
		c, send := newCache(t, core.WithURLExpireAfter("b.example/*", core.DoNotCache))
		rvDo(t, c, hostReq("b.example", "/x"), send)
		resp, _ := rvDo(t, c, hostReq("b.example", "/x"), send)
		if core.InfoOf(resp).FromCache || resp.Header.Get("Cache-Status") != "hoard; fwd=bypass" {
			t.Errorf("DoNotCache for b.example, request with Host b.example: Cache-Status %q, want a bypass", resp.Header.Get("Cache-Status"))
		}
		rvDo(t, c, hostReq("a.example", "/x"), send)
		if got, _ := c.Contains(ctx, hostReq("a.example", "/x")); !got {
			t.Errorf("a.example is not covered by the rule for b.example, but its response was not stored")
		}
	})
}

// TestContentTypeInKey checks through Do that the same body sent as
// different media types is two requests, and as two spellings of one media
// type is one.
func TestContentTypeInKey(t *testing.T) {
	ctx := context.Background()
	c := rvNew(t, nil, core.WithAllowableMethods("GET", "POST"))
	var n atomic.Int64
	send := wireSend(&n, func(*http.Request) http.Header { return http.Header{"Cache-Control": {"max-age=60"}} })
	post := func(ct string) (string, bool) {
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.test/q", strings.NewReader(`{"a":1}`))
		r.Header.Set("Content-Type", ct)
		resp, body := rvDo(t, c, r, send)
		return body, core.InfoOf(resp).FromCache
	}
	if b, hit := post("application/json"); b != "v1" || hit {
		t.Fatalf("first POST: %q hit %v, want v1 from the origin", b, hit)
	}
	if b, hit := post("text/plain"); b != "v2" || hit {
		t.Errorf("same body as text/plain: %q hit %v, want v2 from the origin", b, hit)
	}
	if b, hit := post("Application/JSON"); b != "v1" || !hit {
		t.Errorf("same body as Application/JSON: %q hit %v, want v1 from the cache", b, hit)
	}
}
