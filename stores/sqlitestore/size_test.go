package sqlitestore_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

// TestMaxBytesCapHolds writes 10× MaxBytes in several ways and checks that
// the stored total (as counted and as listed) stays within it.
func TestMaxBytesCapHolds(t *testing.T) {
	const maxBytes = 128 << 10 // above the largest value written to fit (100,000 bytes)
	tests := []struct {
		name  string
		write func(t *testing.T, s *sqlitestore.Store)
	}{
		{"new keys of 4 KiB", func(t *testing.T, s *sqlitestore.Store) {
			for i := range 10 * maxBytes / 4096 {
				set(t, s, fmt.Sprintf("k%05d", i), make([]byte, 4096), core.Meta{})
			}
		}},
		{"new keys of mixed sizes", func(t *testing.T, s *sqlitestore.Store) {
			written := 0
			for i := 0; written < 10*maxBytes; i++ {
				n := []int{0, 1, 100, 1000, 10_000, 100_000}[i%6]
				set(t, s, fmt.Sprintf("k%05d", i), make([]byte, n), core.Meta{})
				written += n
			}
		}},
		{"overwrites that grow", func(t *testing.T, s *sqlitestore.Store) {
			for i := range 50 {
				set(t, s, fmt.Sprintf("k%03d", i), make([]byte, 1), core.Meta{})
			}
			for round := range 10 {
				for i := range 50 {
					set(t, s, fmt.Sprintf("k%03d", i), make([]byte, maxBytes/50+round), core.Meta{})
				}
			}
		}},
		{"streams and values", func(t *testing.T, s *sqlitestore.Store) {
			for i := range 20 {
				key := fmt.Sprintf("k%03d", i)
				set(t, s, key, make([]byte, 10_000), core.Meta{})
				writeStream(t, s, key, make([]byte, maxBytes/2), core.Meta{})
			}
		}},
		{"values larger than the cap", func(t *testing.T, s *sqlitestore.Store) {
			set(t, s, "small", make([]byte, 10), core.Meta{})
			for i := range 10 {
				set(t, s, fmt.Sprintf("huge%d", i), make([]byte, maxBytes+1), core.Meta{})
			}
			set(t, s, "small", make([]byte, maxBytes+1), core.Meta{})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, &sqlitestore.Options{MaxBytes: maxBytes})
			tc.write(t, s)
			size, err := s.Size(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if size > maxBytes {
				t.Errorf("Size() = %d, above MaxBytes %d", size, maxBytes)
			}
			var total int64
			n := 0
			for item, err := range s.List(ctx) {
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				n++
				total += item.Meta.Size
				if got := get(t, s, item.Key); int64(len(got)) != item.Meta.Size {
					t.Errorf("Get(%q) = %d bytes, listed Size %d", item.Key, len(got), item.Meta.Size)
				}
			}
			if total > size {
				t.Errorf("listed sizes sum to %d bytes, above Size() %d", total, size)
			}
			if tc.name == "values larger than the cap" {
				wantMiss(t, s, "huge0")
				wantMiss(t, s, "small")
				return
			}
			if n == 0 {
				t.Error("nothing is stored after writing 10× MaxBytes")
			}
			t.Logf("%d entries, %d bytes counted", n, size)
		})
	}
}

// TestEvictsExpiredFirst checks that eviction takes expired entries before
// live ones, however recently used.
func TestEvictsExpiredFirst(t *testing.T) {
	c := newClock()
	const entry = 1000
	s := openClock(t, &sqlitestore.Options{MaxBytes: 10 * entry, SweepInterval: -1}, c, time.Hour)
	set(t, s, "live", make([]byte, entry), core.Meta{})
	for i := range 9 {
		c.Advance(time.Second)
		set(t, s, fmt.Sprintf("short%d", i), make([]byte, entry), core.Meta{Expires: c.Now().Add(time.Minute)})
	}
	c.Advance(2 * time.Minute)
	set(t, s, "new", make([]byte, entry), core.Meta{})
	get(t, s, "live")
	if size, err := s.Size(t.Context()); err != nil || size != 2*entry {
		t.Errorf("Size() = %d, %v; want %d (the expired entries evicted)", size, err, 2*entry)
	}
}

// TestEvictsLeastRecentlyUsed checks the eviction order: the key read most
// recently survives, the one read least recently goes first.
func TestEvictsLeastRecentlyUsed(t *testing.T) {
	c := newClock()
	const entry = 1000
	s := openClock(t, &sqlitestore.Options{MaxBytes: 10 * entry, SweepInterval: -1}, c, time.Hour)
	for i := range 10 {
		c.Advance(time.Second)
		set(t, s, fmt.Sprintf("k%d", i), make([]byte, entry), core.Meta{})
	}
	// k0 is the oldest write, but read last: k1 becomes the least recently
	// used. The read is only recorded in memory; eviction writes it first.
	c.Advance(time.Second)
	get(t, s, "k0")
	c.Advance(time.Second)
	set(t, s, "k10", make([]byte, entry), core.Meta{})
	wantMiss(t, s, "k1")
	for _, key := range []string{"k0", "k2", "k9", "k10"} {
		if _, err := s.Get(t.Context(), key); err != nil {
			t.Errorf("Get(%q): %v", key, err)
		}
	}
	// A stream counts, and its key's value goes with it.
	c.Advance(time.Second)
	writeStream(t, s, "k2", make([]byte, 2*entry), core.Meta{})
	for _, key := range []string{"k3", "k4"} {
		wantMiss(t, s, key)
	}
	// Now k2's value and stream are the least recently used pair.
	c.Advance(time.Second)
	for _, key := range []string{"k0", "k5", "k6", "k7", "k8", "k9", "k10"} {
		get(t, s, key)
	}
	c.Advance(time.Second)
	set(t, s, "k11", make([]byte, entry), core.Meta{})
	wantMiss(t, s, "k2")
	if _, err := readStream(s, "k2"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("stream of an evicted key: %v, want core.ErrNotFound", err)
	}
}
