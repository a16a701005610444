package restycache_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/go-resty/resty/v2"
	restycache "github.com/hoardhttp/hoard/adapters/resty"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

func ExampleInstall() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":1,"name":"ada"}`)
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
	client := restycache.Install(resty.New(), cache)

	for range 2 {
		var user struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		}
		resp, err := client.R().SetResult(&user).Get(origin.URL + "/users/1")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(user.Name, restycache.Info(resp).FromCache, resp.Header().Get("Cache-Status"))
	}
	// Output:
	// ada false hoard; fwd=miss; stored
	// ada true hoard; hit
}

func ExampleOnlyIfCached() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprint(w, "hello")
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
	client := restycache.Install(resty.New(), cache).
		SetRetryCount(3).
		AddRetryCondition(restycache.RetryCondition) // never retries the cache's own 504

	for range 2 {
		resp, err := restycache.Options.OnlyIfCached(client.R()).Get(origin.URL)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(resp.StatusCode(), restycache.Info(resp).Synthetic, resp.Request.Attempt)
		if _, err := client.R().Get(origin.URL); err != nil { // fills the cache
			log.Fatal(err)
		}
	}
	// Output:
	// 504 true 1
	// 200 false 1
}
