// Command req shows hoard under req v3, offline: a local origin that takes
// -delay per request, fetched -n times per URL through a req client with the
// cache installed; req unmarshals every response (SetSuccessResult), hits
// included.
//
//	go run ./req             # from the examples module
//	go run ./req -n 5 -delay 50ms
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"time"

	"github.com/imroc/req/v3"

	reqcache "github.com/hoardhttp/hoard/adapters/req"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

func main() {
	n := flag.Int("n", 10, "fetches per URL")
	delay := flag.Duration("delay", 100*time.Millisecond, "time the origin takes to answer each request")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *n, *delay); err != nil {
		fmt.Fprintln(os.Stderr, "req:", err)
		os.Exit(1)
	}
}

type user struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func run(ctx context.Context, w io.Writer, n int, delay time.Duration) error {
	var hits atomic.Int64
	names := map[string]string{"/users/1": "Ada Lovelace", "/users/2": "Grace Hopper", "/users/3": "Barbara Liskov"}
	origin := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		name, ok := names[r.URL.Path]
		if !ok {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Cache-Control", "max-age=300")
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(rw, `{"id":%c,"name":%q}`, r.URL.Path[len(r.URL.Path)-1], name)
	}))
	defer origin.Close()

	store, err := memstore.New(nil)
	if err != nil {
		return err
	}
	cache, err := core.New(store)
	if err != nil {
		return err
	}
	defer cache.Close()

	client := req.C()
	reqcache.Install(client, cache)

	start := time.Now()
	var fromCache int
	paths := []string{"/users/1", "/users/2", "/users/3"}
	for i := range n * len(paths) {
		var u user
		resp, err := client.R().SetContext(ctx).SetSuccessResult(&u).Get(origin.URL + paths[i%len(paths)])
		if err != nil {
			return err
		}
		in := reqcache.Info(resp)
		if in.FromCache {
			fromCache++
		}
		if i < 2*len(paths) {
			fmt.Fprintf(w, "%-10s %-16s from cache: %-5v  %s\n", paths[i%len(paths)], u.Name, in.FromCache, resp.GetHeader("Cache-Status"))
		}
	}
	fmt.Fprintf(w, "requests %d  origin %d  from cache %d  time %v\n",
		n*len(paths), hits.Load(), fromCache, time.Since(start).Round(time.Millisecond))
	return nil
}
