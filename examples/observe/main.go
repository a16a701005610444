// Command observe shows hoard's metrics: it puts a cache with a Prometheus
// collector (observe/promhoard) in front of a local origin, makes a few
// requests through it (a miss stored, hits, a conditional revalidation, a
// bypassed POST), serves the metrics on /metrics of a loopback server,
// scrapes that page as Prometheus would and prints the hoard_ lines, then
// exits. Nothing leaves the machine.
//
//	go run ./observe            # from the examples module
//	go run ./observe -all       # every line, histogram buckets included
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/observe/promhoard"
	"github.com/hoardhttp/hoard/stores/memstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	all := flag.Bool("all", false, "print every scraped line, histogram buckets and zero counters included")
	flag.Parse()
	if err := run(os.Stdout, *all); err != nil {
		log.Fatal(err)
	}
}

// run makes the requests, scrapes /metrics and prints its hoard_ lines.
func run(w io.Writer, all bool) error {
	origin := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Etag", `"v1"`)
		switch r.URL.Path {
		case "/fresh":
			rw.Header().Set("Cache-Control", "max-age=600")
		case "/validate":
			rw.Header().Set("Cache-Control", "no-cache") // stored, revalidated on every use
			if r.Header.Get("If-None-Match") == `"v1"` {
				rw.WriteHeader(http.StatusNotModified)
				return
			}
		}
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(rw, `{"path":%q,"items":[1,2,3]}`, r.URL.Path)
	}))
	defer origin.Close()

	col := promhoard.New(&promhoard.Options{StoreName: "memory"})
	store, err := memstore.New(nil)
	if err != nil {
		return err
	}
	cache, err := core.New(store, core.WithObserver(col))
	if err != nil {
		return err
	}
	defer cache.Close()
	col.Watch(cache)
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	metrics := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer metrics.Close()

	client := nethttpcache.NewClient(cache, http.DefaultTransport)
	requests := []struct{ method, path string }{
		{http.MethodGet, "/fresh"}, {http.MethodGet, "/fresh"}, {http.MethodGet, "/fresh"},
		{http.MethodGet, "/validate"}, {http.MethodGet, "/validate"},
		{http.MethodPost, "/fresh"},
	}
	for _, r := range requests {
		req, err := http.NewRequest(r.method, origin.URL+r.path, strings.NewReader(""))
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Fprintf(w, "%-4s %-9s %s\n", r.method, r.path, resp.Header.Get("Cache-Status"))
	}

	resp, err := http.Get(metrics.URL + "/metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintf(w, "\nGET %s/metrics (hoard_ lines%s):\n", "http://"+metrics.Listener.Addr().String(), map[bool]string{false: ", no buckets or zeros"}[all])
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "hoard_") {
			continue
		}
		if !all && (strings.Contains(line, "_bucket{") || strings.HasSuffix(line, " 0")) {
			continue
		}
		fmt.Fprintln(w, line)
	}
	return sc.Err()
}
