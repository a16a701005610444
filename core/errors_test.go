package core_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// TestErrorMessage: a *core.Error reads "core: op key: cause", and without a
// key "core: op: cause" (no stray space).
func TestErrorMessage(t *testing.T) {
	cause := errors.New("redisstore: list: connection refused")
	tests := []struct {
		err  *core.Error
		want string
	}{
		{&core.Error{Op: "get", Key: "h2:k", Err: cause}, "core: get h2:k: redisstore: list: connection refused"},
		{&core.Error{Op: "list", Err: cause}, "core: list: redisstore: list: connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.err.Op, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestErrorClasses: InvalidConfig and Unavailable mark an error for
// errors.Is without changing its message, keep the chain to the cause, and
// never mark an error twice.
func TestErrorClasses(t *testing.T) {
	cause := fmt.Errorf("mystore: dial 127.0.0.1:1: %w", context.DeadlineExceeded)
	tests := []struct {
		name        string
		err         error
		config, off bool
	}{
		{"InvalidConfig", core.InvalidConfig(cause), true, false},
		{"Unavailable", core.Unavailable(cause), false, true},
		{"Unavailable of InvalidConfig keeps the inner class", core.Unavailable(core.InvalidConfig(cause)), true, false},
		{"InvalidConfig of a wrapped Unavailable keeps the inner class", core.InvalidConfig(fmt.Errorf("open: %w", core.Unavailable(cause))), false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errors.Is(tc.err, core.ErrInvalidConfig); got != tc.config {
				t.Errorf("errors.Is(err, ErrInvalidConfig) = %v, want %v", got, tc.config)
			}
			if got := errors.Is(tc.err, core.ErrUnavailable); got != tc.off {
				t.Errorf("errors.Is(err, ErrUnavailable) = %v, want %v", got, tc.off)
			}
			if !errors.Is(tc.err, context.DeadlineExceeded) {
				t.Error("the cause's chain is lost")
			}
		})
	}
	if got := core.InvalidConfig(cause).Error(); got != cause.Error() {
		t.Errorf("message %q, want the cause's %q", got, cause.Error())
	}
	if core.InvalidConfig(nil) != nil || core.Unavailable(nil) != nil {
		t.Error("a nil error was marked")
	}
}

func TestOpenContext(t *testing.T) {
	t.Run("no deadline gets the default bound", func(t *testing.T) {
		ctx, cancel := core.OpenContext(t.Context())
		defer cancel()
		dl, ok := ctx.Deadline()
		if left := time.Until(dl); !ok || left > core.DefaultOpenTimeout || left < core.DefaultOpenTimeout-time.Second {
			t.Errorf("deadline in %v (set %v), want about %v", left, ok, core.DefaultOpenTimeout)
		}
	})
	t.Run("the caller's deadline is kept", func(t *testing.T) {
		parent, stop := context.WithTimeout(t.Context(), time.Hour)
		defer stop()
		ctx, cancel := core.OpenContext(parent)
		defer cancel()
		want, _ := parent.Deadline()
		if dl, _ := ctx.Deadline(); !dl.Equal(want) {
			t.Errorf("deadline %v, want the caller's %v", dl, want)
		}
	})
}

// TestOpenStoreInvalidConfig: every error OpenStore makes itself (a DSN that
// does not parse, no scheme, an unknown scheme) is a configuration error.
func TestOpenStoreInvalidConfig(t *testing.T) {
	for _, dsn := range []string{"", "/var/cache/hoard", "nosuchstore://x", "mem://[::1", "://host"} {
		t.Run(dsn, func(t *testing.T) {
			_, err := core.OpenStore(t.Context(), dsn)
			if !errors.Is(err, core.ErrInvalidConfig) {
				t.Errorf("OpenStore(%q) = %v, want an error wrapping core.ErrInvalidConfig", dsn, err)
			}
		})
	}
}

// TestOpenStoreHidesPassword: a DSN that does not parse is not repeated in
// the error, since it may hold a password.
func TestOpenStoreHidesPassword(t *testing.T) {
	for _, dsn := range []string{"redis://user:s3cret@[::1", "//user:s3cret@host/x"} {
		_, err := core.OpenStore(t.Context(), dsn)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("OpenStore(%q) = %v, want an error without the password", dsn, err)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct {
		dsn    string
		secret []string
		want   string
	}{
		{"mem://", nil, "mem://"},
		{"mem://?max_bytes=1MiB", nil, "mem://?max_bytes=1MiB"},
		{"file:///var/cache", nil, "file:///var/cache"},
		{"sqlite::memory:", nil, "sqlite::memory:"},
		{"redis://127.0.0.1:6379/0?bogus=1", nil, "redis://127.0.0.1:6379/0?bogus=1"},
		{"redis://u:s3cret@127.0.0.1/0", nil, "redis://u:xxxxx@127.0.0.1/0"},
		{"dynamodb://t?access_key_id=a&secret_access_key=s3cret", []string{"secret_access_key", "session_token"}, "dynamodb://t?access_key_id=a&secret_access_key=xxxxx"},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			u, err := url.Parse(tc.dsn)
			if err != nil {
				t.Fatal(err)
			}
			if got := core.RedactDSN(u, tc.secret...); got != tc.want {
				t.Errorf("RedactDSN(%q) = %q, want %q", tc.dsn, got, tc.want)
			}
		})
	}
}
