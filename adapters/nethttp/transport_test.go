package nethttpcache_test

import (
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

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

func newCache(t *testing.T, opts ...core.Option) *core.Cache {
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

// trackingBody records whether it was closed.
type trackingBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackingBody) Close() error { b.closed.Store(true); return nil }

type errBody struct{ closed atomic.Bool }

func (b *errBody) Read([]byte) (int, error) { return 0, errors.New("broken body") }
func (b *errBody) Close() error             { b.closed.Store(true); return nil }

// TestRoundTripperContract checks the http.RoundTripper clauses: the
// caller's request is never modified, its body is closed on every path, and
// errors come without a response.
func TestRoundTripperContract(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Etag", `"e1"`)
		if r.Header.Get("If-None-Match") == `"e1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", "max-age=0")
		fmt.Fprint(w, "body")
	}))
	defer origin.Close()
	c := newCache(t, core.WithAllowableMethods("GET", "HEAD", "POST"))
	tr := nethttpcache.NewTransport(c, nil)

	tests := []struct {
		name    string
		method  string
		body    func() io.ReadCloser
		wantErr bool
	}{
		{"miss GET with body", http.MethodGet, func() io.ReadCloser { return &trackingBody{Reader: strings.NewReader("x")} }, false},
		{"revalidated GET with body", http.MethodGet, func() io.ReadCloser { return &trackingBody{Reader: strings.NewReader("x")} }, false},
		{"POST keyed by body", http.MethodPost, func() io.ReadCloser { return &trackingBody{Reader: strings.NewReader(`{"a":1}`)} }, false},
		{"PUT bypass", http.MethodPut, func() io.ReadCloser { return &trackingBody{Reader: strings.NewReader("x")} }, false},
		{"POST unreadable body", http.MethodPost, func() io.ReadCloser { return &errBody{} }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.body()
			req, err := http.NewRequest(tc.method, origin.URL+"/r", b)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Mine", "1")
			before := req.Header.Clone()
			urlBefore := req.URL.String()
			resp, err := tr.RoundTrip(req)
			if tc.wantErr {
				if err == nil || resp != nil {
					t.Fatalf("got resp=%v err=%v, want an error and no response", resp, err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if fmt.Sprint(req.Header) != fmt.Sprint(before) {
				t.Errorf("request header changed: got %v, want %v", req.Header, before)
			}
			if req.URL.String() != urlBefore {
				t.Errorf("request URL changed: got %s, want %s", req.URL, urlBefore)
			}
			var closed bool
			switch b := b.(type) {
			case *trackingBody:
				closed = b.closed.Load()
			case *errBody:
				closed = b.closed.Load()
			}
			if !closed {
				t.Error("request body not closed")
			}
		})
	}
}

// TestConcurrentUse runs many goroutines through one transport under -race.
func TestConcurrentUse(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, r.URL.Path)
	}))
	defer origin.Close()
	client := nethttpcache.NewClient(newCache(t), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				path := fmt.Sprintf("/p%d", (g+i)%8)
				resp, err := client.Get(origin.URL + path)
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != path {
					errs <- fmt.Errorf("got %q, %v; want %q", b, err, path)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if h := hits.Load(); h != 8 {
		t.Errorf("origin hits = %d, want 8 (one per path)", h)
	}
}

// TestInstall checks that Install routes http.DefaultClient through the
// cache and Uninstall restores the previous transport.
func TestInstall(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "ok")
	}))
	defer origin.Close()
	prev := http.DefaultTransport
	nethttpcache.Install(newCache(t))
	nethttpcache.Install(newCache(t)) // installing twice keeps the original to restore
	for range 3 {
		resp, err := http.Get(origin.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if hits.Load() != 1 {
		t.Errorf("origin hits with the cache installed = %d, want 1", hits.Load())
	}
	nethttpcache.Uninstall()
	if http.DefaultTransport != prev {
		t.Fatal("Uninstall did not restore http.DefaultTransport")
	}
	nethttpcache.Uninstall() // a second Uninstall does nothing
	resp, err := http.Get(origin.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hits.Load() != 2 {
		t.Errorf("origin hits after Uninstall = %d, want 2", hits.Load())
	}
}

// TestClientTimeoutKeepsInfo checks that InfoOf works when http.Client wraps
// the body (Client.Timeout).
func TestClientTimeoutKeepsInfo(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "ok")
	}))
	defer origin.Close()
	client := nethttpcache.NewClient(newCache(t), nil)
	client.Timeout = 10e9
	for i, want := range []bool{false, true} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, origin.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		info := core.InfoOf(resp)
		if info.FromCache != want {
			t.Errorf("request %d: FromCache = %v, want %v", i, info.FromCache, want)
		}
		if info.Key == "" {
			t.Errorf("request %d: Info.Key empty", i)
		}
	}
}

// idleRecorder is a base transport that records CloseIdleConnections.
type idleRecorder struct {
	http.RoundTripper
	closes atomic.Int64
}

func (r *idleRecorder) CloseIdleConnections() { r.closes.Add(1) }

// TestCloseIdleConnections: http.Client.CloseIdleConnections reaches the
// transport below the cache, as it would without the cache.
func TestCloseIdleConnections(t *testing.T) {
	base := &idleRecorder{RoundTripper: http.DefaultTransport}
	client := nethttpcache.NewClient(newCache(t), base)
	client.CloseIdleConnections()
	if n := base.closes.Load(); n != 1 {
		t.Errorf("base CloseIdleConnections called %d times, want 1", n)
	}
	// A base without the method is left alone.
	nethttpcache.NewClient(newCache(t), http.NewFileTransport(http.Dir("."))).CloseIdleConnections()
}

// TestHitAllocations: the Transport adds no allocation to what the cache
// itself allocates for a hit (it hands its base to DoTransport instead of
// making a method value of its RoundTrip per request).
func TestHitAllocations(t *testing.T) {
	c := newCache(t)
	base := roundTrip(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Cache-Control": {"max-age=3600"}},
			Body: io.NopCloser(strings.NewReader("v")), ContentLength: 1, Request: r}, nil
	})
	tr := nethttpcache.NewTransport(c, base)
	req, err := http.NewRequest(http.MethodGet, "http://example.test/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	hit := func(rt func(*http.Request) (*http.Response, error)) func() {
		return func() {
			resp, err := rt(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	hit(tr.RoundTrip)()
	through := testing.AllocsPerRun(200, hit(tr.RoundTrip))
	direct := testing.AllocsPerRun(200, hit(func(r *http.Request) (*http.Response, error) { return c.DoTransport(r, base) }))
	if through > direct {
		t.Errorf("hit allocations: %v through the Transport, %v calling DoTransport; want no more", through, direct)
	}
	if st := c.Stats(); st.Hits < 400 {
		t.Errorf("hits = %d, want every request after the first a hit", st.Hits)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
