package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/internal/storekit"
)

// errAbandoned is returned by a stream writer whose stream the sweep took
// for abandoned (no write within the grace period).
var errAbandoned = errors.New("stream was abandoned (no write within the grace period) and collected")

// CreateStream starts a stream for key: its bytes go to chunks of 1 MiB
// under a fresh stream id, each written by one statement, and become the
// stream of key only when Commit returns nil. ctx bounds the creation
// only: Write, Commit and Abort keep its values but not its deadline or
// cancellation (the core creates a stream under a short store timeout, then
// writes it while the body is read); each of their database operations is
// bounded by Options.StreamTimeout instead. The writer holds at most one
// chunk in memory. Writing more than MaxBytes fails with ErrTooLarge.
func (s *Store) CreateStream(ctx context.Context, key string, meta core.Meta) (core.StreamWriter, error) {
	if err := s.check(ctx, "create stream", key); err != nil {
		return nil, err
	}
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO `+s.n.streams+` (state, touched) VALUES (0, $1) RETURNING id`, s.now()).Scan(&id)
	if err != nil {
		return nil, s.fail(ctx, "create stream", key, err)
	}
	w := &streamWriter{s: s, ctx: context.WithoutCancel(ctx), key: key, meta: meta, id: id}
	w.cw = storekit.ChunkWriter{Size: chunkSize, Max: s.maxBytes, Flush: w.flush,
		TooLarge: func() error { return wrap("write stream", key, ErrTooLarge) }}
	return w, nil
}

// opCtx is the context of one database operation of a stream.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.streamTimeout)
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

// Write buffers p and writes each full chunk.
func (w *streamWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("pgstore: write stream %q: already committed or aborted", w.key)
	}
	return w.cw.Write(p)
}

// flush writes chunk seq, if the stream is still being written, in one
// statement that also records the time of the write.
func (w *streamWriter) flush(seq int64, chunk []byte) error {
	s := w.s
	if s.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := s.opCtx(w.ctx)
	defer cancel()
	b := newBatch()
	b.Queue(`WITH live AS (
			UPDATE `+s.n.streams+` SET touched = $2 WHERE id = $1 AND state = 0 RETURNING id)
		INSERT INTO `+s.n.chunks+` (stream_id, seq, sum, data) SELECT id, $3, $4, $5 FROM live`,
		w.id, s.now(), seq, storekit.ChunkSum(w.id, seq, chunk), chunk)
	err := s.batch(ctx, b, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err == nil && tag.RowsAffected() == 0 {
			err = errAbandoned
		}
		return err
	})
	if err != nil {
		return s.fail(ctx, "write stream", w.key, err)
	}
	return nil
}

// Commit writes the last chunk, then, in one short transaction, makes the
// stream the stream of key (the previous one becomes garbage, collected in
// the background), and evicts least recently used entries if the store is
// over MaxBytes. A meta.Expires already past discards the stream (and the
// previous one).
func (w *streamWriter) Commit() error {
	if w.done {
		return fmt.Errorf("pgstore: commit stream %q: already committed or aborted", w.key)
	}
	if err := w.cw.Close(); err != nil {
		_ = w.Abort()
		return err
	}
	w.done = true
	s, kb := w.s, []byte(w.key)
	if s.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := s.opCtx(w.ctx)
	defer cancel()
	now := s.now()
	expired := !w.meta.Expires.IsZero() && !w.meta.Expires.After(now)
	var total int64
	err := s.write(ctx, func(tx pgx.Tx, _ int64) error {
		// The previous stream of key is replaced in both cases.
		if _, err := tx.Exec(ctx, s.q.delStream, [][]byte{kb}, now); err != nil {
			return err
		}
		if expired {
			_, err := tx.Exec(ctx, `UPDATE `+s.n.streams+` SET state = 2, touched = $2 WHERE id = $1 AND state = 0`, w.id, now)
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE `+s.n.streams+` SET state = 1, key = $2, size = $3, expires = $4, created = $5,
				accessed = $6, touched = $6 WHERE id = $1 AND state = 0`,
			w.id, kb, w.cw.Len(), ts(w.meta.Expires), ts(w.meta.Created), now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errAbandoned
		}
		return tx.QueryRow(ctx, s.q.bytes).Scan(&total)
	})
	if err != nil {
		w.done = false
		_ = w.Abort()
		return s.fail(ctx, "commit stream", w.key, err)
	}
	kick(s.gcKick) // the previous stream, if any
	if total > s.maxBytes {
		if err := s.evict(ctx, kb); err != nil {
			return s.fail(ctx, "commit stream", w.key, fmt.Errorf("evicting: %w", err))
		}
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
	s := w.s
	if s.closed.Load() {
		return nil // the sweep collects the stream after the grace period
	}
	ctx, cancel := s.opCtx(w.ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `UPDATE `+s.n.streams+` SET state = 2, touched = $2 WHERE id = $1 AND state = 0`, w.id, s.now()); err != nil {
		return s.fail(ctx, "abort stream", w.key, err)
	}
	kick(s.gcKick)
	return nil
}

// OpenStream returns a reader of the committed stream of key and its size,
// or an error wrapping core.ErrNotFound when key has no stream or its
// deletion time has passed. ctx bounds the opening only: reads keep its
// values but not its deadline or cancellation, each bounded by
// Options.StreamTimeout. The reader reads one chunk at a time. While it is
// open, the collector of this Store leaves its chunks alone, so it
// finishes the bytes it started with even if the stream is replaced or
// deleted meanwhile; a reader whose stream another process collects under
// it fails with ErrStreamGone instead. It never mixes two streams: stream
// ids are never reused.
func (s *Store) OpenStream(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := s.check(ctx, "open stream", key); err != nil {
		return nil, 0, err
	}
	now := s.now()
	kb := []byte(key)
	for attempt := 0; ; attempt++ {
		var id, size int64
		err := s.pool.QueryRow(ctx, `SELECT id, size FROM `+s.n.streams+`
			WHERE key = $1 AND state = 1 AND (expires IS NULL OR expires > $2)`, kb, now).Scan(&id, &size)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, 0, errNotFound
		}
		if err != nil {
			return nil, 0, s.fail(ctx, "open stream", key, err)
		}
		// Pin the stream against the collector, then make sure it was not
		// made garbage (and perhaps collected) in between; the collector
		// only deletes the chunks of garbage streams.
		s.pins.Pin(id)
		var state int16
		err = s.pool.QueryRow(ctx, `SELECT state FROM `+s.n.streams+` WHERE id = $1`, id).Scan(&state)
		if err == nil && state == 1 {
			s.touch(key, now)
			rctx := context.WithoutCancel(ctx)
			return &storekit.ChunkReader{
				Size:      size,
				ChunkSize: chunkSize,
				Load:      func(seq, max int64) ([]byte, error) { return s.load(rctx, key, id, seq, max) },
				Closed:    func() { s.pins.Unpin(id) },
				Name:      fmt.Sprintf("pgstore: read stream %q", key),
			}, size, nil
		}
		s.pins.Unpin(id)
		switch {
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return nil, 0, s.fail(ctx, "open stream", key, err)
		case attempt == 2:
			// Replaced three times while opening: report it as gone.
			return nil, 0, errNotFound
		}
	}
}

// load reads chunk seq of stream id for the reader of key, of at most max
// bytes.
func (s *Store) load(ctx context.Context, key string, id, seq, max int64) ([]byte, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var (
		data []byte
		sum  int64
	)
	err := s.pool.QueryRow(ctx, `SELECT sum, data FROM `+s.n.chunks+` WHERE stream_id = $1 AND seq = $2`, id, seq).Scan(&sum, &data)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, wrap("read stream", key, ErrStreamGone)
	case err != nil:
		return nil, s.fail(ctx, "read stream", key, err)
	case storekit.ChunkSum(id, seq, data) != sum:
		return nil, fmt.Errorf("pgstore: read stream %q: chunk %d of stream %d: %w", key, seq, id, errCorruptChunk)
	case len(data) == 0 || int64(len(data)) > max:
		return nil, fmt.Errorf("pgstore: read stream %q: chunk %d of stream %d has %d bytes, %d expected at most: %w",
			key, seq, id, len(data), max, core.ErrCorrupt)
	}
	return data, nil
}
