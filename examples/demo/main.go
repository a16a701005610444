// Command demo shows what a response cache does for a slow API, offline: the
// Go version of requests-cache's "100 requests in just over 1 second".
//
// It starts a local origin that takes -delay to answer each request, then
// fetches each of a few JSON URLs -n times through hoard (memory store,
// net/http adapter) and prints, per URL, how many requests reached the origin
// and how many the cache answered.
//
//	go run ./demo             # from the examples module; or `make demo` at the root
//	go run ./demo -n 50 -delay 250ms
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

func main() {
	n := flag.Int("n", 25, "fetches per URL")
	delay := flag.Duration("delay", 100*time.Millisecond, "time the origin takes to answer each request")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *n, *delay); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		stop()
		os.Exit(1)
	}
}

// resource is one URL the origin serves.
type resource struct {
	path  string   // URL path; the origin counts hits per path
	query []string // alternative spellings of the same query, used in turn
	body  string   // JSON body
	hits  atomic.Int64
}

// label is how the resource appears in the table.
func (r *resource) label() string {
	if len(r.query) == 0 {
		return r.path
	}
	return r.path + "?" + r.query[0]
}

// url returns the URL of the i-th fetch: resources with a query alternate
// between its spellings, which the cache normalises to one key.
func (r *resource) url(base string, i int) string {
	if len(r.query) == 0 {
		return base + r.path
	}
	return base + r.path + "?" + r.query[i%len(r.query)]
}

func resources() []*resource {
	return []*resource{
		{path: "/users/1", body: `{"id":1,"login":"ada","name":"Ada Lovelace"}`},
		{path: "/users/2", body: `{"id":2,"login":"grace","name":"Grace Hopper"}`},
		{path: "/repos/hoard", body: `{"name":"hoard","description":"persistent HTTP response cache for Go","stars":42}`},
		{
			path:  "/search",
			query: []string{"q=go&page=1", "page=1&q=go"},
			body:  `{"query":"go","page":1,"items":["hoard","ristretto","slog"]}`,
		},
	}
}

// origin is a slow JSON API: every request takes delay, every response may be
// cached for five minutes and carries an ETag.
func origin(res []*resource, delay time.Duration) *httptest.Server {
	byPath := make(map[string]*resource, len(res))
	for _, r := range res {
		byPath[r.path] = r
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r := byPath[req.URL.Path]
		if r == nil || (len(r.query) > 0 && !sameQuery(req, r.query[0])) {
			http.NotFound(w, req)
			return
		}
		r.hits.Add(1)
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
		h := fnv.New64a()
		io.WriteString(h, r.body)
		etag := fmt.Sprintf(`"%016x"`, h.Sum64())
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("ETag", etag)
		if req.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, r.body)
	}))
}

// sameQuery reports whether the request's query has the same parameters as
// want, in any order.
func sameQuery(req *http.Request, want string) bool {
	got := req.URL.Query()
	for _, kv := range strings.Split(want, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if got.Get(k) != v {
			return false
		}
	}
	return true
}

// row is the outcome for one URL.
type row struct {
	label      string
	requests   int
	originHits int64
	fromCache  int
	elapsed    time.Duration
}

// result is the outcome of a whole run.
type result struct {
	n       int
	delay   time.Duration
	rows    []row
	elapsed time.Duration
	stats   core.Stats
}

// measure fetches every resource n times through a hoard cache in front of a
// local origin that answers after delay.
func measure(ctx context.Context, n int, delay time.Duration) (_ *result, err error) {
	if n < 1 {
		return nil, fmt.Errorf("-n must be at least 1, got %d", n)
	}
	if delay < 0 {
		return nil, fmt.Errorf("-delay must not be negative, got %v", delay)
	}

	res := resources()
	srv := origin(res, delay)
	defer srv.Close()

	store, err := memstore.New(&memstore.Options{MaxBytes: 64 << 20})
	if err != nil {
		return nil, fmt.Errorf("memory store: %w", err)
	}
	// Warnings only: store errors and failed background refreshes.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cache, err := core.New(store, core.WithLogger(logger))
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("cache: %w", err)
	}
	// Close waits for background work and closes the store.
	defer func() {
		if cerr := cache.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the cache: %w", cerr)
		}
	}()
	client := nethttpcache.NewClient(cache, nil)
	defer client.CloseIdleConnections()

	out := &result{n: n, delay: delay}
	start := time.Now()
	for _, r := range res {
		rw := row{label: r.label(), requests: n}
		t0 := time.Now()
		for i := range n {
			fromCache, err := fetch(ctx, client, r.url(srv.URL, i), r.body)
			if err != nil {
				return nil, err
			}
			if fromCache {
				rw.fromCache++
			}
		}
		rw.elapsed = time.Since(t0)
		rw.originHits = r.hits.Load()
		out.rows = append(out.rows, rw)
	}
	out.elapsed = time.Since(start)
	out.stats = cache.Stats()
	return out, nil
}

// fetch GETs url, checks the body is want, and reports whether the response
// came from the cache.
func fetch(ctx context.Context, client *http.Client, url, want string) (fromCache bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return false, fmt.Errorf("GET %s: reading body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if !bytes.Equal(body, []byte(want)) {
		return false, fmt.Errorf("GET %s: body %q, want %q", url, body, want)
	}
	return core.InfoOf(resp).FromCache, nil
}

// write prints the result as a table followed by totals and cache stats.
func (r *result) write(w io.Writer) error {
	var total row
	total.label = "total"
	for _, rw := range r.rows {
		total.requests += rw.requests
		total.originHits += rw.originHits
		total.fromCache += rw.fromCache
	}
	total.elapsed = r.elapsed

	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "%d requests to %d URLs through hoard; the origin takes %v per request.\n\n",
		total.requests, len(r.rows), r.delay)

	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	const hReq, hHits, hCache, hTime = "requests", "origin hits", "from cache", "time"
	fmt.Fprintf(tw, "URL\t%s\t%s\t%s\t%8s\n", hReq, hHits, hCache, hTime)
	line := func(rw row) {
		fmt.Fprintf(tw, "%s\t%*d\t%*d\t%*d\t%8s\n", rw.label,
			len(hReq), rw.requests, len(hHits), rw.originHits, len(hCache), rw.fromCache, round(rw.elapsed))
	}
	for _, rw := range r.rows {
		line(rw)
	}
	line(total)
	tw.Flush()

	uncached := time.Duration(total.requests) * r.delay
	fmt.Fprintln(ew)
	fmt.Fprintf(ew, "without a cache: %d requests × %v = %v (at least)\n", total.requests, r.delay, uncached)
	fmt.Fprintf(ew, "with hoard:      %v", round(r.elapsed))
	if r.elapsed > 0 && uncached > r.elapsed {
		fmt.Fprintf(ew, " (%.0f× faster)", float64(uncached)/float64(r.elapsed))
	}
	fmt.Fprintln(ew)
	for _, rw := range r.rows {
		if strings.Contains(rw.label, "?") {
			fmt.Fprintf(ew, "\n%s was requested with its query parameters in both orders: one key, one origin hit.\n", rw.label)
			break
		}
	}
	fmt.Fprintf(ew, "\ncache.Stats(): %s\n", nonZero(r.stats))
	return ew.err
}

// nonZero formats the non-zero fields of a Stats, as Name=value pairs.
func nonZero(s core.Stats) string {
	var parts []string
	v := reflect.ValueOf(s)
	for i := range v.NumField() {
		f := v.Field(i)
		if f.CanInt() && f.Int() != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", v.Type().Field(i).Name, f.Int()))
		}
	}
	if len(parts) == 0 {
		return "(all zero)"
	}
	return strings.Join(parts, " ")
}

// round shortens a duration for display.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// errWriter remembers the first write error so write can report it once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// run is the demo: it measures and prints.
func run(ctx context.Context, w io.Writer, n int, delay time.Duration) error {
	r, err := measure(ctx, n, delay)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("interrupted: %w", err)
		}
		return err
	}
	return r.write(w)
}
