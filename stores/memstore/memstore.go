package memstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

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
	// above that sum: each entry has its key and otter's node, and an entry
	// a Cache has read also holds that Cache's decoded form of its header
	// fields (core.SlotGetter; the body is not copied), about the size of
	// the header again.
	// DSN parameter: max_bytes (for example max_bytes=64MiB).
	MaxBytes int64
}

// Store is an in-memory core.Store bounded by Options.MaxBytes. It also
// implements core.SlotGetter (a cache decodes each value once) and
// core.SlotSetter (a value a 304 refreshed is not decoded at all), core.Lister,
// core.Clearer and io.Closer. Create it with New; the zero value is not
// usable.
type Store struct {
	cache    *otter.Cache[string, *entry]
	maxBytes int64
	closed   atomic.Bool
}

// entry is the value kept in otter. Nothing in it changes after it is
// stored, except the slot, which synchronises itself.
type entry struct {
	value []byte
	meta  core.Meta
	// slot holds the cache's decoded form of value (core.SlotGetter).
	slot core.DecodedSlot
}

var (
	_ core.Store      = (*Store)(nil)
	_ core.SlotGetter = (*Store)(nil)
	_ core.SlotSetter = (*Store)(nil)
	_ core.Lister     = (*Store)(nil)
	_ core.Clearer    = (*Store)(nil)
	_ io.Closer       = (*Store)(nil)
)

func init() {
	core.RegisterStore(Scheme, openURL)
}

// New returns an empty Store configured by opts (nil means defaults). Close
// releases it at once; a Store that is no longer referenced is collected
// even unclosed, and the clean-up goroutine it runs returns within a second.
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
	c, err := otter.New(&otter.Options[string, *entry]{
		MaximumWeight:    uint64(maxBytes),
		Weigher:          weigh,
		ExpiryCalculator: otter.ExpiryWritingFunc(lifetime),
		// Maintenance (applying the buffered reads and writes to the
		// eviction policy, evicting) runs on the goroutine that filled a
		// buffer, not on one started for it: no goroutine per drain, and a
		// write pays for the eviction it causes. Nothing the store gives
		// otter calls back into it, so running there cannot deadlock.
		Executor: func(fn func()) { fn() },
	})
	if err != nil {
		return nil, core.InvalidConfig(fmt.Errorf("memstore: %w", err))
	}
	return &Store{cache: c, maxBytes: maxBytes}, nil
}

// weigh is what an entry counts against MaxBytes: the length of its value,
// and at least 1 so that empty values are not free. Set stores nothing
// larger than MaxBytes or than the largest weight otter takes.
func weigh(_ string, e *entry) uint32 { return uint32(cost(e.value)) }

// lifetime gives a stored entry its Meta.Expires as otter's deadline; an
// entry without one stays until it is evicted.
func lifetime(e otter.Entry[string, *entry]) time.Duration {
	exp := e.Value.meta.Expires
	if exp.IsZero() {
		return math.MaxInt64 // otter saturates the deadline: never
	}
	return max(time.Until(exp), 1) // already past: gone at once
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

// get returns the live entry stored under key. otter does not return an
// entry past its deadline, which is its Meta.Expires.
func (s *Store) get(ctx context.Context, key string) (*entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: get: %w", err)
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if e, ok := s.cache.GetIfPresent(key); ok {
		return e, nil
	}
	return nil, errNotFound
}

// Set stores value under key, replacing any previous value, and takes
// ownership of value (it is not copied). A non-zero meta.Expires becomes the
// entry's deadline; one that is not in the future deletes the key. meta.Size
// is recorded as len(value). A value larger than MaxBytes (or than 4 GiB)
// is not stored: Set returns nil and the key holds no value. Otherwise the
// write is done when Set returns: a Get that follows finds the value until it
// is evicted.
func (s *Store) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	_, err := s.set(ctx, key, value, meta)
	return err
}

// SetSlot implements core.SlotSetter: Set, with the slot of the value
// stored (nil when none is: an expiry in the past, a value over the bound).
func (s *Store) SetSlot(ctx context.Context, key string, value []byte, meta core.Meta) (*core.DecodedSlot, error) {
	e, err := s.set(ctx, key, value, meta)
	if e == nil {
		return nil, err
	}
	return &e.slot, err
}

// set is Set, returning the entry stored (nil when none is).
func (s *Store) set(ctx context.Context, key string, value []byte, meta core.Meta) (*entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: set: %w", err)
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if !meta.Expires.IsZero() && !time.Now().Before(meta.Expires) {
		s.cache.Invalidate(key)
		return nil, nil
	}
	if value == nil {
		value = []byte{} // an empty value is a hit, and Get says so with a non-nil slice
	}
	if c := cost(value); c > s.maxBytes || c > math.MaxUint32 {
		// A value the bound cannot hold replaces the previous one with
		// nothing, as a rejected write does.
		s.cache.Invalidate(key)
		return nil, nil
	}
	meta.Size = int64(len(value))
	// The key and the URL share one allocation: one object fewer per entry
	// for the garbage collector to mark, which with many entries stored is
	// a good part of what a hit costs.
	ku := key + meta.URL
	e := &entry{value: value, meta: meta}
	e.meta.URL = ku[len(key):]
	s.cache.Set(ku[:len(key)], e)
	return e, nil
}

// Delete removes key. Deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: delete: %w", err)
	}
	if s.closed.Load() {
		return ErrClosed
	}
	s.cache.Invalidate(key)
	return nil
}

// List yields every live key with its Meta, sorted by key, from a snapshot
// taken when iteration starts; entries written meanwhile may or may not
// appear. Entries whose Meta.Expires has passed are not yielded. On error (a
// cancelled ctx, a closed store) List yields a zero core.Listed with the
// error and stops.
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
	if s.closed.Load() {
		return ErrClosed
	}
	s.cache.InvalidateAll()
	return nil
}

// Close releases the store's memory and stops otter's clean-up goroutine.
// After Close every other method returns ErrClosed (a call already under way
// may still finish); closing again returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cache.StopAllGoroutines()
	s.cache.InvalidateAll()
	return nil
}

// snapshot lists the live entries, sorted by key.
func (s *Store) snapshot(ctx context.Context) ([]core.Listed, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: list: %w", err)
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	// Apply the buffered writes first, evictions included, so that what is
	// listed fits in MaxBytes.
	s.cache.CleanUp()
	items := make([]core.Listed, 0, s.cache.EstimatedSize())
	for k, e := range s.cache.All() {
		items = append(items, core.Listed{Key: k, Meta: e.meta})
	}
	slices.SortFunc(items, func(a, b core.Listed) int { return strings.Compare(a.Key, b.Key) })
	return items, nil
}

// cost is what an entry counts against MaxBytes: its length, and at least 1
// so that empty values are not free.
func cost(value []byte) int64 { return max(int64(len(value)), 1) }

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
