package core_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// origin stands in for the network: it answers every request with a
// cacheable response and counts the calls.
func origin(calls *int) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		*calls++
		body := fmt.Sprintf("response %d", *calls)
		return &http.Response{
			StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{
				"Cache-Control": {"max-age=60"},
				"Etag":          {fmt.Sprintf(`"%d"`, *calls)},
			},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req,
		}, nil
	}
}

// roundTripFunc makes a function an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func read(resp *http.Response, err error) string {
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	return string(b)
}

func ExampleCache_Do() {
	store, err := memstore.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	calls := 0
	send := origin(&calls)
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/items?page=1", nil)
		fmt.Println(read(cache.Do(req, send)))
	}
	fmt.Println("origin calls:", calls)
	// Output:
	// response 1
	// response 1
	// response 1
	// origin calls: 1
}

// An http.RoundTripper that caches what the transport below it answers
// passes that transport to DoTransport.
func ExampleCache_DoTransport() {
	store, err := memstore.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	calls := 0
	var next http.RoundTripper = roundTripFunc(origin(&calls))
	client := &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return cache.DoTransport(req, next)
	})}
	for range 2 {
		resp, err := client.Get("https://api.example.com/items?page=1")
		fmt.Println(read(resp, err))
	}
	fmt.Println("origin calls:", calls)
	// Output:
	// response 1
	// response 1
	// origin calls: 1
}

func ExampleForceRefresh() {
	store, _ := memstore.New(nil)
	cache, _ := core.New(store)
	defer cache.Close()
	calls := 0
	send := origin(&calls)

	req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/items", nil)
	fmt.Println(read(cache.Do(req, send)))
	// Per-request options travel in the context and are never sent upstream.
	fresh := req.WithContext(core.ForceRefresh(context.Background()))
	fmt.Println(read(cache.Do(fresh, send)))
	fmt.Println(read(cache.Do(req, send)))
	// Output:
	// response 1
	// response 2
	// response 2
}

func ExampleOnlyIfCached() {
	store, _ := memstore.New(nil)
	cache, _ := core.New(store)
	defer cache.Close()
	calls := 0

	req, _ := http.NewRequestWithContext(core.OnlyIfCached(context.Background()), http.MethodGet, "https://api.example.com/never-fetched", nil)
	resp, err := cache.Do(req, origin(&calls))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, core.InfoOf(resp).Synthetic, calls)
	// Output:
	// 504 true 0
}

func ExampleInfoOf() {
	store, _ := memstore.New(nil)
	now := time.Now() // a fixed instant: the example reads the cache twice at the same time
	cache, _ := core.New(store, core.WithClock(func() time.Time { return now }))
	defer cache.Close()
	calls := 0
	send := origin(&calls)

	req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/items", nil)
	read(cache.Do(req, send))
	resp, err := cache.Do(req, send)
	read(resp, err)
	info := core.InfoOf(resp)
	fmt.Println(info.FromCache, info.Expires.Sub(info.Created), resp.Header.Get("Cache-Status"))
	// Output:
	// true 1m0s hoard; hit
}

func ExampleWithURLExpireAfter() {
	store, _ := memstore.New(nil)
	cache, err := core.New(store,
		core.WithURLExpireAfter("api.example.com/static", core.NeverExpire),
		core.WithURLExpireAfter("*", core.DoNotCache), // everything else: allowlist
	)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	calls := 0
	send := origin(&calls)
	for _, u := range []string{"https://api.example.com/static/a.js", "https://api.example.com/static/a.js", "https://api.example.com/live", "https://api.example.com/live"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		resp, err := cache.Do(req, send)
		read(resp, err)
		fmt.Println(u, core.InfoOf(resp).FromCache)
	}
	// Output:
	// https://api.example.com/static/a.js false
	// https://api.example.com/static/a.js true
	// https://api.example.com/live false
	// https://api.example.com/live false
}

func ExampleOpenStore() {
	store, err := core.OpenStore(context.Background(), "mem://?max_bytes=64MiB")
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	// An unknown scheme is an error that lists the registered schemes (which
	// depend on the store packages the program imports).
	_, err = core.OpenStore(context.Background(), "nosuch://x")
	msg, _, _ := strings.Cut(err.Error(), " (registered:")
	fmt.Println(msg)
	// Output:
	// core: OpenStore: unknown scheme "nosuch"
}

func ExampleWithMaxKeyedBodySize() {
	store, err := memstore.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	// POST responses are cached, keyed by a body of at most 1 KiB.
	cache, err := core.New(store, core.WithAllowableMethods("GET", "HEAD", "POST"), core.WithMaxKeyedBodySize(1<<10))
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	calls := 0
	send := origin(&calls)
	post := func(body string) {
		req, _ := http.NewRequest(http.MethodPost, "https://api.example.com/search", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := cache.Do(req, send)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Header.Get("Cache-Status"))
	}
	post(`{"q":"go"}`)
	post(`{"q":"go"}`)
	post(`{"q":"` + strings.Repeat("x", 2<<10) + `"}`) // streamed to the origin, not cached
	// Output:
	// hoard; fwd=miss; stored
	// hoard; hit
	// hoard; fwd=bypass; detail=body-too-large
}

func ExampleWithTargetedCacheControl() {
	store, _ := memstore.New(nil)
	// A cache deployed as a CDN for its origin follows CDN-Cache-Control
	// (RFC 9213) in place of Cache-Control.
	cache, _ := core.New(store, core.WithShared(), core.WithTargetedCacheControl("CDN-Cache-Control"))
	defer cache.Close()
	calls := 0
	send := func(req *http.Request) (*http.Response, error) {
		calls++
		return &http.Response{
			StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{
				"Cache-Control":     {"no-store"},     // for every other cache
				"Cdn-Cache-Control": {"max-age=3600"}, // for this one
			},
			Body: io.NopCloser(strings.NewReader("page")), ContentLength: 4, Request: req,
		}, nil
	}
	for range 2 {
		req, _ := http.NewRequest(http.MethodGet, "https://www.example.com/", nil)
		read(cache.Do(req, send))
	}
	fmt.Println("origin calls:", calls)
	// Output:
	// origin calls: 1
}

// downStore is a store whose server is gone: every call fails.
type downStore struct{}

func (downStore) Get(context.Context, string) ([]byte, error)          { return nil, errDown }
func (downStore) Set(context.Context, string, []byte, core.Meta) error { return errDown }
func (downStore) Delete(context.Context, string) error                 { return errDown }

var errDown = fmt.Errorf("connection refused")

// A store that keeps failing opens the circuit breaker: requests then go
// straight to the origin without waiting for the store, and management
// calls fail at once with an error wrapping ErrUnavailable.
func ExampleWithBreaker() {
	cache, err := core.New(downStore{},
		core.WithBreaker(core.BreakerSettings{Failures: 2, Backoff: time.Minute}),
		core.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	var calls int
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
		resp, err := cache.Do(req, origin(&calls))
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Header.Get("Cache-Status"))
	}
	st := cache.Stats()
	fmt.Println("breaker:", st.Breaker.State, "opens:", st.Breaker.Opens, "origin calls:", calls)
	req, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	err = cache.Delete(context.Background(), req)
	fmt.Println("Delete fails with ErrUnavailable:", errors.Is(err, core.ErrUnavailable))
	// Output:
	// hoard; fwd=miss
	// hoard; fwd=bypass; detail=store-unavailable
	// hoard; fwd=bypass; detail=store-unavailable
	// breaker: open opens: 1 origin calls: 3
	// Delete fails with ErrUnavailable: true
}

// tinyClient is a made-up client library: a chain of middleware around a
// sender, as many libraries have.
type tinyClient struct {
	send func(*http.Request) (*http.Response, error)
}

// Use wraps the client's sending in mw.
func (c *tinyClient) Use(mw func(next func(*http.Request) (*http.Response, error)) func(*http.Request) (*http.Response, error)) {
	c.send = mw(c.send)
}

// hoardMiddleware puts a cache under tinyClient with the hooks alone: what
// Cache.Do does, step by step.
func hoardMiddleware(cache *core.Cache) func(next func(*http.Request) (*http.Response, error)) func(*http.Request) (*http.Response, error) {
	return func(next func(*http.Request) (*http.Response, error)) func(*http.Request) (*http.Response, error) {
		return func(req *http.Request) (*http.Response, error) {
			ctx := req.Context()
			lr, err := cache.Lookup(ctx, req)
			switch {
			case err != nil:
				return nil, err
			case lr.State == core.Hit:
				return lr.Response, nil
			case lr.State == core.StaleWhileRevalidate:
				cache.RevalidateInBackground(&lr, next)
				return lr.Response, nil
			}
			if resp, err := cache.Join(ctx, &lr); resp != nil || err != nil {
				return resp, err // an identical request in flight answered it
			}
			resp, err := next(lr.Request)
			if lr.State == core.Revalidate {
				resp, err = cache.Revalidate(ctx, &lr, resp, err)
			} else {
				resp, err = cache.Store(ctx, &lr, resp, err)
			}
			if errors.Is(err, core.ErrResend) { // the 304 was for another representation
				resp, err = next(lr.Request)
				resp, err = cache.Store(ctx, &lr, resp, err)
			}
			return resp, err
		}
	}
}

// An adapter for a client library hoard does not know, from the hooks.
func ExampleCache_Lookup() {
	store, _ := memstore.New(nil)
	cache, _ := core.New(store)
	defer cache.Close()

	calls := 0
	client := &tinyClient{send: origin(&calls)}
	client.Use(hoardMiddleware(cache))

	for range 2 {
		req, _ := http.NewRequest(http.MethodGet, "http://example.test/doc", nil)
		resp, err := client.send(req)
		fmt.Println(read(resp, err), core.InfoOf(resp).FromCache, resp.Header.Get("Cache-Status"))
	}
	fmt.Println("origin calls:", calls)
	// Output:
	// response 1 false hoard; fwd=miss; stored
	// response 1 true hoard; hit
	// origin calls: 1
}
