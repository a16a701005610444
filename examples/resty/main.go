// Command resty shows hoard under a resty v2 client, offline.
//
// It starts a local JSON origin that takes -delay to answer each request,
// installs a cache (memory store) on a resty client with
// restycache.Install, and fetches a few URLs -n times each with resty's
// SetResult. It prints, per URL, how many requests reached the origin and
// how many the cache answered, then shows OnlyIfCached and ForceRefresh.
//
//	go run ./resty             # from the examples module
//	go run ./resty -n 50 -delay 250ms
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/go-resty/resty/v2"
	restycache "github.com/hoardhttp/hoard/adapters/resty"
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
		fmt.Fprintln(os.Stderr, "resty example:", err)
		stop()
		os.Exit(1)
	}
}

// user is what the origin serves; resty unmarshals it with SetResult, on
// hits as on misses.
type user struct {
	ID    int    `json:"id"`
	Login string `json:"login"`
}

// origin is a slow JSON API whose responses may be cached for five minutes.
// hits counts the requests it answered.
func origin(delay time.Duration, hits *atomic.Int64) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		var id int
		if _, err := fmt.Sscanf(r.URL.Path, "/users/%d", &id); err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%d,"login":"user%d"}`, id, id)
	}))
}

func run(ctx context.Context, w io.Writer, n int, delay time.Duration) (err error) {
	if n < 1 {
		return fmt.Errorf("-n must be at least 1, got %d", n)
	}
	if delay < 0 {
		return fmt.Errorf("-delay must not be negative, got %v", delay)
	}
	var hits atomic.Int64
	srv := origin(delay, &hits)
	defer srv.Close()

	store, err := memstore.New(&memstore.Options{MaxBytes: 64 << 20})
	if err != nil {
		return fmt.Errorf("memory store: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cache, err := core.New(store, core.WithLogger(logger))
	if err != nil {
		store.Close()
		return fmt.Errorf("cache: %w", err)
	}
	defer func() {
		if cerr := cache.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the cache: %w", cerr)
		}
	}()

	// Transport settings (proxy, TLS) go before Install; see restycache.
	client := restycache.Install(resty.New(), cache).
		SetRetryCount(2).
		AddRetryCondition(restycache.RetryCondition)
	defer client.GetClient().CloseIdleConnections()

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "resty v2 + hoard: %d fetches per URL, origin delay %v\n\n", n, delay)
	fmt.Fprintln(tw, "url\trequests\torigin hits\tfrom cache\ttime\t")
	start := time.Now()
	var total, totalCached int
	for id := 1; id <= 3; id++ {
		url := fmt.Sprintf("%s/users/%d", srv.URL, id)
		before := hits.Load()
		fromCache := 0
		t0 := time.Now()
		for range n {
			var u user
			resp, err := client.R().SetContext(ctx).SetResult(&u).Get(url)
			if err != nil {
				return err
			}
			if resp.StatusCode() != http.StatusOK || u.ID != id {
				return fmt.Errorf("GET %s: status %d, result %+v", url, resp.StatusCode(), u)
			}
			if restycache.Info(resp).FromCache {
				fromCache++
			}
		}
		total += n
		totalCached += fromCache
		fmt.Fprintf(tw, "/users/%d\t%d\t%d\t%d\t%v\t\n", id, n, hits.Load()-before, fromCache, time.Since(t0).Round(time.Millisecond))
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%v\t\n", total, hits.Load(), totalCached, time.Since(start).Round(time.Millisecond))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "without the cache: about %v\n\n", (time.Duration(total) * delay).Round(time.Millisecond))

	// Per-request options, in resty's chaining style.
	resp, err := restycache.Options.OnlyIfCached(client.R().SetContext(ctx)).Get(srv.URL + "/users/99")
	if err != nil {
		return err
	}
	in := restycache.Info(resp)
	fmt.Fprintf(w, "OnlyIfCached, never fetched: %d (synthetic %v, attempts %d: not retried)\n", resp.StatusCode(), in.Synthetic, resp.Request.Attempt)
	before := hits.Load()
	resp, err = restycache.Options.ForceRefresh(client.R().SetContext(ctx)).Get(srv.URL + "/users/1")
	if err != nil {
		return err
	}
	in = restycache.Info(resp)
	fmt.Fprintf(w, "ForceRefresh /users/1: origin hits +%d, from cache %v, stored %v\n", hits.Load()-before, in.FromCache, in.Stored)
	return nil
}
