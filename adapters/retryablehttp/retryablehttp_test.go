package retryablecache_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	retryablecache "github.com/hoardhttp/hoard/adapters/retryablehttp"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// placement is where the cache sits relative to the retry loop.
type placement string

const (
	below placement = "below"
	above placement = "above"
)

// newRetryClient is a retryablehttp client with no logger and no backoff
// delay, so tests with retries finish at once.
func newRetryClient(retries int) *retryablehttp.Client {
	rc := retryablehttp.NewClient()
	rc.Logger = nil
	rc.RetryMax = retries
	rc.Backoff = func(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return 0 }
	return rc
}

// doer sends a *retryablehttp.Request through the cache placed at p.
type doer func(*retryablehttp.Request) (*http.Response, error)

func install(p placement, rc *retryablehttp.Client, cache *core.Cache) doer {
	if p == above {
		hc := retryablecache.NewClientAbove(rc, cache)
		return func(r *retryablehttp.Request) (*http.Response, error) {
			// What a caller of the *http.Client does: a plain request whose
			// body is rewound by the retry loop from FromRequest's buffer.
			hr := r.Request.Clone(r.Context())
			if r.Request.GetBody != nil {
				b, err := r.Request.GetBody()
				if err != nil {
					return nil, err
				}
				hr.Body = b
			}
			return hc.Do(hr)
		}
	}
	retryablecache.Install(rc, cache)
	return rc.Do
}

// harness runs the conformance scenarios through one placement. Retries are
// off (RetryMax 0) and the last response is passed through when the loop
// gives up: the scenarios count origin requests and expect 5xx responses
// to reach the caller, which retries would change by design (retry
// interplay has its own tests below).
type harness struct {
	p placement
}

func (h harness) Doer(c *core.Cache) conformance.Doer {
	rc := newRetryClient(0)
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	do := install(h.p, rc, c)
	return func(req *http.Request) (*http.Response, error) {
		rr, err := retryablehttp.FromRequest(req)
		if err != nil {
			return nil, err
		}
		return do(rr)
	}
}

func (harness) Close() {}

func TestConformance(t *testing.T) {
	// RunAdapterTests runs every scenario over memstore and over filestore.
	for _, p := range []placement{below, above} {
		t.Run(string(p), func(t *testing.T) {
			conformance.RunAdapterTests(t, func(context.Context, *testing.T) (conformance.AdapterHarness, error) {
				return harness{p: p}, nil
			})
		})
	}
}

func newCache(t testing.TB, opts ...core.Option) *core.Cache {
	t.Helper()
	st, err := memstore.New(&memstore.Options{MaxBytes: conformance.ScenarioMemBytes}) // small bodies: a small, cheap store
	if err != nil {
		t.Fatal(err)
	}
	c, err := core.New(st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func get(t *testing.T, do doer, ctx context.Context, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	r, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := do(r)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestRetryInterplay counts origin requests for a stale entry with
// stale-if-error when the origin fails, for both placements, with and
// without retries.
func TestRetryInterplay(t *testing.T) {
	tests := []struct {
		p        placement
		retries  int
		failure  string // "500" or "reset"
		wantHits int    // origin requests once the origin fails
	}{
		{below, 0, "500", 1},
		{below, 3, "500", 1},
		{below, 3, "reset", 1},
		{above, 0, "500", 1},
		{above, 3, "500", 4},
		{above, 3, "reset", 4},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/retries=%d/%s", tc.p, tc.retries, tc.failure), func(t *testing.T) {
			var failing atomic.Bool
			var hits atomic.Int64
			clk := conformance.NewClock()
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !failing.Load() {
					// A fresh connection for the failing request: net/http
					// itself resends an idempotent request once when a
					// reused connection breaks, which would blur the count.
					w.Header().Set("Connection", "close")
					w.Header().Set("Date", clk.Now().UTC().Format(http.TimeFormat))
					w.Header().Set("Cache-Control", "max-age=1, stale-if-error=600")
					fmt.Fprint(w, "v1")
					return
				}
				hits.Add(1)
				if tc.failure == "reset" {
					panic(http.ErrAbortHandler) // closes the connection: a transport error
				}
				http.Error(w, "down", http.StatusInternalServerError)
			}))
			defer origin.Close()
			cache := newCache(t, core.WithClock(clk.Now))
			var attempts atomic.Int64
			rc := newRetryClient(tc.retries)
			rc.RequestLogHook = func(retryablehttp.Logger, *http.Request, int) { attempts.Add(1) }
			do := install(tc.p, rc, cache)

			if _, body := get(t, do, t.Context(), origin.URL+"/x"); body != "v1" {
				t.Fatalf("priming body = %q", body)
			}
			clk.Advance(2 * time.Second)
			failing.Store(true)
			resp, body := get(t, do, t.Context(), origin.URL+"/x")
			info := core.InfoOf(resp)
			if resp.StatusCode != http.StatusOK || body != "v1" || !info.Stale || !info.FromCache {
				t.Errorf("got %d %q %+v (Cache-Status %q), want the stale 200 v1", resp.StatusCode, body, info, resp.Header.Get("Cache-Status"))
			}
			if got := int(hits.Load()); got != tc.wantHits {
				t.Errorf("origin requests after the failure began = %d, want %d", got, tc.wantHits)
			}
			if tc.p == below && attempts.Load() != 2 {
				t.Errorf("retry loop attempts = %d, want 2 (one per Do: the stale answer is not retried)", attempts.Load())
			}
		})
	}
}

// TestRetriesWithoutStale checks that without a usable stored response a
// failing origin is retried as without the cache, in both placements.
func TestRetriesWithoutStale(t *testing.T) {
	for _, p := range []placement{below, above} {
		t.Run(string(p), func(t *testing.T) {
			var hits atomic.Int64
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) < 3 {
					http.Error(w, "down", http.StatusServiceUnavailable)
					return
				}
				w.Header().Set("Cache-Control", "max-age=60")
				fmt.Fprint(w, "ok")
			}))
			defer origin.Close()
			do := install(p, newRetryClient(3), newCache(t))
			resp, body := get(t, do, t.Context(), origin.URL+"/x")
			if resp.StatusCode != 200 || body != "ok" || hits.Load() != 3 {
				t.Fatalf("got %d %q after %d origin requests, want 200 ok after 3", resp.StatusCode, body, hits.Load())
			}
			resp, body = get(t, do, t.Context(), origin.URL+"/x")
			if !core.InfoOf(resp).FromCache || body != "ok" || hits.Load() != 3 {
				t.Fatalf("second GET: FromCache=%v %q, origin requests %d; want a hit and 3", core.InfoOf(resp).FromCache, body, hits.Load())
			}
		})
	}
}

// TestCheckRetry checks that responses the cache made are never retried,
// while the origin's own 5xx still are.
func TestCheckRetry(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		if r.URL.Path == "/503" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprint(w, r.URL.Path)
	}))
	defer origin.Close()

	t.Run("only-if-cached 504", func(t *testing.T) {
		hits.Store(0)
		var attempts atomic.Int64
		rc := newRetryClient(3)
		rc.RequestLogHook = func(retryablehttp.Logger, *http.Request, int) { attempts.Add(1) }
		do := install(below, rc, newCache(t))
		resp, _ := get(t, do, core.OnlyIfCached(t.Context()), origin.URL+"/missing")
		if resp.StatusCode != http.StatusGatewayTimeout || !core.InfoOf(resp).Synthetic {
			t.Errorf("got %d %+v, want the synthetic 504", resp.StatusCode, core.InfoOf(resp))
		}
		if attempts.Load() != 1 || hits.Load() != 0 {
			t.Errorf("attempts = %d, origin requests = %d; want 1 and 0", attempts.Load(), hits.Load())
		}
	})

	t.Run("only-if-cached 504 with the bare default policy", func(t *testing.T) {
		// Why the wrapper exists: DefaultRetryPolicy retries the cache's 504
		// and the caller gets an error instead of the response.
		rc := newRetryClient(2)
		c := newCache(t)
		retryablecache.Install(rc, c)
		rc.CheckRetry = retryablehttp.DefaultRetryPolicy
		r, _ := retryablehttp.NewRequestWithContext(core.OnlyIfCached(t.Context()), http.MethodGet, origin.URL+"/missing", nil)
		resp, err := rc.Do(r)
		if err == nil || resp != nil {
			t.Errorf("got %v, %v; want no response and a giving-up error", resp, err)
		}
	})

	t.Run("cached 503 is not retried", func(t *testing.T) {
		// With 503 allowable, the origin's 503 is stored on the first
		// attempt, and the retry that follows is answered by the cache and
		// stops there: one origin request, two attempts.
		hits.Store(0)
		var attempts atomic.Int64
		rc := newRetryClient(3)
		rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
		rc.RequestLogHook = func(retryablehttp.Logger, *http.Request, int) { attempts.Add(1) }
		do := install(below, rc, newCache(t, core.WithAllowableCodes(200, 503)))
		resp, _ := get(t, do, t.Context(), origin.URL+"/503")
		if resp.StatusCode != 503 || !core.InfoOf(resp).FromCache || hits.Load() != 1 || attempts.Load() != 2 {
			t.Fatalf("first GET: %d FromCache=%v, origin %d, attempts %d; want 503 true 1 2",
				resp.StatusCode, core.InfoOf(resp).FromCache, hits.Load(), attempts.Load())
		}
		resp, _ = get(t, do, t.Context(), origin.URL+"/503")
		if resp.StatusCode != 503 || !core.InfoOf(resp).FromCache || hits.Load() != 1 || attempts.Load() != 3 {
			t.Fatalf("second GET: %d FromCache=%v, origin %d, attempts %d; want a cached 503 answered once: 503 true 1 3",
				resp.StatusCode, core.InfoOf(resp).FromCache, hits.Load(), attempts.Load())
		}
	})

	t.Run("fresh hit is one attempt", func(t *testing.T) {
		hits.Store(0)
		var attempts atomic.Int64
		rc := newRetryClient(3)
		rc.RequestLogHook = func(retryablehttp.Logger, *http.Request, int) { attempts.Add(1) }
		do := install(below, rc, newCache(t))
		for range 3 {
			get(t, do, t.Context(), origin.URL+"/ok")
		}
		if hits.Load() != 1 || attempts.Load() != 3 {
			t.Errorf("origin %d, attempts %d; want 1 and 3", hits.Load(), attempts.Load())
		}
	})

	t.Run("nil next is the default policy", func(t *testing.T) {
		retry, err := retryablecache.CheckRetry(nil)(t.Context(), &http.Response{StatusCode: 500, Header: http.Header{}}, nil)
		if !retry || err != nil {
			t.Errorf("got %v, %v; want a retry of a 500 that did not come from the cache", retry, err)
		}
	})
}

// hideSeek hides a reader's other methods, so retryablehttp buffers it.
type hideSeek struct{ io.Reader }

// TestPOSTBodyDigest caches a POST by its body digest, with retries that
// each send the whole body, for the body types retryablehttp rewinds.
func TestPOSTBodyDigest(t *testing.T) {
	const payload = `{"b":2,"a":1}`
	bodies := []struct {
		name string
		make func(s string) any
	}{
		{"bytes", func(s string) any { return []byte(s) }},
		{"bytes.Reader", func(s string) any { return bytes.NewReader([]byte(s)) }},
		{"ReadSeeker", func(s string) any { return strings.NewReader(s) }},
		{"Reader", func(s string) any { return hideSeek{strings.NewReader(s)} }},
		{"ReaderFunc", func(s string) any {
			return retryablehttp.ReaderFunc(func() (io.Reader, error) { return strings.NewReader(s), nil })
		}},
	}
	for _, p := range []placement{below, above} {
		for _, bt := range bodies {
			t.Run(string(p)+"/"+bt.name, func(t *testing.T) {
				var mu sync.Mutex
				var got []string
				var n atomic.Int64
				origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					mu.Lock()
					got = append(got, string(b))
					mu.Unlock()
					if n.Add(1) <= 2 {
						http.Error(w, "flaky", http.StatusBadGateway)
						return
					}
					w.Header().Set("Cache-Control", "max-age=60")
					fmt.Fprintf(w, "echo %s", b)
				}))
				defer origin.Close()
				cache := newCache(t, core.WithAllowableMethods(http.MethodGet, http.MethodHead, http.MethodPost))
				do := install(p, newRetryClient(3), cache)
				post := func(body any) (*http.Response, string) {
					t.Helper()
					r, err := retryablehttp.NewRequest(http.MethodPost, origin.URL+"/search", body)
					if err != nil {
						t.Fatal(err)
					}
					r.Header.Set("Content-Type", "application/json")
					resp, err := do(r)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					return resp, string(b)
				}
				resp, body := post(bt.make(payload))
				if resp.StatusCode != 200 || body != "echo "+payload {
					t.Fatalf("first POST: %d %q", resp.StatusCode, body)
				}
				mu.Lock()
				if len(got) != 3 {
					t.Errorf("origin requests = %d, want 3 (two retries)", len(got))
				}
				for i, b := range got {
					if b != payload {
						t.Errorf("attempt %d sent body %q, want %q", i+1, b, payload)
					}
				}
				mu.Unlock()
				// The same JSON in another key order is the same key.
				resp, body = post(bt.make(`{"a":1, "b":2}`))
				if !core.InfoOf(resp).FromCache || body != "echo "+payload {
					t.Errorf("same body: FromCache=%v %q, want a hit", core.InfoOf(resp).FromCache, body)
				}
				resp, body = post(bt.make(`{"a":2}`))
				if core.InfoOf(resp).FromCache || body != `echo {"a":2}` {
					t.Errorf("other body: FromCache=%v %q, want a miss", core.InfoOf(resp).FromCache, body)
				}
				if n.Load() != 4 {
					t.Errorf("origin requests = %d, want 4", n.Load())
				}
			})
		}
	}
}

// TestGzip checks that responses are as without the cache, with and
// without an explicit Accept-Encoding, on misses and on hits.
func TestGzip(t *testing.T) {
	const text = "hello, compressed world"
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Encoding")
		w.Header().Set("Content-Type", "text/plain")
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			fmt.Fprint(w, text)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		fmt.Fprint(zw, text)
		zw.Close()
	}))
	defer origin.Close()
	gunzip := func(s string) string {
		zr, err := gzip.NewReader(strings.NewReader(s))
		if err != nil {
			return "not gzip: " + err.Error()
		}
		b, _ := io.ReadAll(zr)
		return string(b)
	}
	tests := []struct {
		name     string
		hdr      []string
		wantEnc  string
		wantText func(string) string
	}{
		{"implicit", nil, "", func(s string) string { return s }},
		{"explicit gzip", []string{"Accept-Encoding", "gzip"}, "gzip", gunzip},
	}
	for _, p := range []placement{below, above} {
		for _, tc := range tests {
			t.Run(string(p)+"/"+tc.name, func(t *testing.T) {
				// The library alone, for reference.
				plain, pbody := get(t, newRetryClient(0).Do, t.Context(), origin.URL+"/g", tc.hdr...)
				do := install(p, newRetryClient(0), newCache(t))
				for i, wantFromCache := range []bool{false, true} {
					resp, body := get(t, do, t.Context(), origin.URL+"/g", tc.hdr...)
					if core.InfoOf(resp).FromCache != wantFromCache {
						t.Errorf("request %d: FromCache = %v, want %v", i+1, !wantFromCache, wantFromCache)
					}
					if got := resp.Header.Get("Content-Encoding"); got != tc.wantEnc || got != plain.Header.Get("Content-Encoding") {
						t.Errorf("request %d: Content-Encoding %q, want %q", i+1, got, tc.wantEnc)
					}
					if resp.Uncompressed != plain.Uncompressed {
						t.Errorf("request %d: Uncompressed = %v, without the cache %v", i+1, resp.Uncompressed, plain.Uncompressed)
					}
					if got := tc.wantText(body); got != text || body != pbody {
						t.Errorf("request %d: body decodes to %q (raw %q), want %q as without the cache", i+1, got, body, text)
					}
				}
			})
		}
	}
}

// TestContextCancel cancels a request in flight: the caller gets the
// cancellation, nothing is stored, and the retry loop stops.
func TestContextCancel(t *testing.T) {
	for _, p := range []placement{below, above} {
		t.Run(string(p), func(t *testing.T) {
			var hits atomic.Int64
			arrived := make(chan struct{}, 8)
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.Header().Set("Cache-Control", "max-age=60")
				if r.URL.Query().Get("slow") == "" {
					fmt.Fprint(w, "fast")
					return
				}
				w.WriteHeader(http.StatusOK)
				fmt.Fprint(w, "partial")
				w.(http.Flusher).Flush()
				arrived <- struct{}{}
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			}))
			defer origin.Close()
			do := install(p, newRetryClient(3), newCache(t))

			// Cancelled while the response body is arriving (the cache is
			// reading it to store it, or the caller is).
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				<-arrived
				cancel()
			}()
			r, _ := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, origin.URL+"/c?slow=1", nil)
			resp, err := do(r)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled in flight: %v, want context.Canceled", err)
			}
			if hits.Load() != 1 {
				t.Errorf("origin requests = %d, want 1 (no retry after a cancel)", hits.Load())
			}
			r, _ = retryablehttp.NewRequest(http.MethodGet, origin.URL+"/c?slow=1", nil)
			r = r.WithContext(core.OnlyIfCached(t.Context()))
			resp, err = do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusGatewayTimeout {
				t.Errorf("after a cancelled read: status %d, want 504 (nothing stored)", resp.StatusCode)
			}

			// Cancelled before sending: an error at once, no origin request.
			hits.Store(0)
			ctx, cancel = context.WithCancel(t.Context())
			cancel()
			r, _ = retryablehttp.NewRequestWithContext(ctx, http.MethodGet, origin.URL+"/c", nil)
			if resp, err := do(r); err == nil {
				resp.Body.Close()
				t.Fatal("no error for a cancelled context")
			} else if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
			if hits.Load() != 0 {
				t.Errorf("origin requests = %d, want 0", hits.Load())
			}
		})
	}
}

// TestInstallKeepsClient checks that Install keeps the client's settings
// and leaves a shared *http.Client untouched.
func TestInstallKeepsClient(t *testing.T) {
	shared := &http.Client{Timeout: 7 * time.Second}
	rc := newRetryClient(0)
	rc.HTTPClient = shared
	retryablecache.Install(rc, newCache(t))
	if shared.Transport != nil {
		t.Error("Install modified the shared *http.Client")
	}
	if rc.HTTPClient.Timeout != 7*time.Second {
		t.Errorf("Timeout = %v, want 7s", rc.HTTPClient.Timeout)
	}
	if _, ok := rc.HTTPClient.Transport.(*retryablecache.Transport); !ok {
		t.Errorf("transport is %T, want *retryablecache.Transport", rc.HTTPClient.Transport)
	}

	var zero retryablehttp.Client
	retryablecache.Install(&zero, newCache(t))
	if zero.HTTPClient == nil || zero.CheckRetry == nil {
		t.Error("Install on a zero Client left HTTPClient or CheckRetry nil")
	}
}

// idleRecorder is a base transport that records CloseIdleConnections.
type idleRecorder struct {
	http.RoundTripper
	closes atomic.Int64
}

func (r *idleRecorder) CloseIdleConnections() { r.closes.Add(1) }

// TestCloseIdleConnections: CloseIdleConnections of the client reaches the
// network transport below the cache, whichever side of the retries the
// cache is on.
func TestCloseIdleConnections(t *testing.T) {
	t.Run("Transport", func(t *testing.T) {
		base := &idleRecorder{RoundTripper: http.DefaultTransport}
		client := &http.Client{Transport: retryablecache.NewTransport(newCache(t), base)}
		client.CloseIdleConnections()
		if n := base.closes.Load(); n != 1 {
			t.Errorf("base CloseIdleConnections called %d times, want 1", n)
		}
	})
	t.Run("NewClientAbove", func(t *testing.T) {
		base := &idleRecorder{RoundTripper: http.DefaultTransport}
		rc := newRetryClient(0)
		rc.HTTPClient.Transport = base
		retryablecache.NewClientAbove(rc, newCache(t)).CloseIdleConnections()
		if n := base.closes.Load(); n != 1 {
			t.Errorf("base CloseIdleConnections called %d times, want 1", n)
		}
	})
}
