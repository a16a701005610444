package memstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// TestReadYourWrites checks that a Set is seen by the Get that follows it,
// and that a Delete or an overwrite right after a Set is never undone when
// otter applies its buffered writes to the eviction policy (List applies
// them).
func TestReadYourWrites(t *testing.T) {
	val := func(i int) []byte { return []byte(fmt.Sprintf("value %d", i)) }
	tests := []struct {
		name string
		ops  func(t *testing.T, s *memstore.Store, key string)
		want []byte // nil: the key must be a miss
	}{
		{"set", func(t *testing.T, s *memstore.Store, key string) {
			set(t, s, key, val(1))
		}, val(1)},
		{"set then overwrite of the same size", func(t *testing.T, s *memstore.Store, key string) {
			set(t, s, key, val(1))
			set(t, s, key, val(2))
		}, val(2)},
		{"set then overwrite with a larger value", func(t *testing.T, s *memstore.Store, key string) {
			set(t, s, key, val(1))
			set(t, s, key, bytes.Repeat(val(3), 100))
		}, bytes.Repeat(val(3), 100)},
		{"set then overwrite with an empty value", func(t *testing.T, s *memstore.Store, key string) {
			set(t, s, key, val(1))
			set(t, s, key, nil)
		}, []byte{}},
		{"set then delete", func(t *testing.T, s *memstore.Store, key string) {
			set(t, s, key, val(1))
			if err := s.Delete(t.Context(), key); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"set, delete, set", func(t *testing.T, s *memstore.Store, key string) {
			set(t, s, key, val(1))
			if err := s.Delete(t.Context(), key); err != nil {
				t.Fatal(err)
			}
			set(t, s, key, val(4))
		}, val(4)},
		{"set then expire", func(t *testing.T, s *memstore.Store, key string) {
			set(t, s, key, val(1))
			if err := s.Set(t.Context(), key, val(5), core.Meta{Expires: time.Now().Add(-time.Second)}); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"value larger than MaxBytes", func(t *testing.T, s *memstore.Store, key string) {
			set(t, s, key, val(1))
			set(t, s, key, make([]byte, s.MaxBytes()+1))
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := memstore.New(&memstore.Options{MaxBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := t.Context()
			check := func(when, key string) {
				t.Helper()
				got, err := s.Get(ctx, key)
				switch {
				case tc.want == nil && !errors.Is(err, core.ErrNotFound):
					t.Fatalf("%s: Get(%q) = %q, %v; want a miss", when, key, got, err)
				case tc.want != nil && (err != nil || !bytes.Equal(got, tc.want) || got == nil):
					t.Fatalf("%s: Get(%q) = %q, %v; want %q", when, key, got, err, tc.want)
				}
			}
			// Many keys, each read back at once, before otter has applied
			// the writes to its policy.
			const n = 500
			for i := range n {
				key := fmt.Sprintf("k%04d", i)
				tc.ops(t, s, key)
				check("right after the writes", key)
			}
			// List applies the buffered writes; every key must still read
			// as it did right after its writes, and List must agree.
			listed := 0
			for item, err := range s.List(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				listed++
				if tc.want != nil && item.Meta.Size != int64(len(tc.want)) {
					t.Errorf("List: %q has Size %d, want %d", item.Key, item.Meta.Size, len(tc.want))
				}
			}
			if tc.want == nil && listed != 0 {
				t.Errorf("List yields %d keys, want none", listed)
			}
			// n small values fit in the default MaxBytes many times over:
			// nothing is evicted, so every key is listed.
			if tc.want != nil && listed != n {
				t.Errorf("List yields %d keys, want %d", listed, n)
			}
			for i := range n {
				key := fmt.Sprintf("k%04d", i)
				if tc.want == nil {
					check("after the queue drained", key)
					continue
				}
				got, err := s.Get(ctx, key)
				if err != nil || !bytes.Equal(got, tc.want) {
					t.Fatalf("after the queue drained: Get(%q) = %q, %v; want %q", key, got, err, tc.want)
				}
			}
		})
	}
}

// TestReadYourWritesConcurrent has goroutines write and read back keys of
// their own, and overwrite keys they share, under -race.
func TestReadYourWritesConcurrent(t *testing.T) {
	s, err := memstore.New(&memstore.Options{MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				key := fmt.Sprintf("g%d/k%d", g, i)
				want := []byte(key)
				if err := s.Set(ctx, key, want, core.Meta{}); err != nil {
					errs <- err
					return
				}
				if got, err := s.Get(ctx, key); err != nil || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("Get(%q) right after Set = %q, %v", key, got, err)
					return
				}
				shared := fmt.Sprintf("shared/%d", i%10)
				if err := s.Set(ctx, shared, want, core.Meta{}); err != nil {
					errs <- err
					return
				}
				if _, err := s.Get(ctx, shared); err != nil {
					errs <- fmt.Errorf("Get(%q) right after Set: %v", shared, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
