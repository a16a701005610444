package tiered

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"iter"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// DefaultMaxL1Age is the longest a value stays in L1 when Options.MaxL1Age
// is zero and L2 does not implement core.Invalidator: the staleness bound
// of a value another process overwrote or deleted in L2.
const DefaultMaxL1Age = time.Second

// DefaultMaxL1AgeInvalidated is the default MaxL1Age when L2 implements
// core.Invalidator: invalidation, not age, keeps L1 coherent then, and the
// age only bounds how long a value read from L2 (whose deletion time Get
// does not return) outlives L2's copy.
const DefaultMaxL1AgeInvalidated = time.Minute

// shards is the number of version counters and write locks keys hash to.
const shards = 256

// Options configures a Store. The zero value (or nil) gives the defaults.
type Options struct {
	// MaxL1Age bounds how long a value stays in L1 after it was written or
	// read from L2. 0 means DefaultMaxL1Age, or DefaultMaxL1AgeInvalidated
	// when L2 implements core.Invalidator; a negative value is an error.
	MaxL1Age time.Duration
	// Logger receives the subscription's losses and restorations; nil
	// means slog.Default().
	Logger *slog.Logger
}

// Store is a core.Store made of an in-process L1 in front of a shared L2.
// Create it with New. It implements core.Lister, core.FilterLister,
// core.Clearer, core.Leaser, core.TimeoutHinter and io.Closer by way of L2
// (each says core.ErrNotSupported when L2 does not implement it); New returns
// a *StreamStore, which adds core.Streamer, when L2 implements it.
type Store struct {
	l1      core.Store
	l1Clear core.Clearer
	// l1Local reads L1 without I/O: set when L1 is in-process (see
	// GetLocal), nil otherwise.
	l1Local func(key string) ([]byte, *core.DecodedSlot, bool)
	l2      core.Store
	maxAge  time.Duration
	log     *slog.Logger
	seed    maphash.Seed

	// versions[i] counts the changes to the keys of shard i; epoch counts
	// the changes to every key. A value read from L2 is kept in L1 only if
	// neither moved between before the read and after the L1 write, so an
	// invalidation that arrives meanwhile is never undone by it.
	versions [shards]atomic.Uint64
	epoch    atomic.Uint64
	// locks serialise this process's writes of the keys of a shard, so
	// that L1 ends with the value of the last L2 write.
	locks [shards]sync.Mutex
	// bypass is set while the invalidation subscription is lost: L1 is
	// then neither read nor filled.
	bypass atomic.Bool

	stop      func()
	closeOnce sync.Once
	closeErr  error
}

// StreamStore is a Store over an L2 that implements core.Streamer. Streams
// go to L2 only: L1 never holds them.
type StreamStore struct {
	*Store
	streams core.Streamer
}

var (
	_ core.Store           = (*Store)(nil)
	_ core.FilterLister    = (*Store)(nil)
	_ core.Clearer         = (*Store)(nil)
	_ core.TimeoutHinter   = (*Store)(nil)
	_ core.LocalGetter     = (*Store)(nil)
	_ core.LocalSlotGetter = (*Store)(nil)
	_ core.Leaser          = (*Store)(nil)
	_ io.Closer            = (*Store)(nil)
	_ core.Streamer        = (*StreamStore)(nil)
)

// New returns a store that reads l1, then l2 (keeping what it reads in l1),
// and writes and deletes in l2, then l1. l1 must implement core.Clearer
// (memstore does). When l2 implements core.Invalidator, New subscribes to
// it: another process's change of a key drops this process's L1 copy, and a
// lost subscription drops all of L1 and bypasses it until restored. The
// result is a *Store, or a *StreamStore when l2 implements core.Streamer.
// Close closes both tiers.
func New(l1, l2 core.Store, opts *Options) (core.Store, error) {
	s, err := newStore(l1, l2, opts)
	if err != nil {
		return nil, err
	}
	if st, ok := l2.(core.Streamer); ok {
		return &StreamStore{Store: s, streams: st}, nil
	}
	return s, nil
}

func newStore(l1, l2 core.Store, opts *Options) (*Store, error) {
	if l1 == nil || l2 == nil {
		return nil, core.InvalidConfig(errors.New("tiered: New needs an L1 and an L2 store"))
	}
	cl, ok := l1.(core.Clearer)
	if !ok {
		return nil, core.InvalidConfig(fmt.Errorf("tiered: L1 %T does not implement core.Clearer", l1))
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxL1Age < 0 {
		return nil, core.InvalidConfig(fmt.Errorf("tiered: MaxL1Age is %v; want 0 (the default) or more", o.MaxL1Age))
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Store{l1: l1, l1Clear: cl, l2: l2, maxAge: o.MaxL1Age, log: o.Logger, seed: maphash.MakeSeed()}
	s.l1Local = localReader(l1)
	invalidates := false
	if inv, ok := l2.(core.Invalidator); ok {
		// An L2 that can invalidate but is not set up to says
		// core.ErrNotSupported: it is then an L2 without invalidation.
		stop, err := inv.Subscribe(context.Background(), s.invalidate)
		switch {
		case err == nil:
			s.stop, invalidates = stop, true
		case !errors.Is(err, core.ErrNotSupported):
			return nil, fmt.Errorf("tiered: subscribing to L2's invalidations: %w", err)
		}
	}
	switch {
	case s.maxAge > 0:
	case invalidates:
		s.maxAge = DefaultMaxL1AgeInvalidated
	default:
		s.maxAge = DefaultMaxL1Age
	}
	return s, nil
}

// MaxL1Age reports how long a value stays in L1 at most (Options.MaxL1Age
// with its default applied).
func (s *Store) MaxL1Age() time.Duration { return s.maxAge }

// shard returns the shard of key.
func (s *Store) shard(key string) int {
	return int(maphash.String(s.seed, key) % shards)
}

// version returns a number that changes whenever shard i or every key is
// invalidated.
func (s *Store) version(i int) uint64 {
	return s.versions[i].Load() + s.epoch.Load()
}

// Get returns L1's copy of key, or else L2's, which it keeps in L1 for at
// most MaxL1Age.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if !s.bypass.Load() {
		if v, err := s.l1.Get(ctx, key); err == nil {
			return v, nil
		}
	}
	i := s.shard(key)
	ver := s.version(i)
	v, err := s.l2.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	s.keep(ctx, key, v, core.Meta{}, i, ver)
	return v, nil
}

// localReader returns a reader of l1 that does no I/O: l1's GetLocal when
// it implements core.LocalGetter, its GetSlot (a core.SlotGetter) or else
// its Get when it hints a zero store timeout (core.TimeoutHinter: an
// in-process store, such as memstore), nil otherwise.
func localReader(l1 core.Store) func(string) ([]byte, *core.DecodedSlot, bool) {
	if lg, ok := l1.(core.LocalGetter); ok {
		return func(key string) ([]byte, *core.DecodedSlot, bool) {
			v, ok := lg.GetLocal(key)
			return v, nil, ok
		}
	}
	h, ok := l1.(core.TimeoutHinter)
	if !ok || h.StoreTimeout() != 0 {
		return nil
	}
	ctx := context.Background()
	// A store that embeds a SlotGetter and overrides Get is read with its
	// Get (see core.SlotGetter).
	if sg, ok := l1.(core.SlotGetter); ok && reflect.TypeOf(l1).Comparable() && sg.SlotStore() == l1 {
		return func(key string) ([]byte, *core.DecodedSlot, bool) {
			v, slot, err := sg.GetSlot(ctx, key)
			return v, slot, err == nil
		}
	}
	return func(key string) ([]byte, *core.DecodedSlot, bool) {
		v, err := l1.Get(ctx, key)
		return v, nil, err == nil
	}
}

// GetLocal implements core.LocalGetter: it returns L1's copy of key, when
// L1 is in-process (it implements core.LocalGetter itself, or hints a zero
// store timeout, as memstore does) and the invalidation subscription is not
// lost. The Cache then serves a hit from L1 without a store timeout of its
// own, while L2's (StoreTimeout) still bounds every read that goes to L2.
func (s *Store) GetLocal(key string) ([]byte, bool) {
	v, _, ok := s.GetLocalSlot(key)
	return v, ok
}

// GetLocalSlot implements core.LocalSlotGetter: GetLocal, with the slot L1
// keeps next to the value when L1 is a core.SlotGetter (memstore), so that
// the Cache decodes an L1 value on its first read only.
func (s *Store) GetLocalSlot(key string) ([]byte, *core.DecodedSlot, bool) {
	if s.l1Local == nil || s.bypass.Load() {
		return nil, nil, false
	}
	return s.l1Local(key)
}

// SlotStore implements core.LocalSlotGetter: the store itself.
func (s *Store) SlotStore() core.Store { return s }

// keep writes value in L1 unless shard i's version moved from ver, the
// subscription is lost or the value is expired, and removes it again when
// the version moved while it was written.
func (s *Store) keep(ctx context.Context, key string, value []byte, meta core.Meta, i int, ver uint64) {
	limit := time.Now().Add(s.maxAge)
	if meta.Expires.IsZero() || meta.Expires.After(limit) {
		meta.Expires = limit
	}
	if s.bypass.Load() || s.version(i) != ver {
		return
	}
	if err := s.l1.Set(ctx, key, value, meta); err != nil {
		s.drop(ctx, key)
		return
	}
	if s.bypass.Load() || s.version(i) != ver {
		s.drop(ctx, key)
	}
}

// drop deletes L1's copy of key, even when ctx is done.
func (s *Store) drop(ctx context.Context, key string) {
	_ = s.l1.Delete(context.WithoutCancel(ctx), key)
}

// Set writes value in L2, then in L1 (capped at MaxL1Age). When L2 fails,
// L1's copy is deleted, so that it never holds a value L2 does not.
func (s *Store) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	i := s.shard(key)
	s.locks[i].Lock()
	defer s.locks[i].Unlock()
	err := s.l2.Set(ctx, key, value, meta)
	ver := s.versions[i].Add(1) + s.epoch.Load()
	if err != nil || (!meta.Expires.IsZero() && !meta.Expires.After(time.Now())) {
		s.drop(ctx, key)
		return err
	}
	s.keep(ctx, key, value, meta, i, ver)
	return nil
}

// Delete deletes key from L2, then from L1 (from L1 even when L2 fails).
func (s *Store) Delete(ctx context.Context, key string) error {
	i := s.shard(key)
	s.locks[i].Lock()
	defer s.locks[i].Unlock()
	err := s.l2.Delete(ctx, key)
	s.versions[i].Add(1)
	s.drop(ctx, key)
	return err
}

// invalidate applies one event of L2's subscription.
func (s *Store) invalidate(ev core.Invalidation) {
	ctx := context.Background()
	switch ev.Kind {
	case core.InvalidateKey:
		s.versions[s.shard(ev.Key)].Add(1)
		_ = s.l1.Delete(ctx, ev.Key)
	case core.InvalidateAll:
		s.clearL1(ctx)
	case core.SubscriptionLost:
		s.bypass.Store(true)
		s.clearL1(ctx)
		s.log.Warn("tiered: invalidation subscription lost; L1 dropped and bypassed")
	case core.SubscriptionRestored:
		s.clearL1(ctx)
		s.bypass.Store(false)
		s.log.Info("tiered: invalidation subscription restored; L1 in use again")
	}
}

// clearL1 drops every L1 copy, and any being written.
func (s *Store) clearL1(ctx context.Context) error {
	s.epoch.Add(1)
	return s.l1Clear.Clear(ctx)
}

// List lists L2, or yields one error wrapping core.ErrNotSupported when L2
// does not implement core.Lister.
func (s *Store) List(ctx context.Context) iter.Seq2[core.Listed, error] {
	l, ok := s.l2.(core.Lister)
	if !ok {
		return func(yield func(core.Listed, error) bool) {
			yield(core.Listed{}, fmt.Errorf("tiered: List: %w (L2 %T does not implement core.Lister)", core.ErrNotSupported, s.l2))
		}
	}
	return l.List(ctx)
}

// ListFilter lists L2 through its ListFilter, or its List filtered here.
func (s *Store) ListFilter(ctx context.Context, f core.ListFilter) iter.Seq2[core.Listed, error] {
	if fl, ok := s.l2.(core.FilterLister); ok {
		return fl.ListFilter(ctx, f)
	}
	return func(yield func(core.Listed, error) bool) {
		for it, err := range s.List(ctx) {
			if err == nil && !f.Selects(it.Meta) {
				continue
			}
			if !yield(it, err) || err != nil {
				return
			}
		}
	}
}

// Clear clears L2, then L1 (L1 even when L2 fails). It fails with an error
// wrapping core.ErrNotSupported when L2 does not implement core.Clearer.
func (s *Store) Clear(ctx context.Context) error {
	cl, ok := s.l2.(core.Clearer)
	if !ok {
		return fmt.Errorf("tiered: Clear: %w (L2 %T does not implement core.Clearer)", core.ErrNotSupported, s.l2)
	}
	err := cl.Clear(ctx)
	return errors.Join(err, s.clearL1(context.WithoutCancel(ctx)))
}

// Lease implements core.Leaser by way of L2: the lease on key is L2's, so
// that processes sharing L2 (each with its own L1) coalesce their misses
// (core.WithLeaseWait). When L2 does not implement core.Leaser it returns an
// error wrapping core.ErrNotSupported, which a Cache takes as "no leases".
func (s *Store) Lease(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	l, ok := s.l2.(core.Leaser)
	if !ok {
		return "", false, fmt.Errorf("tiered: Lease: %w (L2 %T does not implement core.Leaser)", core.ErrNotSupported, s.l2)
	}
	return l.Lease(ctx, key, ttl)
}

// Release implements core.Leaser by way of L2 (an error wrapping
// core.ErrNotSupported when L2 does not implement core.Leaser).
func (s *Store) Release(ctx context.Context, key, token string) error {
	l, ok := s.l2.(core.Leaser)
	if !ok {
		return fmt.Errorf("tiered: Release: %w (L2 %T does not implement core.Leaser)", core.ErrNotSupported, s.l2)
	}
	return l.Release(ctx, key, token)
}

// StoreTimeout returns L2's timeout hint, or core.DefaultStoreTimeout: an
// operation's time is L2's.
func (s *Store) StoreTimeout() time.Duration {
	if h, ok := s.l2.(core.TimeoutHinter); ok {
		return h.StoreTimeout()
	}
	return core.DefaultStoreTimeout
}

// Close ends the invalidation subscription and closes L2 and L1 (those
// that implement io.Closer). Later calls return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			s.stop()
		}
		var errs []error
		for _, st := range []core.Store{s.l2, s.l1} {
			if c, ok := st.(io.Closer); ok {
				errs = append(errs, c.Close())
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// CreateStream creates the stream of key in L2.
func (s *StreamStore) CreateStream(ctx context.Context, key string, meta core.Meta) (core.StreamWriter, error) {
	return s.streams.CreateStream(ctx, key, meta)
}

// OpenStream opens the stream of key in L2.
func (s *StreamStore) OpenStream(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return s.streams.OpenStream(ctx, key)
}
