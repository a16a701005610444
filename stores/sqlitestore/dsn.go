package sqlitestore

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// dsnParams are the DSN parameters, in the order the documentation gives.
var dsnParams = []string{"max_bytes", "sweep_interval", "busy_timeout"}

// openURL is the core.StoreOpener of the "sqlite" scheme.
func openURL(ctx context.Context, u *url.URL) (core.Store, error) {
	opts, err := ParseDSN(u.String())
	if err != nil {
		return nil, err
	}
	return New(ctx, opts)
}

// windowsDrive matches the path of sqlite:///C:/dir/cache.db.
var windowsDrive = regexp.MustCompile(`^/[A-Za-z]:/`)

// ParseDSN returns the Options a DSN describes (see the package
// documentation for the forms and parameters), without opening anything.
func ParseDSN(dsn string) (*Options, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: DSN: %w", err)
	}
	shown := u.Redacted()
	switch {
	case !strings.EqualFold(u.Scheme, Scheme):
		return nil, fmt.Errorf("sqlitestore: DSN %q: scheme %q, want %q", shown, u.Scheme, Scheme)
	case u.User != nil:
		return nil, fmt.Errorf("sqlitestore: DSN %q: a SQLite store takes no user information", shown)
	case u.Fragment != "":
		return nil, fmt.Errorf("sqlitestore: DSN %q: unexpected fragment %q", shown, u.Fragment)
	}
	opts := &Options{}
	switch {
	case u.Opaque != "": // sqlite:relative/cache.db, sqlite::memory:
		if opts.Path, err = url.PathUnescape(u.Opaque); err != nil {
			return nil, fmt.Errorf("sqlitestore: DSN %q: %w", shown, err)
		}
	case u.Host == Memory && u.Path == "": // sqlite://:memory:
		opts.Path = Memory
	case u.Host != "":
		return nil, fmt.Errorf("sqlitestore: DSN %q: a SQLite store takes no host (got %q; for an absolute path write sqlite:///path)", shown, u.Host)
	case u.Path == "" || u.Path == "/":
		return nil, fmt.Errorf("sqlitestore: DSN %q: no path (want sqlite:///path/to/cache.db or sqlite:///:memory:)", shown)
	case u.Path == "/"+Memory: // sqlite:///:memory:
		opts.Path = Memory
	case windowsDrive.MatchString(u.Path): // sqlite:///C:/dir/cache.db
		opts.Path = u.Path[1:]
	default:
		opts.Path = u.Path
	}
	if strings.HasSuffix(opts.Path, "/") {
		return nil, fmt.Errorf("sqlitestore: DSN %q: the path %q names a directory, not a database file", shown, opts.Path)
	}
	q, err := core.DSNParams(u, dsnParams...)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: DSN %q: %w", shown, err)
	}
	for _, name := range dsnParams {
		v, ok := q[name]
		if !ok {
			continue
		}
		switch name {
		case "max_bytes":
			opts.MaxBytes, err = core.ParseSize(v)
		case "sweep_interval":
			if strings.EqualFold(v, "off") {
				opts.SweepInterval = -1
			} else {
				opts.SweepInterval, err = parseDuration(v)
			}
		case "busy_timeout":
			opts.BusyTimeout, err = parseDuration(v)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: DSN %q: parameter %s: %w", shown, name, err)
		}
	}
	return opts, nil
}

// parseDuration parses a non-negative Go duration; "0" is accepted without
// a unit.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}
