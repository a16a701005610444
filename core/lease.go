package core

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Request coalescing across processes (WithLeaseWait). Within one process,
// identical concurrent misses already share one origin request (flight.go).
// Across processes sharing a store, the store's lease on the key plays the
// flight's part: the process holding it fetches, the others wait for the
// entry it stores. RFC 9111 §4 allows a cache to collapse requests into one
// forward request provided it may reuse the response for each of them; a
// waiter is therefore served only what a lookup of its own request would
// serve (a fresh hit, its variant), with the Cache-Status of a hit: it was
// answered from the store, not forwarded (the "collapsed" parameter of RFC
// 9211 §2.6 belongs to forwarded requests, and marks in-process waiters).

// Leaser is implemented by shared stores that can hold a short exclusive
// lease on a key across every process using the store, so that identical
// misses in different processes cost one origin request (see
// WithLeaseWait).
//
// Contract, checked by conformance.RunStoreTests (clause "Lease") for every
// store that implements it:
//   - Lease takes the lease on key for ttl (at least a millisecond) when no
//     live lease on key exists (none was taken, or it was released, or its
//     ttl has passed), and returns a token that no other Lease call returns,
//     and ok true. While another holder's lease on key is live it returns
//     ok false and no error. At most one holder at a time, across every
//     value of the store over the same namespace (every process).
//   - A lease lapses by itself once its ttl has passed (measured by the
//     store's server where it has one), so a holder that crashed blocks no
//     one for longer than ttl: there is never a deadlock.
//   - Release ends the lease on key if token still holds it, and otherwise
//     (the lease lapsed, or another holder took it since) changes nothing
//     and returns nil: a late Release never ends another holder's lease.
//   - Leases are not entries: Get never returns them, List never yields
//     them, and Set, Delete and Clear of entries leave them alone. Lease
//     and entry keys do not collide.
//   - Both methods are safe for concurrent use and honour ctx like the
//     Store methods.
//
// A store that implements Leaser only in some configurations (a wrapper
// such as stores/tiered, which leases through its L2 when L2 can) answers
// Lease with an error wrapping ErrNotSupported when it cannot lease. A
// Cache takes the first such answer for good: from then on it takes no
// leases over that store (its misses do not coalesce across processes),
// and the answer is neither counted nor logged as a store error. The
// request that received it goes to the origin, as without WithLeaseWait.
type Leaser interface {
	Lease(ctx context.Context, key string, ttl time.Duration) (token string, ok bool, err error)
	Release(ctx context.Context, key, token string) error
}

// Poll intervals of a request waiting for another process's entry: the
// first check after leasePollMin, doubling up to leasePollMax, each with
// ±25% jitter so that waiting processes do not poll in step. A store that
// implements Invalidator wakes the waiters as soon as the entry is written.
const (
	leasePollMin = 2 * time.Millisecond
	leasePollMax = 50 * time.Millisecond
)

// subscribeRetry is how long a lease waiter's failed subscription to the
// store's invalidations is left before it is tried again (polling goes on
// meanwhile).
const subscribeRetry = 30 * time.Second

// Subscription states of leases.
const (
	subNone        = iota // not tried yet (or retry due)
	subPending            // a subscription is being made
	subActive             // subscribed: writes wake the waiters
	subFailed             // failed; retried after retryAt
	subUnsupported        // the store cannot publish (ErrNotSupported)
	subStopped            // the Cache is closed
)

// leases is the Cache's side of WithLeaseWait: the store's Leaser and the
// waiters to wake when the store reports a write (Invalidator). One
// subscription per Cache, made by the first wait and ended by Close once
// the store calls in progress have drained.
type leases struct {
	leaser Leaser
	wait   time.Duration
	inv    Invalidator // nil when the store has no notifications

	// unsupported is set by the first Lease that said ErrNotSupported:
	// the Cache then takes no leases (see Leaser).
	unsupported atomic.Bool

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{} // store key → wake channels
	state   int
	retryAt time.Time
	stopSub func()
}

// newLeases returns the lease machinery of c, or nil when WithLeaseWait is
// off or the store cannot lease.
func newLeases(c *Cache) *leases {
	if c.cfg.leaseWait <= 0 {
		return nil
	}
	l, ok := c.store.(Leaser)
	if !ok {
		return nil
	}
	ls := &leases{leaser: l, wait: c.cfg.leaseWait, waiters: map[string]map[chan struct{}]struct{}{}}
	if inv, ok := c.store.(Invalidator); ok {
		ls.inv = inv
	}
	return ls
}

// stop ends the subscription; Close calls it once the store calls in
// progress have drained (and none can start).
func (ls *leases) stop() {
	if ls == nil {
		return
	}
	ls.mu.Lock()
	stop := ls.stopSub
	ls.state, ls.stopSub = subStopped, nil
	ls.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// heldLease is the store's lease an exchange holds while it fetches: the
// entry's key, the token, and a context for its release that outlives the
// request's cancellation.
type heldLease struct {
	key, token string
	ctx        context.Context
}

// leased is Join's step for the leader of a miss's flight when WithLeaseWait
// is on: it takes the store's lease on the entry's key (x then holds it, and
// publish releases it once the outcome is stored or abandoned) and returns
// nil, nil, so that the leader sends its request; or, when another process
// holds the lease, it waits for that process's entry and returns the
// response served from it, which the flight's in-process waiters share too.
// When the wait ends without an entry it returns nil, nil without a lease:
// the leader goes to the origin alone. The error is ctx's, when it ends
// during the wait. Without leases, or for a request they do not apply to,
// it returns nil, nil at once.
func (c *Cache) leased(ctx context.Context, x *exchange) (*http.Response, error) {
	if c.leases == nil || c.leases.unsupported.Load() || !c.leaseApplies(x) {
		return nil, nil
	}
	key := x.primary
	token, ok, err := c.takeLease(ctx, key)
	switch {
	case err != nil:
		return nil, nil // fail open
	case ok:
		// Another process may have stored the entry and released its
		// lease between this request's lookup and its lease.
		if w := c.storedNow(ctx, x); w.resp != nil {
			c.releaseLease(ctx, key, token)
			return c.servedFromStore(x, w), nil
		}
		x.lease = &heldLease{key: key, token: token, ctx: context.WithoutCancel(ctx)}
		return nil, nil
	}
	bound := c.leaseBound(ctx)
	if bound <= 0 {
		return nil, nil
	}
	w, err := c.awaitLeased(ctx, x, bound)
	if err != nil || w.resp == nil {
		return nil, err // the bound passed, or the holder left no usable entry
	}
	return c.servedFromStore(x, w), nil
}

// servedFromStore gives the flight x leads the entry another process stored
// (when its waiters may share it) and returns the leader's response.
func (c *Cache) servedFromStore(x *exchange, w waited) *http.Response {
	if w.entry != nil {
		x.index = w.index
	}
	c.publish(x, w.entry, w.key)
	return w.resp
}

// releaseHeld releases the lease x holds, once; publish calls it when the
// leader's outcome is stored or abandoned.
func (c *Cache) releaseHeld(x *exchange) {
	if h := x.lease; h != nil {
		x.lease = nil
		c.releaseLease(h.ctx, h.key, h.token)
	}
}

// leaseApplies reports whether a miss takes a lease: a GET or HEAD without
// a body (looking it up again must not read a body twice), by a cache that
// writes, with a store that answered its lookup.
func (c *Cache) leaseApplies(x *exchange) bool {
	return x.act == Miss && (x.method == http.MethodGet || x.method == http.MethodHead) &&
		(x.req.Body == nil || x.req.Body == http.NoBody) &&
		!c.cfg.readOnly && !x.skipWrite() && !c.gate.closed()
}

// leaseBound is how long a request may wait for another process's entry:
// WithLeaseWait, and at most half of what remains of ctx's deadline (so
// that the request still has time for the origin when the wait ends).
func (c *Cache) leaseBound(ctx context.Context) time.Duration {
	d := c.leases.wait
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)/2)
	}
	return d
}

// takeLease takes the store's lease on key for the WithLeaseWait duration.
// An error (logged and counted by call) means the request fails open. An
// error wrapping ErrNotSupported is returned too, but not counted or
// logged: it turns the Cache's leases off for good (see Leaser).
func (c *Cache) takeLease(ctx context.Context, key string) (token string, ok bool, err error) {
	var unsupported error
	err = c.call(ctx, "lease", key, onRequest, func(ctx context.Context) (err error) {
		token, ok, err = c.leases.leaser.Lease(ctx, key, c.leases.wait)
		if errors.Is(err, ErrNotSupported) {
			// The store answered: not a failure (call records a success).
			unsupported, err = err, nil
		}
		return err
	})
	if unsupported != nil {
		if !c.leases.unsupported.Swap(true) {
			c.cfg.logger.LogAttrs(context.WithoutCancel(ctx), slog.LevelDebug,
				"hoard: lease waits off: the store cannot lease", slog.Any("error", unsupported))
		}
		return "", false, unsupported
	}
	return token, ok, err
}

// releaseLease releases the lease token holds on key, on a context that
// outlives the request's cancellation (bounded by the store timeout); a
// lease that cannot be released lapses by itself.
func (c *Cache) releaseLease(ctx context.Context, key, token string) {
	c.call(context.WithoutCancel(ctx), "release lease", key, onRequest, func(ctx context.Context) error {
		return c.leases.leaser.Release(ctx, key, token)
	})
}

// waited is the outcome of looking for the entry another process fetches:
// resp is the response to serve (nil when there is none yet), entry a copy
// of the entry the flight's waiters may share (nil when they must look for
// themselves), with its key and variant index; done reports that waiting
// longer is pointless (an entry is there, but not one to serve as it is).
type waited struct {
	resp  *http.Response
	entry *Entry
	key   string
	index *Variants
	done  bool
}

// storedNow looks x's request up again, as Lookup would, and returns the
// response when the result is a Hit. Any other result with an entry (one to
// revalidate, another variant) ends the wait: the request then goes to the
// origin.
func (c *Cache) storedNow(ctx context.Context, x *exchange) waited {
	nx := new(exchange)
	if err := c.lookup(ctx, x.req, nx); err != nil {
		return waited{done: true}
	}
	switch {
	case nx.act == Miss && nx.storeErr == nil && nx.index == nil:
		return waited{} // nothing yet (a variant index without this
		// request's variant means the holder fetched another one)
	case nx.act != Hit || nx.resp == nil:
		if nx.resp != nil && nx.resp.Body != nil {
			nx.resp.Body.Close()
		}
		nx.release(x.req)
		return waited{done: true}
	}
	w := waited{resp: nx.resp, key: nx.key}
	// The response owns the entry it was built from; the flight's waiters
	// get their own copy, read again (once per process and key).
	if !nx.fromGET {
		var e Entry
		fx := new(exchange)
		if c.find(ctx, x.req, x.primary, &e, fx) && fx.key == nx.key {
			w.entry, w.index = &e, fx.index
		}
	}
	return w
}

// awaitLeased waits, for at most bound, for the entry that the process
// holding the lease on x.primary fetches. It returns the response once the
// entry is there; an empty waited when the bound passes, when the holder
// released its lease without a usable entry, when the store fails, or when
// the Cache is closing (the request then goes to the origin); and ctx's
// error when ctx ends first.
func (c *Cache) awaitLeased(ctx context.Context, x *exchange, bound time.Duration) (waited, error) {
	deadline := time.Now().Add(bound)
	var wake chan struct{}
	if c.leases.inv != nil {
		keys := []string{x.primary}
		if x.getKey != "" {
			keys = append(keys, x.getKey)
		}
		wake = c.leases.watch(keys)
		defer c.leases.unwatch(wake, keys)
		c.subscribeLeases(ctx)
	}
	interval := leasePollMin
	t := time.NewTimer(min(jitter(interval), bound))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return waited{}, ctx.Err()
		case <-c.bgCtx.Done():
			return waited{}, nil // Close has begun
		case <-wake:
		case <-t.C:
		}
		if w := c.storedNow(ctx, x); w.resp != nil || w.done {
			return w, nil
		}
		if time.Until(deadline) <= 0 {
			return waited{}, nil
		}
		// The lease attempt ends with the wait (a slow store must not
		// stretch it); a lookup may not, its response living on ctx.
		lctx, cancel := context.WithDeadline(ctx, deadline)
		token, ok, err := c.takeLease(lctx, x.primary)
		cancel()
		if err != nil {
			return waited{}, nil
		}
		if ok {
			// The holder is gone (released, or lapsed) and left nothing
			// to serve, unless it stored the entry just before releasing.
			w := c.storedNow(ctx, x)
			c.releaseLease(ctx, x.primary, token)
			if w.done {
				w = waited{}
			}
			return w, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return waited{}, nil
		}
		interval = min(2*interval, leasePollMax)
		t.Reset(min(jitter(interval), left))
	}
}

// jitter spreads d by ±25%.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}

// watch registers a wake channel for keys.
func (ls *leases) watch(keys []string) chan struct{} {
	ch := make(chan struct{}, 1)
	ls.mu.Lock()
	for _, k := range keys {
		m := ls.waiters[k]
		if m == nil {
			m = map[chan struct{}]struct{}{}
			ls.waiters[k] = m
		}
		m[ch] = struct{}{}
	}
	ls.mu.Unlock()
	return ch
}

// unwatch removes the wake channel ch of keys.
func (ls *leases) unwatch(ch chan struct{}, keys []string) {
	ls.mu.Lock()
	for _, k := range keys {
		if m := ls.waiters[k]; m != nil {
			delete(m, ch)
			if len(m) == 0 {
				delete(ls.waiters, k)
			}
		}
	}
	ls.mu.Unlock()
}

// notify wakes the waiters an invalidation concerns (all of them when any
// key may have changed, or when events may have been missed). It never
// blocks.
func (ls *leases) notify(ev Invalidation) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	wake := func(m map[chan struct{}]struct{}) {
		for ch := range m {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	switch ev.Kind {
	case InvalidateKey:
		wake(ls.waiters[ev.Key])
	case InvalidateAll, SubscriptionRestored:
		for _, m := range ls.waiters {
			wake(m)
		}
	}
}

// subscribeLeases starts, in the background, the Cache's one subscription
// to the store's invalidations, unless it exists, is being made, failed
// recently, or cannot be made. Waiters poll meanwhile.
func (c *Cache) subscribeLeases(ctx context.Context) {
	ls := c.leases
	ls.mu.Lock()
	if ls.state == subFailed && time.Now().After(ls.retryAt) {
		ls.state = subNone
	}
	if ls.state != subNone {
		ls.mu.Unlock()
		return
	}
	ls.state = subPending
	ls.mu.Unlock()
	if !c.gate.enter() { // Close waits (drain) for this subscription
		ls.mu.Lock()
		ls.state = subStopped
		ls.mu.Unlock()
		return
	}
	go func() {
		defer c.gate.leave()
		sctx, cancel := context.WithTimeout(c.bgCtx, max(c.timeout, DefaultOpenTimeout))
		defer cancel()
		stop, err := ls.inv.Subscribe(sctx, ls.notify)
		ls.mu.Lock()
		defer ls.mu.Unlock()
		switch {
		case err == nil:
			ls.state, ls.stopSub = subActive, stop
		case errors.Is(err, ErrNotSupported):
			ls.state = subUnsupported
		default:
			ls.state, ls.retryAt = subFailed, time.Now().Add(subscribeRetry)
			if c.bgCtx.Err() == nil {
				c.cfg.logger.LogAttrs(context.WithoutCancel(ctx), slog.LevelWarn,
					"hoard: lease waits poll: subscribing to the store's invalidations failed",
					slog.Duration("retry_in", subscribeRetry), slog.Any("error", err))
			}
		}
	}()
}
