package filestore

import (
	"crypto/sha256"
	"slices"
	"time"
)

// index is the in-memory picture of the directory used for the size cap:
// the size of each key's files and a least-recently-accessed order. It is
// only ever used to choose what to evict and when; reads always go to the
// files, so an index that is behind the directory (another process writing
// it, a file removed by hand) costs accuracy of the cap, never correctness,
// and is corrected as the store meets the files again.
type index struct {
	m map[[sha256.Size]byte]*ientry
	// head is the most recently accessed entry, tail the least.
	head, tail *ientry
	total      int64
}

// ientry is what the index knows of one key.
type ientry struct {
	h [sha256.Size]byte
	// size is the on-disk size of the value file (size[kindValue]) and of
	// the stream file (size[kindStream]); 0 when there is none.
	size [3]int64
	// atime is the last access; persisted is the last access written to
	// disk as a file's mtime.
	atime, persisted time.Time
	prev, next       *ientry
}

// observe records that the file of kind for h has size bytes, adding an
// entry (least recent, last accessed at atime) if h is new.
func (x *index) observe(h [sha256.Size]byte, kind byte, size int64, atime time.Time) *ientry {
	e := x.m[h]
	if e == nil {
		e = &ientry{h: h, atime: atime, persisted: atime}
		x.m[h] = e
		x.pushBack(e)
	}
	x.total += size - e.size[kind]
	e.size[kind] = size
	return e
}

// touch makes e the most recently accessed entry.
func (x *index) touch(e *ientry, now time.Time) {
	e.atime = now
	if x.head == e {
		return
	}
	x.unlink(e)
	e.next = x.head
	if x.head != nil {
		x.head.prev = e
	}
	x.head = e
	if x.tail == nil {
		x.tail = e
	}
}

// clearKind records that h has no file of kind, dropping the entry when it
// has no file left.
func (x *index) clearKind(h [sha256.Size]byte, kind byte) {
	e := x.m[h]
	if e == nil {
		return
	}
	x.total -= e.size[kind]
	e.size[kind] = 0
	if e.size[kindValue] == 0 && e.size[kindStream] == 0 {
		x.unlink(e)
		delete(x.m, h)
	}
}

// drop removes h from the index.
func (x *index) drop(h [sha256.Size]byte) {
	e := x.m[h]
	if e == nil {
		return
	}
	x.total -= e.size[kindValue] + e.size[kindStream]
	x.unlink(e)
	delete(x.m, h)
}

// reorder sorts the whole list by atime, most recent first (after a scan
// that added entries in directory order).
func (x *index) reorder() {
	all := make([]*ientry, 0, len(x.m))
	for _, e := range x.m {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *ientry) int { return b.atime.Compare(a.atime) })
	x.head, x.tail = nil, nil
	for _, e := range all {
		e.prev, e.next = nil, nil
		x.pushBack(e)
	}
}

func (x *index) pushBack(e *ientry) {
	e.prev, e.next = x.tail, nil
	if x.tail != nil {
		x.tail.next = e
	} else {
		x.head = e
	}
	x.tail = e
}

func (x *index) unlink(e *ientry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if x.head == e {
		x.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if x.tail == e {
		x.tail = e.prev
	}
	e.prev, e.next = nil, nil
}
