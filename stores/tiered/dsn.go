package tiered

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// Scheme is the DSN scheme the package registers with core.RegisterStore:
//
//	tiered://?l1=<escaped DSN>&l2=<escaped DSN>&max_l1_age=1s
//
// l2 is required; l1 defaults to "mem://". Each is a DSN of a registered
// store (its package imported), query-escaped (url.QueryEscape) so that its
// own '?' and '&' stay inside it. max_l1_age is Options.MaxL1Age, a Go
// duration. Nothing else (host, path, user, other parameters) is accepted.
const Scheme = "tiered"

func init() {
	core.RegisterStore(Scheme, openURL)
}

// openURL opens the two tiers of a tiered:// DSN, then the Store over them.
func openURL(ctx context.Context, u *url.URL) (core.Store, error) {
	bad := func(err error) error {
		return core.InvalidConfig(fmt.Errorf("tiered: DSN %s: %w", core.RedactDSN(u, "l1", "l2"), err))
	}
	if u.Opaque != "" || u.Host != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return nil, bad(errors.New("want tiered://?l1=...&l2=... with nothing before the '?'"))
	}
	params, err := core.DSNParams(u, "l1", "l2", "max_l1_age")
	if err != nil {
		return nil, bad(err)
	}
	var opts Options
	if v, ok := params["max_l1_age"]; ok {
		if opts.MaxL1Age, err = time.ParseDuration(v); err != nil || opts.MaxL1Age < 0 {
			return nil, bad(fmt.Errorf("parameter max_l1_age=%q: want a duration of 0 or more (1s, 500ms)", v))
		}
	}
	if params["l2"] == "" {
		return nil, bad(errors.New("parameter l2 (the shared store's DSN) is missing"))
	}
	l1DSN := params["l1"]
	if l1DSN == "" {
		l1DSN = "mem://"
	}
	l1, err := core.OpenStore(ctx, l1DSN)
	if err != nil {
		return nil, fmt.Errorf("tiered: opening L1: %w", err)
	}
	l2, err := core.OpenStore(ctx, params["l2"])
	if err != nil {
		closeStore(l1)
		return nil, fmt.Errorf("tiered: opening L2: %w", err)
	}
	s, err := New(l1, l2, &opts)
	if err != nil {
		closeStore(l1)
		closeStore(l2)
		return nil, err
	}
	return s, nil
}

// closeStore closes st if it is an io.Closer.
func closeStore(st core.Store) {
	if c, ok := st.(io.Closer); ok {
		_ = c.Close()
	}
}
