package redisstore

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/hoardhttp/hoard/core"
)

// Scheme is the DSN scheme of a plain TCP connection:
// core.OpenStore(ctx, "redis://127.0.0.1:6379/0?prefix=myapp:") opens a *Store.
const Scheme = "redis"

// SchemeTLS is the DSN scheme of a TLS connection ("rediss://host:6380/0").
const SchemeTLS = "rediss"

// SchemeCluster is the DSN scheme of a Redis Cluster: the host and every
// addr parameter are seed nodes, as in go-redis's redis.ParseClusterURL:
// "redis+cluster://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379".
const SchemeCluster = "redis+cluster"

// SchemeClusterTLS is SchemeCluster over TLS.
const SchemeClusterTLS = "rediss+cluster"

func init() {
	core.RegisterStore(Scheme, openURL)
	core.RegisterStore(SchemeTLS, openURL)
	core.RegisterStore(SchemeCluster, openClusterURL)
	core.RegisterStore(SchemeClusterTLS, openClusterURL)
}

// storeParams are the DSN parameters that configure the Store, each
// mirroring an Options field.
var storeParams = []string{"lazy", "prefix", "publish", "scan_count"}

// clientParams are the connection parameters redis.ParseURL understands (in
// the go-redis version this module requires); they go to go-redis.
var clientParams = []string{
	"client_name", "conn_max_idle_time", "conn_max_lifetime", "conn_max_lifetime_jitter",
	"db", "dial_timeout", "idle_timeout", "max_active_conns", "max_concurrent_dials",
	"max_conn_age", "max_idle_conns", "max_retries", "max_retry_backoff", "min_idle_conns",
	"min_retry_backoff", "pool_fifo", "pool_size", "pool_timeout", "protocol",
	"read_timeout", "skip_verify", "write_timeout",
}

// clusterParams are the connection parameters redis.ParseClusterURL
// understands (in the go-redis version this module requires), but addr,
// which may be repeated and is handled apart.
var clusterParams = []string{
	"client_name", "conn_max_idle_time", "conn_max_lifetime", "conn_max_lifetime_jitter",
	"dial_timeout", "failing_timeout_seconds", "max_active_conns", "max_idle_conns",
	"max_redirects", "max_retries", "max_retry_backoff", "min_idle_conns", "min_retry_backoff",
	"pool_fifo", "pool_size", "pool_timeout", "protocol", "read_only", "read_timeout",
	"route_by_latency", "route_randomly", "write_timeout",
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
	return openOwned(ctx, redis.NewClient(ropts), opts)
}

// openOwned makes a Store over client that closes the client in Close; the
// client is closed at once when New fails.
func openOwned(ctx context.Context, client redis.UniversalClient, opts *Options) (core.Store, error) {
	s, err := New(ctx, client, opts)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.ownsClient = true
	return s, nil
}

// parseURL splits a redis:// or rediss:// DSN into the store's Options and
// go-redis's.
func parseURL(u *url.URL) (*Options, *redis.Options, error) {
	dsn := core.RedactDSN(u)
	if err := checkShape(u, dsn, Scheme, SchemeTLS); err != nil {
		return nil, nil, err
	}
	opts, rest, err := storeOptions(u, dsn, clientParams)
	if err != nil {
		return nil, nil, err
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

// openClusterURL opens a Store over a Redis Cluster from a redis+cluster://
// or rediss+cluster:// DSN. The client it makes is the store's: Close
// closes it.
func openClusterURL(ctx context.Context, u *url.URL) (core.Store, error) {
	opts, copts, err := parseClusterURL(u)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	copts.ContextTimeoutEnabled = true
	return openOwned(ctx, redis.NewClusterClient(copts), opts)
}

// parseClusterURL splits a redis+cluster:// or rediss+cluster:// DSN into
// the store's Options and go-redis's ClusterOptions. A cluster has only
// database 0, so the path may be empty, "/" or "/0".
func parseClusterURL(u *url.URL) (*Options, *redis.ClusterOptions, error) {
	dsn := core.RedactDSN(u)
	if err := checkShape(u, dsn, SchemeCluster, SchemeClusterTLS); err != nil {
		return nil, nil, err
	}
	if p := u.Path; p != "" && p != "/" && p != "/0" {
		return nil, nil, fmt.Errorf("redisstore: DSN %q: path %q: a Redis Cluster has only database 0 (leave the path out)", dsn, p)
	}
	if u.Host == "" {
		return nil, nil, fmt.Errorf("redisstore: DSN %q: no host: want %s://host:port?addr=host2:port2", dsn, u.Scheme)
	}
	// addr (more seed nodes) is the one parameter that may be repeated.
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, nil, fmt.Errorf("redisstore: DSN %q: %w", dsn, err)
	}
	seeds := q["addr"]
	q.Del("addr")
	withoutAddr := *u
	withoutAddr.RawQuery = q.Encode()
	opts, rest, err := storeOptions(&withoutAddr, dsn, append(clusterParams[:len(clusterParams):len(clusterParams)], "addr"))
	if err != nil {
		return nil, nil, err
	}
	for _, a := range seeds {
		rest.Add("addr", a)
	}
	r := *u
	r.Scheme = Scheme
	if strings.EqualFold(u.Scheme, SchemeClusterTLS) {
		r.Scheme = SchemeTLS
	}
	r.Path = ""
	r.RawQuery = rest.Encode()
	copts, err := redis.ParseClusterURL(r.String())
	if err != nil {
		return nil, nil, fmt.Errorf("redisstore: DSN %q: %w", dsn, err)
	}
	return opts, copts, nil
}

// checkShape refuses a DSN of another scheme, without the two slashes, or
// with a fragment.
func checkShape(u *url.URL, dsn, scheme, schemeTLS string) error {
	switch {
	case !strings.EqualFold(u.Scheme, scheme) && !strings.EqualFold(u.Scheme, schemeTLS):
		return fmt.Errorf("redisstore: DSN %q: scheme %q; want %s or %s", dsn, u.Scheme, scheme, schemeTLS)
	case u.Opaque != "":
		// redis:127.0.0.1:6379 would otherwise reach localhost:6379.
		return fmt.Errorf("redisstore: DSN %q: want %s://host:port (two slashes)", dsn, u.Scheme)
	case u.Fragment != "":
		return fmt.Errorf("redisstore: DSN %q: unexpected fragment %q", dsn, u.Fragment)
	}
	return nil
}

// storeOptions reads the store's parameters of u into Options, and returns
// the others (which must be among passOn) for go-redis.
func storeOptions(u *url.URL, dsn string, passOn []string) (*Options, url.Values, error) {
	q, err := core.DSNParams(u, append(storeParams[:len(storeParams):len(storeParams)], passOn...)...)
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
		case "publish":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, nil, fmt.Errorf("redisstore: DSN %q: parameter publish=%q: want true or false", dsn, v)
			}
			opts.Publish = b
		default:
			rest.Set(name, v)
		}
	}
	return opts, rest, nil
}
