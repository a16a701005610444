package sqlitestore

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hoardhttp/hoard/core"
)

// TestLibErrorCode checks that the errors of Get's own connections are
// classified like the driver's: busy and locked are retried.
func TestLibErrorCode(t *testing.T) {
	for _, tc := range []struct {
		code int
		busy bool
	}{
		{sqlite3.SQLITE_BUSY, true},
		{sqlite3.SQLITE_BUSY_SNAPSHOT, true},
		{sqlite3.SQLITE_LOCKED, true},
		{sqlite3.SQLITE_IOERR, false},
	} {
		err := wrap("get", "k", &libError{code: tc.code, msg: "x"})
		if got := isBusy(err); got != tc.busy {
			t.Errorf("isBusy(code %d) = %v, want %v", tc.code, got, tc.busy)
		}
		if code, ok := sqliteCode(err); !ok || code != tc.code {
			t.Errorf("sqliteCode(code %d) = %d, %v", tc.code, code, ok)
		}
	}
	if _, ok := sqliteCode(errors.New("x")); ok {
		t.Error("sqliteCode found a code in an error without one")
	}
}

// TestGetPool checks the pool's accounting: at most max connections, a
// waiter gets the one put back or its context's error, a broken connection
// is closed, and after close every connection put back is closed.
func TestGetPool(t *testing.T) {
	ctx := context.Background()
	s, err := New(ctx, &Options{Path: filepath.Join(t.TempDir(), "c.db"), SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Set(ctx, "k", []byte("value"), core.Meta{URL: "https://example.com/", Method: "GET", Status: 200}); err != nil {
		t.Fatal(err)
	}
	_, reader, err := s.dsns(s.path)
	if err != nil {
		t.Fatal(err)
	}
	p := newGetPool(reader, getSQL, 2)
	a, err := p.take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := p.open.Load(); n != 2 {
		t.Fatalf("open = %d, want 2", n)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.take(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("take with every connection in use and a cancelled context: %v", err)
	}
	p.put(a, false)
	held, v, _, _, err := p.lookup(ctx, []byte("k"), 1)
	if err != nil || !bytes.Equal(v, []byte("value")) {
		t.Fatalf("lookup = %q, %v", v, err)
	}
	// The connection stays on the row until done: both are in use.
	if _, err := p.take(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("take while lookup holds a connection: %v, want the cancelled context's error", err)
	}
	p.done(held, nil)
	if _, _, _, _, err := p.lookup(ctx, []byte("missing"), 1); err != errNoRow {
		t.Fatalf("lookup of a missing key: %v, want errNoRow", err)
	}
	p.put(b, true)
	if n := p.open.Load(); n != 1 {
		t.Fatalf("open after a broken connection = %d, want 1", n)
	}
	c, err := p.take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	p.put(c, false)
	if n := p.open.Load(); n != 0 {
		t.Fatalf("open after close = %d, want 0", n)
	}
}
