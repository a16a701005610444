//go:build linux

package filestore_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
)

// settle waits until files written before it are old enough to be kept in
// memory (a file whose status changed within the last 100 ms is not).
func settle() { time.Sleep(150 * time.Millisecond) }

// sameSlice reports whether a and b are the same bytes in memory.
func sameSlice(a, b []byte) bool { return len(a) > 0 && len(b) > 0 && &a[0] == &b[0] }

// TestMemo checks the values kept in memory (Options.MemoryBytes): a Get of
// a settled file is answered from memory, with the same slot for the Cache,
// and any change to the file, by this store or by another one on the same
// directory (as another process would), is seen by the next Get: a
// replacement of the same length, a removal, a write in place. A file
// written less than a second before it is read, and any file when the
// memory is off, is read from disk every time.
func TestMemo(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	a := newStore(t, dir, nil) // the store under test
	b := newStore(t, dir, nil) // another process on the same directory
	off := newStore(t, t.TempDir(), &filestore.Options{MemoryBytes: -1})
	val := func(s string) []byte { return bytes.Repeat([]byte(s), 100) }
	keys := []string{"kept", "replaced", "removed", "in place", "deleted here", "off"}
	for _, k := range keys {
		st := a
		if k == "off" {
			st = off
		}
		set(t, st, k, val("1"), core.Meta{})
	}
	// A file just written is read from disk on every Get. (Reads that
	// come over 50 ms after the write, on a loaded machine, prove nothing:
	// the write is tried again.)
	for try := 0; ; try++ {
		written := time.Now()
		set(t, a, "fresh", val("1"), core.Meta{})
		v1, _ := a.Get(ctx, "fresh")
		v2, _ := a.Get(ctx, "fresh")
		if time.Since(written) > 50*time.Millisecond && try < 50 {
			continue
		}
		if sameSlice(v1, v2) {
			t.Fatal("a file written just now was served from memory")
		}
		break
	}
	settle()
	read := func(s *filestore.Store, k string) []byte {
		t.Helper()
		v, err := s.Get(ctx, k)
		if err != nil {
			t.Fatalf("Get(%q): %v", k, err)
		}
		return v
	}
	for _, k := range keys[:len(keys)-1] {
		read(a, k) // kept from now on
	}

	t.Run("kept", func(t *testing.T) {
		v1, slot1, err := a.GetSlot(ctx, "kept")
		if err != nil {
			t.Fatal(err)
		}
		v2, slot2, err := a.GetSlot(ctx, "kept")
		if err != nil {
			t.Fatal(err)
		}
		if !sameSlice(v1, v2) || slot1 == nil || slot1 != slot2 || !bytes.Equal(v1, val("1")) {
			t.Errorf("two Gets of a settled file: same bytes %v, same slot %v; want both", sameSlice(v1, v2), slot1 == slot2)
		}
	})
	t.Run("replaced by another store, same length", func(t *testing.T) {
		set(t, b, "replaced", val("2"), core.Meta{})
		if got := read(a, "replaced"); !bytes.Equal(got, val("2")) {
			t.Errorf("Get after another store replaced the value = %.10q..., want the new value", got)
		}
	})
	t.Run("removed by another store", func(t *testing.T) {
		if err := b.Delete(ctx, "removed"); err != nil {
			t.Fatal(err)
		}
		if got, err := a.Get(ctx, "removed"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Get after another store deleted the key = %d bytes, %v; want core.ErrNotFound", len(got), err)
		}
	})
	t.Run("damaged in place", func(t *testing.T) {
		f, err := os.OpenFile(keyPath(dir, "in place", false), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		if _, err := f.WriteAt([]byte{'X'}, fi.Size()-10); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if got, err := a.Get(ctx, "in place"); !errors.Is(err, core.ErrCorrupt) {
			t.Errorf("Get of a file damaged in place after it was kept = %d bytes, %v; want core.ErrCorrupt", len(got), err)
		}
	})
	t.Run("deleted and written again here", func(t *testing.T) {
		if err := a.Delete(ctx, "deleted here"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Get(ctx, "deleted here"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Get after Delete: %v, want core.ErrNotFound", err)
		}
		set(t, a, "deleted here", val("3"), core.Meta{})
		if got := read(a, "deleted here"); !bytes.Equal(got, val("3")) {
			t.Errorf("Get after Delete and Set = %.10q..., want the new value", got)
		}
	})
	t.Run("memory off", func(t *testing.T) {
		v1, v2 := read(off, "off"), read(off, "off")
		if sameSlice(v1, v2) {
			t.Error("MemoryBytes -1: two Gets returned the same bytes")
		}
	})
}

// TestMemoBound checks that the values kept stay within MemoryBytes and
// that a value larger than a quarter of it is not kept.
func TestMemoBound(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, t.TempDir(), &filestore.Options{MemoryBytes: 64 << 10})
	for i := range 64 {
		set(t, s, fmt.Sprintf("k%02d", i), bytes.Repeat([]byte{byte(i)}, 4<<10), core.Meta{})
	}
	set(t, s, "large", make([]byte, 20<<10), core.Meta{})
	settle()
	kept := 0
	for range 2 { // the first pass reads and keeps, the second counts
		kept = 0
		for i := range 64 {
			k := fmt.Sprintf("k%02d", i)
			v1, err := s.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			v2, _ := s.Get(ctx, k)
			if sameSlice(v1, v2) {
				kept++
			}
		}
	}
	// 64 KiB hold at most 64K / (4K + overhead) values of 4 KiB.
	if kept == 0 || kept > 64<<10/(4<<10) {
		t.Errorf("%d values of 4 KiB kept with MemoryBytes 64 KiB; want some, at most %d", kept, 64<<10/(4<<10))
	}
	v1, _ := s.Get(ctx, "large")
	v2, _ := s.Get(ctx, "large")
	if sameSlice(v1, v2) {
		t.Error("a value larger than a quarter of MemoryBytes was kept")
	}
}

// TestMemoConcurrentWriters has readers of one store race with writers on
// it and on another store of the same directory. Every value has the same
// length and names its version; a Get that starts after a write has
// returned must give that version or a later one, whether it is answered
// from memory or from the file. Writers pause past the settle time now and
// then, so that reads are answered from memory too.
func TestMemoConcurrentWriters(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	a := newStore(t, dir, nil)
	b := newStore(t, dir, nil)
	const key = "contended"
	value := func(v int64) []byte { return []byte(fmt.Sprintf("version %08d", v)) }
	var (
		mu       sync.Mutex
		next     int64 // the next version to write
		complete int64 // every version up to this one has been written
	)
	write := func(s *filestore.Store) error {
		mu.Lock()
		next++
		v := next
		// Writes of one key are serialised here, so that "the latest
		// write" is well defined.
		err := s.Set(ctx, key, value(v), core.Meta{})
		complete = v
		mu.Unlock()
		return err
	}
	if err := write(a); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	var memoHits atomic.Int64
	for _, s := range []*filestore.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				if err := write(s); err != nil {
					errs <- err
					return
				}
				if i%4 == 3 {
					time.Sleep(250 * time.Millisecond)
				} else {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last []byte
			for time.Now().Before(deadline) {
				mu.Lock()
				floor := complete
				mu.Unlock()
				got, err := a.Get(ctx, key)
				if err != nil {
					errs <- fmt.Errorf("Get: %v", err)
					return
				}
				var v int64
				if _, err := fmt.Sscanf(string(got), "version %d", &v); err != nil || v < floor {
					errs <- fmt.Errorf("Get = %q after version %d was written", got, floor)
					return
				}
				if sameSlice(got, last) {
					memoHits.Add(1)
				}
				last = got
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if memoHits.Load() == 0 {
		t.Error("no read was answered from memory: the test no longer exercises it")
	}
	t.Logf("%d versions written, %d reads from memory", next, memoHits.Load())
}
