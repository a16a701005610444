package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"
)

// ErrNotFound is returned by Store.Get when the key holds no value (or only an
// expired one). Match it with errors.Is.
var ErrNotFound = errors.New("core: not found")

// ErrNotSupported is returned by management methods that need an optional
// store interface the store does not implement (for example listing).
var ErrNotSupported = errors.New("core: store does not support this operation")

// ErrClosed is returned by the management methods of a Cache after Close
// (the store is closed, so nothing may touch it). Match it with errors.Is.
var ErrClosed = errors.New("core: cache closed")

// Meta is what a store is told about a value besides its bytes, so that it
// can expire and list entries without decoding them.
type Meta struct {
	// Expires is the deletion time: after it the store may drop the value and
	// Get must not return it. The zero time means "keep until evicted".
	Expires time.Time
	// URL is the normalised request URL, with ignored parameters redacted.
	URL string
	// Method is the request method the entry answers.
	Method string
	// Status is the stored response's status code (0 for a variant index).
	Status int
	// Size is the length of the encoded value in bytes.
	Size int64
	// Created is when the entry was first stored.
	Created time.Time
}

// Store persists encoded cache entries. It is the whole contract a backend
// implements; further abilities are optional interfaces (Lister, Clearer,
// io.Closer) detected by type assertion.
//
// Contract, checked clause by clause by conformance.RunStoreTests:
//   - Every method is safe for concurrent use by multiple goroutines.
//   - Every method honours ctx: a cancelled or expired ctx makes it return
//     promptly with an error that wraps ctx.Err().
//   - Get returns ErrNotFound (possibly wrapped) for a missing key and for a
//     key whose Meta.Expires has passed. The returned slice must not be
//     modified by the caller; the store must not modify it afterwards either,
//     so the core can serve a response body straight from it without a copy.
//   - Set stores a copy of value or takes ownership of it (the core never
//     modifies value after Set). A Meta.Expires in the past deletes the key.
//     Set replaces any previous value: once Set returns nil, Get returns the
//     new value or (if a size-bounded store evicted or refused it)
//     ErrNotFound, never the old value. Reads see writes that returned.
//   - Meta.Size is filled in by the core as len(value); a store may record
//     its own measure instead. Meta.Expires is computed from the core's
//     clock and compared by the store with its own.
//   - A store that checks its own data (a checksum per value or per stream
//     chunk) returns an error wrapping ErrCorrupt from Get, OpenStream or a
//     stream reader's Read for data that fails the check, never the data.
//     The core counts it in Stats().CorruptErrors, deletes the key and
//     treats it as a miss (a stream that fails in the middle ends the
//     response body with that error). ErrCorrupt must not wrap ErrNotFound.
//   - Delete of a missing key returns nil.
//   - Keys are arbitrary non-empty strings of at most 512 bytes; values are
//     arbitrary bytes, possibly empty.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte, meta Meta) error
	Delete(ctx context.Context, key string) error
}

// Listed is one item yielded by Lister.List.
type Listed struct {
	Key  string
	Meta Meta
}

// Lister is implemented by stores that can enumerate their keys. Expired
// entries may or may not be listed. The sequence stops at the first error,
// which it yields with a zero Listed.
type Lister interface {
	List(ctx context.Context) iter.Seq2[Listed, error]
}

// Clearer is implemented by stores that can remove every entry they own (and
// only those: a store sharing a database with others clears its own
// namespace).
type Clearer interface {
	Clear(ctx context.Context) error
}

// Streamer is implemented by stores that can hold a large body as a stream
// next to the value under the same key, so that neither writing nor reading
// it needs the whole body in memory. The core writes an entry's body as the
// stream of its key and the (small) rest of the entry as the value, and reads
// the value first. Streams follow the value's life: Delete and Clear remove
// the stream of a key with its value, and a stream is not returned after its
// Meta.Expires.
//
// Contract, checked by conformance.RunStoreTests when the harness declares
// streaming:
//   - The ctx given to CreateStream is the request's and stays valid for the
//     writer's whole life: Write, Commit and Abort may use it, and fail when
//     it is cancelled. The ctx given to OpenStream likewise governs reads.
//   - Set of the value keeps the key's stream, and should carry the value's
//     new Meta.Expires over to it (the core rewrites the value when a 304
//     freshens a streamed entry; a store that keeps the stream's first
//     deletion time only costs a refetch once it passes). Delete, Clear and
//     expiry of a key remove its stream too. The core commits a stream
//     before it writes the value that refers to it.
//   - CreateStream returns a writer whose bytes become the stream of key only
//     when Commit returns nil, atomically replacing any previous stream of
//     key; readers never see a partial stream, even if the process dies
//     while writing. Abort (or a failed Commit) discards what was written.
//     Exactly one of Commit and Abort is called; both are safe to call after
//     a Write error.
//   - OpenStream returns the committed stream of key and its size, or
//     ErrNotFound. The reader stays valid if the stream is replaced or
//     deleted while it is read (it either finishes the old bytes or fails
//     with an error; it never mixes two streams).
//   - Writes and reads of streams of any size keep the store's own memory
//     bounded (no buffering of the whole stream).
//   - A reader may also implement io.Seeker (checked by the suite when the
//     harness declares StreamSeek): Seek moves the next Read to any offset
//     of the stream without reading the bytes before it, for io.SeekStart,
//     io.SeekCurrent and io.SeekEnd; an offset at or past the end reads as
//     the end, a negative one fails. The cache then serves a Range request
//     from the stream segment holding the range (see Cache.Do); without
//     it, it reads the stream from the start and discards the bytes before
//     the range. A wrapper store that returns the inner store's readers
//     keeps the ability.
type Streamer interface {
	CreateStream(ctx context.Context, key string, meta Meta) (StreamWriter, error)
	OpenStream(ctx context.Context, key string) (io.ReadCloser, int64, error)
}

// StreamWriter writes one stream; see Streamer.
type StreamWriter interface {
	io.Writer
	// Commit makes what was written the stream of the key.
	Commit() error
	// Abort discards what was written.
	Abort() error
}

// SeekOffset resolves the arguments of an io.Seeker's Seek for a stream
// reader at offset pos of a stream of size bytes: the absolute offset the
// next Read starts at, or an error for an invalid whence or a negative
// result. It is there for the Seek of stores' stream readers (see
// Streamer).
func SeekOffset(offset int64, whence int, pos, size int64) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += pos
	case io.SeekEnd:
		offset += size
	default:
		return 0, fmt.Errorf("seek: invalid whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek: negative offset %d", offset)
	}
	return offset, nil
}
