package promhoard_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/observe/promhoard"
	"github.com/hoardhttp/hoard/stores/memstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func Example() {
	col := promhoard.New(&promhoard.Options{StoreName: "memory"})
	store, err := memstore.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store, core.WithObserver(col))
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	col.Watch(cache)
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)

	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/items", nil)
		resp, err := cache.Do(req, origin)
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	n, err := testutil.GatherAndCount(reg, "hoard_requests_total")
	fmt.Println(n, err)
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hoard_served_from_cache_bytes_total Response body bytes served from the store.
# TYPE hoard_served_from_cache_bytes_total counter
hoard_served_from_cache_bytes_total{store="memory"} 24
`), "hoard_served_from_cache_bytes_total")
	fmt.Println(err)
	// Output:
	// 7 <nil>
	// <nil>
}
