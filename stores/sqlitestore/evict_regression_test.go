package sqlitestore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

// TestRegressionCommitEvictsItsOwnStream: Commit evicts, in its transaction,
// by the recency of keys, and the key of the stream being committed still
// carries its old value's access time: the stream just committed is
// evicted by its own Commit, which returns nil, while less recently used
// entries stay.
func TestRegressionCommitEvictsItsOwnStream(t *testing.T) {
	c := newClock()
	s := openClock(t, &sqlitestore.Options{MaxBytes: 3 << 20, SweepInterval: -1}, c, time.Hour)
	set(t, s, "k", []byte("old value of k"), core.Meta{})
	c.Advance(time.Second)
	set(t, s, "x", payload("x", 1<<20), core.Meta{})
	set(t, s, "y", payload("y", 1<<20), core.Meta{})
	c.Advance(time.Second)

	data := payload("k", 3<<19)               // 1.5 MiB: the store must evict to make room
	writeStream(t, s, "k", data, core.Meta{}) // Commit returns nil

	got, err := readStream(s, "k")
	if errors.Is(err, core.ErrNotFound) {
		_, xerr := s.Get(t.Context(), "x")
		t.Fatalf("stream just committed is gone (Commit returned nil); older entry x: err=%v", xerr)
	}
	if err != nil || len(got) != len(data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
}
