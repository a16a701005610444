package filestore_test

import (
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
)

// TestOrphanStreamsAreReclaimed: a committed stream whose key has no value
// (a process died between committing the stream and writing the value, the
// core's order) is removed by the sweep and by New once it is older than
// filestore.OrphanGrace, not kept until its own expiry; a young one (its
// writer may be about to write the value) and a stream with a value are
// kept.
func TestOrphanStreamsAreReclaimed(t *testing.T) {
	exists := func(path string) bool {
		_, err := os.Stat(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	}
	const orphan, kept = "GET https://example.com/orphan", "GET https://example.com/kept"
	for _, via := range []string{"sweep", "open"} {
		t.Run(via, func(t *testing.T) {
			dir := t.TempDir()
			clock := newClock()
			s := newClockStore(t, dir, &filestore.Options{SweepInterval: -1}, clock)
			meta := core.Meta{Expires: clock.now().Add(24 * time.Hour)}
			writeStream(t, s, orphan, []byte("a body whose value was never written"), meta)
			writeStream(t, s, kept, []byte("a body with its value"), meta)
			set(t, s, kept, []byte("value"), meta)
			reclaim := func() {
				if via == "sweep" {
					s.SweepOnce()
					return
				}
				s.Close()
				s = newClockStore(t, dir, &filestore.Options{SweepInterval: -1}, clock)
			}

			clock.advance(filestore.OrphanGrace - time.Minute)
			reclaim()
			if !exists(keyPath(dir, orphan, true)) {
				t.Fatalf("a stream younger than OrphanGrace (%v) without a value was removed", filestore.OrphanGrace)
			}

			clock.advance(2 * time.Minute)
			reclaim()
			if exists(keyPath(dir, orphan, true)) {
				t.Errorf("a stream without a value older than OrphanGrace is still there")
			}
			if !exists(keyPath(dir, kept, true)) || !exists(keyPath(dir, kept, false)) {
				t.Errorf("a stream with its value was removed")
			}
			if got, want := s.IndexedBytes(), diskBytes(t, dir); got != want {
				t.Errorf("the index holds %d bytes, the files %d", got, want)
			}
		})
	}
}
