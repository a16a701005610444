package filestore

// Hooks for the external tests (package filestore_test).

// NewWithClock is New with an injected clock for expiry and last access.
var NewWithClock = newStore

// SweepOnce runs one sweep now and returns the number of files examined.
func (s *Store) SweepOnce() int { return s.sweepOnce() }

// IndexedBytes is the total size the in-memory index holds.
func (s *Store) IndexedBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idx.total
}

// OrphanGrace is how old a stream without a value must be to be removed.
const OrphanGrace = orphanGrace
