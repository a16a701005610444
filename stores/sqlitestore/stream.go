package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/internal/storekit"
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
	w := &streamWriter{s: s, ctx: context.WithoutCancel(ctx), key: key, meta: meta, id: id}
	w.cw = storekit.ChunkWriter{Size: chunkSize, Max: s.maxBytes, Flush: w.flush,
		TooLarge: func() error { return wrap("write stream", key, ErrTooLarge) }}
	return w, nil
}

// streamWriter writes one stream; it is used by one goroutine at a time.
type streamWriter struct {
	s    *Store
	ctx  context.Context
	key  string
	meta core.Meta
	id   int64
	cw   storekit.ChunkWriter
	done bool // Commit or Abort was called
}

// Write buffers p and writes each full chunk in a transaction.
func (w *streamWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("sqlitestore: write stream %q: already committed or aborted", w.key)
	}
	return w.cw.Write(p)
}

// flush writes chunk seq, if the stream is still being written.
func (w *streamWriter) flush(seq int64, chunk []byte) error {
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
			w.id, seq, storekit.ChunkSum(w.id, seq, chunk), chunk)
		return err
	})
	if err != nil {
		return w.s.fail(ctx, "write stream", w.key, err)
	}
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
	if err := w.cw.Close(); err != nil {
		_ = w.Abort()
		return err
	}
	w.done = true
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
			kb, w.cw.Len(), nanos(w.meta.Expires), nanos(w.meta.Created), nanos(now), nanos(now), w.id)
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
	w.cw.Drop()
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
		s.pins.Pin(id)
		var state int
		err = s.read(ctx, func() error {
			return s.r.QueryRowContext(ctx, `SELECT state FROM streams WHERE id = ?`, id).Scan(&state)
		})
		if err == nil && state == 1 {
			s.touch(key, now)
			rctx := context.WithoutCancel(ctx)
			var buf []byte // every chunk is read into it (see ChunkReader.Load)
			return &storekit.ChunkReader{
				Size:      size,
				ChunkSize: chunkSize,
				Load: func(seq, max int64) ([]byte, error) {
					data, err := s.load(rctx, key, id, seq, max, buf)
					if cap(data) > cap(buf) {
						buf = data
					}
					return data, err
				},
				Closed: func() { s.pins.Unpin(id) },
				Name:   fmt.Sprintf("sqlitestore: read stream %q", key),
			}, size, nil
		}
		s.pins.Unpin(id)
		switch {
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return nil, 0, s.fail(ctx, "open stream", key, err)
		case attempt == 2:
			// Replaced three times while opening: report it as gone.
			return nil, 0, errNotFound
		}
	}
}

// pinnedArgs is ids as query arguments.
func pinnedArgs(ids []int64) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}

// load reads chunk seq of stream id for the reader of key, of at most max
// bytes, into dst when it has room for it.
func (s *Store) load(ctx context.Context, key string, id, seq, max int64, dst []byte) ([]byte, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	var (
		data []byte
		sum  int64
	)
	err := s.read(ctx, func() (err error) {
		data, sum, err = s.chunks.chunk(ctx, id, seq, dst)
		return err
	})
	switch {
	case errors.Is(err, errNoRow):
		return nil, wrap("read stream", key, ErrStreamGone)
	case err != nil:
		return nil, s.fail(ctx, "read stream", key, err)
	case storekit.ChunkSum(id, seq, data) != sum:
		return nil, fmt.Errorf("sqlitestore: read stream %q: chunk %d of stream %d: %w", key, seq, id, errCorruptChunk)
	case len(data) == 0 || int64(len(data)) > max:
		return nil, fmt.Errorf("sqlitestore: read stream %q: chunk %d of stream %d has %d bytes, %d expected at most",
			key, seq, id, len(data), max)
	}
	return data, nil
}

// cmpErr returns err, or alt when err is nil.
func cmpErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}
