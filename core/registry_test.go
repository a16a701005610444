package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hoardhttp/hoard/core"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{name: "zero", in: "0", want: 0},
		{name: "plain number", in: "1000000", want: 1000000},
		{name: "bytes", in: "512B", want: 512},
		{name: "KB", in: "2KB", want: 2000},
		{name: "MB", in: "3MB", want: 3000000},
		{name: "GB", in: "4GB", want: 4000000000},
		{name: "TB", in: "5TB", want: 5000000000000},
		{name: "KiB", in: "2KiB", want: 2048},
		{name: "MiB", in: "64MiB", want: 64 << 20},
		{name: "GiB", in: "3GiB", want: 3 << 30},
		{name: "TiB", in: "2TiB", want: 2 << 40},
		{name: "lower case", in: "64mib", want: 64 << 20},
		{name: "upper case", in: "64MIB", want: 64 << 20},
		{name: "mixed case", in: "1gB", want: 1000000000},
		{name: "lower-case b", in: "7b", want: 7},
		{name: "space before unit", in: "64 MiB", want: 64 << 20},
		{name: "surrounding spaces", in: "  64MiB\t", want: 64 << 20},
		{name: "spaces everywhere", in: " 1 kb ", want: 1000},
		{name: "leading zeros", in: "007KiB", want: 7 << 10},
		{name: "zero with unit", in: "0TiB", want: 0},
		{name: "largest int64", in: "9223372036854775807", want: 1<<63 - 1},
		{name: "largest GiB", in: "8589934591GiB", want: 8589934591 << 30},
		{name: "empty", in: "", wantErr: true},
		{name: "spaces only", in: "   ", wantErr: true},
		{name: "unit only", in: "MiB", wantErr: true},
		{name: "negative", in: "-1", wantErr: true},
		{name: "plus sign", in: "+1", wantErr: true},
		{name: "fraction", in: "1.5GiB", wantErr: true},
		{name: "unknown unit", in: "10XB", wantErr: true},
		{name: "unknown unit with space", in: "10 XB", wantErr: true},
		{name: "bits", in: "10Kb ps", wantErr: true},
		{name: "exponent", in: "1e6", wantErr: true},
		{name: "two numbers", in: "1 2", wantErr: true},
		{name: "int64 overflow", in: "9223372036854775808", wantErr: true},
		{name: "huge number", in: "99999999999999999999999", wantErr: true},
		{name: "multiplication overflow GiB", in: "8589934592GiB", wantErr: true},
		{name: "multiplication overflow TB", in: "9300000TB", wantErr: true},
		{name: "multiplication overflow TiB", in: "8388608TiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := core.ParseSize(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Errorf("ParseSize(%q): got %d, nil error, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseSize(%q): got (%d, %v), want (%d, nil)", tt.in, got, err, tt.want)
			}
		})
	}
}

// registryChildEnv names the test a child process of isolateRegistry runs.
const registryChildEnv = "HOARD_CORE_REGISTRY_TEST_CHILD"

// isolateRegistry runs the calling test in a child process, so that the
// schemes it registers (registration is global and cannot be undone) do not
// leak into the registry other tests and examples of this package see —
// ExampleOpenStore prints the list of registered schemes. It returns true in
// the child, where the test body must run, and false in the parent, after the
// child has finished (its failure fails the test).
func isolateRegistry(t *testing.T) bool {
	t.Helper()
	if os.Getenv(registryChildEnv) == t.Name() {
		return true
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0],
		"-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), registryChildEnv+"="+t.Name(),
		// Under -race, skip the race runtime's one-second pause at exit.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a child process: got error %v, want success; output:\n%s", t.Name(), err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("%s in a child process: got output without a PASS line, want one; output:\n%s", t.Name(), out)
	}
	return false
}

// testScheme returns a URL scheme unique to the test: registration is global
// and cannot be undone.
func testScheme(t *testing.T) string {
	var b strings.Builder
	b.WriteString("test-reg-")
	for _, r := range strings.ToLower(t.Name()) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// nopStore is a Store that holds nothing.
type nopStore struct{ u *url.URL }

func (nopStore) Get(context.Context, string) ([]byte, error)          { return nil, core.ErrNotFound }
func (nopStore) Set(context.Context, string, []byte, core.Meta) error { return nil }
func (nopStore) Delete(context.Context, string) error                 { return nil }

func nopOpener(_ context.Context, u *url.URL) (core.Store, error) { return nopStore{u: u}, nil }

func TestOpenStore(t *testing.T) {
	if !isolateRegistry(t) {
		return
	}
	scheme := testScheme(t)
	core.RegisterStore(scheme, nopOpener)
	tests := []struct {
		name     string
		dsn      string
		wantHost string
		wantPath string
		wantQ    string
	}{
		{name: "host and query", dsn: scheme + "://db.local:1234/x?max_bytes=64MiB", wantHost: "db.local:1234", wantPath: "/x", wantQ: "max_bytes=64MiB"},
		{name: "path only", dsn: scheme + ":///var/cache/hoard", wantHost: "", wantPath: "/var/cache/hoard"},
		{name: "scheme case-insensitive", dsn: strings.ToUpper(scheme) + "://h/", wantHost: "h", wantPath: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := core.OpenStore(t.Context(), tt.dsn)
			if err != nil {
				t.Fatalf("OpenStore(%q): got error %v, want nil", tt.dsn, err)
			}
			ns, ok := s.(nopStore)
			if !ok {
				t.Fatalf("OpenStore(%q): got %T, want nopStore", tt.dsn, s)
			}
			if ns.u.Host != tt.wantHost || ns.u.Path != tt.wantPath || ns.u.RawQuery != tt.wantQ {
				t.Errorf("OpenStore(%q) opener URL: got host %q path %q query %q, want host %q path %q query %q",
					tt.dsn, ns.u.Host, ns.u.Path, ns.u.RawQuery, tt.wantHost, tt.wantPath, tt.wantQ)
			}
		})
	}
}

func TestOpenStorePassesContextAndError(t *testing.T) {
	if !isolateRegistry(t) {
		return
	}
	scheme := testScheme(t)
	errOpen := errors.New("cannot open")
	type ctxKey struct{}
	var gotVal any
	core.RegisterStore(scheme, func(ctx context.Context, u *url.URL) (core.Store, error) {
		gotVal = ctx.Value(ctxKey{})
		return nil, errOpen
	})
	ctx := context.WithValue(t.Context(), ctxKey{}, "v")
	_, err := core.OpenStore(ctx, scheme+"://x")
	if !errors.Is(err, errOpen) {
		t.Errorf("OpenStore error: got %v, want one wrapping %v", err, errOpen)
	}
	if gotVal != "v" {
		t.Errorf("opener context value: got %v, want %q", gotVal, "v")
	}
}

func TestOpenStoreErrors(t *testing.T) {
	if !isolateRegistry(t) {
		return
	}
	registered := testScheme(t)
	core.RegisterStore(registered, nopOpener)
	tests := []struct {
		name         string
		dsn          string
		wantContains []string
	}{
		{name: "unknown scheme lists registered ones", dsn: "nosuchstore://x", wantContains: []string{"nosuchstore", registered}},
		{name: "no scheme lists registered ones", dsn: "/var/cache/hoard", wantContains: []string{registered}},
		{name: "empty DSN", dsn: "", wantContains: []string{registered}},
		{name: "malformed DSN", dsn: registered + "://[::1", wantContains: nil},
		{name: "bad escape", dsn: registered + "://host/%zz", wantContains: nil},
		{name: "missing scheme before colon", dsn: "://host", wantContains: nil},
		{name: "control character", dsn: registered + "://host/\x7f\x00", wantContains: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := core.OpenStore(t.Context(), tt.dsn)
			if err == nil {
				t.Fatalf("OpenStore(%q): got store %T, nil error, want an error", tt.dsn, s)
			}
			if s != nil {
				t.Errorf("OpenStore(%q): got store %T with the error, want nil", tt.dsn, s)
			}
			for _, want := range tt.wantContains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("OpenStore(%q): got error %q, want it to mention %q", tt.dsn, err, want)
				}
			}
		})
	}
}

func TestRegisteredSchemes(t *testing.T) {
	if !isolateRegistry(t) {
		return
	}
	a, b := testScheme(t)+"-b", testScheme(t)+"-a"
	core.RegisterStore(a, nopOpener)
	core.RegisterStore(strings.ToUpper(b), nopOpener)
	got := core.RegisteredSchemes()
	if !slices.IsSorted(got) {
		t.Errorf("RegisteredSchemes: got %q, want sorted", got)
	}
	for _, want := range []string{a, b} {
		if !slices.Contains(got, want) {
			t.Errorf("RegisteredSchemes: got %q, want it to contain %q", got, want)
		}
	}
	if slices.Contains(got, strings.ToUpper(b)) {
		t.Errorf("RegisteredSchemes: got %q, want the upper-case registration stored lower-cased", got)
	}
}

func TestRegisterStorePanics(t *testing.T) {
	if !isolateRegistry(t) {
		return
	}
	dup := testScheme(t) + "-dup"
	core.RegisterStore(dup, nopOpener)
	tests := []struct {
		name   string
		scheme string
		opener core.StoreOpener
	}{
		{name: "duplicate", scheme: dup, opener: nopOpener},
		{name: "duplicate in another case", scheme: strings.ToUpper(dup), opener: nopOpener},
		{name: "empty scheme", scheme: "", opener: nopOpener},
		{name: "nil opener", scheme: testScheme(t) + "-nil", opener: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Errorf("RegisterStore(%q, %v): got no panic, want one", tt.scheme, tt.opener != nil)
					return
				}
				if !strings.HasPrefix(fmt.Sprint(r), "core: ") {
					t.Errorf("RegisterStore(%q) panic: got %q, want a message starting %q", tt.scheme, r, "core: ")
				}
			}()
			core.RegisterStore(tt.scheme, tt.opener)
		})
	}
	// The nil-opener attempt must not have registered the scheme.
	if slices.Contains(core.RegisteredSchemes(), testScheme(t)+"-nil") {
		t.Errorf("RegisteredSchemes after a panicking RegisterStore: got %q registered, want absent", testScheme(t)+"-nil")
	}
}
