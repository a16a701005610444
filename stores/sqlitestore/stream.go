package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"

	"github.com/hoardhttp/hoard/core"
)

// errAbandoned is returned by a stream writer whose stream the sweep took
// for abandoned (no write for longer than the grace period).
var errAbandoned = errors.New("stream was abandoned (no write within the grace period) and collected")

// CreateStream starts a stream for key: its bytes go to chunks of 256 KiB
// under a fresh stream id, each written in its own short transaction, and
// become the stream of key only when Commit returns nil. ctx bounds the
// creation only: Write, Commit and Abort keep its values but not its
// deadline or cancellation (the core creates a stream under a short store
// timeout, then writes it while the body is read). The writer holds at most
// one chunk in memory. Writing more than MaxBytes fails with ErrTooLarge.
func (s *Store) CreateStream(ctx context.Context, key string, meta core.Meta) (core.StreamWriter, error) {
	if err := s.check(ctx, "create stream", key); err != nil {
		return nil, err
	}
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO streams (state, touched) VALUES (0, ?)`, nanos(s.now()))
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return nil, s.fail(ctx, "create stream", key, err)
	}
	return &streamWriter{s: s, ctx: context.WithoutCancel(ctx), key: key, meta: meta, id: id}, nil
}

// streamWriter writes one stream; it is used by one goroutine at a time.
type streamWriter struct {
	s    *Store
	ctx  context.Context
	key  string
	meta core.Meta
	id   int64
	buf  []byte // the chunk being filled
	seq  int64  // the number of chunks written
	size int64  // bytes accepted
	err  error  // the first error; every later Write returns it
	done bool   // Commit or Abort was called
}

// Write buffers p and writes each full chunk in a transaction.
func (w *streamWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("sqlitestore: write stream %q: already committed or aborted", w.key)
	}
	n := 0
	for len(p) > 0 {
		if w.err != nil {
			return n, w.err
		}
		if w.size+int64(len(p)) > w.s.maxBytes {
			w.err = wrap("write stream", w.key, ErrTooLarge)
			return n, w.err
		}
		if w.buf == nil {
			w.buf = make([]byte, 0, chunkSize)
		}
		k := min(chunkSize-len(w.buf), len(p))
		w.buf = append(w.buf, p[:k]...)
		w.size += int64(k)
		n += k
		p = p[k:]
		if len(w.buf) == chunkSize {
			w.err = w.flush()
		}
	}
	return n, w.err
}

// flush writes the buffered chunk, if the stream is still being written.
func (w *streamWriter) flush() error {
	if w.s.closed.Load() {
		return ErrClosed
	}
	ctx := w.ctx
	err := w.s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE streams SET touched = ? WHERE id = ? AND state = 0`, nanos(w.s.now()), w.id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmpErr(err, errAbandoned)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO chunks (stream_id, seq, sum, data) VALUES (?, ?, ?, ?)`,
			w.id, w.seq, chunkSum(w.id, w.seq, w.buf), w.buf)
		return err
	})
	if err != nil {
		return w.s.fail(ctx, "write stream", w.key, err)
	}
	w.seq++
	w.buf = w.buf[:0]
	return nil
}

// Commit writes the last chunk, then, in one short transaction, makes the
// stream the stream of key (the previous one becomes garbage, collected in
// the background) and evicts least recently used entries if the store is
// over MaxBytes. A meta.Expires already past discards the stream (and the
// previous one).
func (w *streamWriter) Commit() error {
	if w.done {
		return fmt.Errorf("sqlitestore: commit stream %q: already committed or aborted", w.key)
	}
	if w.err == nil && len(w.buf) > 0 {
		w.err = w.flush()
	}
	if w.err != nil {
		_ = w.Abort()
		return w.err
	}
	w.done = true
	w.buf = nil
	s, ctx, kb := w.s, w.ctx, []byte(w.key)
	if s.closed.Load() {
		return ErrClosed
	}
	now := s.now()
	expired := !w.meta.Expires.IsZero() && !w.meta.Expires.After(now)
	var gc bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		// The previous stream of key is replaced in both cases.
		res, err := tx.ExecContext(ctx,
			`UPDATE streams SET state = 2, key = NULL, touched = 0 WHERE key = ? AND state = 1`, kb)
		if err != nil {
			return err
		}
		old, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if expired {
			gc = true
			_, err := tx.ExecContext(ctx, `UPDATE streams SET state = 2, touched = 0 WHERE id = ? AND state = 0`, w.id)
			return err
		}
		res, err = tx.ExecContext(ctx,
			`UPDATE streams SET state = 1, key = ?, size = ?, expires = ?, created = ?, accessed = ?, touched = ?
			WHERE id = ? AND state = 0`,
			kb, w.size, nanos(w.meta.Expires), nanos(w.meta.Created), nanos(now), nanos(now), w.id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmpErr(err, errAbandoned)
		}
		evicted, err := s.evict(ctx, tx, kb)
		gc = old > 0 || evicted
		return err
	})
	if err != nil {
		w.done = false
		_ = w.Abort()
		return s.fail(ctx, "commit stream", w.key, err)
	}
	if gc {
		kick(s.gcKick)
	}
	return nil
}

// Abort discards the stream: its chunks are collected in the background.
// Aborting after Commit or Abort does nothing.
func (w *streamWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.buf = nil
	s, ctx := w.s, w.ctx
	if s.closed.Load() {
		return nil // the sweep of the next open collects the stream
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE streams SET state = 2, touched = 0 WHERE id = ? AND state = 0`, w.id)
		return err
	})
	if err != nil {
		return s.fail(ctx, "abort stream", w.key, err)
	}
	kick(s.gcKick)
	return nil
}

// OpenStream returns a reader of the committed stream of key and its size,
// or an error wrapping core.ErrNotFound when key has no stream or its
// deletion time has passed. ctx bounds the opening only: reads keep its
// values but not its deadline or cancellation. The reader reads one chunk
// at a time. While it is open, the collector of this Store leaves its chunks
// alone, so it finishes the bytes it started with even if the stream is
// replaced or deleted meanwhile; a reader in another process whose stream
// is collected under it fails with ErrStreamGone instead. It never mixes
// two streams: stream ids are never reused.
func (s *Store) OpenStream(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := s.check(ctx, "open stream", key); err != nil {
		return nil, 0, err
	}
	now := nanos(s.now())
	kb := []byte(key)
	for attempt := 0; ; attempt++ {
		var id, size int64
		err := s.read(ctx, func() error {
			return s.r.QueryRowContext(ctx,
				`SELECT id, size FROM streams WHERE key = ? AND state = 1 AND (expires = 0 OR expires > ?)`,
				kb, now).Scan(&id, &size)
		})
		if errors.Is(err, sql.ErrNoRows) {
			return nil, 0, errNotFound
		}
		if err != nil {
			return nil, 0, s.fail(ctx, "open stream", key, err)
		}
		// Pin the stream against the collector, then make sure it was not
		// made garbage (and perhaps collected) in between; the collector
		// only deletes the chunks of garbage streams.
		s.pin(id)
		var state int
		err = s.read(ctx, func() error {
			return s.r.QueryRowContext(ctx, `SELECT state FROM streams WHERE id = ?`, id).Scan(&state)
		})
		if err == nil && state == 1 {
			s.touch(key, now)
			return &streamReader{s: s, ctx: context.WithoutCancel(ctx), key: key, id: id, size: size}, size, nil
		}
		s.unpin(id)
		switch {
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return nil, 0, s.fail(ctx, "open stream", key, err)
		case attempt == 2:
			// Replaced three times while opening: report it as gone.
			return nil, 0, errNotFound
		}
	}
}

// pin keeps the collector away from the chunks of stream id.
func (s *Store) pin(id int64) {
	s.pinMu.Lock()
	s.pinned[id]++
	s.pinMu.Unlock()
}

// unpin undoes pin; the last unpin of a stream that became garbage lets the
// collector take it.
func (s *Store) unpin(id int64) {
	s.pinMu.Lock()
	s.pinned[id]--
	last := s.pinned[id] == 0
	if last {
		delete(s.pinned, id)
	}
	s.pinMu.Unlock()
	if last {
		kick(s.gcKick)
	}
}

// isPinned reports whether a reader has stream id open.
func (s *Store) isPinned(id int64) bool {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	return s.pinned[id] > 0
}

// pinnedIDs returns the pinned stream ids.
func (s *Store) pinnedIDs() []any {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	ids := make([]any, 0, len(s.pinned))
	for id := range s.pinned {
		ids = append(ids, id)
	}
	return ids
}

// streamReader reads one committed stream chunk by chunk. It implements
// io.Seeker: the core serves a Range of a large body from the chunk that
// holds its first byte, read by its sequence number, without reading the
// chunks before it.
type streamReader struct {
	s      *Store
	ctx    context.Context
	key    string
	id     int64
	size   int64
	seq    int64
	read   int64  // bytes returned, or skipped by Seek
	buf    []byte // the rest of the current chunk
	skip   int64  // bytes of the next chunk loaded that Seek skips
	seeked bool   // Seek moved the reader: chunks must have the fixed size
	err    error
	closed bool
}

// Seek sets the offset of the next Read (io.SeekStart, io.SeekCurrent or
// io.SeekEnd). The next Read loads the chunk that holds it, by sequence
// number (every chunk but the last holds chunkSize bytes), and nothing
// before it. An offset past the end reads as the end.
func (r *streamReader) Seek(offset int64, whence int) (int64, error) {
	pos := r.read + r.skip
	offset, err := core.SeekOffset(offset, whence, pos, r.size)
	if err != nil {
		return pos, fmt.Errorf("sqlitestore: seek stream %q: %w", r.key, err)
	}
	if offset == pos {
		return pos, nil
	}
	at := min(offset, r.size)
	r.seq = at / chunkSize
	r.read = r.seq * chunkSize
	r.skip = at - r.read
	r.buf = nil
	r.seeked = true
	return offset, nil
}

// Read returns the stream's bytes, loading the next chunk when the current
// one is used up.
func (r *streamReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("sqlitestore: read stream %q: reader closed", r.key)
	}
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.read == r.size {
			return 0, io.EOF
		}
		if len(p) == 0 {
			return 0, nil
		}
		r.err = r.load()
		if r.err == nil && r.skip > 0 {
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

// load reads chunk r.seq.
func (r *streamReader) load() error {
	s, ctx := r.s, r.ctx
	if s.closed.Load() {
		return ErrClosed
	}
	var (
		data []byte
		sum  int64
	)
	err := s.read(ctx, func() error {
		return s.r.QueryRowContext(ctx, `SELECT sum, data FROM chunks WHERE stream_id = ? AND seq = ?`, r.id, r.seq).Scan(&sum, &data)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return wrap("read stream", r.key, ErrStreamGone)
	case err != nil:
		return s.fail(ctx, "read stream", r.key, err)
	case chunkSum(r.id, r.seq, data) != sum:
		return fmt.Errorf("sqlitestore: read stream %q: chunk %d of stream %d: %w", r.key, r.seq, r.id, errCorruptChunk)
	case len(data) == 0 || r.read+int64(len(data)) > r.size ||
		(r.seeked && r.read+int64(len(data)) < r.size && len(data) != chunkSize):
		return fmt.Errorf("sqlitestore: read stream %q: chunk %d of stream %d has %d bytes, %d expected at most",
			r.key, r.seq, r.id, len(data), r.size-r.read)
	}
	r.seq++
	r.buf = data
	return nil
}

// Close releases the reader and its pin on the stream.
func (r *streamReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.buf = nil
	r.s.unpin(r.id)
	return nil
}

// cmpErr returns err, or alt when err is nil.
func cmpErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}
