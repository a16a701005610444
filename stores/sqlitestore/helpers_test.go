package sqlitestore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

// stamped returns the value writer w puts under key in operation i: a
// header naming all three and the length, then bytes derived from the
// header, so a reader can tell a whole value written for key from anything
// else (a truncated, mixed or foreign one).
func stamped(key, w string, i, size int) []byte {
	head := fmt.Sprintf("%s|%s|%d|%d|", key, w, i, size)
	return append([]byte(head), payload(head, size)...)
}

func payload(head string, n int) []byte {
	h := fnv.New64a()
	h.Write([]byte(head))
	var seed [32]byte
	s := h.Sum64()
	for i := range 8 {
		seed[i] = byte(s >> (8 * i))
	}
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(seed).Read(b)
	return b
}

// checkStamped reports whether got is a whole value stamped made for key.
func checkStamped(key string, got []byte) error {
	rest, ok := bytes.CutPrefix(got, []byte(key+"|"))
	if !ok {
		return fmt.Errorf("%d bytes that do not start with %q", len(got), key+"|")
	}
	parts := bytes.SplitN(rest, []byte("|"), 4)
	if len(parts) != 4 {
		return errors.New("the stamp is truncated")
	}
	size, err := strconv.Atoi(string(parts[2]))
	if err != nil {
		return fmt.Errorf("bad size in stamp: %v", err)
	}
	head := key + "|" + string(parts[0]) + "|" + string(parts[1]) + "|" + string(parts[2]) + "|"
	if len(parts[3]) != size {
		return fmt.Errorf("payload of %q is %d bytes, want %d (partial value)", head, len(parts[3]), size)
	}
	if !bytes.Equal(parts[3], payload(head, size)) {
		return fmt.Errorf("payload of %q is corrupt", head)
	}
	return nil
}

// clock is an injectable clock for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// dbPath returns a fresh database path in the test's temporary directory.
func dbPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "cache.db")
}

// open opens a store on path (a new file when path is "") with opts and
// closes it at the end of the test.
func open(t testing.TB, opts *sqlitestore.Options) *sqlitestore.Store {
	t.Helper()
	if opts == nil {
		opts = &sqlitestore.Options{}
	}
	if opts.Path == "" {
		opts.Path = dbPath(t)
	}
	s, err := sqlitestore.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openClock is open with an injected clock and a stream grace period.
func openClock(t testing.TB, opts *sqlitestore.Options, c *clock, grace time.Duration) *sqlitestore.Store {
	t.Helper()
	if opts == nil {
		opts = &sqlitestore.Options{}
	}
	if opts.Path == "" {
		opts.Path = dbPath(t)
	}
	s, err := sqlitestore.NewWithClock(context.Background(), opts, c.Now, grace)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func set(t testing.TB, s core.Store, key string, value []byte, meta core.Meta) {
	t.Helper()
	if err := s.Set(context.Background(), key, value, meta); err != nil {
		t.Fatalf("Set(%q, %d bytes): %v", key, len(value), err)
	}
}

func get(t testing.TB, s core.Store, key string) []byte {
	t.Helper()
	v, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func wantMiss(t testing.TB, s core.Store, key string) {
	t.Helper()
	v, err := s.Get(context.Background(), key)
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get(%q) = %d bytes, %v; want core.ErrNotFound", key, len(v), err)
	}
}

// writeStream writes data as the stream of key and commits it.
func writeStream(t testing.TB, s core.Streamer, key string, data []byte, meta core.Meta) {
	t.Helper()
	w, err := s.CreateStream(context.Background(), key, meta)
	if err != nil {
		t.Fatalf("CreateStream(%q): %v", key, err)
	}
	// Odd-sized writes, so chunks are filled across Write calls.
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 100_003)
		if _, err := w.Write(rest[:n]); err != nil {
			_ = w.Abort()
			t.Fatalf("Write to stream %q: %v", key, err)
		}
		rest = rest[n:]
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit of stream %q: %v", key, err)
	}
}

// readStream reads the stream of key to the end.
func readStream(s core.Streamer, key string) ([]byte, error) {
	rc, size, err := s.OpenStream(context.Background(), key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return b, err
	}
	if int64(len(b)) != size {
		return b, fmt.Errorf("read %d bytes, OpenStream said %d", len(b), size)
	}
	return b, nil
}
