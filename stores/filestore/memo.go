package filestore

import (
	"crypto/sha256"
	"math"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/hoardhttp/hoard/core"
)

// DefaultMemoryBytes is the bound on the values a Store keeps in process when
// Options.MemoryBytes is 0: 8 MiB.
const DefaultMemoryBytes int64 = 8 << 20

// memoOverhead is what a kept value counts against MemoryBytes beyond its
// bytes: its record, its key, and the Cache's decoded form of its header,
// roughly.
const memoOverhead = 512

// memo keeps values recently read from their files in process, each with the
// stamp of the file it was read from (see stamp): a Get whose file still has
// that stamp, as one stat of its path tells, is answered from memory, and
// the Cache keeps its decoded form of the value in the slot next to it
// (core.SlotGetter). A file replaced, changed or removed by any process
// has another stamp or none, and is read again.
type memo struct {
	c        *otter.Cache[[sha256.Size]byte, *memoEntry]
	maxValue int // larger values are not kept
}

// memoEntry is a value kept by the memo. Nothing in it changes once it is
// kept, except the slot, which synchronises itself.
type memoEntry struct {
	stamp    stamp
	fileSize int64 // the length of the file, header included
	key      string
	value    []byte
	expires  time.Time
	slot     core.DecodedSlot
}

// newMemo returns a memo bounded by maxBytes, or nil when the system cannot
// stamp files (see memoSupported) or maxBytes is negative (off).
func newMemo(maxBytes int64) *memo {
	if !memoSupported || maxBytes < 0 {
		return nil
	}
	c := otter.Must(&otter.Options[[sha256.Size]byte, *memoEntry]{
		MaximumWeight: uint64(maxBytes),
		Weigher: func(_ [sha256.Size]byte, e *memoEntry) uint32 {
			return uint32(min(int64(len(e.value))+int64(len(e.key))+memoOverhead, math.MaxUint32))
		},
		// As in memstore: maintenance on the goroutine that fills a
		// buffer; nothing here calls back into the memo.
		Executor: func(fn func()) { fn() },
	})
	return &memo{c: c, maxValue: int(min(maxBytes/4, math.MaxInt32))}
}

// get returns the value kept for h, or nil. The caller compares its stamp
// with the file's. The methods of a nil memo (none kept) do nothing.
func (m *memo) get(h [sha256.Size]byte) *memoEntry {
	if m == nil {
		return nil
	}
	e, _ := m.c.GetIfPresent(h)
	return e
}

// put keeps e for h, unless its value is too large to.
func (m *memo) put(h [sha256.Size]byte, e *memoEntry) {
	if len(e.value) > m.maxValue {
		m.c.Invalidate(h)
		return
	}
	m.c.Set(h, e)
}

// drop forgets the value kept for h.
func (m *memo) drop(h [sha256.Size]byte) {
	if m != nil {
		m.c.Invalidate(h)
	}
}

// clear forgets every kept value.
func (m *memo) clear() {
	if m != nil {
		m.c.InvalidateAll()
	}
}
