package retryablecache_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/hashicorp/go-retryablehttp"

	retryablecache "github.com/hoardhttp/hoard/adapters/retryablehttp"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

func ExampleInstall() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprint(w, `{"id":1}`)
	}))
	defer origin.Close()

	store, err := memstore.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	rc := retryablehttp.NewClient()
	rc.Logger = nil
	retryablecache.Install(rc, cache) // below the retry loop

	for range 2 {
		resp, err := rc.Get(origin.URL + "/users/1")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body), core.InfoOf(resp).FromCache, resp.Header.Get("Cache-Status"))
	}
	// Output:
	// {"id":1} false hoard; fwd=miss; stored
	// {"id":1} true hoard; hit
}

func ExampleNewClientAbove() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprint(w, "hello")
	}))
	defer origin.Close()

	store, err := memstore.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store, core.WithStaleIfError(core.Forever))
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	rc := retryablehttp.NewClient()
	rc.Logger = nil
	client := retryablecache.NewClientAbove(rc, cache) // retries first, then stale

	for range 2 {
		resp, err := client.Get(origin.URL + "/greeting")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body), core.InfoOf(resp).FromCache)
	}
	// Output:
	// hello false
	// hello true
}

func ExampleCheckRetry() {
	store, err := memstore.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	rc := retryablehttp.NewClient()
	rc.Logger = nil
	retryablecache.Install(rc, cache)
	// A policy set after Install is wrapped by hand.
	rc.CheckRetry = retryablecache.CheckRetry(retryablehttp.ErrorPropagatedRetryPolicy)

	// Nothing stored and only-if-cached: the cache's 504, not retried.
	req, err := retryablehttp.NewRequestWithContext(core.OnlyIfCached(context.Background()), http.MethodGet, "http://example.test/", nil)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := rc.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, core.InfoOf(resp).Synthetic)
	// Output:
	// 504 true
}
