package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// NewWithClock is New with an injected clock and stream grace period, for
// tests of expiry, sweeping and abandoned streams without waiting.
func NewWithClock(ctx context.Context, pool *pgxpool.Pool, opts *Options, now func() time.Time, grace time.Duration) (*Store, error) {
	c := defaultConfig()
	c.now, c.grace = now, grace
	return newStore(ctx, pool, opts, c)
}

// FlushAccessTimes writes the recorded access times now.
func (s *Store) FlushAccessTimes(ctx context.Context) error { return s.flushTouches(ctx) }

// ChunkSize is the size of a stream chunk.
const ChunkSize = chunkSize

// OrphanGrace is how long ago a stream without a value must have been
// committed for the sweep to collect it.
const OrphanGrace = orphanGrace

// EntriesTable is the quoted name of the store's entries table.
func (s *Store) EntriesTable() string { return s.n.entries }
