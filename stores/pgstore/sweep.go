package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// evict brings the stored bytes under MaxBytes in one transaction: expired
// entries and streams first, then the least recently used keys (the
// recorded accesses are written before choosing, so that recency is
// current) — never keep, the key just written, which must not be the victim
// of its own write.
func (s *Store) evict(ctx context.Context, keep []byte) error {
	var gc bool
	err := s.write(ctx, func(tx pgx.Tx, total int64) error {
		gc = false
		if total <= s.maxBytes {
			return nil // another writer evicted meanwhile
		}
		// Expired rows go first: they are dead weight until the sweep.
		now := s.now()
		if _, err := tx.Exec(ctx, `DELETE FROM `+s.n.entries+` WHERE key IN (
			SELECT key FROM `+s.n.entries+` WHERE expires <= $1 LIMIT $2)`, now, sweepBatch); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE `+s.n.streams+` SET state = 2, key = NULL, touched = $1 WHERE id IN (
			SELECT id FROM `+s.n.streams+` WHERE state = 1 AND expires <= $1 LIMIT $2)`, now, sweepBatch)
		if err != nil {
			return err
		}
		gc = tag.RowsAffected() > 0
		if err := s.applyTouches(ctx, tx, s.touched.Take()); err != nil {
			return err
		}
		for {
			if err := tx.QueryRow(ctx, s.q.bytes).Scan(&total); err != nil || total <= s.maxBytes {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT key, size FROM (
					(SELECT key, accessed, size FROM `+s.n.entries+` ORDER BY accessed LIMIT $1)
					UNION ALL
					(SELECT key, accessed, size FROM `+s.n.streams+` WHERE state = 1 ORDER BY accessed LIMIT $1)
				) AS lru ORDER BY accessed LIMIT $1`, victims)
			if err != nil {
				return err
			}
			var (
				keys  [][]byte
				k     []byte
				size  int64
				freed int64
			)
			_, err = pgx.ForEachRow(rows, []any{&k, &size}, func() error {
				if freed < total-s.maxBytes && !bytes.Equal(k, keep) {
					keys = append(keys, bytes.Clone(k))
					freed += size
				}
				return nil
			})
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				return nil // only the key being written is left: it alone exceeds the cap
			}
			g, err := s.deleteKeys(ctx, tx, keys)
			if err != nil {
				return err
			}
			gc = gc || g
			for _, k := range keys {
				s.forget(string(k))
			}
		}
	})
	if gc {
		kick(s.gcKick)
	}
	return err
}

// touch records an access to key at now, to be written later.
func (s *Store) touch(key string, now time.Time) {
	if s.touched.Touch(key, now) >= maxTouched {
		kick(s.flushKick)
	}
}

// forget drops the recorded access of a deleted key.
func (s *Store) forget(key string) { s.touched.Forget(key) }

// flushTouches writes the recorded accesses, touchBatch per statement. The
// updates change no size, so they take no lock on the size counter.
func (s *Store) flushTouches(ctx context.Context) error {
	m := s.touched.Take()
	var errs []error
	for len(m) > 0 {
		batch := make(map[string]time.Time, min(len(m), touchBatch))
		for k, t := range m {
			batch[k] = t
			delete(m, k)
			if len(batch) == touchBatch {
				break
			}
		}
		err := retry(ctx, func() error {
			tx, _, err := s.begin(ctx, false)
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
			if err := s.applyTouches(ctx, tx, batch); err != nil {
				return err
			}
			return tx.Commit(ctx)
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pgstore: writing access times: %w", err)
	}
	return nil
}

// applyTouches writes access times in tx, keys in sorted order (so that
// two processes flushing at once lock rows in the same order).
func (s *Store) applyTouches(ctx context.Context, tx pgx.Tx, m map[string]time.Time) error {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	kb := make([][]byte, len(keys))
	at := make([]time.Time, len(keys))
	for i, k := range keys {
		kb[i], at[i] = []byte(k), m[k]
	}
	if _, err := tx.Exec(ctx, s.q.touchEntries, kb, at); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, s.q.touchStreams, kb, at)
	return err
}

// background writes access times, sweeps, collects garbage streams and,
// for a store opened lazily, checks the tables until ctx is done.
func (s *Store) background(ctx context.Context) {
	defer close(s.bgDone)
	flushT := time.NewTicker(s.flushEvery)
	defer flushT.Stop()
	var sweepC <-chan time.Time
	if s.sweepEvery > 0 {
		t := time.NewTicker(s.sweepEvery)
		defer t.Stop()
		sweepC = t.C
	}
	logErr := func(what string, err error) {
		if err != nil && ctx.Err() == nil {
			slog.WarnContext(ctx, "pgstore: background "+what+" failed", "table", s.n.table, "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-flushT.C:
			if !s.ready.Load() {
				// A lazy store whose server has not answered yet: try
				// the tables, quietly (the operations report failures).
				octx, cancel := context.WithTimeout(ctx, s.flushEvery)
				_ = s.ensure(octx)
				cancel()
				continue
			}
			logErr("access time flush", s.flushTouches(ctx))
		case <-s.flushKick:
			if s.ready.Load() {
				logErr("access time flush", s.flushTouches(ctx))
			}
		case <-sweepC:
			if !s.ready.Load() {
				continue
			}
			more, err := s.sweep(ctx, backgroundBatches)
			logErr("sweep", err)
			if more {
				kick(s.gcKick)
			}
		case <-s.gcKick:
			if !s.ready.Load() {
				continue
			}
			more, err := s.collect(ctx, backgroundBatches)
			logErr("stream collection", err)
			if more {
				kick(s.gcKick)
			}
		}
	}
}

// Sweep deletes every expired entry and stream, and the chunks of streams
// that are deleted, were abandoned by a writer (a crashed process) more
// than an hour ago, or were committed more than five minutes ago without a
// value ever written for their key (a process that died between the two).
// It runs in short transactions, so other writers interleave. The
// background sweep (Options.SweepInterval) does the same with a bounded
// number of statements per run.
func (s *Store) Sweep(ctx context.Context) error {
	if err := s.check(ctx, "sweep", ""); err != nil {
		return err
	}
	if err := s.flushTouches(ctx); err != nil {
		return s.fail(ctx, "sweep", "", err)
	}
	if _, err := s.sweep(ctx, -1); err != nil {
		return s.fail(ctx, "sweep", "", err)
	}
	return nil
}

// sweep runs at most maxTx statements of each kind (unbounded when
// negative); more reports whether work is left.
func (s *Store) sweep(ctx context.Context, maxTx int) (more bool, err error) {
	now := s.now()
	steps := []struct {
		query string
		args  []any
	}{
		{`DELETE FROM ` + s.n.entries + ` WHERE key IN (
			SELECT key FROM ` + s.n.entries + ` WHERE expires <= $1 LIMIT $2)`,
			[]any{now, sweepBatch}},
		{`UPDATE ` + s.n.streams + ` SET state = 2, key = NULL, touched = $1 WHERE id IN (
			SELECT id FROM ` + s.n.streams + ` WHERE state = 1 AND expires <= $1 LIMIT $2)`,
			[]any{now, sweepBatch}},
		// Writers that stopped writing: state 0 streams count nothing, so
		// no lock on the counter would be needed, but one order for all
		// keeps the code simple.
		{`UPDATE ` + s.n.streams + ` SET state = 2, touched = $1 WHERE id IN (
			SELECT id FROM ` + s.n.streams + ` WHERE state = 0 AND touched < $3 LIMIT $2)`,
			[]any{now, sweepBatch, now.Add(-s.grace)}},
		// Committed streams whose key has no value (touched is the commit
		// time of a committed stream).
		{`UPDATE ` + s.n.streams + ` SET state = 2, key = NULL, touched = $1 WHERE id IN (
			SELECT id FROM ` + s.n.streams + ` AS st WHERE state = 1 AND touched < $3
				AND NOT EXISTS (SELECT 1 FROM ` + s.n.entries + ` AS e WHERE e.key = st.key) LIMIT $2)`,
			[]any{now, sweepBatch, now.Add(-orphanGrace)}},
	}
	for _, st := range steps {
		for i := 0; ; i++ {
			if maxTx >= 0 && i == maxTx {
				more = true
				break
			}
			var n int64
			b := newBatch()
			b.Queue(s.q.lock)
			b.Queue(st.query, st.args...)
			err := s.batch(ctx, b, func(br pgx.BatchResults) error {
				if _, err := br.Exec(); err != nil {
					return err
				}
				tag, err := br.Exec()
				n = tag.RowsAffected()
				return err
			})
			if err != nil {
				return more, err
			}
			if n < sweepBatch {
				break
			}
		}
	}
	m, err := s.collect(ctx, maxTx)
	return more || m, err
}

// collect deletes the chunks of garbage streams that no reader of this
// Store has open, and then the streams, one stream per statement pair, for
// at most maxTx streams (unbounded when negative); more reports whether
// such garbage is left. Garbage is final (nothing makes a state 2 stream
// live again), so no lock is needed.
func (s *Store) collect(ctx context.Context, maxTx int) (more bool, err error) {
	for i := 0; maxTx < 0 || i < maxTx; i++ {
		pinned := s.pins.IDs()
		var id int64
		err := s.pool.QueryRow(ctx, `SELECT id FROM `+s.n.streams+` WHERE state = 2 AND NOT (id = ANY($1)) ORDER BY id LIMIT 1`,
			pinned).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		// A reader pins a stream before checking that it is committed, so
		// a stream that was garbage when we read it and is not pinned now
		// can no longer be pinned.
		if s.pins.Pinned(id) {
			continue
		}
		b := newBatch()
		b.Queue(`DELETE FROM `+s.n.chunks+` WHERE stream_id = $1`, id)
		b.Queue(`DELETE FROM `+s.n.streams+` WHERE id = $1 AND state = 2`, id)
		err = s.batch(ctx, b, func(br pgx.BatchResults) error {
			_, err1 := br.Exec()
			_, err2 := br.Exec()
			return errors.Join(err1, err2)
		})
		if err != nil {
			return false, err
		}
	}
	return true, nil
}
