package core_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// hangStreamStore is a streamStore whose stream writers block in Write
// until their context ends, like a store that stops answering in the middle
// of a streamed body.
type hangStreamStore struct{ *streamStore }

type hangWriter struct{ ctx context.Context }

func (w hangWriter) Write(p []byte) (int, error) { <-w.ctx.Done(); return 0, w.ctx.Err() }
func (w hangWriter) Commit() error               { return w.ctx.Err() }
func (w hangWriter) Abort() error                { return nil }

func (s hangStreamStore) CreateStream(ctx context.Context, key string, meta core.Meta) (core.StreamWriter, error) {
	return hangWriter{ctx}, nil
}

// TestStreamWriteHangIsBounded: a store stream whose Write hangs delays the
// caller's reading of the body by the store timeout, not for as long as
// the request's context lives; the body still arrives whole and the failure
// is counted.
func TestStreamWriteHangIsBounded(t *testing.T) {
	st := hangStreamStore{newStreamStore(t)}
	const timeout = 50 * time.Millisecond
	c, err := core.New(st, core.WithStoreTimeout(timeout), core.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	const size = 4 << 20
	req, _ := http.NewRequest(http.MethodGet, "http://example.com/big", nil)
	start := time.Now()
	resp, err := c.Do(req, bigOrigin(&calls, size, size, 0))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v; want %d", n, err, size)
	}
	if d := time.Since(start); d > 20*timeout {
		t.Errorf("reading the body took %v with a hanging stream write and a %v store timeout", d, timeout)
	}
	if s := c.Stats(); s.StoreErrors < 1 || s.Stores != 0 {
		t.Errorf("StoreErrors %d, Stores %d; want the failure counted and nothing stored", s.StoreErrors, s.Stores)
	}
}
