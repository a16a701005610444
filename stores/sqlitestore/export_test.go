package sqlitestore

import (
	"context"
	"time"
)

// NewWithClock is New with an injected clock and stream grace period, for
// tests of expiry, sweeping and abandoned streams without waiting.
func NewWithClock(ctx context.Context, opts *Options, now func() time.Time, grace time.Duration) (*Store, error) {
	return newStore(ctx, opts, config{now: now, grace: grace, flushEvery: flushEvery})
}

// FlushAccessTimes writes the recorded access times now.
func (s *Store) FlushAccessTimes(ctx context.Context) error { return s.flushTouches(ctx) }

// ChunkSize is the size of a stream chunk.
const ChunkSize = chunkSize

// OrphanGrace is how long ago a stream without a value must have been
// committed for the sweep to collect it.
const OrphanGrace = orphanGrace

// DriverDSNs returns the driver DSNs (pragmas, journal mode, transaction
// lock) New gives the writer and the readers of the file at path, for a
// benchmark that issues the store's statements straight through the driver.
func DriverDSNs(path string) (writer, reader string, err error) {
	s := &Store{busyTimeout: DefaultBusyTimeout}
	return s.dsns(path)
}
