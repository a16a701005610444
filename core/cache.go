package core

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
)

// Cache is an RFC 9111 HTTP cache over a Store. It is safe for concurrent use
// by multiple goroutines; create one per store and share it.
type Cache struct {
	store   Store
	cfg     config
	stats   counters
	flights flightGroup
	// bindEntries is set when the codec authenticates entries: entries are
	// then checked against the request they answer (see Authenticated).
	bindEntries bool
	// streams frames streamed bodies under the codec's protection; nil
	// when the codec authenticates entries but could not protect streams
	// (no body is streamed then).
	streams *streamFormat
	// ignoredSet holds the ignored parameter names, for the key's hot path.
	ignoredSet map[string]struct{}
	bg         sync.WaitGroup
	bgMu       sync.Mutex
	bgKeys     map[string]bool
	closeMu    sync.Mutex
	isClosed   bool
}

// New returns a Cache over store configured by opts. It fails on a nil store
// and on invalid options.
func New(store Store, opts ...Option) (*Cache, error) {
	if store == nil {
		return nil, errors.New("core: New: nil store")
	}
	c := &Cache{store: store, cfg: defaultConfig(), bgKeys: map[string]bool{}}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&c.cfg); err != nil {
			return nil, err
		}
	}
	c.flights.m = map[string]*flight{}
	authenticated := false
	if a, ok := c.cfg.codec.(Authenticated); ok && a.Authenticated() {
		authenticated = true
		c.bindEntries = c.cfg.keyFunc == nil
	}
	f, err := newStreamFormat(c.cfg.codec)
	if err != nil {
		return nil, fmt.Errorf("core: New: %w", err)
	}
	if len(f.layers) > 0 || !authenticated {
		c.streams = f
	}
	c.ignoredSet = make(map[string]struct{}, len(c.cfg.ignored))
	for _, n := range c.cfg.ignored {
		c.ignoredSet[n] = struct{}{}
	}
	return c, nil
}

// Stats returns a snapshot of the cache's counters.
func (c *Cache) Stats() Stats { return c.stats.snapshot() }

// Wait blocks until every background refresh started so far has finished.
func (c *Cache) Wait() { c.bg.Wait() }

// Close waits for background refreshes and closes the store if it implements
// io.Closer. The Cache must not be used afterwards.
func (c *Cache) Close() error {
	c.closeMu.Lock()
	if c.isClosed {
		c.closeMu.Unlock()
		return nil
	}
	c.isClosed = true
	c.closeMu.Unlock()
	c.bg.Wait()
	if cl, ok := c.store.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// Error is a store or codec failure, wrapped once with the operation and key.
type Error struct {
	Op  string // "get", "set", "delete", "decode", "list", ...
	Key string
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("core: %s %s: %v", e.Op, e.Key, e.Err) }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// storeCtx applies the per-operation timeout.
func (c *Cache) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.cfg.storeTimeout > 0 {
		return context.WithTimeout(ctx, c.cfg.storeTimeout)
	}
	return ctx, func() {}
}

func (c *Cache) storeFailed(ctx context.Context, op, key string, err error) {
	if ctx.Err() != nil {
		return // the caller gave up; the store did not fail
	}
	c.stats.storeErrors.Add(1)
	c.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "hoard: store error; request fails open",
		slog.String("op", op), slog.String("key", key), slog.Any("error", err))
}

// readEntry reads and decodes key into e. A miss returns ErrNotFound; a store
// error is logged, counted and returned (the caller fails open); a corrupt
// entry is deleted, counted and reported as ErrNotFound.
func (c *Cache) readEntry(ctx context.Context, key string, e *Entry) error {
	sctx, cancel := c.storeCtx(ctx)
	data, err := c.store.Get(sctx, key)
	cancel()
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return ErrNotFound
		}
		c.storeFailed(ctx, "get", key, err)
		return &Error{Op: "get", Key: key, Err: err}
	}
	if err := c.cfg.codec.Decode(data, e); err != nil {
		c.stats.corrupt.Add(1)
		c.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "hoard: undecodable entry deleted",
			slog.String("key", key), slog.Any("error", err))
		c.deleteKey(ctx, key)
		return ErrNotFound
	}
	return nil
}

// writeEntry encodes and stores e under key; failures are logged and counted.
func (c *Cache) writeEntry(ctx context.Context, key string, e *Entry) bool {
	data, err := c.cfg.codec.Encode(e)
	if err != nil {
		c.storeFailed(ctx, "encode", key, err)
		return false
	}
	meta := Meta{Expires: e.Deletion, URL: e.URL, Method: e.Method, Status: e.Status, Size: int64(len(data)), Created: e.Created}
	sctx, cancel := c.storeCtx(ctx)
	err = c.store.Set(sctx, key, data, meta)
	cancel()
	if err != nil {
		c.storeFailed(ctx, "set", key, err)
		return false
	}
	c.stats.stores.Add(1)
	return true
}

func (c *Cache) deleteKey(ctx context.Context, key string) bool {
	sctx, cancel := c.storeCtx(ctx)
	err := c.store.Delete(sctx, key)
	cancel()
	if err != nil {
		c.storeFailed(ctx, "delete", key, err)
		return false
	}
	return true
}

// errStreamGone reports that a streamed entry's body is missing or belongs
// to another write.
var errStreamGone = errors.New("core: the stored body of a streamed entry is missing or belongs to another write")

// errStreamCorrupt reports that a streamed entry's body failed its checks;
// the entry has been deleted and counted.
var errStreamCorrupt = errors.New("core: the stored body of a streamed entry is corrupt")

// openStream opens the body of the streamed entry e stored under key and
// checks that it is the stream written with e (its StreamID), framed as the
// codec frames streams, of the exact size e.BodySize implies, and that its
// first segment is intact, before anything is served from it. A stream that
// fails those checks is corrupt: the entry is deleted and counted, and
// errStreamCorrupt returned. The reader checks every later segment before
// releasing its bytes; one that fails ends the body with an error wrapping
// ErrCorrupt and deletes the entry. The reader may depend on ctx for its
// whole life, so no per-operation timeout is applied to it.
func (c *Cache) openStream(ctx context.Context, key string, e *Entry) (io.ReadCloser, error) {
	st, ok := c.store.(Streamer)
	if !ok || c.streams == nil || e.StreamID == "" {
		return nil, errStreamGone
	}
	rc, size, err := st.OpenStream(ctx, key)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			c.storeFailed(ctx, "open stream", key, err)
		}
		return nil, errStreamGone
	}
	sr, err := c.streams.newReader(rc, key, e.StreamID, e.BodySize, size)
	switch {
	case errors.Is(err, errStreamID):
		rc.Close()
		return nil, errStreamGone
	case errors.Is(err, ErrCorrupt):
		rc.Close()
		c.streamCorrupt(ctx, key, err)
		return nil, errStreamCorrupt
	case err != nil:
		rc.Close()
		c.storeFailed(ctx, "open stream", key, err)
		return nil, errStreamGone
	}
	sr.closer = rc
	detached := context.WithoutCancel(ctx)
	sr.onCorrupt = func(err error) error {
		c.streamCorrupt(detached, key, err)
		return &Error{Op: "read stream", Key: key, Err: err}
	}
	return sr, nil
}

// streamCorrupt counts, logs and deletes an entry whose stream failed its
// checks (the delete is bounded by the store timeout).
func (c *Cache) streamCorrupt(ctx context.Context, key string, err error) {
	c.stats.corrupt.Add(1)
	c.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "hoard: corrupt streamed body; entry deleted",
		slog.String("key", key), slog.Any("error", err))
	c.deleteKey(ctx, key)
}

// newStreamID returns a random stream identifier.
func newStreamID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}
