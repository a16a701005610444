package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hoardhttp/hoard/core"
)

// Leases (core.Leaser, for core.WithLeaseWait) are rows of the UNLOGGED
// table Options.Table + "_leases" (created by the first Lease, dropped with
// the other tables): key (primary key), token, expires. Taking
// a lease is one INSERT … ON CONFLICT DO UPDATE … WHERE the present row has
// lapsed, so at most one holder's row is live per key; expiry is measured
// by the server's clock (clock_timestamp()), which every process shares.
// Release deletes the row only while it holds the releaser's token. Rows of
// holders that never released (they crashed) are reused by the next lease
// of their key, and swept now and then (leaseSweepEvery) by Lease.
//
// Rows rather than advisory locks: an advisory lock belongs to a database
// session, so the holder would have to keep one pooled connection for the
// whole origin request (a pool of N connections would cap the misses in
// flight at N) and release it on that same connection; it has no ttl of
// its own, and a lost connection ends it silently. A row works from any
// connection of any pool, lapses by itself after its ttl, and survives a
// connection lost meanwhile. UNLOGGED keeps it out of the WAL: a lease is
// worth nothing after a server crash, which empties the table.

// leaseSweepEvery is the least time between two sweeps of lapsed leases.
const leaseSweepEvery = time.Minute

var _ core.Leaser = (*Store)(nil)

// leaseDDL creates the leases table, on the first Lease (a store that never
// leases has none). It is not part of the layout's creating transaction:
// with an UNLOGGED table in it, a server crash soon after lost the whole
// layout (TestFaultServerStopped).
func (n names) leaseDDL() string {
	return `CREATE UNLOGGED TABLE IF NOT EXISTS ` + n.leases + ` (
			key     bytea       NOT NULL PRIMARY KEY,
			token   text        NOT NULL,
			expires timestamptz NOT NULL
		)`
}

// Lease implements core.Leaser with one INSERT … ON CONFLICT: ok is true
// when key had no live lease, and the returned token then holds it for ttl
// by the server's clock.
func (s *Store) Lease(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	if err := s.check(ctx, "lease", key); err != nil {
		return "", false, err
	}
	if ttl < time.Millisecond {
		return "", false, wrap("lease", key, fmt.Errorf("ttl %v is below a millisecond", ttl))
	}
	token := newToken()
	q := `INSERT INTO ` + s.n.leases + ` AS l (key, token, expires)
		VALUES ($1, $2, clock_timestamp() + $3::bigint * interval '1 microsecond')
		ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires = excluded.expires
			WHERE l.expires <= clock_timestamp()
		RETURNING true`
	var taken bool
	err := s.withLeaseTable(ctx, func() error {
		return s.pool.QueryRow(ctx, q, []byte(key), token, ttl.Microseconds()).Scan(&taken)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", false, nil // a live lease holds the key
	case err != nil:
		return "", false, s.fail(ctx, "lease", key, err)
	}
	s.sweepLeases(ctx)
	return token, true, nil
}

// Release implements core.Leaser: it deletes key's lease row while token
// holds it.
func (s *Store) Release(ctx context.Context, key, token string) error {
	if err := s.check(ctx, "release lease", key); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM `+s.n.leases+` WHERE key = $1 AND token = $2`, []byte(key), token)
	if err != nil && !undefinedTable(err) { // no table: no lease to release
		return s.fail(ctx, "release lease", key, err)
	}
	return nil
}

// withLeaseTable runs fn, and when the leases table is missing (the first
// Lease of these tables) creates it and runs fn again.
func (s *Store) withLeaseTable(ctx context.Context, fn func() error) error {
	err := fn()
	if !undefinedTable(err) {
		return err
	}
	if err := s.createLeaseTable(ctx); err != nil {
		return fmt.Errorf("creating %s_leases: %w", s.n.table, err)
	}
	return fn()
}

// createLeaseTable creates the leases table unless it exists, in a
// transaction under an advisory lock on its name: CREATE TABLE IF NOT EXISTS
// alone is not safe against a concurrent creation (the loser fails with a
// unique violation in pg_type), and the first Leases of a new store often
// come from several processes at once.
func (s *Store) createLeaseTable(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('hoard pgstore ' || $1, 0))`, s.n.leases); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, s.n.leaseDDL()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// sweepLeases deletes the rows of lapsed leases, at most once per
// leaseSweepEvery per Store; a failure waits for the next sweep.
func (s *Store) sweepLeases(ctx context.Context) {
	last := s.leaseSwept.Load()
	now := time.Now().UnixNano()
	if now-last < int64(leaseSweepEvery) || !s.leaseSwept.CompareAndSwap(last, now) {
		return
	}
	_, _ = s.pool.Exec(ctx, `DELETE FROM `+s.n.leases+` WHERE expires < clock_timestamp() - interval '1 second'`)
}

// undefinedTable reports a statement on a table that does not exist.
func undefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}

// newToken returns a random lease token.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}
