package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hoardhttp/hoard/core"
)

// Scheme and SchemeLong are the DSN schemes the package registers with
// core.RegisterStore, those of PostgreSQL connection URIs:
// core.OpenStore(ctx, "postgres://app@db.internal/app?table=http_cache")
// opens a *Store.
const (
	Scheme     = "postgres"
	SchemeLong = "postgresql"
)

func init() {
	core.RegisterStore(Scheme, openURL)
	core.RegisterStore(SchemeLong, openURL)
}

// dsnParams lists the hoard parameters of a DSN, each mirroring an Options
// field; every other parameter goes to the driver (libpq's, such as
// sslmode or connect_timeout, and pgxpool's, such as pool_max_conns).
var dsnParams = []string{"lazy", "max_bytes", "notify", "stream_timeout", "sweep_interval", "table"}

// secretParams are driver parameters whose values never appear in errors.
var secretParams = []string{"password", "sslpassword"}

// openURL is the core.StoreOpener of Scheme and SchemeLong.
func openURL(ctx context.Context, u *url.URL) (core.Store, error) {
	return openParsed(ctx, u)
}

// Open opens a Store from a DSN (see the package documentation), with a
// connection pool of its own that Close closes. Its errors are those of
// New, and those of ParseDSN.
func Open(ctx context.Context, dsn string) (*Store, error) {
	u, err := parseURL(dsn)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	return openParsed(ctx, u)
}

func openParsed(ctx context.Context, u *url.URL) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, core.Unavailable(fmt.Errorf("pgstore: open: %w", err))
	}
	opts, cfg, err := configFromURL(u)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, core.InvalidConfig(fmt.Errorf("pgstore: DSN %q: %w", core.RedactDSN(u, secretParams...), err))
	}
	c := defaultConfig()
	c.where = serverOf(cfg)
	s, err := newStore(ctx, pool, opts, c)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}

// ParseDSN returns the Options a DSN describes, without connecting. Its
// errors wrap core.ErrInvalidConfig.
func ParseDSN(dsn string) (*Options, error) {
	u, err := parseURL(dsn)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	opts, _, err := configFromURL(u)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	return opts, nil
}

func parseURL(dsn string) (*url.URL, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the DSN, which may hold a password
		}
		return nil, fmt.Errorf("pgstore: the DSN does not parse: %w", err)
	}
	return u, nil
}

// configFromURL splits a DSN into Options (from the hoard parameters) and
// the pool configuration (everything else).
func configFromURL(u *url.URL) (*Options, *pgxpool.Config, error) {
	shown := core.RedactDSN(u, secretParams...)
	switch {
	case !strings.EqualFold(u.Scheme, Scheme) && !strings.EqualFold(u.Scheme, SchemeLong):
		return nil, nil, fmt.Errorf("pgstore: DSN %q: scheme %q, want %q or %q", shown, u.Scheme, Scheme, SchemeLong)
	case u.Fragment != "":
		return nil, nil, fmt.Errorf("pgstore: DSN %q: unexpected fragment %q", shown, u.Fragment)
	case u.Opaque != "":
		return nil, nil, fmt.Errorf("pgstore: DSN %q: want postgres://user@host:port/database?table=...", shown)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, nil, fmt.Errorf("pgstore: DSN %q: the query does not parse: %w", shown, err)
	}
	ours := map[string]string{}
	for _, name := range dsnParams {
		vs, ok := q[name]
		if !ok {
			continue
		}
		if len(vs) != 1 {
			return nil, nil, fmt.Errorf("pgstore: DSN %q: parameter %s given %d times", shown, name, len(vs))
		}
		ours[name] = vs[0]
		delete(q, name)
	}
	opts := &Options{Table: ours["table"]}
	for _, name := range dsnParams {
		v, ok := ours[name]
		if !ok {
			continue
		}
		var err error
		switch name {
		case "max_bytes":
			opts.MaxBytes, err = core.ParseSize(v)
		case "sweep_interval":
			if strings.EqualFold(v, "off") {
				opts.SweepInterval = -1
			} else {
				opts.SweepInterval, err = parseDuration(v)
			}
		case "stream_timeout":
			opts.StreamTimeout, err = parseDuration(v)
		case "lazy", "notify":
			var b bool
			b, err = strconv.ParseBool(v)
			if err != nil {
				err = fmt.Errorf("want true or false, got %q", v)
			} else if name == "lazy" {
				opts.Lazy = b
			} else {
				opts.Notify = b
			}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("pgstore: DSN %q: parameter %s: %w", shown, name, err)
		}
	}
	if _, _, _, err := resolve(opts); err != nil {
		return nil, nil, fmt.Errorf("pgstore: DSN %q: %s", shown, strings.TrimPrefix(err.Error(), "pgstore: "))
	}
	rest := *u
	rest.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(rest.String())
	if err != nil {
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			err = pe.Unwrap() // the driver's message repeats the DSN
		}
		return nil, nil, fmt.Errorf("pgstore: DSN %q: %w (hoard parameters: %s; any other must be a libpq or pgxpool connection parameter)",
			shown, err, strings.Join(dsnParams, ", "))
	}
	return opts, cfg, nil
}

// parseDuration parses a non-negative Go duration; "0" is accepted without
// a unit.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a Go duration such as 30s: %w", err)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

// serverOf describes the server of cfg for messages: host:port/database.
func serverOf(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	host := c.Host
	if !strings.HasPrefix(host, "/") {
		host = net.JoinHostPort(host, strconv.Itoa(int(c.Port)))
	}
	return host + "/" + c.Database
}
