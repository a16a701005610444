package core_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// rvClock is an injected clock for the review tests. It starts at the real
// time: memstore drops entries past their deletion time by the real clock,
// so a clock fixed at a date would have them vanish once that date passed.
type rvClock struct {
	mu sync.Mutex
	t  time.Time
}

func newRVClock() *rvClock { return &rvClock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *rvClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *rvClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rvResp builds an origin response.
func rvResp(req *http.Request, status int, h http.Header, body string) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	var b io.ReadCloser = http.NoBody
	cl := int64(0)
	if req.Method != http.MethodHead && body != "" {
		b = io.NopCloser(strings.NewReader(body))
		cl = int64(len(body))
	}
	if req.Method == http.MethodHead {
		cl = int64(len(body))
		h.Set("Content-Length", itoa(len(body)))
	}
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: b, ContentLength: cl, Request: req,
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func rvNew(t *testing.T, st core.Store, opts ...core.Option) *core.Cache {
	t.Helper()
	if st == nil {
		m, err := memstore.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		st = m
	}
	c, err := core.New(st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func rvDo(t *testing.T, c *core.Cache, req *http.Request, send func(*http.Request) (*http.Response, error)) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req, send)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

func rvGet(t *testing.T, ctx context.Context, method, url string, h http.Header) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return req
}

// A response marked no-cache must not be used without successful validation
// (RFC 9111 §5.2.2.4). When its revalidation fails with a 5xx and no
// stale-if-error window is configured anywhere, the 5xx must reach the caller.
func TestRegressionNoCacheResponseNotServedWhenRevalidationFails(t *testing.T) {
	for _, fail := range []string{"5xx", "transport error"} {
		t.Run(fail, func(t *testing.T) {
			clk := newRVClock()
			c := rvNew(t, nil, core.WithClock(clk.Now))
			calls := 0
			send := func(req *http.Request) (*http.Response, error) {
				calls++
				if calls == 1 {
					return rvResp(req, 200, http.Header{
						"Cache-Control": {"max-age=600, no-cache"},
						"Etag":          {`"v1"`},
					}, "stored"), nil
				}
				if fail == "5xx" {
					return rvResp(req, 500, nil, "origin down"), nil
				}
				return nil, io.ErrUnexpectedEOF
			}
			rvDo(t, c, rvGet(t, context.Background(), "GET", "http://example.test/nc", nil), send)
			clk.Advance(time.Second)
			resp, err := c.Do(rvGet(t, context.Background(), "GET", "http://example.test/nc", nil), send)
			if calls != 2 {
				t.Fatalf("origin calls = %d, want 2 (no-cache must be revalidated)", calls)
			}
			if err != nil {
				return // the transport error reached the caller: correct
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 500 {
				t.Errorf("served %d %q (Cache-Status %q) after a failed revalidation of a no-cache response; want the origin's failure",
					resp.StatusCode, b, resp.Header.Get("Cache-Status"))
			}
		})
	}
}

// A stale-while-revalidate background refresh that gets a new 200 must
// replace the variant the next request is served from. With
// WithMatchAllHeaders the background stores under a key selected by the
// conditional request it sent (If-None-Match included), so the refreshed
// response is never found.
func TestRegressionSWRBackgroundRefreshMatchAllHeaders(t *testing.T) {
	clk := newRVClock()
	c := rvNew(t, nil, core.WithClock(clk.Now), core.WithMatchAllHeaders())
	var calls atomic.Int64
	send := func(req *http.Request) (*http.Response, error) {
		n := calls.Add(1)
		v := "v" + itoa(int(n))
		return rvResp(req, 200, http.Header{
			"Cache-Control": {"max-age=10, stale-while-revalidate=100"},
			"Etag":          {`"` + v + `"`},
		}, v), nil
	}
	url := "http://example.test/swr"
	h := http.Header{"Accept": {"text/plain"}}
	if _, b := rvDo(t, c, rvGet(t, context.Background(), "GET", url, h), send); b != "v1" {
		t.Fatalf("first body %q", b)
	}
	clk.Advance(20 * time.Second)
	if _, b := rvDo(t, c, rvGet(t, context.Background(), "GET", url, h), send); b != "v1" {
		t.Fatalf("swr body %q, want stale v1", b)
	}
	c.Wait()
	if calls.Load() != 2 {
		t.Fatalf("origin calls = %d, want 2 (one background refresh)", calls.Load())
	}
	resp, b := rvDo(t, c, rvGet(t, context.Background(), "GET", url, h), send)
	if b != "v2" {
		t.Errorf("after the background refresh got %q (Cache-Status %q), want the refreshed v2",
			b, resp.Header.Get("Cache-Status"))
	}
}

// A stale-while-revalidate background refresh whose new body is streamed
// into the store (Streamer store, body above the stream threshold) must
// store it. The background drains only 4 KiB and closes, which aborts the
// stream, so the refresh is lost.
func TestRegressionSWRBackgroundRefreshStreamedBody(t *testing.T) {
	const size = 64 << 10
	clk := newRVClock()
	st := newStreamStore(t)
	c := rvNew(t, st, core.WithClock(clk.Now), core.WithStreamThreshold(1024))
	var calls atomic.Int64
	send := func(req *http.Request) (*http.Response, error) {
		n := calls.Add(1)
		body := strings.Repeat(string(rune('a'+n-1)), size)
		return rvResp(req, 200, http.Header{
			"Cache-Control": {"max-age=10, stale-while-revalidate=100"},
			"Etag":          {`"` + itoa(int(n)) + `"`},
		}, body), nil
	}
	url := "http://example.test/big"
	if _, b := rvDo(t, c, rvGet(t, context.Background(), "GET", url, nil), send); len(b) != size || b[0] != 'a' {
		t.Fatalf("first body: %d bytes", len(b))
	}
	clk.Advance(20 * time.Second)
	if _, b := rvDo(t, c, rvGet(t, context.Background(), "GET", url, nil), send); b[0] != 'a' {
		t.Fatalf("swr body starts %q, want stale a", b[:1])
	}
	c.Wait()
	if calls.Load() != 2 {
		t.Fatalf("origin calls = %d, want 2", calls.Load())
	}
	resp, b := rvDo(t, c, rvGet(t, context.Background(), "GET", url, nil), send)
	if len(b) != size || b[0] != 'b' {
		t.Errorf("after the background refresh got %d bytes starting %q (Cache-Status %q; commits %d, aborts %d), want the refreshed body",
			len(b), b[:1], resp.Header.Get("Cache-Status"), st.commits.Load(), st.aborts.Load())
	}
}

// A key function that does not look at the method (for example one that
// drops the query string) makes GET and HEAD share a key: a HEAD response,
// stored with an empty body, is then served to a GET.
func TestRegressionKeyFuncHeadResponseServedToGet(t *testing.T) {
	c := rvNew(t, nil, core.WithKeyFunc(func(r *http.Request, _ string) string {
		return r.URL.Host + r.URL.Path // ignore the query string
	}))
	calls := 0
	send := func(req *http.Request) (*http.Response, error) {
		calls++
		return rvResp(req, 200, http.Header{"Cache-Control": {"max-age=60"}}, "hello"), nil
	}
	url := "http://example.test/page"
	rvDo(t, c, rvGet(t, context.Background(), "HEAD", url, nil), send)
	resp, b := rvDo(t, c, rvGet(t, context.Background(), "GET", url, nil), send)
	if b != "hello" {
		t.Errorf("GET after HEAD: body %q (Cache-Status %q, origin calls %d), want %q",
			b, resp.Header.Get("Cache-Status"), calls, "hello")
	}
}

// The Store hook computes the key of a POST from req.Body, which Lookup has
// already consumed (and which send consumed again when the caller passes
// LookupResult.Request): the response is stored under the key of a POST with
// an empty body, and a later empty POST is served it.
func TestRegressionStoreHookPOSTKeyLosesBody(t *testing.T) {
	c := rvNew(t, nil, core.WithAllowableMethods("GET", "HEAD", "POST"))
	calls := 0
	send := func(req *http.Request) (*http.Response, error) {
		calls++
		b, _ := io.ReadAll(req.Body)
		req.Body.Close()
		return rvResp(req, 200, http.Header{"Cache-Control": {"max-age=60"}}, "answer to "+string(b)), nil
	}
	url := "http://example.test/search"
	ctx := context.Background()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(`q=secret`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	lr, err := c.Lookup(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if lr.State != core.Miss {
		t.Fatalf("state %v, want miss", lr.State)
	}
	resp, err := send(lr.Request)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Store(ctx, &lr, resp, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(out.Body)
	out.Body.Close()

	empty, _ := http.NewRequestWithContext(ctx, "POST", url, http.NoBody)
	empty.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r2, b := rvDo(t, c, empty, send)
	if strings.Contains(b, "secret") {
		t.Errorf("an empty POST was served the response to q=secret: %q (Cache-Status %q)", b, r2.Header.Get("Cache-Status"))
	}
	again, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(`q=secret`))
	again.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	lr2, err := c.Lookup(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if lr2.State != core.Hit {
		t.Errorf("the stored POST is not found by the same POST: state %v, key %s, stored key %s", lr2.State, lr2.Key, lr.Key)
	}
	if lr2.Response != nil {
		lr2.Response.Body.Close()
	}
}

// ForceRefresh of one Vary variant must not make the URL's other stored
// variants unreachable: the refresh does not read the variant index, so it
// writes a new index (new generation) over it.
func TestRegressionForceRefreshDropsOtherVariants(t *testing.T) {
	c := rvNew(t, nil)
	calls := 0
	send := func(req *http.Request) (*http.Response, error) {
		calls++
		return rvResp(req, 200, http.Header{
			"Cache-Control": {"max-age=600"},
			"Vary":          {"Accept"},
		}, "for "+req.Header.Get("Accept")), nil
	}
	url := "http://example.test/v"
	a := http.Header{"Accept": {"text/a"}}
	b := http.Header{"Accept": {"text/b"}}
	rvDo(t, c, rvGet(t, context.Background(), "GET", url, a), send)
	rvDo(t, c, rvGet(t, context.Background(), "GET", url, b), send)
	if _, body := rvDo(t, c, rvGet(t, context.Background(), "GET", url, b), send); calls != 2 || body != "for text/b" {
		t.Fatalf("setup: calls %d body %q", calls, body)
	}
	rvDo(t, c, rvGet(t, core.ForceRefresh(context.Background()), "GET", url, a), send)
	if calls != 3 {
		t.Fatalf("force refresh: calls %d, want 3", calls)
	}
	resp, _ := rvDo(t, c, rvGet(t, context.Background(), "GET", url, b), send)
	if calls != 3 {
		t.Errorf("the text/b variant was lost after ForceRefresh of text/a: origin calls %d, Cache-Status %q",
			calls, resp.Header.Get("Cache-Status"))
	}
}

// Do must not panic on a request with a nil Header (http.Transport answers
// such a request with an error); revalidating a stored response with a
// validator sets If-None-Match on a clone whose Header is nil.
func TestRegressionNilRequestHeaderNoPanic(t *testing.T) {
	clk := newRVClock()
	c := rvNew(t, nil, core.WithClock(clk.Now))
	send := func(req *http.Request) (*http.Response, error) {
		return rvResp(req, 200, http.Header{"Cache-Control": {"max-age=1"}, "Etag": {`"e"`}}, "x"), nil
	}
	rvDo(t, c, rvGet(t, context.Background(), "GET", "http://example.test/nil", nil), send)
	clk.Advance(time.Minute)
	req := rvGet(t, context.Background(), "GET", "http://example.test/nil", nil)
	req.Header = nil
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Do panicked on a request with a nil Header: %v", r)
		}
	}()
	resp, err := c.Do(req, send)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
