package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// dsnParams are the DSN parameters, in the order the documentation gives.
var dsnParams = []string{"max_bytes", "sweep_interval", "busy_timeout"}

// openURL is the core.StoreOpener of the "sqlite" scheme.
func openURL(ctx context.Context, u *url.URL) (core.Store, error) {
	opts, err := parseURL(u)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	return New(ctx, opts)
}

// windowsDrive matches the path of sqlite:///C:/dir/cache.db.
var windowsDrive = regexp.MustCompile(`^/[A-Za-z]:/`)

// ParseDSN returns the Options a DSN describes (see the package
// documentation for the forms and parameters), without opening anything.
// Its errors wrap core.ErrInvalidConfig.
func ParseDSN(dsn string) (*Options, error) {
	opts, err := parseDSN(dsn)
	return opts, core.InvalidConfig(err)
}

func parseDSN(dsn string) (*Options, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the DSN, which may hold a password
		}
		return nil, fmt.Errorf("sqlitestore: DSN does not parse: %w", err)
	}
	return parseURL(u)
}

// parseURL is ParseDSN of a parsed DSN.
func parseURL(u *url.URL) (*Options, error) {
	var err error
	shown := core.RedactDSN(u)
	const want = "want sqlite:///absolute/path/cache.db (three slashes) or sqlite:///:memory:"
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
	case u.Opaque != "": // sqlite::memory:, or a relative path
		p, err := url.PathUnescape(u.Opaque)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: DSN %q: %w", shown, err)
		}
		if p != Memory {
			return nil, fmt.Errorf("sqlitestore: DSN %q: %q is a relative path, which would depend on the working directory; %s (New also takes a relative Options.Path)", shown, p, want)
		}
		opts.Path = Memory
	case u.Host == Memory && u.Path == "": // sqlite://:memory:
		opts.Path = Memory
	case u.Host != "":
		return nil, fmt.Errorf("sqlitestore: DSN %q: a SQLite store takes no host (got %q); %s", shown, u.Host, want)
	case u.Path == "" || u.Path == "/":
		return nil, fmt.Errorf("sqlitestore: DSN %q: no path; %s", shown, want)
	case u.Path == "/"+Memory: // sqlite:///:memory:
		opts.Path = Memory
	case runtime.GOOS == "windows" && windowsDrive.MatchString(u.Path): // sqlite:///C:/dir/cache.db
		opts.Path = u.Path[1:]
	default:
		opts.Path = u.Path
	}
	if strings.HasSuffix(opts.Path, "/") {
		return nil, fmt.Errorf("sqlitestore: DSN %q: the path %q names a directory, not a database file", shown, opts.Path)
	}
	if opts.Path != Memory && !filepath.IsAbs(filepath.FromSlash(opts.Path)) {
		return nil, fmt.Errorf("sqlitestore: DSN %q: %q is a relative path; %s", shown, opts.Path, want)
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
