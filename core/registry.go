package core

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// StoreOpener opens a Store from a parsed DSN. Store packages register one
// per URL scheme with RegisterStore, usually in init.
type StoreOpener func(ctx context.Context, u *url.URL) (Store, error)

var registry struct {
	sync.RWMutex
	openers map[string]StoreOpener
}

// RegisterStore makes a store available to OpenStore under scheme. It panics
// if scheme is empty, opener is nil, or the scheme is already registered —
// programmer errors, as with database/sql.Register.
func RegisterStore(scheme string, opener StoreOpener) {
	scheme = strings.ToLower(scheme)
	if scheme == "" || opener == nil {
		panic("core: RegisterStore: empty scheme or nil opener")
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.openers == nil {
		registry.openers = make(map[string]StoreOpener)
	}
	if _, dup := registry.openers[scheme]; dup {
		panic("core: RegisterStore: scheme " + scheme + " registered twice")
	}
	registry.openers[scheme] = opener
}

// RegisteredSchemes lists the registered store schemes, sorted.
func RegisteredSchemes() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.openers))
	for s := range registry.openers {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// OpenStore opens a store from a DSN such as "mem://?max_bytes=64MiB". The
// store's package must be imported (for its registration); an unknown scheme
// is an error that lists the registered ones.
//
// The stores of this module and its store modules check their server (or
// directory, or database file) before they return, within ctx and bounded
// by DefaultOpenTimeout when ctx has no deadline (see OpenContext); each
// networked store has a DSN parameter to open lazily instead. Every error
// wraps ErrInvalidConfig (the DSN, or what the server answered to it, is
// wrong) or ErrUnavailable (the server could not be reached in time), and
// never shows a password the DSN holds.
func OpenStore(ctx context.Context, dsn string) (Store, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Error repeats the whole DSN, password included: keep only
		// what is wrong with it.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, InvalidConfig(fmt.Errorf("core: OpenStore: the DSN does not parse: %w", err))
	}
	if u.Scheme == "" {
		return nil, InvalidConfig(fmt.Errorf("core: OpenStore %q: no scheme (want scheme://...; registered: %s)", u.Redacted(), strings.Join(RegisteredSchemes(), ", ")))
	}
	registry.RLock()
	opener := registry.openers[strings.ToLower(u.Scheme)]
	registry.RUnlock()
	if opener == nil {
		return nil, InvalidConfig(fmt.Errorf("core: OpenStore: unknown scheme %q (registered: %s; forgotten import?)", u.Scheme, strings.Join(RegisteredSchemes(), ", ")))
	}
	return opener(ctx, u)
}

// ParseSize parses a byte size for DSN parameters: a non-negative integer
// with an optional unit B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB,
// TiB (powers of 1024), case-insensitive, e.g. "64MiB" or "1000000".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("core: invalid size %q", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("core: invalid size %q: %w", s, err)
	}
	var mult int64
	switch strings.ToLower(strings.TrimSpace(t[i:])) {
	case "", "b":
		mult = 1
	case "kb":
		mult = 1e3
	case "mb":
		mult = 1e6
	case "gb":
		mult = 1e9
	case "tb":
		mult = 1e12
	case "kib":
		mult = 1 << 10
	case "mib":
		mult = 1 << 20
	case "gib":
		mult = 1 << 30
	case "tib":
		mult = 1 << 40
	default:
		return 0, fmt.Errorf("core: invalid size %q: unknown unit %q", s, t[i:])
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("core: invalid size %q: overflows", s)
	}
	return n * mult, nil
}

// DSNParams parses the query of a store DSN for a StoreOpener: every
// parameter must be one of supported and appear at most once. It returns the
// values by name. The error names every unknown parameter and lists the
// supported ones, or names a repeated one; openers wrap it with their
// package and the DSN.
func DSNParams(u *url.URL, supported ...string) (map[string]string, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, err
	}
	var unknown []string
	for name := range q {
		if !slices.Contains(supported, name) {
			unknown = append(unknown, strconv.Quote(name))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("unknown parameter %s (supported: %s)", strings.Join(unknown, ", "), strings.Join(supported, ", "))
	}
	out := make(map[string]string, len(q))
	for name, vs := range q {
		if len(vs) != 1 {
			return nil, fmt.Errorf("parameter %s given %d times", name, len(vs))
		}
		out[name] = vs[0]
	}
	return out, nil
}

// RedactDSN returns u as a string for error messages and logs: the password
// of its user information and the values of the query parameters named in
// secret replaced by "xxxxx", and the "//" of a DSN with an empty authority
// kept ("mem://?max_bytes=1", not url.URL.String's "mem:?max_bytes=1"), so
// that the user recognises what they wrote.
func RedactDSN(u *url.URL, secret ...string) string {
	r := *u
	if len(secret) > 0 && r.RawQuery != "" {
		q, err := url.ParseQuery(r.RawQuery)
		if err != nil {
			r.RawQuery = "(query that does not parse)"
		} else {
			for _, name := range secret {
				if q.Has(name) {
					q.Set(name, "xxxxx")
				}
			}
			r.RawQuery = q.Encode()
		}
	}
	s := r.Redacted()
	if r.Opaque == "" && r.Scheme != "" {
		rest := s[len(r.Scheme)+1:]
		if !strings.HasPrefix(rest, "//") {
			s = s[:len(r.Scheme)+1] + "//" + rest
		}
	}
	return s
}
