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
	"time"
)

// Cache is an RFC 9111 HTTP cache over a Store. It is safe for concurrent use
// by multiple goroutines; create one per store and share it.
type Cache struct {
	store Store
	local LocalGetter // store's, when it implements it (local.go)
	// localSlots is the store's LocalSlotGetter, when it is one.
	localSlots LocalSlotGetter
	// slots is the store's SlotGetter, when it implements it, and owner
	// marks the decoded forms this Cache keeps in its slots (local.go).
	slots SlotGetter
	// slotSets is the store's SlotSetter, when it implements it and the
	// codec is BinaryCodec (see SlotSetter).
	slotSets SlotSetter
	// views is the store's ViewGetter, when it implements it (view.go).
	views   ViewGetter
	owner   *slotOwner
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
	// ignoredSet holds the ignored parameter names, for the key's hot path;
	// bit n of ignoredLens is set when one of them is n bytes long (n < 64),
	// so that most names are ruled out without hashing them.
	ignoredSet  map[string]struct{}
	ignoredLens uint64
	// keys remembers the primary keys of recent requests (keymemo.go).
	keys *keyMemo
	// gate lets Close wait for the store calls in progress and refuse
	// later ones.
	gate *gate
	// bgKeys holds the keys of the background refreshes running (one per
	// key), guarded by bgMu; bgIdle is signalled when it empties. bgStop
	// cancels the context they run on.
	bgMu      sync.Mutex
	bgKeys    map[string]bool
	bgIdle    sync.Cond
	bgCtx     context.Context
	bgStop    context.CancelFunc
	closeOnce sync.Once
	// breaker, timeout and logLimit serve call, through which every store
	// call goes (storecall.go).
	breaker  *breaker
	timeout  time.Duration
	logLimit logLimiter
	// leases coalesces misses across processes (WithLeaseWait, lease.go);
	// nil when off.
	leases *leases
}

// New returns a Cache over store configured by opts. It fails on a nil store
// and on invalid options.
func New(store Store, opts ...Option) (*Cache, error) {
	if store == nil {
		return nil, errors.New("core: New: nil store")
	}
	c := &Cache{store: store, cfg: defaultConfig(), bgKeys: map[string]bool{}, gate: newGate()}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&c.cfg); err != nil {
			return nil, err
		}
	}
	c.breaker = newBreaker(c.cfg.breaker)
	c.timeout = storeTimeout(&c.cfg, store)
	c.local, _ = store.(LocalGetter)
	c.localSlots = localSlotGetter(store)
	c.slots = slotGetter(store)
	c.slotSets = slotSetter(store, c.cfg.codec)
	c.views = viewGetter(store)
	c.owner = new(slotOwner)
	c.logLimit.now = time.Now
	c.flights.m = map[string]*flight{}
	c.leases = newLeases(c)
	c.bgCtx, c.bgStop = context.WithCancel(context.Background())
	c.bgIdle.L = &c.bgMu
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
	c.keys = newKeyMemo()
	c.ignoredSet = make(map[string]struct{}, len(c.cfg.ignored))
	for _, n := range c.cfg.ignored {
		c.ignoredSet[n] = struct{}{}
		if len(n) < 64 {
			c.ignoredLens |= 1 << len(n)
		}
	}
	return c, nil
}

// Stats returns a snapshot of the cache's counters.
func (c *Cache) Stats() Stats {
	s := c.stats.snapshot()
	s.Breaker = c.breaker.stats()
	return s
}

// Wait blocks until no background refresh is running. It may be called
// while requests start new ones.
func (c *Cache) Wait() {
	c.bgMu.Lock()
	for len(c.bgKeys) > 0 {
		c.bgIdle.Wait()
	}
	c.bgMu.Unlock()
}

// Close shuts the cache down and closes the store if it implements
// io.Closer. It cancels the background refreshes in flight and waits for
// them, and waits for the store calls in progress (each bounded by its
// context and WithStoreTimeout); it does not wait for origin requests or for
// response bodies callers still hold.
//
// Once Close has begun nothing the Cache does touches the store. Do passes
// every request through to the origin (Cache-Status "hoard; fwd=bypass;
// detail=closed"), starts no background refresh and stores nothing; Lookup
// reports Bypass; Store and Revalidate return the origin's response (or
// error) unchanged but for that Cache-Status; Delete, DeleteURL, Contains,
// Clear, Entries, DeleteExpired, DeleteOlderThan and ResetExpiration fail
// with ErrClosed. A body being streamed into the store when Close is called
// is not stored (its stream is aborted when the body ends or is closed); a
// streamed hit handed out before Close reads through the reader the store
// opened for it, which the store may fail once closed. Stats and Wait keep
// working. Close returns the store's Close error; calling it again waits for
// the first call to finish and returns nil.
func (c *Cache) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.gate.close() // no refresh starts from now on (see refreshInBackground)
		c.bgStop()
		c.Wait()
		c.gate.drain()
		c.leases.stop()
		if cl, ok := c.store.(io.Closer); ok {
			err = cl.Close()
		}
	})
	return err
}

// Error is a store or codec failure, wrapped once with the operation and key.
type Error struct {
	Op  string // "get", "set", "delete", "decode", "list", ...
	Key string
	Err error
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("core: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("core: %s %s: %v", e.Op, e.Key, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// readEntry reads and decodes key into e. A miss returns ErrNotFound; a store
// error is logged, counted and returned (the caller fails open); a corrupt
// entry (one the store's integrity check or the codec rejects) is deleted,
// counted and reported as ErrNotFound. A value read with its DecodedSlot
// (SlotGetter) is decoded on its first read only; one a ViewGetter lends is
// decoded in place, and only its body copied out.
func (c *Cache) readEntry(ctx context.Context, key string, e *Entry) error {
	data, slot, ok := c.getLocal(ctx, key)
	var err error
	viewed, decodeErr := false, error(nil) // read through GetView; the codec's error
	if !ok {
		err = c.call(ctx, "get", key, onRequest, func(ctx context.Context) (err error) {
			switch {
			case c.slots != nil:
				data, slot, err = c.slots.GetSlot(ctx, key)
			case c.views != nil:
				r := newViewRead(c.cfg.codec, e)
				if err = c.views.GetView(ctx, key, r.fn); err == nil && !r.called {
					err = errNoLoan // a store breaking the contract
				}
				viewed, decodeErr = true, r.decodeErr
				r.release()
			default:
				data, err = c.store.Get(ctx, key)
			}
			return err
		})
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		return ErrNotFound
	case errors.Is(err, ErrCorrupt):
		c.corrupted(ctx, key, err)
		return ErrNotFound
	default:
		return &Error{Op: "get", Key: key, Err: err}
	}
	if slot != nil {
		return c.fromSlot(ctx, key, data, slot, e)
	}
	if viewed {
		if decodeErr != nil {
			c.corrupted(ctx, key, decodeErr)
			return ErrNotFound
		}
		return nil
	}
	if err := c.cfg.codec.Decode(data, e); err != nil {
		c.corrupted(ctx, key, err)
		return ErrNotFound
	}
	return nil
}

// corrupted counts, logs and deletes a key whose entry or stream is corrupt.
func (c *Cache) corrupted(ctx context.Context, key string, err error) {
	c.stats.corrupt.Add(1)
	c.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "hoard: corrupt entry deleted",
		slog.String("key", key), slog.Any("error", err))
	c.deleteKey(ctx, key)
}

// writeEntry encodes and stores e under key; failures are logged and counted.
func (c *Cache) writeEntry(ctx context.Context, key string, e *Entry) bool {
	return c.setEntry(ctx, key, e) == nil
}

// setEntry encodes and stores e under key, returning the error; failures are
// logged and counted.
func (c *Cache) setEntry(ctx context.Context, key string, e *Entry) error {
	return c.set(ctx, key, e, false)
}

// writeRead is writeEntry for an entry about to be read again: with a
// SlotSetter store, its decoded form goes into the new value's slot.
func (c *Cache) writeRead(ctx context.Context, key string, e *Entry) bool {
	return c.set(ctx, key, e, c.slotSets != nil && e.Variants == nil) == nil
}

// set is setEntry, filling the stored value's slot from e when prime.
func (c *Cache) set(ctx context.Context, key string, e *Entry, prime bool) error {
	data, err := c.cfg.codec.Encode(e)
	if err != nil {
		c.storeFailed(ctx, "encode", key, err)
		return &Error{Op: "encode", Key: key, Err: err}
	}
	meta := Meta{Expires: e.Deletion, URL: e.URL, Method: e.Method, Status: e.Status, Size: int64(len(data)), Created: e.Created}
	var slot *DecodedSlot
	err = c.call(ctx, "set", key, onRequest, func(ctx context.Context) (err error) {
		if prime {
			slot, err = c.slotSets.SetSlot(ctx, key, data, meta)
			return err
		}
		return c.store.Set(ctx, key, data, meta)
	})
	if err != nil {
		return &Error{Op: "set", Key: key, Err: err}
	}
	if slot != nil {
		slot.p.Store(binaryDecoded(c.owner, e, data))
	}
	c.stats.stores.Add(1)
	return nil
}

func (c *Cache) deleteKey(ctx context.Context, key string) bool {
	return c.call(ctx, "delete", key, onRequest, func(ctx context.Context) error {
		return c.store.Delete(ctx, key)
	}) == nil
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
// whole life, so the store timeout bounds the opening (and the first
// segment's read) only.
func (c *Cache) openStream(ctx context.Context, key string, e *Entry) (io.ReadCloser, error) {
	sr, err := c.openStreamAt(ctx, key, e, 0)
	if err != nil {
		return nil, err
	}
	return sr, nil
}

// openStreamAt is openStream starting at segment first (see
// streamFormat.newReaderAt), for a Range request.
func (c *Cache) openStreamAt(ctx context.Context, key string, e *Entry, first uint64) (*sealedReader, error) {
	st, ok := c.store.(Streamer)
	if !ok || c.streams == nil || e.StreamID == "" {
		return nil, errStreamGone
	}
	var sr *sealedReader
	var idErr error
	err := c.call(ctx, "open stream", key, unbounded, func(context.Context) error {
		octx, cancel := context.WithCancel(ctx)
		keep := false // the reader is handed out and cancels octx when closed
		defer func() {
			if !keep {
				cancel()
			}
		}()
		var timer *time.Timer
		if c.timeout > 0 {
			timer = time.AfterFunc(c.timeout, cancel)
		}
		rc, size, err := st.OpenStream(octx, key)
		if err == nil {
			if sr, err = c.streams.newReaderAt(rc, key, e.StreamID, e.BodySize, size, first); err != nil {
				rc.Close()
			}
		}
		if timer != nil && !timer.Stop() && ctx.Err() == nil {
			if err == nil {
				rc.Close()
			}
			sr = nil
			return fmt.Errorf("%w after %v: %w", errStoreTimeout, c.timeout, octx.Err())
		}
		if err == nil {
			sr.closer, keep = cancelCloser{rc, cancel}, true
		}
		if errors.Is(err, errStreamID) {
			idErr = err // the store answered: not a failure
			return nil
		}
		return err
	})
	switch {
	case idErr != nil:
		return nil, errStreamGone
	case err == nil:
	case errors.Is(err, ErrNotFound):
		return nil, errStreamGone
	case errors.Is(err, ErrCorrupt):
		c.corrupted(ctx, key, err)
		return nil, errStreamCorrupt
	default:
		return nil, errStreamGone
	}
	detached := context.WithoutCancel(ctx)
	sr.onCorrupt = func(err error) error {
		c.corrupted(detached, key, err)
		return &Error{Op: "read stream", Key: key, Err: err}
	}
	return sr, nil
}

// cancelCloser closes a stream reader and then releases its context.
type cancelCloser struct {
	io.Closer
	cancel context.CancelFunc
}

func (c cancelCloser) Close() error {
	err := c.Closer.Close()
	c.cancel()
	return err
}

// newStreamID returns a random stream identifier.
func newStreamID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}
