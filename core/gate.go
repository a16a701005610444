package core

import (
	"sync"
	"sync/atomic"
)

// gate guards the Cache's calls into its store against Close: every store
// call (Get, Set, Delete, List, Clear, CreateStream and the writes and
// commit of a stream, OpenStream) is made between enter and leave, enter
// fails once Close has begun, and Close waits (drain) until the calls that
// entered before have left. What only releases a resource made before Close
// (aborting a stream writer, closing a stream reader) is not guarded.
// Holding it is cheap (one atomic add each way) and re-entrant: it counts
// calls, so a call made while another is held never waits for Close.
type gate struct {
	// state is the number of calls in progress, plus closedBit once Close
	// has begun.
	state atomic.Int64
	once  sync.Once
	idle  chan struct{} // closed when closed and no call is in progress
}

const closedBit = 1 << 62

func newGate() *gate { return &gate{idle: make(chan struct{})} }

// enter reports whether a store call may be made; if so, leave must follow.
func (g *gate) enter() bool {
	if g.state.Add(1)&closedBit != 0 {
		g.leave()
		return false
	}
	return true
}

// leave ends a call that enter allowed.
func (g *gate) leave() {
	if g.state.Add(-1) == closedBit {
		g.once.Do(func() { close(g.idle) })
	}
}

// closed reports whether Close has begun.
func (g *gate) closed() bool { return g.state.Load()&closedBit != 0 }

// close makes every later enter fail.
func (g *gate) close() {
	if g.state.Or(closedBit) == 0 {
		g.once.Do(func() { close(g.idle) })
	}
}

// drain waits, after close, until no call is in progress.
func (g *gate) drain() { <-g.idle }
