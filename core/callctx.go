package core

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// callContext is the context of one store call bounded by the store
// timeout: it behaves as context.WithDeadline(parent, deadline) whose
// cancel runs when the call returns (finish), but it starts no timer and
// makes no channel until the store asks for Done. A store that only checks
// Err and Deadline (an in-process or disk store: a syscall cannot be
// interrupted anyway) then pays for one small object per call instead of a
// cancelable context, its timer and the parent's child bookkeeping; one
// that waits on Done (a network store) gets the real context on first use.
//
// Err before Done is answered by the clock. That agrees with the real
// context: by the time anyone can wait on Done, it exists, and one made
// after the deadline (or after the parent ended) is cancelled on creation.
type callContext struct {
	parent   context.Context
	deadline time.Time

	mu       sync.Mutex
	realSet  atomic.Bool // real and cancel are set (written under mu, before realSet)
	real     context.Context
	cancel   context.CancelFunc
	finished atomic.Bool // the call returned: the context is cancelled
}

// newCallContext returns the context of a store call that must end within
// d of now.
func newCallContext(parent context.Context, d time.Duration) *callContext {
	return &callContext{parent: parent, deadline: time.Now().Add(d)}
}

// Deadline is the earlier of the parent's deadline and the call's.
func (c *callContext) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

// Done materializes the real context and returns its channel.
func (c *callContext) Done() <-chan struct{} {
	return c.materialize().Done()
}

// Err reports the real context's error once there is one; before, the
// parent's error, then context.Canceled after finish, then
// context.DeadlineExceeded once the deadline has passed.
func (c *callContext) Err() error {
	if c.realSet.Load() {
		return c.real.Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if c.finished.Load() {
		return context.Canceled
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value delegates to the real context once there is one, so that
// context.Cause and the cancel propagation of contexts derived from this
// one see its cancellation; an ended context is materialized first.
func (c *callContext) Value(key any) any {
	if !c.realSet.Load() {
		if c.Err() == nil {
			return c.parent.Value(key)
		}
		c.materialize()
	}
	return c.real.Value(key)
}

// String names the context for debugging.
func (c *callContext) String() string { return "core.storeCallContext" }

// materialize returns the real context, creating it on first use: cancelled
// at once when the call has already returned.
func (c *callContext) materialize() context.Context {
	if c.realSet.Load() {
		return c.real
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.realSet.Load() {
		c.real, c.cancel = context.WithDeadline(c.parent, c.deadline)
		if c.finished.Load() {
			c.cancel()
		}
		c.realSet.Store(true)
	}
	return c.real
}

// finish ends the context when its call returns, as a deferred cancel does.
func (c *callContext) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finished.Store(true)
	if c.realSet.Load() {
		c.cancel()
	}
}
