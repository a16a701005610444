// Command retryablehttp shows hoard under go-retryablehttp, offline: a local
// origin that takes -delay per request and fails every request once it is
// switched off, fetched through a retrying client with the cache below its
// retry loop.
//
// It fetches a few URLs -n times each (misses, then hits), then moves the
// cache's clock past the responses' lifetime, switches the origin to 500s and
// fetches again: each request asks the origin once and, on its 500, gets the
// stale copy under stale-if-error at once, without retries or backoff.
//
//	go run ./retryablehttp             # from the examples module
//	go run ./retryablehttp -n 5 -delay 50ms
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	retryablecache "github.com/hoardhttp/hoard/adapters/retryablehttp"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

func main() {
	n := flag.Int("n", 10, "fetches per URL")
	delay := flag.Duration("delay", 100*time.Millisecond, "time the origin takes to answer each request")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *n, *delay); err != nil {
		fmt.Fprintln(os.Stderr, "retryablehttp:", err)
		os.Exit(1)
	}
}

// clock is the cache's clock, moved forward instead of waiting.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func run(ctx context.Context, w io.Writer, n int, delay time.Duration) error {
	var hits atomic.Int64
	var down atomic.Bool
	clk := &clock{t: time.Now()}
	origin := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		if down.Load() {
			http.Error(rw, "origin down", http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Date", clk.now().UTC().Format(http.TimeFormat))
		rw.Header().Set("Cache-Control", "max-age=60, stale-if-error=3600")
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(rw, `{"path":%q}`, r.URL.Path)
	}))
	defer origin.Close()

	store, err := memstore.New(nil)
	if err != nil {
		return err
	}
	cache, err := core.New(store, core.WithClock(clk.now))
	if err != nil {
		return err
	}
	defer cache.Close()

	rc := retryablehttp.NewClient()
	rc.Logger = nil
	rc.RetryMax = 3
	rc.RetryWaitMin, rc.RetryWaitMax = 200*time.Millisecond, time.Second
	retryablecache.Install(rc, cache)

	paths := []string{"/users/1", "/users/2", "/repos/hoard"}
	fetch := func(label string) error {
		start := time.Now()
		before := hits.Load()
		var fromCache, stale int
		for i := range n * len(paths) {
			req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, origin.URL+paths[i%len(paths)], nil)
			if err != nil {
				return err
			}
			resp, err := rc.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			info := core.InfoOf(resp)
			if info.FromCache {
				fromCache++
			}
			if info.Stale {
				stale++
			}
		}
		fmt.Fprintf(w, "%-28s requests %3d  origin %2d  from cache %3d  stale %3d  time %v\n",
			label, n*len(paths), hits.Load()-before, fromCache, stale, time.Since(start).Round(time.Millisecond))
		return nil
	}
	if err := fetch("origin up, fresh"); err != nil {
		return err
	}
	clk.advance(2 * time.Minute)
	down.Store(true)
	return fetch("origin down, stale-if-error")
}
