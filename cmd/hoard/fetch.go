package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
)

// headerFlags are repeated -H 'Name: value' flags.
type headerFlags []string

func (h headerFlags) header() (http.Header, error) {
	out := http.Header{}
	for _, line := range h {
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, usagef("-H %q: want 'Name: value'", line)
		}
		out.Add(name, strings.TrimSpace(value))
	}
	return out, nil
}

func (a *app) getCmd() *cobra.Command {
	var (
		dsn     string
		headers []string
		include bool
		method  string
		shared  bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "get URL --dsn DSN [-H 'Name: value'] [-i]",
		Short: "Fetch a URL through the cache, like curl, showing the Cache-Status",
		Long: `get sends one request through a cache over the store --dsn names, as a program
using hoard would, and prints the body. With -i it prints the status line and
the header fields first, as curl -i does; without it, the Cache-Status field
goes to standard error. Run it twice to see a miss, then a hit; after the
response's lifetime, a revalidation.

The cache is private (a browser's rules) unless --shared. mem:// lives only
as long as the command: use a store that persists to see hits.`,
		Example: `  hoard get https://example.com/ --dsn sqlite:///tmp/cache.db -i
  hoard get https://api.example.com/users/1 --dsn redis://127.0.0.1:6379/0 -H 'Accept: application/json'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("get needs one URL")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := url.Parse(args[0])
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usagef("%q is not an http or https URL", args[0])
			}
			h, err := headerFlags(headers).header()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var opts []core.Option
			if shared {
				opts = append(opts, core.WithShared())
			}
			o, err := a.open(ctx, dsn, writing, opts...)
			if err != nil {
				return err
			}
			defer o.Close()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			req, err := http.NewRequestWithContext(ctx, strings.ToUpper(method), u.String(), nil)
			if err != nil {
				return usagef("%v", err)
			}
			req.Header = h
			if host := h.Get("Host"); host != "" {
				req.Host = host
			}
			client := nethttpcache.NewClient(o.cache, nil)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if include {
				fmt.Fprintf(a.out, "%s %s\r\n", resp.Proto, resp.Status)
				for _, k := range slices.Sorted(maps.Keys(resp.Header)) {
					for _, v := range resp.Header[k] {
						fmt.Fprintf(a.out, "%s: %s\r\n", k, v)
					}
				}
				fmt.Fprint(a.out, "\r\n")
			} else {
				fmt.Fprintf(a.err, "%s (%s)\n", resp.Header.Get("Cache-Status"), resp.Status)
			}
			if _, err := io.Copy(a.out, resp.Body); err != nil {
				return fmt.Errorf("reading the body: %w", err)
			}
			o.cache.Wait() // a background revalidation finishes before the store closes
			return nil
		},
	}
	cmd.Flags().StringVar(&dsn, "dsn", "mem://", "the store to cache in")
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, "request header field 'Name: value' (repeatable)")
	cmd.Flags().BoolVarP(&include, "include", "i", false, "print the status line and header fields")
	cmd.Flags().StringVarP(&method, "request", "X", http.MethodGet, "request method")
	cmd.Flags().BoolVar(&shared, "shared", false, "use shared-cache rules (core.WithShared)")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: never)")
	return cmd
}

func (a *app) proxyCmd() *cobra.Command {
	var (
		dsn, listen, upstream string
		private               bool
	)
	cmd := &cobra.Command{
		Use:   "proxy --dsn DSN --listen 127.0.0.1:8080 --upstream URL",
		Short: "Run a caching reverse proxy in front of one origin",
		Long: `proxy serves HTTP on --listen (only that address: 127.0.0.1 by default, never
every interface unless you say so) and forwards every request to --upstream
through a cache over the store --dsn names, so that programs in any language
(curl, a Python script, a browser) share one hoard cache. Request paths and
queries are appended to the upstream URL; the Host sent upstream is the
upstream's, so keys name the origin.

As a proxy serves many users, the cache follows shared-cache rules by default
(core.WithShared: s-maxage counts, private responses and responses to
requests with Authorization are not stored unless the origin allows it);
--private makes it a private cache, for a proxy only you use. Every response
carries its Cache-Status field. It stops on SIGINT or SIGTERM, finishing the
requests in flight.`,
		Example: `  hoard proxy --dsn sqlite:///tmp/cache.db --upstream https://api.example.com
  curl -i http://127.0.0.1:8080/users/1`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if upstream == "" {
				return usagef("--upstream is required: the origin to forward to")
			}
			up, err := url.Parse(upstream)
			if err != nil || (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" {
				return usagef("--upstream %q: want an http or https URL", upstream)
			}
			ctx := cmd.Context()
			var opts []core.Option
			if !private {
				opts = append(opts, core.WithShared())
			}
			o, err := a.open(ctx, dsn, writing, opts...)
			if err != nil {
				return err
			}
			defer o.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listening on %s: %w", listen, err)
			}
			rp := &httputil.ReverseProxy{
				Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(up) },
				Transport: nethttpcache.NewTransport(o.cache, nil),
				ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
					fmt.Fprintf(a.err, "hoard proxy: %s %s: %v\n", r.Method, r.URL.Redacted(), err)
					w.WriteHeader(http.StatusBadGateway)
				},
			}
			srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
			mode := "shared"
			if private {
				mode = "private"
			}
			fmt.Fprintf(a.err, "hoard proxy: listening on http://%s, forwarding to %s through a %s cache in %s\n", ln.Addr(), up.Redacted(), mode, redact(dsn))
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			select {
			case err := <-done:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			err = srv.Shutdown(sctx)
			if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
				err = serr
			}
			o.cache.Wait()
			fmt.Fprintln(a.err, "hoard proxy: stopped")
			return err
		},
	}
	cmd.Flags().StringVar(&dsn, "dsn", "mem://", "the store to cache in")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks one)")
	cmd.Flags().StringVar(&upstream, "upstream", "", "the origin to forward to (http or https URL)")
	cmd.Flags().BoolVar(&private, "private", false, "use private-cache rules instead of shared ones")
	return cmd
}
