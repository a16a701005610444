package filestore

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// dsnParams lists the DSN parameters, each mirroring an Options field.
var dsnParams = []string{"max_bytes", "memory_bytes", "sweep_batch", "sweep_interval"}

// openURL is the core.StoreOpener for Scheme.
func openURL(ctx context.Context, u *url.URL) (core.Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, core.Unavailable(fmt.Errorf("filestore: open: %w", err))
	}
	dir, opts, err := parseDSN(u)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	s, err := New(dir, opts)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// parseDSN turns a file:///dir?... DSN into a directory and Options.
func parseDSN(u *url.URL) (string, *Options, error) {
	dsn := core.RedactDSN(u)
	const want = "want file:///absolute/dir (three slashes; a DSN names an absolute path, New also takes a relative one)"
	switch {
	case u.Opaque != "":
		return "", nil, fmt.Errorf("filestore: DSN %q: %q is a relative path; %s", dsn, u.Opaque, want)
	case u.User != nil:
		return "", nil, fmt.Errorf("filestore: DSN %q: a file DSN takes no user information; %s", dsn, want)
	case u.Host != "" && !strings.EqualFold(u.Host, "localhost"):
		return "", nil, fmt.Errorf("filestore: DSN %q: host %q: a file DSN names a local directory, and file://%s/... is not a relative path; %s",
			dsn, u.Host, u.Host, want)
	case u.Fragment != "":
		return "", nil, fmt.Errorf("filestore: DSN %q: unexpected fragment %q", dsn, u.Fragment)
	case u.Path == "":
		return "", nil, fmt.Errorf("filestore: DSN %q: no directory; %s", dsn, want)
	}
	dir := u.Path
	if runtime.GOOS == "windows" && len(dir) >= 3 && dir[0] == '/' && dir[2] == ':' {
		dir = dir[1:] // file:///C:/cache
	}
	dir = filepath.Clean(filepath.FromSlash(dir))
	if !filepath.IsAbs(dir) {
		return "", nil, fmt.Errorf("filestore: DSN %q: %q is a relative path; %s", dsn, u.Path, want)
	}
	if dir == filepath.Dir(dir) {
		return "", nil, fmt.Errorf("filestore: DSN %q: will not use the root directory %q as a cache", dsn, dir)
	}
	q, err := core.DSNParams(u, dsnParams...)
	if err != nil {
		return "", nil, fmt.Errorf("filestore: DSN %q: %w", dsn, err)
	}
	opts := &Options{}
	if v, ok := q["max_bytes"]; ok {
		n, err := core.ParseSize(v)
		if err != nil {
			return "", nil, fmt.Errorf("filestore: DSN %q: parameter max_bytes: %w", dsn, err)
		}
		opts.MaxBytes = n
	}
	if v, ok := q["memory_bytes"]; ok {
		if strings.EqualFold(v, "off") {
			opts.MemoryBytes = -1
		} else {
			n, err := core.ParseSize(v)
			if err != nil {
				return "", nil, fmt.Errorf("filestore: DSN %q: parameter memory_bytes: %w (or off)", dsn, err)
			}
			opts.MemoryBytes = n
		}
	}
	if v, ok := q["sweep_interval"]; ok {
		if strings.EqualFold(v, "off") {
			opts.SweepInterval = -1
		} else {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return "", nil, fmt.Errorf("filestore: DSN %q: parameter sweep_interval: %q is not a duration of 0 or more such as 1m, or off", dsn, v)
			}
			opts.SweepInterval = d
		}
	}
	if v, ok := q["sweep_batch"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return "", nil, fmt.Errorf("filestore: DSN %q: parameter sweep_batch: %q is not a number of files of 0 or more", dsn, v)
		}
		opts.SweepBatch = n
	}
	return dir, opts, nil
}
