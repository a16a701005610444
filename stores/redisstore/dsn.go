package redisstore

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/hoardhttp/hoard/core"
)

// Scheme is the DSN scheme of a plain TCP connection:
// core.OpenStore(ctx, "redis://127.0.0.1:6379/0?prefix=myapp:") opens a *Store.
const Scheme = "redis"

// SchemeTLS is the DSN scheme of a TLS connection ("rediss://host:6380/0").
const SchemeTLS = "rediss"

func init() {
	core.RegisterStore(Scheme, openURL)
	core.RegisterStore(SchemeTLS, openURL)
}

// storeParams are the DSN parameters that configure the Store; every other
// parameter goes to go-redis, which rejects the ones it does not know.
var storeParams = []string{"prefix", "scan_count"}

// openURL opens a Store from a redis:// or rediss:// DSN. The client it
// makes is the store's: Close closes it.
func openURL(_ context.Context, u *url.URL) (core.Store, error) {
	if u.Scheme != Scheme && u.Scheme != SchemeTLS {
		return nil, fmt.Errorf("redisstore: DSN scheme %q; want %s or %s", u.Scheme, Scheme, SchemeTLS)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("redisstore: DSN %s has a fragment", redacted(u))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("redisstore: DSN %s: %w", redacted(u), err)
	}
	var opts Options
	for _, name := range storeParams {
		vals, ok := q[name]
		if !ok {
			continue
		}
		delete(q, name)
		if len(vals) != 1 {
			return nil, fmt.Errorf("redisstore: DSN parameter %s given %d times", name, len(vals))
		}
		v := vals[0]
		switch name {
		case "prefix":
			if v == "" {
				return nil, fmt.Errorf("redisstore: DSN parameter prefix is empty (leave it out for the default %q)", DefaultKeyPrefix)
			}
			opts.KeyPrefix = v
		case "scan_count":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("redisstore: DSN parameter scan_count=%q: want a positive integer", v)
			}
			opts.ScanCount = n
		}
	}
	rest := *u
	rest.RawQuery = q.Encode()
	ropts, err := redis.ParseURL(rest.String())
	if err != nil {
		// go-redis's errors name the parameter, never the password.
		return nil, fmt.Errorf("redisstore: DSN %s: %w", redacted(u), err)
	}
	// The core's per-operation timeout works through the context.
	ropts.ContextTimeoutEnabled = true
	client := redis.NewClient(ropts)
	s, err := New(client, &opts)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.ownsClient = true
	return s, nil
}

// redacted is u with its password, if any, replaced, for error messages.
func redacted(u *url.URL) string { return u.Redacted() }
