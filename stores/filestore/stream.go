package filestore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"

	"github.com/hoardhttp/hoard/core"
)

// CreateStream starts writing the stream of key: a temporary file in the
// key's subdirectory, which Commit syncs and renames over the key's stream
// file. Memory use does not depend on the stream's length. meta.Size is
// recorded as the number of bytes written. A stream whose file would exceed
// MaxBytes fails with ErrTooLarge as soon as it does.
func (s *Store) CreateStream(ctx context.Context, key string, meta core.Meta) (core.StreamWriter, error) {
	if err := s.check(ctx, "create stream"); err != nil {
		return nil, err
	}
	if err := checkHeaderFields(key, meta); err != nil {
		return nil, fmt.Errorf("filestore: create stream %q: %w", key, err)
	}
	h := hashKey(key)
	// The header is written now with a zero length and checksum, and
	// rewritten in place (same length) by Commit.
	meta.Size = 0
	hdr := appendHeader(nil, kindStream, key, meta, 0, 0)
	f, tmp, err := s.createTemp(h)
	if err != nil {
		return nil, fmt.Errorf("filestore: create stream %q: %w", key, err)
	}
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		removeTemp(tmp)
		return nil, fmt.Errorf("filestore: create stream %q: %w", key, err)
	}
	return &streamWriter{s: s, ctx: ctx, key: key, h: h, meta: meta, f: f, tmp: tmp, hdrLen: len(hdr)}, nil
}

// OpenStream returns a reader of the committed stream of key, positioned at
// its first byte, and its length. The open file stays readable, with the
// same bytes, if the stream is replaced or deleted meanwhile. A missing or
// expired stream gives an error wrapping core.ErrNotFound. A file that fails
// its header checks is removed and gives an error wrapping core.ErrCorrupt;
// the payload's CRC-32C is checked as it is read, and a mismatch makes the
// read that reaches the end fail with an error wrapping core.ErrCorrupt
// instead of io.EOF. The caller closes the reader.
func (s *Store) OpenStream(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := s.check(ctx, "open stream"); err != nil {
		return nil, 0, err
	}
	h := hashKey(key)
	path := s.path(h, kindStream)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.forgetMissing(h, kindStream)
			return nil, 0, errNotFound
		}
		return nil, 0, fmt.Errorf("filestore: open stream %q: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("filestore: open stream %q: %w", key, err)
	}
	hdr, err := readHeader(f, fi.Size(), false)
	now := s.now()
	switch {
	case errors.Is(err, errVersion):
		f.Close()
		return nil, 0, errNotFound
	case err != nil || hdr.kind != kindStream || int64(hdr.len)+hdr.payloadLen != fi.Size():
		f.Close()
		s.removeIfSame(h, kindStream, idOf(fi))
		return nil, 0, fmt.Errorf("filestore: open stream %q: %w", key, errCorrupt)
	case string(hdr.key) != key:
		f.Close()
		return nil, 0, errNotFound
	case expired(hdr.meta.Expires, now):
		f.Close()
		s.removeIfSame(h, kindStream, idOf(fi))
		return nil, 0, errNotFound
	}
	if _, err := f.Seek(int64(hdr.len), io.SeekStart); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("filestore: open stream %q: %w", key, err)
	}
	s.accessed(h, kindStream, fi.Size(), idOf(fi), now)
	return &streamReader{f: f, key: key, base: int64(hdr.len), size: hdr.payloadLen, left: hdr.payloadLen, want: hdr.payloadCRC}, hdr.payloadLen, nil
}

// streamReader reads the payload of a stream file and checks its CRC-32C
// when the last byte has been read. It implements io.Seeker, so that the
// core serves a Range of a large body without reading what comes before it.
type streamReader struct {
	f      *os.File
	key    string
	base   int64 // file offset of the payload
	size   int64 // payload length
	left   int64 // payload bytes not read yet
	crc    uint32
	want   uint32
	seeked bool // moved past bytes not read: the CRC cannot be checked
}

// Seek sets the offset in the payload of the next Read (io.SeekStart,
// io.SeekCurrent or io.SeekEnd), without reading the bytes in between. A
// reader moved anywhere but the start no longer checks the payload's
// CRC-32C, which covers the whole file: the core checks every segment of
// its streams it reads.
func (r *streamReader) Seek(offset int64, whence int) (int64, error) {
	pos := r.size - r.left
	offset, err := core.SeekOffset(offset, whence, pos, r.size)
	if err != nil {
		return pos, fmt.Errorf("filestore: seek stream %q: %w", r.key, err)
	}
	if offset == pos {
		return pos, nil
	}
	if _, err := r.f.Seek(r.base+offset, io.SeekStart); err != nil {
		return pos, fmt.Errorf("filestore: seek stream %q: %w", r.key, err)
	}
	r.left = max(r.size-offset, 0)
	r.crc, r.seeked = 0, offset != 0
	return offset, nil
}

// Read returns the next bytes of the payload. The read that returns the last
// byte fails with an error wrapping core.ErrCorrupt when the payload does
// not match its checksum; at the end of a good payload Read returns io.EOF.
func (r *streamReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.f.Read(p)
	r.crc = crc32.Update(r.crc, castagnoli, p[:n])
	r.left -= int64(n)
	switch {
	case r.left == 0 && !r.seeked && r.crc != r.want:
		return n, fmt.Errorf("filestore: read stream %q: %w", r.key, errCorrupt)
	case err == io.EOF && r.left > 0:
		return n, fmt.Errorf("filestore: read stream %q: %w", r.key, errCorrupt)
	case err == io.EOF:
		return n, nil // reported by the next Read
	}
	return n, err
}

// Close closes the file.
func (r *streamReader) Close() error { return r.f.Close() }

// streamWriter is the core.StreamWriter of a Store. Like an *os.File, it is
// for one goroutine at a time.
type streamWriter struct {
	s      *Store
	ctx    context.Context
	key    string
	h      [sha256.Size]byte
	meta   core.Meta
	f      *os.File
	tmp    string
	hdrLen int
	n      int64
	crc    uint32
	err    error // the first Write error, returned by every later call
	done   bool  // Commit or Abort was called
}

var errFinished = errors.New("filestore: stream already committed or aborted")

// Write appends p to the stream. It fails when the stream's context is
// done, when the stream would exceed MaxBytes, and after Commit or Abort.
func (w *streamWriter) Write(p []byte) (int, error) {
	switch {
	case w.done:
		return 0, errFinished
	case w.err != nil:
		return 0, w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.err = fmt.Errorf("filestore: write stream %q: %w", w.key, err)
		return 0, w.err
	}
	if max := w.s.maxBytes; int64(w.hdrLen)+w.n+int64(len(p)) > max {
		w.err = fmt.Errorf("%w: key %q, MaxBytes %d", ErrTooLarge, w.key, max)
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.crc = crc32.Update(w.crc, castagnoli, p[:n])
	w.n += int64(n)
	if err != nil {
		w.err = fmt.Errorf("filestore: write stream %q: %w", w.key, err)
		return n, w.err
	}
	return n, nil
}

// Commit completes the header, syncs the file to disk and renames it over
// the key's stream file. After a Write error it discards the stream and
// returns that error. A stream whose Meta.Expires has passed deletes the
// key's stream instead, and Commit returns nil.
func (w *streamWriter) Commit() error {
	if w.done {
		return errFinished
	}
	w.done = true
	s := w.s
	fail := func(err error) error {
		w.discard()
		return fmt.Errorf("filestore: commit stream %q: %w", w.key, err)
	}
	switch {
	case w.err != nil:
		w.discard()
		return w.err
	case s.closed.Load():
		w.discard()
		return ErrClosed
	}
	if err := w.ctx.Err(); err != nil {
		return fail(err)
	}
	if expired(w.meta.Expires, s.now()) {
		w.discard()
		if err := s.removeKind(w.h, kindStream); err != nil {
			return fmt.Errorf("filestore: commit stream %q: %w", w.key, err)
		}
		return nil
	}
	w.meta.Size = w.n
	hdr := appendHeader(make([]byte, 0, w.hdrLen), kindStream, w.key, w.meta, w.n, w.crc)
	if _, err := w.f.WriteAt(hdr, 0); err != nil {
		return fail(err)
	}
	if err := w.f.Sync(); err != nil {
		return fail(err)
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fail(err)
	}
	if err := s.install(w.h, kindStream, w.tmp, int64(w.hdrLen)+w.n); err != nil {
		return fail(err)
	}
	s.evictIfOver()
	return nil
}

// Abort discards what was written. It returns nil, also after Commit (when
// it does nothing).
func (w *streamWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.discard()
	return nil
}

// discard closes and removes the temporary file.
func (w *streamWriter) discard() {
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
	removeTemp(w.tmp)
}

// readHeader reads and decodes the header of the file f of size bytes.
func readHeader(f *os.File, size int64, withStrings bool) (header, error) {
	if size < fixedLen {
		return header{}, errCorrupt
	}
	buf := make([]byte, min(size, headerPrefix))
	if _, err := f.ReadAt(buf, 0); err != nil {
		return header{}, errCorrupt
	}
	need, err := needHeader(buf)
	if err != nil {
		return header{}, err
	}
	if need > len(buf) {
		if int64(need) > size {
			return header{}, errCorrupt
		}
		buf = make([]byte, need)
		if _, err := f.ReadAt(buf, 0); err != nil {
			return header{}, errCorrupt
		}
	}
	return parseHeader(buf, withStrings)
}
