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

// storeParams are the DSN parameters that configure the Store, each
// mirroring an Options field.
var storeParams = []string{"lazy", "prefix", "scan_count"}

// clientParams are the connection parameters redis.ParseURL understands (in
// the go-redis version this module requires); they go to go-redis.
var clientParams = []string{
	"client_name", "conn_max_idle_time", "conn_max_lifetime", "conn_max_lifetime_jitter",
	"db", "dial_timeout", "idle_timeout", "max_active_conns", "max_concurrent_dials",
	"max_conn_age", "max_idle_conns", "max_retries", "max_retry_backoff", "min_idle_conns",
	"min_retry_backoff", "pool_fifo", "pool_size", "pool_timeout", "protocol",
	"read_timeout", "skip_verify", "write_timeout",
}

// openURL opens a Store from a redis:// or rediss:// DSN. The client it
// makes is the store's: Close closes it.
func openURL(ctx context.Context, u *url.URL) (core.Store, error) {
	opts, ropts, err := parseURL(u)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	// The core's per-operation timeout works through the context.
	ropts.ContextTimeoutEnabled = true
	client := redis.NewClient(ropts)
	s, err := New(ctx, client, opts)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.ownsClient = true
	return s, nil
}

// parseURL splits a DSN into the store's Options and go-redis's.
func parseURL(u *url.URL) (*Options, *redis.Options, error) {
	dsn := core.RedactDSN(u)
	switch {
	case u.Scheme != Scheme && u.Scheme != SchemeTLS:
		return nil, nil, fmt.Errorf("redisstore: DSN %q: scheme %q; want %s or %s", dsn, u.Scheme, Scheme, SchemeTLS)
	case u.Opaque != "":
		// redis:127.0.0.1:6379 would otherwise reach localhost:6379.
		return nil, nil, fmt.Errorf("redisstore: DSN %q: want %s://host:port/db (two slashes)", dsn, u.Scheme)
	case u.Fragment != "":
		return nil, nil, fmt.Errorf("redisstore: DSN %q: unexpected fragment %q", dsn, u.Fragment)
	}
	q, err := core.DSNParams(u, append(storeParams[:len(storeParams):len(storeParams)], clientParams...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("redisstore: DSN %q: %w", dsn, err)
	}
	opts := &Options{}
	rest := url.Values{}
	for name, v := range q {
		switch name {
		case "prefix":
			if v == "" {
				return nil, nil, fmt.Errorf("redisstore: DSN %q: parameter prefix is empty (leave it out for the default %q)", dsn, DefaultKeyPrefix)
			}
			opts.KeyPrefix = v
		case "scan_count":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, nil, fmt.Errorf("redisstore: DSN %q: parameter scan_count=%q: want a positive integer", dsn, v)
			}
			opts.ScanCount = n
		case "lazy":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, nil, fmt.Errorf("redisstore: DSN %q: parameter lazy=%q: want true or false", dsn, v)
			}
			opts.Lazy = b
		default:
			rest.Set(name, v)
		}
	}
	r := *u
	r.RawQuery = rest.Encode()
	ropts, err := redis.ParseURL(r.String())
	if err != nil {
		// go-redis's errors name the parameter, never the password.
		return nil, nil, fmt.Errorf("redisstore: DSN %q: %w", dsn, err)
	}
	return opts, ropts, nil
}
