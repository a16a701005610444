package core

import (
	"context"
	"sync"
	"time"
)

// flight is one in-progress origin exchange that identical requests wait for.
//
// A waiter never depends on how the leader's caller reads its body: the
// leader publishes its result as soon as the exchange is done (for a buffered
// body, once storeResponse has read it from the origin by itself), and when
// the body is instead streamed to the leader's caller and into the store, it
// says so (streaming); a waiter then waits at most the collapse wait for the
// stream to be committed and otherwise sends its own request.
type flight struct {
	done chan struct{}
	// streaming is closed when the leader's body is being streamed into the
	// store; done follows when the stream is committed or abandoned.
	streaming chan struct{}
	// entry is the response to share (immutable once done is closed), or nil
	// when the leader's response could not be shared; waiters then send
	// their own request.
	entry *Entry
	key   string
	index *Variants
	// status is the fwd-status the leader got (304 for a revalidation).
	status int
	// once makes the leader's publish happen once (see Cache.publish).
	once sync.Once
	// joined counts the requests that found the flight (under the group's
	// mutex): each may read entry once done is closed.
	joined int
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
		f.joined++
		return f, false
	}
	f := &flight{done: make(chan struct{}), streaming: make(chan struct{})}
	g.m[key] = f
	return f, true
}

// finish publishes the leader's result and releases the waiters.
func (g *flightGroup) finish(key string, f *flight, e *Entry, storeKey string, status int) {
	g.forget(key, f)
	f.entry, f.key, f.status = e, storeKey, status
	close(f.done)
}

// seal removes f from the group, so that no request joins it any more,
// and reports whether any did: when none did, nothing will read the entry
// the leader publishes, and the leader may hand it to its own caller.
func (g *flightGroup) seal(key string, f *flight) (joined bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m[key] == f {
		delete(g.m, key)
	}
	return f.joined > 0
}

// forget removes f from the group (unless another flight took its place), so
// that later requests do not join it: a flight whose stream stalled is
// forgotten by the first waiter that stops waiting for it.
func (g *flightGroup) forget(key string, f *flight) {
	g.mu.Lock()
	if g.m[key] == f {
		delete(g.m, key)
	}
	g.mu.Unlock()
}

// wait blocks until the flight finishes (true: its result may be read), or
// until it has been streaming for streamWait (false: the waiter must send its
// own request), or until ctx is done.
func (f *flight) wait(ctx context.Context, streamWait time.Duration) (bool, error) {
	select {
	case <-f.done:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-f.streaming:
	}
	t := time.NewTimer(streamWait)
	defer t.Stop()
	select {
	case <-f.done:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-t.C:
		return false, nil
	}
}
