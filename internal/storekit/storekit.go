// Package storekit holds the pieces that hoard's database stores
// (sqlitestore, pgstore) share: the CRC-32C checksums of entry rows and
// stream chunks, the registry of stream ids that open readers pin against
// the collector, the in-memory record of access times written in batches,
// and the reader of a stream stored as numbered chunks.
package storekit

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/hoardhttp/hoard/core"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ValueSum is the checksum of an entry row: the CRC-32C of the key's
// length and bytes, the deletion time (in the store's unit, 0 for none) and
// the value. It covers what Get returns and decides by.
func ValueSum(key []byte, expires int64, value []byte) int64 {
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:4], uint32(len(key)))
	c := crc32.Update(0, castagnoli, b[:4])
	c = crc32.Update(c, castagnoli, key)
	binary.LittleEndian.PutUint64(b[:], uint64(expires))
	c = crc32.Update(c, castagnoli, b[:])
	return int64(crc32.Update(c, castagnoli, value))
}

// ChunkSum is the checksum of a stream chunk: the CRC-32C of its stream
// id, its sequence number and its data, so a chunk moved elsewhere fails.
func ChunkSum(id, seq int64, data []byte) int64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(id))
	binary.LittleEndian.PutUint64(b[8:], uint64(seq))
	c := crc32.Update(0, castagnoli, b[:])
	return int64(crc32.Update(c, castagnoli, data))
}

// Pins counts the open readers of each stream id, so that a collector
// leaves their chunks alone. The zero value is ready; it is safe for
// concurrent use.
type Pins struct {
	mu sync.Mutex
	n  map[int64]int
	// Released, when set, is called after the last reader of a stream
	// unpins it (the collector may take it now).
	Released func()
}

// Pin records an open reader of stream id.
func (p *Pins) Pin(id int64) {
	p.mu.Lock()
	if p.n == nil {
		p.n = make(map[int64]int)
	}
	p.n[id]++
	p.mu.Unlock()
}

// Unpin undoes Pin.
func (p *Pins) Unpin(id int64) {
	p.mu.Lock()
	p.n[id]--
	last := p.n[id] <= 0
	if last {
		delete(p.n, id)
	}
	p.mu.Unlock()
	if last && p.Released != nil {
		p.Released()
	}
}

// Pinned reports whether a reader has stream id open.
func (p *Pins) Pinned(id int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[id] > 0
}

// IDs returns the pinned stream ids.
func (p *Pins) IDs() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]int64, 0, len(p.n))
	for id := range p.n {
		ids = append(ids, id)
	}
	return ids
}

// Touches records the last access of keys in memory, to be written in
// batches (so that a hit writes nothing). The zero value is ready; it is
// safe for concurrent use. T is the store's representation of a time.
type Touches[T any] struct {
	mu sync.Mutex
	m  map[string]T
}

// Touch records an access to key at t and returns the number of recorded
// accesses.
func (r *Touches[T]) Touch(key string, t T) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]T)
	}
	r.m[key] = t
	return len(r.m)
}

// Forget drops the recorded access of key (a deleted key).
func (r *Touches[T]) Forget(key string) {
	r.mu.Lock()
	delete(r.m, key)
	r.mu.Unlock()
}

// Clear drops every recorded access.
func (r *Touches[T]) Clear() {
	r.mu.Lock()
	clear(r.m)
	r.mu.Unlock()
}

// Take returns the recorded accesses (nil when there are none) and forgets
// them.
func (r *Touches[T]) Take() map[string]T {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) == 0 {
		return nil
	}
	m := r.m
	r.m = make(map[string]T, len(m))
	return m
}

// ChunkReader reads a stream of Size bytes stored as chunks numbered from
// 0, one chunk in memory at a time. It is used by one goroutine at a time.
// It implements io.Seeker when ChunkSize is set: the core serves a Range of
// a large body from the chunk that holds its first byte, loaded by its
// number, without reading the chunks before it.
type ChunkReader struct {
	// Size is the stream's length.
	Size int64
	// ChunkSize is the length of every chunk but the last, which Seek
	// needs to find the chunk holding an offset; 0 makes Seek fail.
	ChunkSize int64
	// Load returns chunk seq, having checked it (its checksum, and that it
	// has at most max bytes and is not empty); its error ends the stream.
	// The reader is done with the slice a Load returned when it calls Load
	// again (or Close), so Load may reuse it.
	Load func(seq, max int64) ([]byte, error)
	// Closed, when set, is called by the first Close.
	Closed func()
	// Name describes the reader in errors ("sqlitestore: read stream
	// \"key\"").
	Name string

	seq    int64
	read   int64  // bytes returned, or passed over by Seek
	skip   int64  // bytes of the next chunk loaded that Seek passes over
	buf    []byte // the rest of the current chunk
	seeked bool   // Seek moved the reader: chunks must have ChunkSize bytes
	err    error
	closed bool
}

// Seek sets the offset of the next Read (io.SeekStart, io.SeekCurrent or
// io.SeekEnd). The next Read loads the chunk that holds it and nothing
// before it; an offset past the end reads as the end.
func (r *ChunkReader) Seek(offset int64, whence int) (int64, error) {
	pos := r.read + r.skip
	offset, err := core.SeekOffset(offset, whence, pos, r.Size)
	if err != nil {
		return pos, fmt.Errorf("%s: seek: %w", r.Name, err)
	}
	if offset == pos {
		return pos, nil
	}
	if r.ChunkSize <= 0 {
		return pos, fmt.Errorf("%s: seek: the chunk size is not known", r.Name)
	}
	r.buf = nil
	r.seeked = true
	if offset >= r.Size {
		r.read, r.skip = r.Size, 0 // at the end: nothing to load
		return offset, nil
	}
	r.seq = offset / r.ChunkSize
	r.read = r.seq * r.ChunkSize
	r.skip = offset - r.read
	return offset, nil
}

// Read returns the stream's bytes, loading the next chunk when the current
// one is used up.
func (r *ChunkReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("%s: reader closed", r.Name)
	}
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.read == r.Size {
			return 0, io.EOF
		}
		if len(p) == 0 {
			return 0, nil
		}
		r.buf, r.err = r.Load(r.seq, r.Size-r.read)
		if r.err != nil {
			continue
		}
		// After a Seek, the chunk numbers are offsets only if every chunk
		// but the last has ChunkSize bytes: anything else is damage.
		if r.seeked && r.read+int64(len(r.buf)) < r.Size && int64(len(r.buf)) != r.ChunkSize {
			r.buf, r.err = nil, fmt.Errorf("%s: chunk %d has %d bytes, %d expected", r.Name, r.seq, len(r.buf), r.ChunkSize)
			continue
		}
		r.seq++
		if r.skip > 0 {
			k := min(r.skip, int64(len(r.buf)))
			r.buf = r.buf[k:]
			r.read += k
			r.skip -= k
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.read += int64(n)
	return n, nil
}

// Close releases the reader; closing again does nothing.
func (r *ChunkReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.buf = nil
	if r.Closed != nil {
		r.Closed()
	}
	return nil
}

// ChunkWriter cuts the bytes written to it into chunks of Size bytes and
// hands each full one to Flush, holding at most one chunk in memory. It is
// used by one goroutine at a time; its first error is returned by every
// later call.
type ChunkWriter struct {
	// Size is the chunk size.
	Size int
	// Max is the most bytes accepted; a Write that would pass it fails with
	// TooLarge().
	Max      int64
	TooLarge func() error
	// Flush stores chunk seq; chunk is reused after it returns.
	Flush func(seq int64, chunk []byte) error

	buf []byte
	seq int64
	n   int64
	err error
}

// Write buffers p and flushes each full chunk.
func (w *ChunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if w.err != nil {
			return n, w.err
		}
		if w.n+int64(len(p)) > w.Max {
			w.err = w.TooLarge()
			return n, w.err
		}
		if w.buf == nil {
			w.buf = make([]byte, 0, w.Size)
		}
		k := min(w.Size-len(w.buf), len(p))
		w.buf = append(w.buf, p[:k]...)
		w.n += int64(k)
		n += k
		p = p[k:]
		if len(w.buf) == w.Size {
			w.flush()
		}
	}
	return n, w.err
}

func (w *ChunkWriter) flush() {
	if w.err = w.Flush(w.seq, w.buf); w.err == nil {
		w.seq++
		w.buf = w.buf[:0]
	}
}

// Close flushes the last, partial chunk, releases the buffer and returns
// the first error.
func (w *ChunkWriter) Close() error {
	if w.err == nil && len(w.buf) > 0 {
		w.flush()
	}
	w.buf = nil
	return w.err
}

// Drop releases the buffer without flushing it.
func (w *ChunkWriter) Drop() { w.buf = nil }

// Len is the number of bytes accepted.
func (w *ChunkWriter) Len() int64 { return w.n }
