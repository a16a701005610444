package core

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
)

// LocalGetter is implemented by stores that can answer some reads from
// process memory, without I/O: a two-tier store (package stores/tiered)
// whose in-process L1 holds the key. The Cache asks GetLocal before every
// read of an entry, and calls Get (under the store timeout, the circuit
// breaker and the error accounting, see WithStoreTimeout) only when GetLocal
// reports false.
//
// Contract:
//   - GetLocal is safe for concurrent use, never blocks on I/O or on a lock
//     held across I/O, and returns quickly (it runs with no timeout).
//   - ok true means value is what Get would return now (the same contract:
//     not expired, not to be modified by either side afterwards); ok false
//     means "ask Get", not a miss.
//   - A store that keeps copies of a shared store's values reports false
//     while it cannot vouch for them (a lost invalidation subscription).
//
// A read answered by GetLocal is reported to observers as a get (StoreOp)
// and counts neither for nor against the circuit breaker: it reaches no
// server, so it is served while the breaker is open too.
type LocalGetter interface {
	GetLocal(key string) (value []byte, ok bool)
}

// LocalSlotGetter is implemented by LocalGetters whose answers from process
// memory come with the DecodedSlot of the value: a two-tier store whose L1
// is a SlotGetter (memstore). The Cache then decodes a value L1 holds on its
// first read only, as it does for a SlotGetter's, where from GetLocal it
// decodes it on every read.
//
// Contract:
//   - GetLocalSlot is GetLocal, also returning the slot of the value
//     returned, or nil for a value without one; slots follow SlotGetter's
//     contract (one per stored value, never reused for another).
//   - SlotStore returns the store itself, for the reason SlotGetter's does:
//     the Cache reads through GetLocalSlot only when SlotStore is the store
//     it was given, and through GetLocal otherwise.
type LocalSlotGetter interface {
	LocalGetter
	GetLocalSlot(key string) (value []byte, slot *DecodedSlot, ok bool)
	SlotStore() Store
}

// localSlotGetter returns store's LocalSlotGetter when store is one itself
// (see LocalSlotGetter.SlotStore), nil otherwise.
func localSlotGetter(store Store) LocalSlotGetter {
	lg, ok := store.(LocalSlotGetter)
	if !ok || !sameStore(lg.SlotStore(), store) {
		return nil
	}
	return lg
}

// getLocal reads key through the store's LocalGetter, if it has one, unless
// the Cache is closing, with the value's slot when the store gives it; false
// means the store must be asked with call.
func (c *Cache) getLocal(ctx context.Context, key string) (v []byte, slot *DecodedSlot, ok bool) {
	if c.local == nil || !c.gate.enter() {
		return nil, nil, false
	}
	defer c.gate.leave()
	if c.localSlots != nil {
		v, slot, ok = c.localSlots.GetLocalSlot(key)
	} else {
		v, ok = c.local.GetLocal(key)
	}
	if ok {
		o, start := c.opStart(ctx)
		o.opDone(OpGet, start, nil)
	}
	return v, slot, ok
}

// DecodedSlot is where a Cache keeps its decoded form of one value held by
// an in-process store (see SlotGetter), so that a hit on that value is not
// decoded again. The store keeps one with every value it stores (the zero
// value is ready for use) and never reads or writes it itself.
type DecodedSlot struct {
	p atomic.Pointer[decodedEntry]
}

// decodedEntry is a value decoded by the Cache that owns it (a store may be
// shared by Caches with different codecs). It is never modified once stored
// in a slot, and never handed out: every read gets a copy (copyTo).
type decodedEntry struct {
	owner *slotOwner
	// e is the entry but for its header: e.Header is nil, and header
	// lists its fields (hasHeader: it has one), nvals counting their
	// values, so that the copy every hit makes does not iterate over a map.
	e         Entry
	header    []headerField
	nvals     int
	hasHeader bool
}

// headerField is one field of a header.
type headerField struct {
	name string
	vals []string
}

// newDecodedEntry decodes data with the codec of the Cache owner into a
// decodedEntry.
func newDecodedEntry(owner *slotOwner, codec Codec, data []byte) (*decodedEntry, error) {
	d := &decodedEntry{owner: owner}
	if err := codec.Decode(data, &d.e); err != nil {
		return nil, err
	}
	d.takeHeader(false)
	return d, nil
}

// takeHeader moves d.e.Header into d.header, copying the value slices when
// copyVals (the header is someone else's, who may change them). An empty
// header is none, as BinaryCodec decodes it.
func (d *decodedEntry) takeHeader(copyVals bool) {
	h := d.e.Header
	d.e.Header = nil
	if len(h) == 0 {
		return
	}
	d.hasHeader = true
	d.header = make([]headerField, 0, len(h))
	var backing []string
	if copyVals {
		n := 0
		for _, vs := range h {
			n += len(vs)
		}
		backing = make([]string, n)
	}
	for k, vs := range h {
		if copyVals {
			m := copy(backing, vs)
			vs, backing = backing[:m:m], backing[m:]
		}
		d.header = append(d.header, headerField{k, vs})
		d.nvals += len(vs)
	}
}

// binaryDecoded returns the decodedEntry BinaryCodec.Decode would give for
// data, BinaryCodec's encoding of e (a response, not a variant index),
// without decoding it: e as that decoding rebuilds it. Key is not encoded;
// times come back as time.Unix gives them (no monotonic reading, the local
// zone); empty headers come back as none; the body is the end of data. e
// stays its owner's: its headers are copied.
func binaryDecoded(owner *slotOwner, e *Entry, data []byte) *decodedEntry {
	d := &decodedEntry{owner: owner, e: *e}
	d.e.Key = ""
	for _, t := range [...]*time.Time{&d.e.RequestTime, &d.e.ResponseTime, &d.e.Created, &d.e.Expires, &d.e.Deletion} {
		if !t.IsZero() {
			*t = time.Unix(t.Unix(), int64(t.Nanosecond()))
		}
	}
	d.e.Trailer, d.e.VaryHeader = asDecodedHeader(e.Trailer), asDecodedHeader(e.VaryHeader)
	d.e.Body = data[len(data)-len(e.Body) : len(data) : len(data)]
	d.takeHeader(true)
	return d
}

// asDecodedHeader is h as BinaryCodec decodes it: a copy, nil when empty,
// every value list non-nil.
func asDecodedHeader(h http.Header) http.Header {
	if len(h) == 0 {
		return nil
	}
	return cloneHeader(h, 0)
}

// copyTo sets *dst to a copy of d.e that its user owns as it owns a freshly
// decoded entry: the header maps and their value slices are its own (the
// response built from it adds Age and Cache-Status, and its receiver may
// change what it is handed). What a decoded entry shares with the stored
// value, or what nobody modifies, is shared: the strings, Body (read-only,
// see Store) and Variants (never modified once decoded).
func (d *decodedEntry) copyTo(dst *Entry) {
	*dst = d.e
	if d.hasHeader {
		backing := make([]string, d.nvals)
		h := make(http.Header, len(d.header)+2) // room for Age and Cache-Status
		for _, f := range d.header {
			n := copy(backing, f.vals)
			h[f.name] = backing[:n:n]
			backing = backing[n:]
		}
		dst.Header = h
	}
	dst.Trailer = cloneHeader(d.e.Trailer, 0)
	dst.VaryHeader = cloneHeader(d.e.VaryHeader, 0)
}

// slotOwner identifies a Cache in the DecodedSlots it fills. It is not
// zero-sized, so that every Cache's is a distinct pointer.
type slotOwner struct{ _ byte }

// SlotGetter is implemented by stores that keep values in process
// (memstore, and filestore for the values it keeps in memory) with a
// DecodedSlot next to each: the Cache then decodes a stored value on
// its first read only, and serves later hits from its decoded form. The
// codec still runs for every value written and for its first read.
//
// Contract:
//   - GetSlot is Get: the same value, the same errors, the same handling of
//     ctx; on success it also returns the slot of the value returned, or nil
//     for a value the store does not keep (filestore, for a file it read
//     but keeps no copy of): the Cache then decodes it as it would from Get.
//   - A slot belongs to one stored value, which never changes: a Set of the
//     key stores a new value with a new (empty) slot, never reusing one.
//   - SlotStore returns the store itself, a pointer (comparable). The Cache
//     reads through GetSlot only when SlotStore is the store it was given:
//     a store that embeds another and overrides Get (to count, fail or
//     change reads) gets the promoted GetSlot, which would bypass its Get,
//     so it is read with its own Get.
//
// A store implementing LocalGetter too is read through GetLocal first, as
// ever; its answers are decoded on every read unless it is a
// LocalSlotGetter.
type SlotGetter interface {
	GetSlot(ctx context.Context, key string) (value []byte, slot *DecodedSlot, err error)
	SlotStore() Store
}

// SlotSetter is implemented by SlotGetters that can say which slot a Set
// gave the value it stored. A Cache with the default codec (BinaryCodec)
// then fills that slot with the entry it has just written when the entry is
// about to be read again (a stored response a 304 refreshed: the next hit
// would otherwise decode what was just encoded), building the decoded form
// from the entry itself.
//
// Contract: SetSlot is Set (the same effects, errors and handling of ctx);
// on success it also returns the slot of the value stored, new and empty,
// or nil when Set stored no value (an expiry in the past, a value too large
// to keep). SlotStore is SlotGetter's: the Cache uses SetSlot only when it
// is the store it was given.
type SlotSetter interface {
	SlotGetter
	SetSlot(ctx context.Context, key string, value []byte, meta Meta) (*DecodedSlot, error)
}

// slotSetter returns store's SlotSetter when store is one itself and the
// codec is BinaryCodec, whose decoding binaryDecoded reproduces; nil
// otherwise.
func slotSetter(store Store, codec Codec) SlotSetter {
	ss, ok := store.(SlotSetter)
	if _, binary := codec.(BinaryCodec); !ok || !binary || slotGetter(store) == nil {
		return nil
	}
	return ss
}

// slotGetter returns store's SlotGetter when store is one itself (see
// SlotGetter.SlotStore), nil otherwise.
func slotGetter(store Store) SlotGetter {
	sg, ok := store.(SlotGetter)
	if !ok || !sameStore(sg.SlotStore(), store) {
		return nil
	}
	return sg
}

// sameStore reports whether a and b are the same store. Interface values of
// different dynamic types are unequal without comparing their values; a
// value of a type that cannot be compared is taken as different.
func sameStore(a, b Store) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// fromSlot fills e from the decoded form of data, the value read under key
// with slot, decoding it into the slot first when it holds no form of this
// Cache's. A value the codec rejects is handled as readEntry handles it.
func (c *Cache) fromSlot(ctx context.Context, key string, data []byte, slot *DecodedSlot, e *Entry) error {
	d := slot.p.Load()
	if d == nil || d.owner != c.owner {
		var err error
		if d, err = newDecodedEntry(c.owner, c.cfg.codec, data); err != nil {
			c.corrupted(ctx, key, err)
			return ErrNotFound
		}
		// Two first reads racing each decode, and one of the two equal
		// forms stays: no harm.
		slot.p.Store(d)
	}
	d.copyTo(e)
	return nil
}
