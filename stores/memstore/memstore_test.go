package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

type harness struct{}

func (harness) MakeStore(context.Context) (core.Store, error) { return memstore.New(nil) }

// MakeScenarioStore gives the HTTP scenarios a store of their size.
func (harness) MakeScenarioStore(context.Context) (core.Store, error) {
	return memstore.New(&memstore.Options{MaxBytes: conformance.ScenarioMemBytes})
}

func (harness) Capabilities() conformance.Capabilities {
	return conformance.Capabilities{NativeTTL: true, List: true, Clear: true, MaxValueSize: 16 << 20}
}

func (harness) Close() {}

func TestConformance(t *testing.T) {
	conformance.RunStoreTests(t, func(context.Context, *testing.T) (conformance.StoreHarness, error) {
		return harness{}, nil
	})
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		opts    *memstore.Options
		want    int64
		wantErr string
	}{
		{name: "nil options", opts: nil, want: memstore.DefaultMaxBytes},
		{name: "zero options", opts: &memstore.Options{}, want: memstore.DefaultMaxBytes},
		{name: "1 MiB", opts: &memstore.Options{MaxBytes: 1 << 20}, want: 1 << 20},
		{name: "1 byte", opts: &memstore.Options{MaxBytes: 1}, want: 1},
		{name: "1 TiB", opts: &memstore.Options{MaxBytes: 1 << 40}, want: 1 << 40},
		{name: "negative", opts: &memstore.Options{MaxBytes: -1}, wantErr: "memstore: MaxBytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := memstore.New(tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New(%+v) error = %v, want one containing %q", tc.opts, err, tc.wantErr)
				}
				if !errors.Is(err, core.ErrInvalidConfig) {
					t.Errorf("New(%+v) error = %v, want one wrapping core.ErrInvalidConfig", tc.opts, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v): %v", tc.opts, err)
			}
			defer s.Close()
			if got := s.MaxBytes(); got != tc.want {
				t.Errorf("MaxBytes() = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestOpenStore(t *testing.T) {
	tests := []struct {
		name    string
		dsn     string
		want    int64    // MaxBytes of the opened store
		wantErr []string // substrings of the error; nil means success
	}{
		{name: "defaults", dsn: "mem://", want: memstore.DefaultMaxBytes},
		{name: "scheme only", dsn: "mem:", want: memstore.DefaultMaxBytes},
		{name: "empty query", dsn: "mem://?", want: memstore.DefaultMaxBytes},
		{name: "MiB", dsn: "mem://?max_bytes=1MiB", want: 1 << 20},
		{name: "MB", dsn: "mem://?max_bytes=100MB", want: 100e6},
		{name: "plain bytes", dsn: "mem://?max_bytes=4096", want: 4096},
		{name: "lower-case unit", dsn: "mem://?max_bytes=2gib", want: 2 << 30},
		{name: "zero is the default", dsn: "mem://?max_bytes=0", want: memstore.DefaultMaxBytes},
		{name: "upper-case scheme", dsn: "MEM://?max_bytes=1MiB", want: 1 << 20},

		{name: "host", dsn: "mem://localhost?max_bytes=1MiB", wantErr: []string{"memstore:", "no host", "localhost"}},
		{name: "path", dsn: "mem:///cache", wantErr: []string{"memstore:", "no path", "/cache"}},
		{name: "root path", dsn: "mem:///", wantErr: []string{"memstore:", "no path"}},
		{name: "opaque", dsn: "mem:cache", wantErr: []string{"memstore:", "cache"}},
		{name: "user", dsn: "mem://user:secret@", wantErr: []string{"memstore:", "user information"}},
		{name: "fragment", dsn: "mem://#frag", wantErr: []string{"memstore:", "fragment"}},
		{name: "unknown parameter", dsn: "mem://?max_bytes=1MiB&bogus=1", wantErr: []string{"memstore:", `"bogus"`, "max_bytes"}},
		{name: "two unknown parameters", dsn: "mem://?zeta=1&alpha=2", wantErr: []string{`"alpha", "zeta"`}},
		{name: "misspelt parameter", dsn: "mem://?maxbytes=1MiB", wantErr: []string{`"maxbytes"`}},
		{name: "bad size", dsn: "mem://?max_bytes=lots", wantErr: []string{"memstore:", "max_bytes", "lots"}},
		{name: "negative size", dsn: "mem://?max_bytes=-1", wantErr: []string{"max_bytes"}},
		{name: "empty size", dsn: "mem://?max_bytes=", wantErr: []string{"max_bytes"}},
		{name: "unknown unit", dsn: "mem://?max_bytes=1XB", wantErr: []string{"max_bytes", "unit"}},
		{name: "overflowing size", dsn: "mem://?max_bytes=100000000TiB", wantErr: []string{"max_bytes", "overflows"}},
		{name: "repeated parameter", dsn: "mem://?max_bytes=1MiB&max_bytes=2MiB", wantErr: []string{"max_bytes", "2 times"}},
		{name: "bad query", dsn: "mem://?max_bytes=%zz", wantErr: []string{"memstore:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := core.OpenStore(t.Context(), tc.dsn)
			if tc.wantErr != nil {
				if err == nil {
					if c, ok := st.(interface{ Close() error }); ok {
						_ = c.Close()
					}
					t.Fatalf("OpenStore(%q) succeeded, want an error", tc.dsn)
				}
				for _, sub := range tc.wantErr {
					if !strings.Contains(err.Error(), sub) {
						t.Errorf("OpenStore(%q) error = %q, want it to contain %q", tc.dsn, err, sub)
					}
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("OpenStore(%q) error = %q reveals the password", tc.dsn, err)
				}
				if !errors.Is(err, core.ErrInvalidConfig) {
					t.Errorf("OpenStore(%q) error = %q, want one wrapping core.ErrInvalidConfig", tc.dsn, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenStore(%q): %v", tc.dsn, err)
			}
			s, ok := st.(*memstore.Store)
			if !ok {
				t.Fatalf("OpenStore(%q) = %T, want *memstore.Store", tc.dsn, st)
			}
			defer s.Close()
			if got := s.MaxBytes(); got != tc.want {
				t.Errorf("OpenStore(%q).MaxBytes() = %d, want %d", tc.dsn, got, tc.want)
			}
			// The store works.
			if err := s.Set(t.Context(), "k", []byte("v"), core.Meta{}); err != nil {
				t.Fatalf("Set: %v", err)
			}
			if got, err := s.Get(t.Context(), "k"); err != nil || string(got) != "v" {
				t.Errorf("Get = %q, %v; want %q, nil", got, err, "v")
			}
		})
	}
}

func TestOpenStoreCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := core.OpenStore(ctx, "mem://"); !errors.Is(err, context.Canceled) || !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("OpenStore with a cancelled context: error = %v, want context.Canceled and core.ErrUnavailable", err)
	}
}

func TestOpenStoreUnknownScheme(t *testing.T) {
	_, err := core.OpenStore(t.Context(), "nosuch://?max_bytes=1MiB")
	if err == nil {
		t.Fatal("OpenStore of an unknown scheme succeeded")
	}
	for _, sub := range []string{`"nosuch"`, memstore.Scheme} {
		if !strings.Contains(err.Error(), sub) {
			t.Errorf("error = %q, want it to contain %q (the registered schemes)", err, sub)
		}
	}
}

func TestMaxBytesCapHolds(t *testing.T) {
	const maxBytes = 1 << 20
	tests := []struct {
		name  string
		write func(t *testing.T, s *memstore.Store)
	}{
		{"new keys of 4 KiB", func(t *testing.T, s *memstore.Store) {
			for i := range 10 * maxBytes / 4096 {
				set(t, s, fmt.Sprintf("k%05d", i), make([]byte, 4096))
			}
		}},
		{"new keys of mixed sizes", func(t *testing.T, s *memstore.Store) {
			written := 0
			for i := 0; written < 10*maxBytes; i++ {
				n := []int{0, 1, 100, 1000, 10_000, 100_000}[i%6]
				set(t, s, fmt.Sprintf("k%05d", i), make([]byte, n))
				written += n
			}
		}},
		{"overwrites that grow", func(t *testing.T, s *memstore.Store) {
			for i := range 100 {
				set(t, s, fmt.Sprintf("k%03d", i), make([]byte, 1))
			}
			for round := range 10 {
				for i := range 100 {
					set(t, s, fmt.Sprintf("k%03d", i), make([]byte, maxBytes/100+round))
				}
			}
		}},
		{"values larger than the cap", func(t *testing.T, s *memstore.Store) {
			set(t, s, "small", make([]byte, 10))
			for i := range 10 {
				set(t, s, fmt.Sprintf("huge%d", i), make([]byte, maxBytes+1))
			}
			set(t, s, "small", make([]byte, maxBytes+1))
			set(t, s, "small", make([]byte, 10*maxBytes))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s, err := memstore.New(&memstore.Options{MaxBytes: maxBytes})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tc.write(t, s)
			var total int64
			n := 0
			for item, err := range s.List(ctx) {
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				n++
				total += item.Meta.Size
				// Every listed key is really there, with the listed size.
				got, err := s.Get(ctx, item.Key)
				if err != nil {
					t.Errorf("Get(%q) of a listed key: %v", item.Key, err)
				} else if int64(len(got)) != item.Meta.Size {
					t.Errorf("Get(%q) = %d bytes, listed Size %d", item.Key, len(got), item.Meta.Size)
				}
			}
			if total > maxBytes {
				t.Errorf("listed sizes sum to %d bytes, above MaxBytes %d", total, maxBytes)
			}
			if strings.HasPrefix(tc.name, "values larger") {
				if _, err := s.Get(ctx, "huge0"); !errors.Is(err, core.ErrNotFound) {
					t.Errorf("Get of a value larger than MaxBytes: error = %v, want core.ErrNotFound", err)
				}
				if _, err := s.Get(ctx, "small"); !errors.Is(err, core.ErrNotFound) {
					t.Errorf("Get of a key overwritten with a value larger than MaxBytes: error = %v, want core.ErrNotFound", err)
				}
				return
			}
			if n == 0 {
				t.Errorf("nothing is stored after writing 10× MaxBytes")
			}
			t.Logf("%d entries, %d bytes listed", n, total)
		})
	}
}

// TestEmptyValueIsAHit checks that a 0-byte value is told apart from a miss.
func TestEmptyValueIsAHit(t *testing.T) {
	s := newStore(t)
	for _, v := range [][]byte{nil, {}} {
		set(t, s, "empty", v)
		got, err := s.Get(t.Context(), "empty")
		if err != nil {
			t.Fatalf("Get of an empty value: %v", err)
		}
		if got == nil || len(got) != 0 {
			t.Errorf("Get of an empty value = %#v, want a non-nil empty slice", got)
		}
	}
}

// TestGetDoesNotCopy checks the documented zero-copy Get.
func TestGetDoesNotCopy(t *testing.T) {
	s := newStore(t)
	v := []byte("body")
	set(t, s, "k", v)
	got, err := s.Get(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if &got[0] != &v[0] {
		t.Error("Get returned a copy of the stored slice")
	}
}

func TestSizeIsRecorded(t *testing.T) {
	s := newStore(t)
	if err := s.Set(t.Context(), "k", []byte("12345"), core.Meta{Size: 999}); err != nil {
		t.Fatal(err)
	}
	for item, err := range s.List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if item.Meta.Size != 5 {
			t.Errorf("listed Size = %d, want len(value) = 5", item.Meta.Size)
		}
	}
}

// TestListPrunesExpired waits on real time: the store's deadlines follow the
// real clock.
func TestListPrunesExpired(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	expires := time.Now().Add(50 * time.Millisecond)
	if err := s.Set(ctx, "short", []byte("x"), core.Meta{Expires: expires}); err != nil {
		t.Fatal(err)
	}
	set(t, s, "long", []byte("y"))
	time.Sleep(time.Until(expires) + 10*time.Millisecond)
	for range 2 { // the first List prunes, the second sees the result
		var keys []string
		for item, err := range s.List(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, item.Key)
		}
		if len(keys) != 1 || keys[0] != "long" {
			t.Errorf("List = %q, want [long]", keys)
		}
	}
	if _, err := s.Get(ctx, "short"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get of an expired key: error = %v, want core.ErrNotFound", err)
	}
	// The key can be written again after pruning.
	set(t, s, "short", []byte("again"))
	if got, err := s.Get(ctx, "short"); err != nil || string(got) != "again" {
		t.Errorf("Get = %q, %v; want %q", got, err, "again")
	}
}

func TestListIsSorted(t *testing.T) {
	s := newStore(t)
	for _, k := range []string{"c", "a", "b"} {
		set(t, s, k, []byte(k))
	}
	var keys []string
	for item, err := range s.List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, item.Key)
	}
	if got := strings.Join(keys, ","); got != "a,b,c" {
		t.Errorf("List order = %s, want a,b,c", got)
	}
}

func TestClosed(t *testing.T) {
	ctx := t.Context()
	s, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	set(t, s, "k", []byte("v"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ops := []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "k"); return err }},
		{"Set", func() error { return s.Set(ctx, "k", []byte("v"), core.Meta{}) }},
		{"Delete", func() error { return s.Delete(ctx, "k") }},
		{"Clear", func() error { return s.Clear(ctx) }},
		{"List", func() error {
			for _, err := range s.List(ctx) {
				return err
			}
			return nil
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			err := op.do()
			if !errors.Is(err, memstore.ErrClosed) || err.Error() != "memstore: closed" {
				t.Errorf("%s after Close = %v, want memstore.ErrClosed", op.name, err)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

// TestCloseDuringUse closes a store while goroutines use it: under -race,
// nothing may panic or race, and every error must be ErrClosed.
func TestCloseDuringUse(t *testing.T) {
	ctx := t.Context()
	s, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg, started sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if i == 1 {
					started.Done()
				}
				key := fmt.Sprintf("k%d", (g+i)%16)
				var err error
				switch i % 4 {
				case 0:
					err = s.Set(ctx, key, []byte(key), core.Meta{})
				case 1:
					_, err = s.Get(ctx, key)
				case 2:
					err = s.Delete(ctx, key)
				case 3:
					for _, e := range s.List(ctx) {
						if e != nil {
							err = e
						}
					}
				}
				if err != nil && !errors.Is(err, core.ErrNotFound) && !errors.Is(err, memstore.ErrClosed) {
					t.Errorf("unexpected error: %v", err)
					return
				}
			}
		}()
	}
	started.Wait()
	if err := s.Clear(ctx); err != nil && !errors.Is(err, memstore.ErrClosed) {
		t.Errorf("Clear: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	wg.Wait()
}

func newStore(t *testing.T) *memstore.Store {
	t.Helper()
	s, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func set(t *testing.T, s *memstore.Store, key string, value []byte) {
	t.Helper()
	if err := s.Set(t.Context(), key, value, core.Meta{}); err != nil {
		t.Fatalf("Set(%q, %d bytes): %v", key, len(value), err)
	}
}

// TestDSNEchoedAsWritten: an error repeats the DSN with its "//".
func TestDSNEchoedAsWritten(t *testing.T) {
	_, err := core.OpenStore(t.Context(), "mem://?bogus=1")
	if err == nil || !strings.Contains(err.Error(), `"mem://?bogus=1"`) {
		t.Errorf("error %v, want it to repeat the DSN %q", err, "mem://?bogus=1")
	}
}
