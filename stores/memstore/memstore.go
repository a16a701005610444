package memstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"iter"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/hoardhttp/hoard/core"
)

// Scheme is the DSN scheme the package registers with core.RegisterStore:
// core.OpenStore(ctx, "mem://?max_bytes=64MiB") opens a *Store.
const Scheme = "mem"

// DefaultMaxBytes is the size bound used when Options.MaxBytes is 0: 64 MiB.
const DefaultMaxBytes int64 = 64 << 20

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("memstore: closed")

// errNotFound is what Get returns on a miss: core.ErrNotFound with the
// package prefix, built once so that a miss does not allocate.
var errNotFound = fmt.Errorf("memstore: %w", core.ErrNotFound)

// Options configures a Store. A nil *Options means all defaults. Each field
// is mirrored by a DSN parameter (see the package documentation).
type Options struct {
	// MaxBytes bounds the sum of the lengths of the stored values, in bytes.
	// 0 means DefaultMaxBytes; a negative value is an error. Memory use is
	// above that sum: each entry has its key and index record, and an entry
	// a Cache has read also holds that Cache's decoded form of its header
	// fields (core.SlotGetter; the body is not copied), about the size of
	// the header again.
	// DSN parameter: max_bytes (for example max_bytes=64MiB).
	MaxBytes int64
}

// Store is an in-memory core.Store bounded by Options.MaxBytes. It also
// implements core.SlotGetter (a cache decodes each value once), core.Lister,
// core.Clearer and io.Closer. Create it with New; the zero value is not
// usable.
type Store struct {
	cache    *ristretto.Cache[string, *entry]
	maxBytes int64

	// life is held for reading by every operation and for writing by Clear
	// and Close, which ristretto does not allow to run concurrently with
	// other calls.
	life   sync.RWMutex
	closed bool

	// keyLocks serialise writes to the same key, so that a later Set always
	// wins and the index below always describes what ristretto holds.
	seed     maphash.Seed
	keyLocks [numKeyLocks]sync.Mutex

	// mu guards index, the listing side of the store: the entry ristretto
	// holds (or is about to hold) for each key. It is never held while
	// calling into ristretto, because ristretto calls forget, which takes it.
	mu    sync.Mutex
	index map[string]*entry
}

// entry is the value kept in ristretto. It carries its key so that the
// eviction callback can find the index entry. Only gone changes after it is
// created.
type entry struct {
	key   string
	value []byte
	meta  core.Meta
	// gone is set when the entry is deleted or overwritten. ristretto
	// applies writes in order but later than Set returns, so an entry
	// written before a Delete or an overwrite can still appear in it for a
	// moment afterwards; Get ignores it then.
	gone atomic.Bool
	// slot holds the cache's decoded form of value (core.SlotGetter).
	slot core.DecodedSlot
}

const (
	numKeyLocks = 64
	// NumCounters (ristretto's frequency counters) is about ten per expected
	// entry, assuming entries of 1 KiB, within these bounds.
	minCounters = 10_000
	maxCounters = 10_000_000
	// bufferItems is the size of ristretto's Get buffers: every Get records
	// its key in one, and a full buffer is handed to the policy goroutine,
	// waking it. At ristretto's recommended 64 those wake-ups (a futex call
	// and a scheduler round on an idle core) were 15-20% of the CPU time of a
	// hit through the Cache; at 1024 they are a sixteenth of that, and the
	// admission policy sees the same accesses, a little later.
	bufferItems = 1024
)

var (
	_ core.Store      = (*Store)(nil)
	_ core.SlotGetter = (*Store)(nil)
	_ core.Lister     = (*Store)(nil)
	_ core.Clearer    = (*Store)(nil)
	_ io.Closer       = (*Store)(nil)
)

func init() {
	core.RegisterStore(Scheme, openURL)
}

// New returns an empty Store configured by opts (nil means defaults). Close
// it to stop ristretto's background goroutines.
func New(opts *Options) (*Store, error) {
	maxBytes := DefaultMaxBytes
	if opts != nil {
		if opts.MaxBytes < 0 {
			return nil, core.InvalidConfig(fmt.Errorf("memstore: MaxBytes is %d; want 0 (the default) or more", opts.MaxBytes))
		}
		if opts.MaxBytes > 0 {
			maxBytes = opts.MaxBytes
		}
	}
	s := &Store{
		maxBytes: maxBytes,
		seed:     maphash.MakeSeed(),
		index:    make(map[string]*entry),
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, *entry]{
		NumCounters:        min(max(maxBytes/1024*10, minCounters), maxCounters),
		MaxCost:            maxBytes,
		BufferItems:        bufferItems,
		IgnoreInternalCost: true,
		// ristretto calls OnExit for every value that leaves the cache:
		// after an eviction and after a rejection (it chains OnEvict and
		// OnReject to it), for the previous value of an overwritten key,
		// and for a deleted or cleared value. One callback keeps the index
		// consistent in all those cases.
		OnExit: s.forget,
	})
	if err != nil {
		return nil, core.InvalidConfig(fmt.Errorf("memstore: %w", err))
	}
	s.cache = c
	return s, nil
}

// MaxBytes reports the size bound of the store in bytes.
func (s *Store) MaxBytes() int64 { return s.maxBytes }

// Get returns the value stored under key: the stored slice itself, which
// neither the caller nor the store may modify. A missing or expired key
// gives an error wrapping core.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := s.get(ctx, key)
	if err != nil {
		return nil, err
	}
	return e.value, nil
}

// GetSlot implements core.SlotGetter: Get, with the slot in which the cache
// keeps its decoded form of the value returned. Every value stored has a
// slot of its own.
func (s *Store) GetSlot(ctx context.Context, key string) ([]byte, *core.DecodedSlot, error) {
	e, err := s.get(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	return e.value, &e.slot, nil
}

// SlotStore implements core.SlotGetter: the store itself, so that a store
// embedding this one is read through its own Get.
func (s *Store) SlotStore() core.Store { return s }

// get returns the live entry stored under key.
func (s *Store) get(ctx context.Context, key string) (*entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: get: %w", err)
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	e, ok := s.cache.Get(key)
	// ristretto identifies keys by two 64-bit hashes; comparing the key
	// rules out a collision for the price of a string comparison. ristretto
	// itself does not return an item past its TTL (Set gives every entry
	// with a deletion time one), so no second clock read is needed here.
	if ok && e != nil && e.key == key && !e.gone.Load() {
		return e, nil
	}
	// ristretto applies a new entry from its own goroutine, some time after
	// SetWithTTL returns, and Set does not wait for it. Until then the entry
	// is in the index only: read it there, so that a Get after a Set sees
	// the value written.
	if e := s.pending(key); e != nil {
		return e, nil
	}
	return nil, errNotFound
}

// pending returns the live entry the index holds for key, or nil: the entry
// of a Set that ristretto has not applied yet (or has just evicted, which
// is as good as a hit a moment earlier). Only a miss in ristretto pays for
// the lock and, for an entry with an expiry, the clock read.
func (s *Store) pending(key string) *entry {
	s.mu.Lock()
	e := s.index[key]
	s.mu.Unlock()
	if e == nil || (!e.meta.Expires.IsZero() && expired(e.meta.Expires, time.Now())) {
		return nil
	}
	return e
}

// Set stores value under key, replacing any previous value, and takes
// ownership of value (it is not copied). A non-zero meta.Expires becomes the
// entry's TTL; one that is not in the future deletes the key. meta.Size is
// recorded as len(value). When the admission policy rejects the entry, or it
// is larger than MaxBytes, Set returns nil and the key holds no value. Set
// does not wait for ristretto to apply the write, yet a Get that follows it
// sees the value (until the entry is evicted or rejected).
func (s *Store) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: set: %w", err)
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return ErrClosed
	}
	var ttl time.Duration
	if !meta.Expires.IsZero() {
		ttl = time.Until(meta.Expires)
		if ttl <= 0 {
			s.delete(key)
			return nil
		}
	}
	if value == nil {
		value = []byte{} // an empty value is a hit, and Get says so with a non-nil slice
	}
	if cost(value) > s.maxBytes {
		// ristretto would reject it when applying it; since Set does not
		// wait for that, Get must not find it meanwhile.
		s.delete(key)
		return nil
	}
	meta.Size = int64(len(value))
	// The key and the URL share one allocation: one object fewer per entry
	// for the garbage collector to mark, which with many entries stored is
	// a good part of what a hit costs.
	ku := key + meta.URL
	e := &entry{key: ku[:len(key)], value: value, meta: meta}
	e.meta.URL = ku[len(key):]
	key = e.key

	kl := s.keyLock(key)
	kl.Lock()
	defer kl.Unlock()

	s.mu.Lock()
	old := s.index[key]
	s.index[key] = e
	s.mu.Unlock()
	if old != nil {
		old.gone.Store(true)
		// ristretto's policy rejects a new entry whose key it already
		// tracks. When the previous write is still queued, this one would
		// reach the policy as a second new key and be dropped: let the queue
		// drain first. Rewrites of an applied entry (the common case, as
		// after a revalidation) do not wait.
		if _, applied := s.cache.GetTTL(key); !applied {
			s.cache.Wait()
		}
	}

	// ristretto replaces an existing value in place and only adjusts the
	// cost, without evicting anything. That is fine when the value does not
	// grow; a larger value must go through admission and eviction like a
	// new one, or overwrites could push the total past MaxBytes.
	if old != nil && cost(value) > cost(old.value) {
		s.cache.Del(key)
	}
	if !s.cache.SetWithTTL(key, e, cost(value), ttl) {
		// Dropped under contention: not an error for a cache, but the
		// index must not list it.
		s.forget(e)
		return nil
	}
	// ristretto applies the entry asynchronously. Set does not wait for it
	// (a wait is a round trip to ristretto's goroutine, most of the cost of
	// a miss): Get finds the entry in the index meanwhile, and a rejection
	// by the admission policy reaches forget when ristretto decides it.
	return nil
}

// Delete removes key. Deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: delete: %w", err)
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.delete(key)
	return nil
}

// List yields every live key with its Meta, sorted by key, from a snapshot
// taken when iteration starts; entries written meanwhile may or may not
// appear. Entries whose Meta.Expires has passed are not yielded, and are
// removed from the store. On error (a cancelled ctx, a closed store) List
// yields a zero core.Listed with the error and stops.
func (s *Store) List(ctx context.Context) iter.Seq2[core.Listed, error] {
	return func(yield func(core.Listed, error) bool) {
		items, err := s.snapshot(ctx)
		if err != nil {
			yield(core.Listed{}, err)
			return
		}
		for _, it := range items {
			if err := ctx.Err(); err != nil {
				yield(core.Listed{}, fmt.Errorf("memstore: list: %w", err))
				return
			}
			if !yield(it, nil) {
				return
			}
		}
	}
}

// Clear removes every entry.
func (s *Store) Clear(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: clear: %w", err)
	}
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.cache.Clear()
	s.mu.Lock()
	for _, e := range s.index {
		e.gone.Store(true)
	}
	clear(s.index)
	s.mu.Unlock()
	return nil
}

// Close releases the store's memory and stops ristretto's goroutines. After
// Close every other method returns ErrClosed; closing again returns nil.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.cache.Close()
	s.mu.Lock()
	s.index = nil
	s.mu.Unlock()
	return nil
}

// delete removes key from the index and from ristretto. The caller holds
// s.life for reading.
func (s *Store) delete(key string) {
	kl := s.keyLock(key)
	kl.Lock()
	defer kl.Unlock()
	s.mu.Lock()
	e := s.index[key]
	delete(s.index, key)
	s.mu.Unlock()
	if e != nil {
		e.gone.Store(true) // in case ristretto has not applied it yet
		// ristretto's Del removes the key at once and queues the removal
		// for its policy. A write of the key still queued would be applied
		// after the first step and before the second; a Set right after
		// this Delete would then update that entry in place, and the
		// queued removal would take the new value with it (set, delete,
		// set lost the last write: TestReadYourWrites). Let the queue
		// drain first; only a Delete right after a Set pays for it.
		if _, applied := s.cache.GetTTL(key); !applied {
			s.cache.Wait()
		}
	}
	s.cache.Del(key) // immediate for Get; ristretto updates its policy later
}

// snapshot copies the live part of the index, sorted by key, and removes the
// expired part from the store.
func (s *Store) snapshot(ctx context.Context) ([]core.Listed, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: list: %w", err)
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	// Let ristretto apply the writes it has queued, so that the index
	// holds exactly what ristretto admitted (rejections and evictions
	// reach forget before Wait returns).
	s.cache.Wait()
	now := time.Now()
	var stale []*entry
	s.mu.Lock()
	items := make([]core.Listed, 0, len(s.index))
	for k, e := range s.index {
		if expired(e.meta.Expires, now) {
			stale = append(stale, e)
			continue
		}
		items = append(items, core.Listed{Key: k, Meta: e.meta})
	}
	s.mu.Unlock()
	for _, e := range stale {
		s.prune(e)
	}
	slices.SortFunc(items, func(a, b core.Listed) int { return strings.Compare(a.Key, b.Key) })
	return items, nil
}

// prune removes the expired entry e, unless its key has been written since.
// The caller holds s.life for reading.
func (s *Store) prune(e *entry) {
	kl := s.keyLock(e.key)
	kl.Lock()
	defer kl.Unlock()
	s.mu.Lock()
	current := s.index[e.key] == e
	if current {
		delete(s.index, e.key)
	}
	s.mu.Unlock()
	if current {
		e.gone.Store(true)
		s.cache.Del(e.key)
	}
}

// forget drops e from the index if the index still points at it. ristretto
// calls it for every value that leaves the cache, from its own goroutine or
// from the caller's.
func (s *Store) forget(e *entry) {
	if e == nil {
		return
	}
	s.mu.Lock()
	if s.index[e.key] == e {
		delete(s.index, e.key)
	}
	s.mu.Unlock()
}

func (s *Store) keyLock(key string) *sync.Mutex {
	return &s.keyLocks[maphash.String(s.seed, key)%numKeyLocks]
}

// cost is what an entry counts against MaxBytes: its length, and at least 1
// so that empty values are not free.
func cost(value []byte) int64 { return max(int64(len(value)), 1) }

func expired(expires, now time.Time) bool {
	return !expires.IsZero() && !now.Before(expires)
}

// openURL is the core.StoreOpener for Scheme.
func openURL(ctx context.Context, u *url.URL) (core.Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, core.Unavailable(fmt.Errorf("memstore: open: %w", err))
	}
	opts, err := optionsFromURL(u)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// dsnParams lists the DSN parameters, each mirroring an Options field.
var dsnParams = []string{"max_bytes"}

// optionsFromURL turns a mem:// DSN into Options.
func optionsFromURL(u *url.URL) (*Options, error) {
	dsn := core.RedactDSN(u)
	switch {
	case u.Opaque != "":
		return nil, fmt.Errorf("memstore: DSN %q: unexpected %q after the scheme; want mem://?max_bytes=...", dsn, u.Opaque)
	case u.User != nil:
		return nil, fmt.Errorf("memstore: DSN %q: a memory store takes no user information", dsn)
	case u.Host != "":
		return nil, fmt.Errorf("memstore: DSN %q: a memory store takes no host (got %q)", dsn, u.Host)
	case u.Path != "":
		return nil, fmt.Errorf("memstore: DSN %q: a memory store takes no path (got %q)", dsn, u.Path)
	case u.Fragment != "":
		return nil, fmt.Errorf("memstore: DSN %q: unexpected fragment %q", dsn, u.Fragment)
	}
	q, err := core.DSNParams(u, dsnParams...)
	if err != nil {
		return nil, fmt.Errorf("memstore: DSN %q: %w", dsn, err)
	}
	opts := &Options{}
	if v, ok := q["max_bytes"]; ok {
		n, err := core.ParseSize(v)
		if err != nil {
			return nil, fmt.Errorf("memstore: DSN %q: parameter max_bytes: %w", dsn, err)
		}
		opts.MaxBytes = n
	}
	return opts, nil
}

// StoreTimeout implements core.TimeoutHinter: an in-process store needs no
// per-operation timeout (its calls never wait on I/O).
func (s *Store) StoreTimeout() time.Duration { return 0 }
