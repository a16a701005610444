package reqcache_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/imroc/req/v3"

	reqcache "github.com/hoardhttp/hoard/adapters/req"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

func ExampleInstall() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":1,"name":"Ada"}`)
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

	client := req.C()
	reqcache.Install(client, cache)

	for range 2 {
		var user struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		}
		resp, err := client.R().SetSuccessResult(&user).Get(origin.URL + "/users/1")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(user.Name, reqcache.Info(resp).FromCache, resp.GetHeader("Cache-Status"))
	}
	// Output:
	// Ada false hoard; fwd=miss; stored
	// Ada true hoard; hit
}

func ExampleOnlyIfCached() {
	store, err := memstore.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	client := req.C()
	reqcache.Install(client, cache)

	// Nothing stored: the cache answers 504 itself, without the network.
	resp, err := reqcache.Options.OnlyIfCached(client.R()).Get("http://example.test/report")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, reqcache.Info(resp).Synthetic)
	// Output:
	// 504 true
}

func ExampleRetryCondition() {
	store, err := memstore.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	client := req.C().
		SetCommonRetryCount(3).
		SetCommonRetryCondition(reqcache.RetryCondition(func(resp *req.Response, err error) bool {
			return err != nil || resp.StatusCode >= 500
		}))
	reqcache.Install(client, cache)

	// The cache's own 504 is not retried.
	resp, err := reqcache.Options.OnlyIfCached(client.R()).Get("http://example.test/report")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode)
	// Output:
	// 504
}
