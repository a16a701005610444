package restycache_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	restycache "github.com/hoardhttp/hoard/adapters/resty"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// world is one test's cache, clock and counting origin.
type world struct {
	t      *testing.T
	clock  *conformance.Clock
	cache  *core.Cache
	origin *httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	last   http.Header // headers of the last request the origin received
}

// newWorld starts an origin whose handler is h (the n-th request, 1-based)
// and a cache over memstore with an injected clock and opts. The origin
// stamps every response with a Date from the clock.
func newWorld(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int), opts ...core.Option) *world {
	t.Helper()
	wd := &world{t: t, clock: conformance.NewClock()}
	wd.origin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(wd.hits.Add(1))
		wd.mu.Lock()
		wd.last = r.Header.Clone()
		wd.mu.Unlock()
		w.Header().Set("Date", wd.clock.Now().UTC().Format(http.TimeFormat))
		h(w, r, n)
	}))
	t.Cleanup(wd.origin.Close)
	st, err := memstore.New(&memstore.Options{MaxBytes: conformance.ScenarioMemBytes}) // small bodies: a small, cheap store
	if err != nil {
		t.Fatal(err)
	}
	base := []core.Option{core.WithClock(wd.clock.Now), core.WithLogger(slog.New(slog.DiscardHandler))}
	wd.cache, err = core.New(st, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wd.cache.Close() })
	return wd
}

// client returns a resty client (as resty.New makes it) with the cache
// installed and resty's logging silenced.
func (wd *world) client() *resty.Client {
	return restycache.Install(quiet(resty.New()), wd.cache)
}

func (wd *world) lastRequest() http.Header {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	return wd.last
}

func (wd *world) expectHits(want int) {
	wd.t.Helper()
	if got := int(wd.hits.Load()); got != want {
		wd.t.Errorf("origin requests = %d, want %d", got, want)
	}
}

// quiet silences resty's logger (it logs retries and misconfigurations).
func quiet(c *resty.Client) *resty.Client {
	return c.SetLogger(discardLogger{})
}

type discardLogger struct{}

func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Debugf(string, ...any) {}

func mustGet(t *testing.T, r *resty.Request, url string) *resty.Response {
	t.Helper()
	resp, err := r.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp
}

// versioned answers "v<n>" with max-age=60 and an ETag.
func versioned(w http.ResponseWriter, r *http.Request, n int) {
	w.Header().Set("Cache-Control", "max-age=60")
	w.Header().Set("ETag", `"v1"`)
	if r.Header.Get("If-None-Match") == `"v1"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	fmt.Fprintf(w, "v%d", n)
}

func TestInstall(t *testing.T) {
	wd := newWorld(t, versioned)
	c := quiet(resty.New())
	orig := c.GetClient().Transport
	if _, ok := orig.(*http.Transport); !ok {
		t.Fatalf("resty.New transport is %T, want *http.Transport", orig)
	}
	if _, err := restycache.BaseTransport(c); !errors.Is(err, restycache.ErrNotInstalled) {
		t.Errorf("BaseTransport before Install: err = %v, want ErrNotInstalled", err)
	}
	restycache.Install(c, wd.cache)
	if bt, err := restycache.BaseTransport(c); err != nil || bt != orig {
		t.Errorf("BaseTransport = %p, %v; want the original transport %p", bt, err, orig)
	}
	// Installing again replaces the cache and keeps the transport below.
	restycache.Install(c, wd.cache)
	if bt, _ := restycache.BaseTransport(c); bt != orig {
		t.Errorf("second Install: base = %p, want %p", bt, orig)
	}
	for i, want := range []bool{false, true} {
		if got := restycache.Info(mustGet(t, c.R(), wd.origin.URL)).FromCache; got != want {
			t.Errorf("request %d FromCache = %v, want %v", i+1, got, want)
		}
	}
	restycache.Uninstall(c)
	if c.GetClient().Transport != orig {
		t.Errorf("after Uninstall transport = %T, want the original", c.GetClient().Transport)
	}
	if got := restycache.Info(mustGet(t, c.R(), wd.origin.URL)); got.FromCache || got.Key != "" {
		t.Errorf("after Uninstall Info = %+v, want zero", got)
	}
	restycache.Uninstall(c) // no cache: nothing happens
	if c.GetClient().Transport != orig {
		t.Errorf("second Uninstall changed the transport")
	}
	wd.expectHits(2)
}

// TestProxyKeepsWorking checks the documented order of calls: proxy settings
// made before Install (or through BaseTransport after it) stay in effect,
// and resty's SetProxy after Install changes nothing.
func TestProxyKeepsWorking(t *testing.T) {
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		// A proxy receives the absolute URL of the target.
		if r.URL.Host != "origin.test" {
			http.Error(w, "not proxied: "+r.URL.String(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Cache-Control", "max-age=3600") // no Date from the test clock here
		fmt.Fprint(w, "via proxy")
	}))
	t.Cleanup(proxy.Close)
	direct := newWorld(t, versioned)

	cases := []struct {
		name        string
		setup       func(c *resty.Client, cache *core.Cache)
		wantProxied int64
	}{
		{"SetProxyThenInstall", func(c *resty.Client, cache *core.Cache) {
			c.SetProxy(proxy.URL)
			restycache.Install(c, cache)
		}, 1},
		{"InstallThenBaseTransport", func(c *resty.Client, cache *core.Cache) {
			restycache.Install(c, cache)
			bt, err := restycache.BaseTransport(c)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(proxy.URL)
			if err != nil {
				t.Fatal(err)
			}
			bt.Proxy = http.ProxyURL(u)
		}, 1},
		{"InstallThenSetProxyIsIgnored", func(c *resty.Client, cache *core.Cache) {
			c.GetClient().Transport.(*http.Transport).Proxy = nil
			restycache.Install(c, cache)
			c.SetProxy(proxy.URL) // resty logs "not an *http.Transport" and does nothing
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proxied.Store(0)
			wd := newWorld(t, versioned)
			c := quiet(resty.New())
			tc.setup(c, wd.cache)
			target := "http://origin.test/item"
			if tc.wantProxied == 0 {
				target = direct.origin.URL + "/item"
			}
			for range 2 {
				resp := mustGet(t, c.R(), target)
				if resp.StatusCode() != 200 {
					t.Fatalf("status %d body %q", resp.StatusCode(), resp.Body())
				}
			}
			if got := proxied.Load(); got != tc.wantProxied {
				t.Errorf("requests through the proxy = %d, want %d", got, tc.wantProxied)
			}
		})
	}
}

func TestPerRequestOptions(t *testing.T) {
	cases := []struct {
		name       string
		prime      bool
		opt        func(*resty.Request) *resty.Request
		wantHits   int // origin requests, priming included
		wantStatus int
		want       func(t *testing.T, in core.Info, lastReq http.Header)
	}{
		{"None", true, func(r *resty.Request) *resty.Request { return r }, 1, 200, func(t *testing.T, in core.Info, _ http.Header) {
			if !in.FromCache {
				t.Errorf("FromCache = false, want a hit")
			}
		}},
		{"ForceRefresh", true, restycache.Options.ForceRefresh, 2, 200, func(t *testing.T, in core.Info, h http.Header) {
			if in.FromCache || !in.Stored {
				t.Errorf("Info = %+v, want a stored miss", in)
			}
			if h.Get("If-None-Match") != "" {
				t.Errorf("force refresh sent If-None-Match %q, want an unconditional request", h.Get("If-None-Match"))
			}
		}},
		{"Refresh", true, restycache.Options.Refresh, 2, 200, func(t *testing.T, in core.Info, h http.Header) {
			if !in.Revalidated {
				t.Errorf("Info = %+v, want revalidated", in)
			}
			if h.Get("If-None-Match") != `"v1"` {
				t.Errorf("If-None-Match = %q, want %q", h.Get("If-None-Match"), `"v1"`)
			}
		}},
		{"OnlyIfCachedMiss", false, restycache.Options.OnlyIfCached, 0, http.StatusGatewayTimeout, func(t *testing.T, in core.Info, _ http.Header) {
			if !in.Synthetic {
				t.Errorf("Info = %+v, want the synthetic 504", in)
			}
		}},
		{"OnlyIfCachedHit", true, restycache.Options.OnlyIfCached, 1, 200, func(t *testing.T, in core.Info, _ http.Header) {
			if !in.FromCache || in.Synthetic {
				t.Errorf("Info = %+v, want a hit", in)
			}
		}},
		{"ExpireAfterZero", true, func(r *resty.Request) *resty.Request { return restycache.Options.ExpireAfter(r, 0) }, 2, 200, func(t *testing.T, in core.Info, h http.Header) {
			if !in.Revalidated {
				t.Errorf("Info = %+v, want revalidated (the entry is older than 0s)", in)
			}
		}},
		{"Disable", true, restycache.Options.Disable, 2, 200, func(t *testing.T, in core.Info, _ http.Header) {
			if in.FromCache || in.Stored {
				t.Errorf("Info = %+v, want a bypass", in)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wd := newWorld(t, versioned)
			c := wd.client()
			url := wd.origin.URL + "/opt"
			if tc.prime {
				mustGet(t, c.R(), url)
				wd.clock.Advance(time.Second)
			}
			resp := mustGet(t, tc.opt(c.R().SetContext(t.Context())), url)
			if resp.StatusCode() != tc.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode(), tc.wantStatus)
			}
			tc.want(t, restycache.Info(resp), wd.lastRequest())
			wd.expectHits(tc.wantHits)
		})
	}
}

func TestPerRequestOptionsNest(t *testing.T) {
	wd := newWorld(t, func(w http.ResponseWriter, r *http.Request, n int) {
		fmt.Fprintf(w, "v%d", n) // no freshness information
	})
	c := wd.client()
	url := wd.origin.URL + "/nest"
	// ExpireAfter gives the response a lifetime; Refresh on top of it still
	// stores (a full request: no validator).
	r := restycache.Options.Refresh(restycache.Options.ExpireAfter(c.R().SetContext(t.Context()), time.Hour))
	if in := restycache.Info(mustGet(t, r, url)); !in.Stored {
		t.Errorf("Info = %+v, want stored", in)
	}
	if resp := mustGet(t, c.R(), url); !restycache.Info(resp).FromCache || string(resp.Body()) != "v1" {
		t.Errorf("second request: body %q Info %+v, want a hit on v1", resp.Body(), restycache.Info(resp))
	}
	wd.expectHits(1)
}

func TestInfo(t *testing.T) {
	wd := newWorld(t, versioned)
	c := wd.client()
	url := wd.origin.URL + "/info"
	miss := mustGet(t, c.R(), url)
	if in := restycache.Info(miss); in.FromCache || !in.Stored || in.Key == "" || in.Expires.IsZero() {
		t.Errorf("miss Info = %+v, want stored, with key and expiry", in)
	}
	hit := mustGet(t, c.R(), url)
	if in := restycache.Info(hit); !in.FromCache || in.Key != restycache.Info(miss).Key {
		t.Errorf("hit Info = %+v, want from cache under the miss's key", in)
	}
	// Behind SetDoNotParseResponse the body is the caller's to read.
	raw := mustGet(t, c.R().SetDoNotParseResponse(true), url)
	if in := restycache.Info(raw); !in.FromCache {
		t.Errorf("unparsed hit Info = %+v, want from cache", in)
	}
	b, _ := io.ReadAll(raw.RawBody())
	raw.RawBody().Close()
	if string(b) != "v1" {
		t.Errorf("unparsed body = %q, want v1", b)
	}
	if in := restycache.Info(raw); !in.FromCache {
		t.Errorf("Info after reading = %+v, want from cache", in)
	}
	// A client behind http.Client.Timeout (which wraps the body).
	c.SetTimeout(5 * time.Second)
	if in := restycache.Info(mustGet(t, c.R(), url)); !in.FromCache {
		t.Errorf("hit with SetTimeout Info = %+v, want from cache", in)
	}
	for name, resp := range map[string]*resty.Response{"nil": nil, "no RawResponse": {}} {
		if in := restycache.Info(resp); in != (core.Info{}) {
			t.Errorf("Info(%s) = %+v, want zero", name, in)
		}
	}
	wd.expectHits(1)
}

// TestRetryInterplay counts origin requests for a stale entry when the origin
// starts failing, with and without stale-if-error and resty retries.
func TestRetryInterplay(t *testing.T) {
	always5xx := func(resp *resty.Response, err error) bool { return err != nil || resp.StatusCode() >= 500 }
	cases := []struct {
		name         string
		staleIfError bool
		retries      int
		cond         resty.RetryConditionFunc
		wantStatus   int
		wantStale    bool
		wantFailHits int // origin requests after it started failing
	}{
		{"StaleIfErrorNoRetries", true, 0, nil, 200, true, 1},
		{"StaleIfErrorRetryCondition", true, 3, restycache.RetryCondition, 200, true, 1},
		{"StaleIfErrorPlain5xxCondition", true, 3, always5xx, 200, true, 1},
		{"NoStaleNoRetries", false, 0, nil, 503, false, 1},
		{"NoStaleRetryCondition", false, 3, restycache.RetryCondition, 503, false, 4},
		{"NoStaleSkipCached", false, 3, restycache.SkipCached(always5xx), 503, false, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var failing atomic.Bool
			var opts []core.Option
			if tc.staleIfError {
				opts = append(opts, core.WithStaleIfError(time.Hour))
			}
			wd := newWorld(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if failing.Load() {
					http.Error(w, "down", http.StatusServiceUnavailable)
					return
				}
				w.Header().Set("Cache-Control", "max-age=10")
				fmt.Fprint(w, "v1")
			}, opts...)
			c := wd.client()
			if tc.retries > 0 {
				c.SetRetryCount(tc.retries).
					SetRetryWaitTime(time.Millisecond).
					SetRetryMaxWaitTime(2 * time.Millisecond).
					AddRetryCondition(tc.cond)
			}
			url := wd.origin.URL + "/r"
			mustGet(t, c.R(), url)
			wd.clock.Advance(20 * time.Second)
			failing.Store(true)
			before := wd.hits.Load()
			resp := mustGet(t, c.R(), url)
			if resp.StatusCode() != tc.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode(), tc.wantStatus)
			}
			if in := restycache.Info(resp); in.Stale != tc.wantStale {
				t.Errorf("Info = %+v, want Stale %v", in, tc.wantStale)
			}
			if got := int(wd.hits.Load() - before); got != tc.wantFailHits {
				t.Errorf("origin requests after the failure began = %d, want %d (attempts: %d)", got, tc.wantFailHits, resp.Request.Attempt)
			}
		})
	}
}

// TestRetryConditionCacheMade: the synthetic 504 of OnlyIfCached and cached
// responses are never retried by RetryCondition or SkipCached, while a plain
// 5xx condition retries the 504 the cache made (what they protect against).
func TestRetryConditionCacheMade(t *testing.T) {
	plain5xx := func(resp *resty.Response, err error) bool { return resp.StatusCode() >= 500 }
	cases := []struct {
		name         string
		cond         resty.RetryConditionFunc
		wantAttempts int
	}{
		{"RetryCondition", restycache.RetryCondition, 1},
		{"SkipCached", restycache.SkipCached(plain5xx), 1},
		{"Plain5xx", plain5xx, 4}, // 1 + SetRetryCount(3), none reaching the origin
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wd := newWorld(t, versioned)
			c := wd.client().
				SetRetryCount(3).
				SetRetryWaitTime(time.Millisecond).
				SetRetryMaxWaitTime(2 * time.Millisecond).
				AddRetryCondition(tc.cond)
			resp := mustGet(t, restycache.Options.OnlyIfCached(c.R()), wd.origin.URL+"/504")
			if resp.StatusCode() != http.StatusGatewayTimeout || !restycache.Info(resp).Synthetic {
				t.Errorf("status %d Info %+v, want the synthetic 504", resp.StatusCode(), restycache.Info(resp))
			}
			if got := resp.Request.Attempt; got != tc.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tc.wantAttempts)
			}
			wd.expectHits(0)
		})
	}
}

func TestRetryConditionTable(t *testing.T) {
	// A cached 503 (allowed by WithAllowableCodes) comes back on every
	// attempt: RetryCondition must not retry it.
	wd := newWorld(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}, core.WithAllowableCodes(200, 503))
	c := wd.client()
	miss503 := mustGet(t, c.R(), wd.origin.URL)
	hit503 := mustGet(t, c.R(), wd.origin.URL)
	if !restycache.Info(hit503).FromCache {
		t.Fatalf("second 503 not from cache: %+v", restycache.Info(hit503))
	}
	raw := func(code int) *resty.Response {
		return &resty.Response{RawResponse: &http.Response{StatusCode: code, Header: http.Header{}}}
	}
	cases := []struct {
		name string
		resp *resty.Response
		err  error
		want bool
	}{
		{"NilResponse", nil, errors.New("middleware"), false},
		{"TransportError", &resty.Response{}, errors.New("connection refused"), true},
		{"ErrorAfterResponse", raw(200), errors.New("after-response hook"), false},
		{"200", raw(200), nil, false},
		{"404", raw(404), nil, false},
		{"429", raw(429), nil, true},
		{"500", raw(500), nil, true},
		{"Origin503", miss503, nil, true},
		{"Cached503", hit503, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := restycache.RetryCondition(tc.resp, tc.err); got != tc.want {
				t.Errorf("RetryCondition = %v, want %v", got, tc.want)
			}
		})
	}
}

const gzipText = "hello, compressed world; hello, compressed world; hello, compressed world\n"

// gzipOrigin serves gzipText, gzipped when the request accepts gzip.
func gzipOrigin(w http.ResponseWriter, r *http.Request, n int) {
	w.Header().Set("Cache-Control", "max-age=60")
	w.Header().Set("Vary", "Accept-Encoding")
	w.Header().Set("Content-Type", "text/plain")
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		fmt.Fprint(w, gzipText)
		return
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(gzipText))
	zw.Close()
	w.Header().Set("Content-Encoding", "gzip")
	w.Write(buf.Bytes())
}

// TestGzip: responses look the same to a resty user with and without the
// cache, on misses and hits, with and without an explicit Accept-Encoding.
func TestGzip(t *testing.T) {
	cases := []struct {
		name string
		hdr  map[string]string
	}{
		{"Transparent", nil},
		{"ExplicitGzip", map[string]string{"Accept-Encoding": "gzip"}},
		{"ExplicitIdentity", map[string]string{"Accept-Encoding": "identity"}},
	}
	wd := newWorld(t, gzipOrigin)
	cached := wd.client()
	plain := quiet(resty.New())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := wd.origin.URL + "/gz"
			want := mustGet(t, plain.R().SetHeaders(tc.hdr), url)
			for i, wantFromCache := range []bool{false, true} {
				before := wd.hits.Load()
				got := mustGet(t, cached.R().SetHeaders(tc.hdr), url)
				if restycache.Info(got).FromCache != wantFromCache {
					t.Errorf("request %d: Info %+v, want FromCache %v", i+1, restycache.Info(got), wantFromCache)
				}
				if fromOrigin := wd.hits.Load() - before; (fromOrigin == 0) != wantFromCache {
					t.Errorf("request %d: origin requests %d", i+1, fromOrigin)
				}
				if string(got.Body()) != gzipText || !bytes.Equal(got.Body(), want.Body()) {
					t.Errorf("request %d: body %q, want %q as without the cache", i+1, got.Body(), want.Body())
				}
				for _, h := range []string{"Content-Encoding", "Content-Type", "Vary"} {
					if g, w := got.Header().Get(h), want.Header().Get(h); g != w {
						t.Errorf("request %d: %s = %q, want %q as without the cache", i+1, h, g, w)
					}
				}
				if g, w := got.RawResponse.Uncompressed, want.RawResponse.Uncompressed; g != w {
					t.Errorf("request %d: Uncompressed = %v, want %v", i+1, g, w)
				}
			}
		})
	}
}

type user struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

type apiError struct {
	Message string `json:"message"`
}

func TestSetResultOnHit(t *testing.T) {
	wd := newWorld(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"no such user"}`)
			return
		}
		fmt.Fprintf(w, `{"id":%d,"name":"ada"}`, n)
	}, core.WithAllowableCodes(200, 404))
	c := wd.client()
	for i, wantFromCache := range []bool{false, true} {
		var u user
		var e apiError
		resp, err := c.R().SetResult(&u).SetError(&e).Get(wd.origin.URL + "/users/1")
		if err != nil {
			t.Fatal(err)
		}
		if restycache.Info(resp).FromCache != wantFromCache {
			t.Errorf("request %d: FromCache = %v, want %v", i+1, !wantFromCache, wantFromCache)
		}
		if u != (user{ID: 1, Name: "ada"}) || resp.Result().(*user) != &u {
			t.Errorf("request %d: result = %+v, want {1 ada}", i+1, u)
		}
		var e2 apiError
		resp, err = c.R().SetResult(&u).SetError(&e2).Get(wd.origin.URL + "/missing")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != 404 || e2.Message != "no such user" || restycache.Info(resp).FromCache != wantFromCache {
			t.Errorf("request %d: 404 error = %+v FromCache %v, want the message, FromCache %v", i+1, e2, restycache.Info(resp).FromCache, wantFromCache)
		}
	}
	wd.expectHits(2)
}

func TestContextCancellation(t *testing.T) {
	t.Run("BeforeSending", func(t *testing.T) {
		wd := newWorld(t, versioned)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := wd.client().R().SetContext(ctx).Get(wd.origin.URL)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		wd.expectHits(0)
	})
	t.Run("WhileWaitingForTheOrigin", func(t *testing.T) {
		arrived := make(chan struct{}, 1)
		wd := newWorld(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				arrived <- struct{}{}
				select { // held until the client gives up (bounded)
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
				return
			}
			versioned(w, r, n)
		})
		c := wd.client()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			select {
			case <-arrived:
			case <-time.After(10 * time.Second):
			}
			cancel()
		}()
		start := time.Now()
		_, err := c.R().SetContext(ctx).Get(wd.origin.URL)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("cancelled request took %v", d)
		}
		// Nothing was stored: the next request goes to the origin.
		resp := mustGet(t, c.R(), wd.origin.URL)
		if restycache.Info(resp).FromCache || string(resp.Body()) != "v2" {
			t.Errorf("after cancellation: body %q Info %+v, want a miss answered v2", resp.Body(), restycache.Info(resp))
		}
		wd.expectHits(2)
	})
	t.Run("CancelledRequestDoesNotDisturbOthers", func(t *testing.T) {
		wd := newWorld(t, versioned)
		c := wd.client()
		mustGet(t, c.R(), wd.origin.URL)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := c.R().SetContext(ctx).Get(wd.origin.URL); err == nil {
			// A fresh hit needs no network: the cache may answer even so.
			t.Logf("fresh hit answered despite a cancelled context")
		}
		if resp := mustGet(t, c.R(), wd.origin.URL); !restycache.Info(resp).FromCache {
			t.Errorf("hit after a cancelled request: Info %+v, want from cache", restycache.Info(resp))
		}
		wd.expectHits(1)
	})
}

// TestPOSTCachedByBodyDigest: with POST allowed, identical bodies (JSON keys
// in any order) share an entry and different bodies do not.
func TestPOSTCachedByBodyDigest(t *testing.T) {
	wd := newWorld(t, func(w http.ResponseWriter, r *http.Request, n int) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"n":%d,"echo":%s}`, n, b)
	}, core.WithAllowableMethods(http.MethodGet, http.MethodHead, http.MethodPost))
	c := wd.client()
	url := wd.origin.URL + "/search"
	cases := []struct {
		name          string
		body          any
		wantFromCache bool
		wantN         int
	}{
		{"First", map[string]any{"q": "go", "page": 1}, false, 1},
		{"SameBody", map[string]any{"q": "go", "page": 1}, true, 1},
		{"SameJSONOtherKeyOrder", `{"page":1,"q":"go"}`, true, 1},
		{"OtherBody", map[string]any{"q": "rust", "page": 1}, false, 2},
		{"OtherBodyAgain", []byte(`{"q":"rust","page":1}`), true, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out struct {
				N int `json:"n"`
			}
			resp, err := c.R().SetHeader("Content-Type", "application/json").SetBody(tc.body).SetResult(&out).Post(url)
			if err != nil {
				t.Fatal(err)
			}
			if got := restycache.Info(resp).FromCache; got != tc.wantFromCache {
				t.Errorf("FromCache = %v, want %v (Cache-Status %q)", got, tc.wantFromCache, resp.Header().Get("Cache-Status"))
			}
			if out.N != tc.wantN {
				t.Errorf("answer n = %d, want %d", out.N, tc.wantN)
			}
		})
	}
	wd.expectHits(2)
}

// TestPOSTBodySurvivesRetries: the cache reads the body for the key without
// taking it from resty's retries.
func TestPOSTBodySurvivesRetries(t *testing.T) {
	var bodies []string
	var mu sync.Mutex
	wd := newWorld(t, func(w http.ResponseWriter, r *http.Request, n int) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if n < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "ok")
	}, core.WithAllowableMethods(http.MethodGet, http.MethodHead, http.MethodPost))
	c := wd.client().SetRetryCount(3).SetRetryWaitTime(time.Millisecond).SetRetryMaxWaitTime(2 * time.Millisecond).
		AddRetryCondition(restycache.RetryCondition)
	resp, err := c.R().SetBody(`{"a":1}`).Post(wd.origin.URL)
	if err != nil || string(resp.Body()) != "ok" {
		t.Fatalf("POST: %v, body %q", err, resp.Body())
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{`{"a":1}`, `{"a":1}`, `{"a":1}`}; strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Errorf("origin received bodies %q, want %q", bodies, want)
	}
	resp, err = c.R().SetBody(`{"a":1}`).Post(wd.origin.URL)
	if err != nil || !restycache.Info(resp).FromCache {
		t.Errorf("second POST: %v, Info %+v, want a hit", err, restycache.Info(resp))
	}
}

// TestDigestAuthAfterInstall checks the documented order: SetDigestAuth after
// Install keeps the cache under resty's digest transport.
func TestDigestAuthAfterInstall(t *testing.T) {
	wd := newWorld(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Digest ") {
			w.Header().Set("WWW-Authenticate", `Digest realm="test", nonce="abc", qop="auth", algorithm=MD5`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Cache-Control", "private, max-age=60")
		fmt.Fprint(w, "secret")
	})
	c := wd.client().SetDigestAuth("user", "pass")
	for i, want := range []bool{false, true} {
		resp := mustGet(t, c.R(), wd.origin.URL)
		if resp.StatusCode() != 200 || string(resp.Body()) != "secret" {
			t.Fatalf("request %d: status %d body %q", i+1, resp.StatusCode(), resp.Body())
		}
		if got := restycache.Info(resp).FromCache; got != want {
			t.Errorf("request %d: FromCache = %v, want %v", i+1, got, want)
		}
	}
	if _, ok := c.GetClient().Transport.(*restycache.Transport); !ok {
		t.Errorf("after requests the client's transport is %T, want the cache", c.GetClient().Transport)
	}
}

// idleRecorder is a base transport that records CloseIdleConnections.
type idleRecorder struct {
	http.RoundTripper
	closes atomic.Int64
}

func (r *idleRecorder) CloseIdleConnections() { r.closes.Add(1) }

// TestCloseIdleConnections: the client's CloseIdleConnections reaches the
// transport the cache wraps.
func TestCloseIdleConnections(t *testing.T) {
	wd := newWorld(t, versioned)
	base := &idleRecorder{RoundTripper: http.DefaultTransport}
	c := resty.New().SetTransport(base)
	restycache.Install(c, wd.cache)
	c.GetClient().CloseIdleConnections()
	if n := base.closes.Load(); n != 1 {
		t.Errorf("base CloseIdleConnections called %d times, want 1", n)
	}
}
