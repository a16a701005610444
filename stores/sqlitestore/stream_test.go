package sqlitestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

func TestStreamChunkBoundaries(t *testing.T) {
	s := open(t, nil)
	for _, n := range []int{0, 1, sqlitestore.ChunkSize - 1, sqlitestore.ChunkSize, sqlitestore.ChunkSize + 1, 3*sqlitestore.ChunkSize + 5} {
		want := payload("boundary", n)
		writeStream(t, s, "k", want, core.Meta{})
		got, err := readStream(s, "k")
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%d bytes: read %d bytes, %v", n, len(got), err)
		}
	}
}

// TestStreamReadAfterChange checks that a reader finishes the stream it
// opened when the stream is replaced or deleted and collected meanwhile,
// and that the old chunks are collected once it is closed.
func TestStreamReadAfterChange(t *testing.T) {
	for _, change := range []string{"delete", "replace", "clear"} {
		t.Run(change, func(t *testing.T) {
			path := dbPath(t)
			s := open(t, &sqlitestore.Options{Path: path, SweepInterval: -1})
			ctx := t.Context()
			data := payload("x", 3*sqlitestore.ChunkSize)
			writeStream(t, s, "k", data, core.Meta{})
			rc, _, err := s.OpenStream(ctx, "k")
			if err != nil {
				t.Fatal(err)
			}
			head := make([]byte, 10)
			if _, err := io.ReadFull(rc, head); err != nil {
				t.Fatal(err)
			}
			switch change {
			case "delete":
				err = s.Delete(ctx, "k")
			case "replace":
				writeStream(t, s, "k", []byte("new"), core.Meta{})
			case "clear":
				err = s.Clear(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			rest, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(append(head, rest...), data) {
				t.Errorf("reading after %s: %d bytes, %v; want the whole old stream", change, len(head)+len(rest), err)
			}
			db := sqlDB(t, path)
			if n := count(t, db, `SELECT count(*) FROM chunks`); n < 3 {
				t.Errorf("%d chunks left while the reader is open, want the old stream's 3 at least", n)
			}
			rc.Close()
			if err := s.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			want := 0
			if change == "replace" {
				want = 1
			}
			if n := count(t, db, `SELECT count(*) FROM chunks`); n != want {
				t.Errorf("%d chunks after the reader closed and a sweep, want %d", n, want)
			}
		})
	}
}

// TestStreamReadAfterCollectionElsewhere checks the other process's view:
// a reader whose stream is collected by another Store on the same file
// fails with ErrStreamGone, never returning foreign bytes.
func TestStreamReadAfterCollectionElsewhere(t *testing.T) {
	path := dbPath(t)
	s := open(t, &sqlitestore.Options{Path: path, SweepInterval: -1})
	other := open(t, &sqlitestore.Options{Path: path, SweepInterval: -1})
	ctx := t.Context()
	data := payload("x", 3*sqlitestore.ChunkSize)
	writeStream(t, s, "k", data, core.Meta{})
	rc, _, err := s.OpenStream(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 10)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	writeStream(t, other, "k", payload("y", 3*sqlitestore.ChunkSize), core.Meta{})
	if err := other.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(rc)
	if !errors.Is(err, sqlitestore.ErrStreamGone) {
		t.Errorf("reading a stream collected elsewhere: %d bytes, %v; want ErrStreamGone", len(rest), err)
	}
	if got := append(head, rest...); !bytes.HasPrefix(data, got) {
		t.Error("the reader returned bytes that are not its stream's")
	}
}

func TestStreamTooLarge(t *testing.T) {
	s := open(t, &sqlitestore.Options{MaxBytes: 1 << 20})
	w, err := s.CreateStream(t.Context(), "k", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Write(make([]byte, 1<<20+1))
	if !errors.Is(err, sqlitestore.ErrTooLarge) {
		t.Errorf("Write beyond MaxBytes = %v, want ErrTooLarge", err)
	}
	if err := w.Commit(); !errors.Is(err, sqlitestore.ErrTooLarge) {
		t.Errorf("Commit after a failed Write = %v, want ErrTooLarge", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit failed: %v", err)
	}
	if _, err := readStream(s, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("OpenStream after a failed stream: %v, want core.ErrNotFound", err)
	}
}

// TestStreamFollowsValue checks that Set gives the key's stream the value's
// deletion time (a 304 that freshens an entry keeps its body), and that a
// Set with a past deletion time removes the stream.
func TestStreamFollowsValue(t *testing.T) {
	c := newClock()
	s := openClock(t, &sqlitestore.Options{SweepInterval: -1}, c, time.Hour)
	writeStream(t, s, "k", []byte("body"), core.Meta{Expires: c.Now().Add(time.Minute)})
	set(t, s, "k", []byte("entry"), core.Meta{Expires: c.Now().Add(time.Minute)})
	// Revalidated: the core writes the value again with a later deletion.
	set(t, s, "k", []byte("entry"), core.Meta{Expires: c.Now().Add(time.Hour)})
	c.Advance(2 * time.Minute)
	if got, err := readStream(s, "k"); err != nil || string(got) != "body" {
		t.Errorf("stream after its value was freshened = %q, %v; want body", got, err)
	}
	set(t, s, "k", []byte("entry"), core.Meta{Expires: c.Now().Add(-time.Second)})
	if _, err := readStream(s, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("stream after a Set with a past Expires: %v, want core.ErrNotFound", err)
	}
}

// TestAbandonedStream checks that a writer idle beyond the grace period
// loses its stream to the sweep, and is told so.
func TestAbandonedStream(t *testing.T) {
	c := newClock()
	s := openClock(t, &sqlitestore.Options{SweepInterval: -1}, c, time.Hour)
	w, err := s.CreateStream(t.Context(), "k", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, sqlitestore.ChunkSize+1)); err != nil {
		t.Fatal(err)
	}
	c.Advance(30 * time.Minute)
	if err := s.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, sqlitestore.ChunkSize)); err != nil {
		t.Fatalf("Write within the grace period: %v", err)
	}
	c.Advance(time.Hour + time.Second)
	if err := s.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err == nil || !bytes.Contains([]byte(err.Error()), []byte("abandoned")) {
		t.Errorf("Commit of a collected stream = %v, want an error saying it was abandoned", err)
	}
	if _, err := readStream(s, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("OpenStream: %v, want core.ErrNotFound", err)
	}
}

func TestStreamCommitTwice(t *testing.T) {
	s := open(t, nil)
	w, err := s.CreateStream(t.Context(), "k", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit = %v, want nil", err)
	}
	if got, err := readStream(s, "k"); err != nil || len(got) != 0 {
		t.Errorf("empty stream = %q, %v", got, err)
	}
}

// TestOrphanStreamsAreReclaimed: a committed stream whose key has no value
// (a process died between committing the stream and writing the value, the
// core's order) is collected by the sweep once it was committed more than
// sqlitestore.OrphanGrace ago, not kept until its own expiry; a young one
// and a stream with a value are kept.
func TestOrphanStreamsAreReclaimed(t *testing.T) {
	c := newClock()
	path := dbPath(t)
	s := openClock(t, &sqlitestore.Options{Path: path, SweepInterval: -1}, c, time.Hour)
	db := sqlDB(t, path)
	ctx := t.Context()
	meta := core.Meta{Expires: c.Now().Add(24 * time.Hour)}
	orphan := payload("orphan", sqlitestore.ChunkSize+10)
	writeStream(t, s, "orphan", orphan, meta)
	writeStream(t, s, "kept", []byte("a body with its value"), meta)
	set(t, s, "kept", []byte("value"), meta)

	c.Advance(sqlitestore.OrphanGrace - time.Minute)
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := readStream(s, "orphan"); err != nil || !bytes.Equal(got, orphan) {
		t.Fatalf("a stream younger than OrphanGrace without a value: %d bytes, %v; want it kept", len(got), err)
	}

	c.Advance(2 * time.Minute)
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := readStream(s, "orphan"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("a stream without a value older than OrphanGrace: %v; want core.ErrNotFound", err)
	}
	if got, err := readStream(s, "kept"); err != nil || string(got) != "a body with its value" {
		t.Errorf("the stream with a value: %q, %v; want it kept", got, err)
	}
	if n := count(t, db, `SELECT count(*) FROM chunks`); n != 1 {
		t.Errorf("%d chunks left, want the kept stream's 1", n)
	}
	if size, err := s.Size(ctx); err != nil || size != int64(len("value")+len("a body with its value")) {
		t.Errorf("Size = %d, %v; want the kept value and stream only", size, err)
	}
}

// TestStreamReadReusesBuffer: a reader copies every chunk into one buffer of
// its own, so replaying a stream allocates about one chunk, not the stream.
// Through database/sql the driver made a new slice per chunk: replaying 32
// chunks allocated 8 MiB.
func TestStreamReadReusesBuffer(t *testing.T) {
	const chunks = 32
	s := open(t, nil)
	want := payload("reuse", chunks*sqlitestore.ChunkSize)
	writeStream(t, s, "k", want, core.Meta{})
	ctx := context.Background()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, n, err := s.OpenStream(ctx, "k")
	if err != nil || n != int64(len(want)) {
		t.Fatalf("OpenStream: %d bytes, %v", n, err)
	}
	h := sha256.New()
	got, err := io.CopyBuffer(h, r, make([]byte, 32<<10))
	r.Close()
	runtime.ReadMemStats(&after)
	if err != nil || got != int64(len(want)) {
		t.Fatalf("read %d bytes, %v; want %d", got, err, len(want))
	}
	if sum := sha256.Sum256(want); !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatal("the stream read back differs from the one written")
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3*sqlitestore.ChunkSize {
		t.Errorf("replaying %d chunks of %d KiB allocated %d KiB, want at most %d KiB (about one chunk)",
			chunks, sqlitestore.ChunkSize>>10, alloc>>10, 3*sqlitestore.ChunkSize>>10)
	}
}
