package core_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// newSmallCache returns a cache over a 1 MiB memstore closed by the test's
// cleanup.
func newSmallCache(t *testing.T) *core.Cache {
	t.Helper()
	st, err := memstore.New(&memstore.Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c, err := core.New(st)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRequestOptions checks that each RequestOptions method has the effect
// of the core function of the same name on a request sent with the context
// it sets, and that it returns the request it was given.
func TestRequestOptions(t *testing.T) {
	var opts core.RequestOptions[*apiRequest]
	tests := []struct {
		name  string
		set   func(*apiRequest) *apiRequest
		wantN int64 // origin requests after a cached first one
		want  int   // status of the second response
		from  bool  // second response FromCache
	}{
		{name: "none", set: func(r *apiRequest) *apiRequest { return r }, wantN: 1, want: 200, from: true},
		{name: "ForceRefresh", set: opts.ForceRefresh, wantN: 2, want: 200},
		{name: "Refresh", set: opts.Refresh, wantN: 2, want: 200, from: true},
		{name: "OnlyIfCached", set: opts.OnlyIfCached, wantN: 1, want: 200, from: true},
		{name: "ExpireAfter", set: func(r *apiRequest) *apiRequest { return opts.ExpireAfter(r, core.ExpireImmediately) }, wantN: 2, want: 200, from: true},
		{name: "Disable", set: opts.Disable, wantN: 2, want: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("ETag", `"v1"`)
				if r.Header.Get("If-None-Match") == `"v1"` {
					w.WriteHeader(http.StatusNotModified)
					return
				}
				_, _ = w.Write([]byte("hello"))
			}))
			defer origin.Close()
			c := newSmallCache(t)
			get := func(ctx context.Context) *http.Response {
				t.Helper()
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, origin.URL, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := c.Do(req, http.DefaultTransport.RoundTrip)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			get(t.Context())
			r := &apiRequest{ctx: t.Context()}
			if got := tc.set(r); got != r {
				t.Fatalf("%s returned %p, want the request it was given %p", tc.name, got, r)
			}
			resp := get(r.Context())
			if n := n.Load(); n != tc.wantN {
				t.Errorf("origin requests = %d, want %d", n, tc.wantN)
			}
			if resp.StatusCode != tc.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.want)
			}
			if got := core.InfoOf(resp).FromCache; got != tc.from {
				t.Errorf("FromCache = %v, want %v", got, tc.from)
			}
		})
	}
}

// TestRequestOptionsNest checks that options set one after the other on the
// same request all hold: OnlyIfCached over ExpireAfter answers a synthetic 504
// without the origin.
func TestRequestOptionsNest(t *testing.T) {
	var opts core.RequestOptions[*apiRequest]
	r := opts.OnlyIfCached(opts.ExpireAfter(&apiRequest{ctx: t.Context()}, time.Minute))
	c := newSmallCache(t)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://127.0.0.1:1/none", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req, func(*http.Request) (*http.Response, error) {
		t.Fatal("only-if-cached sent the request")
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout || !core.InfoOf(resp).Synthetic {
		t.Errorf("status %d, Synthetic %v; want the synthetic 504", resp.StatusCode, core.InfoOf(resp).Synthetic)
	}
}

func TestInfoMadeByCache(t *testing.T) {
	tests := []struct {
		in   core.Info
		want bool
	}{
		{core.Info{}, false},
		{core.Info{Stored: true}, false},
		{core.Info{FromCache: true}, true},
		{core.Info{FromCache: true, Stale: true}, true},
		{core.Info{FromCache: true, Revalidated: true}, true},
		{core.Info{Synthetic: true}, true},
	}
	for _, tc := range tests {
		if got := tc.in.MadeByCache(); got != tc.want {
			t.Errorf("%+v.MadeByCache() = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestInfoFromCacheStatus: InfoOf a response the cache did not build reads
// hoard's members of its Cache-Status lines and ignores other caches'.
func TestInfoFromCacheStatus(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		age   string
		want  core.Info
	}{
		{"none", nil, "", core.Info{}},
		{"hit", []string{"hoard; hit"}, "7", core.Info{FromCache: true, Age: 7 * time.Second}},
		{"stored miss", []string{"hoard; fwd=miss; stored"}, "", core.Info{Stored: true}},
		{"revalidated", []string{"hoard; fwd=stale; fwd-status=304"}, "", core.Info{FromCache: true, Revalidated: true}},
		{"collapsed", []string{"hoard; fwd=miss; collapsed"}, "", core.Info{Collapsed: true}},
		{"stale detail", []string{`hoard; hit; detail="stale-while-revalidate"`}, "", core.Info{FromCache: true, Stale: true}},
		{"synthetic", []string{"hoard; detail=only-if-cached"}, "", core.Info{Synthetic: true}},
		{"key", []string{`hoard; hit; key="GET http://a/"`}, "", core.Info{FromCache: true, Key: "GET http://a/"}},
		{"after another cache", []string{"Edge; hit, hoard ; fwd=miss ;stored"}, "", core.Info{Stored: true}},
		{"other cache only", []string{"Edge; hit; stored", "CDN; fwd=stale; fwd-status=304"}, "3", core.Info{}},
		{"two lines", []string{"Edge; fwd=miss", "hoard; hit"}, "", core.Info{FromCache: true}},
		{"empty members", []string{",, ;,hoard;;hit;"}, "", core.Info{FromCache: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tt.lines {
				h.Add("Cache-Status", l)
			}
			if tt.age != "" {
				h.Set("Age", tt.age)
			}
			if got := core.InfoOf(&http.Response{Header: h}); got != tt.want {
				t.Errorf("InfoOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestHitResponsesIndependent: a hit's response (status, header, body,
// Info, its Request) stays what it was served as while other hits, on this
// and other goroutines, are served meanwhile: nothing of the lookup's
// scratch space is shared between responses.
func TestHitResponsesIndependent(t *testing.T) {
	origin := func(r *http.Request) (*http.Response, error) {
		p := r.URL.Path
		h := http.Header{"Cache-Control": {"max-age=600"}, "X-Path": {p}, "Etag": {`"` + p + `"`}}
		body := "body of " + p
		return &http.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
	}
	checkHeldWhileReused(t, origin, func(resp *http.Response, path string) {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		in := core.InfoOf(resp)
		if err != nil || string(b) != "body of "+path || resp.Header.Get("X-Path") != path ||
			resp.Header.Get("Etag") != `"`+path+`"` || !in.FromCache || resp.Request.URL.Path != path {
			t.Errorf("%s: body %q (%v), X-Path %q, ETag %q, FromCache %v, Request %s",
				path, b, err, resp.Header.Get("X-Path"), resp.Header.Get("Etag"), in.FromCache, resp.Request.URL)
		}
	})
}

// TestRevalidatedResponsesIndependent is TestHitResponsesIndependent for
// responses a 304 confirmed: each revalidation returns the scratch Entry its
// lookup decoded, and responses held while other revalidations reuse it keep
// their header, trailer and body.
func TestRevalidatedResponsesIndependent(t *testing.T) {
	origin := func(r *http.Request) (*http.Response, error) {
		p := r.URL.Path
		h := http.Header{"Cache-Control": {"max-age=0"}, "X-Path": {p}, "Etag": {`"` + p + `"`}}
		if r.Header.Get("If-None-Match") == `"`+p+`"` {
			return &http.Response{StatusCode: http.StatusNotModified, Header: h, Body: http.NoBody, Request: r}, nil
		}
		body := "body of " + p
		return &http.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)), Trailer: http.Header{"X-Sum": {p}}, Request: r}, nil
	}
	checkHeldWhileReused(t, origin, func(resp *http.Response, path string) {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		in := core.InfoOf(resp)
		if err != nil || string(b) != "body of "+path || resp.Header.Get("X-Path") != path ||
			resp.Header.Get("Etag") != `"`+path+`"` || resp.Trailer.Get("X-Sum") != path || !in.Revalidated {
			t.Errorf("%s: body %q (%v), X-Path %q, ETag %q, trailer %v, Revalidated %v (Cache-Status %q, Age %q)",
				path, b, err, resp.Header.Get("X-Path"), resp.Header.Get("Etag"), resp.Trailer, in.Revalidated,
				resp.Header.Values("Cache-Status"), resp.Header.Get("Age"))
		}
		for k := range resp.Header { // the receiver owns what it was handed
			resp.Header[k] = []string{"changed"}
		}
	})
}

// checkHeldWhileReused stores a response from origin for each of four
// paths, takes one response per path and holds it while 4 goroutines take
// 50 more, then checks the held ones: check(resp, path) reads and judges
// each response (on any goroutine).
func checkHeldWhileReused(t *testing.T, origin func(*http.Request) (*http.Response, error), check func(*http.Response, string)) {
	t.Helper()
	c := newSmallCache(t)
	get := func(path string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, "http://example.test"+path, nil)
		if err != nil {
			t.Error(err)
			return nil
		}
		resp, err := c.Do(req, origin)
		if err != nil {
			t.Error(err)
			return nil
		}
		return resp
	}
	checkIf := func(resp *http.Response, path string) {
		if resp != nil {
			check(resp, path)
		}
	}
	paths := []string{"/a", "/b", "/c", "/d"}
	for _, p := range paths {
		if resp := get(p); resp != nil { // the miss: stored
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	held := make([]*http.Response, len(paths))
	for i, p := range paths {
		held[i] = get(p)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				p := paths[(g+i)%len(paths)]
				checkIf(get(p), p)
			}
		}()
	}
	wg.Wait()
	for i, p := range paths {
		checkIf(held[i], p)
	}
}
