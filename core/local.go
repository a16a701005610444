package core

import "context"

// LocalGetter is implemented by stores that can answer some reads from
// process memory, without I/O: a two-tier store (package stores/tiered)
// whose in-process L1 holds the key. The Cache asks GetLocal before every
// read of an entry, and calls Get (under the store timeout, the circuit
// breaker and the error accounting, see WithStoreTimeout) only when GetLocal
// reports false.
//
// Contract:
//   - GetLocal is safe for concurrent use, never blocks on I/O or on a lock
//     held across I/O, and returns quickly (it runs with no timeout).
//   - ok true means value is what Get would return now (the same contract:
//     not expired, not to be modified by either side afterwards); ok false
//     means "ask Get", not a miss.
//   - A store that keeps copies of a shared store's values reports false
//     while it cannot vouch for them (a lost invalidation subscription).
//
// A read answered by GetLocal is reported to observers as a get (StoreOp)
// and counts neither for nor against the circuit breaker: it reaches no
// server, so it is served while the breaker is open too.
type LocalGetter interface {
	GetLocal(key string) (value []byte, ok bool)
}

// getLocal reads key through the store's LocalGetter, if it has one, unless
// the Cache is closing; false means the store must be asked with call.
func (c *Cache) getLocal(ctx context.Context, key string) ([]byte, bool) {
	if c.local == nil || !c.gate.enter() {
		return nil, false
	}
	defer c.gate.leave()
	v, ok := c.local.GetLocal(key)
	if ok {
		o, start := c.opStart(ctx)
		o.opDone(OpGet, start, nil)
	}
	return v, ok
}
