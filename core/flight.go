package core

import (
	"context"
	"sync"
)

// flight is one in-progress origin exchange that identical requests wait for.
type flight struct {
	done chan struct{}
	// entry is the response to share (immutable once done is closed), or nil
	// when the leader's response could not be shared; waiters then send
	// their own request.
	entry *Entry
	key   string
	index *Variants
	// status is the fwd-status the leader got (304 for a revalidation).
	status int
}

// flightGroup coalesces identical misses and revalidations.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

// join returns the flight for key and whether the caller leads it. The leader
// must call finish.
func (g *flightGroup) join(key string) (*flight, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[key]; ok {
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	g.m[key] = f
	return f, true
}

// finish publishes the leader's result and releases the waiters.
func (g *flightGroup) finish(key string, f *flight, e *Entry, storeKey string, status int) {
	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
	f.entry, f.key, f.status = e, storeKey, status
	close(f.done)
}

// wait blocks until the flight finishes or ctx is done.
func (f *flight) wait(ctx context.Context) error {
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
