package nethttpcache_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

func ExampleNewClient() {
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
	client := nethttpcache.NewClient(cache, nil)

	for range 2 {
		resp, err := client.Get(origin.URL + "/users/1")
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

func ExampleInstall() {
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
	nethttpcache.Install(cache) // http.Get and http.DefaultClient now use the cache
	defer nethttpcache.Uninstall()

	for range 2 {
		resp, err := http.Get(origin.URL)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(core.InfoOf(resp).FromCache)
	}
	// Output:
	// false
	// true
}
