package core

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
)

// ErrResend is returned by Revalidate when the origin's answer cannot be
// used (a 304 for another representation, or for a stored body that has
// gone meanwhile): the LookupResult is then a Miss whose Request must be
// sent once more, its outcome passed to Store.
var ErrResend = errors.New("core: send the request again")

// forward sends lr.Request and passes the outcome to Store or Revalidate,
// sending once more when they return ErrResend.
func (c *Cache) forward(ctx context.Context, lr *LookupResult, send http.RoundTripper) (*http.Response, error) {
	resp, err := c.exchangeOnce(ctx, lr, send)
	if errors.Is(err, ErrResend) {
		resp, err = c.exchangeOnce(ctx, lr, send)
	}
	return resp, err
}

// exchangeOnce is one send and the hook that takes its outcome.
func (c *Cache) exchangeOnce(ctx context.Context, lr *LookupResult, send http.RoundTripper) (*http.Response, error) {
	resp, err := send.RoundTrip(lr.Request)
	if lr.State == Revalidate || lr.State == StaleWhileRevalidate {
		return c.Revalidate(ctx, lr, resp, err)
	}
	return c.Store(ctx, lr, resp, err)
}

// Join collapses identical concurrent requests (RFC 9111 §4: a cache can
// "combine multiple incoming requests into a single forward request upon a
// cache miss"), for the LookupResult of a Miss or a Revalidate: the
// first request leads, and Join returns nil, nil at once; the leader sends
// its Request and must pass the outcome to Store or Revalidate, which give
// it to the others. Each of those waits in Join for the leader and is
// answered from the response the leader stored when it applies to its own
// request too (the same Vary selection); otherwise, or when the leader's
// body is streamed into the store and not committed within
// WithCollapseWait, Join returns nil, nil and the request goes on alone:
// send its Request and pass the outcome to Store or Revalidate. The error is
// ctx's, when it ends during the wait.
//
// With WithLeaseWait, the leader of a miss's flight first takes the store's
// lease on the key; when another process holds it, Join waits for that
// process's entry (bounded, see WithLeaseWait) and returns the response
// served from it, to the leader and its waiters alike.
//
// A request that carries its own conditional headers, or ForceRefresh, is
// never collapsed; nor is any other State: Join returns nil, nil for them.
func (c *Cache) Join(ctx context.Context, lr *LookupResult) (*http.Response, error) {
	x := lr.x
	if x == nil || !x.collapse || (x.act != Miss && x.act != Revalidate) {
		return nil, nil
	}
	revalidation := x.act == Revalidate
	fk := "m" + x.primary
	if revalidation {
		fk = "r" + x.key + "\x00" + x.method
	}
	f, leader := c.lead(ctx, fk)
	if leader {
		x.fl, x.fk, x.revalidation = f, fk, revalidation
		return c.leased(ctx, x) // across processes (WithLeaseWait, lease.go)
	}
	c.stats.collapsed.Add(1)
	done, err := f.wait(ctx, c.cfg.collapseWait)
	if err != nil {
		return nil, err
	}
	if !done {
		c.flights.forget(fk, f)
	} else if r := c.fromFlight(ctx, x, f); r != nil {
		return r, nil
	}
	x.reqTime = c.cfg.now() // it is sent only now
	return nil, nil
}

// lead makes the caller the leader of the flight fk when there is none, and
// otherwise returns the flight to wait for. It is the one place where a
// request becomes a leader; publish is where the leader's answer is given.
func (c *Cache) lead(_ context.Context, fk string) (*flight, bool) {
	return c.flights.join(fk)
}

// publish gives the waiters of the flight x leads (if any) the entry it
// stored (nil: none they may use) and releases them, once.
func (c *Cache) publish(x *exchange, e *Entry, key string) {
	f := x.fl
	if f == nil {
		return
	}
	c.releaseHeld(x) // the store's lease, once the outcome is stored (lease.go)
	f.once.Do(func() {
		if e != nil {
			f.index = x.index
		}
		c.flights.finish(x.fk, f, e, key, x.status)
	})
}

// shared reports whether the entry the leader x is about to publish may
// be read by another request: false when x leads no flight, or leads one
// that no request joined, which it then seals (a request arriving later
// reads the store instead). The leader's own response may then take the
// entry's header over instead of a copy.
func (c *Cache) shared(x *exchange) bool {
	return x.fl != nil && c.flights.seal(x.fk, x.fl)
}

// settle hands the outcome of an exchange to the flight it leads: at once,
// or, for a body being streamed into the store, once the stream ends (the
// waiters' bounded wait starts now).
func (c *Cache) settle(x *exchange, o outcome) {
	if x.fl == nil {
		return
	}
	if o.resp != nil && x.revalidation {
		x.status = o.resp.StatusCode
		if InfoOf(o.resp).Revalidated {
			x.status = http.StatusNotModified
		}
	}
	if o.pending {
		close(x.fl.streaming)
		return
	}
	c.publish(x, o.entry, o.key)
}

// fromFlight serves a waiter from the leader's shared entry when the entry
// applies to this request too (same Vary selection).
func (c *Cache) fromFlight(ctx context.Context, x *exchange, f *flight) *http.Response {
	if f.entry == nil {
		return nil
	}
	if f.index != nil {
		sel, _, ok := c.selection(x.req, f.index)
		if !ok || variantKey(x.primary, f.index, sel) != f.key {
			return nil
		}
	}
	fwd := ForwardMiss
	if x.act == Revalidate {
		fwd = x.fwd
	}
	return c.serveEntry(ctx, x.req, f.entry, f.key, fwdStatus(fwd, detailNone, f.status, false, true), x.method != http.MethodHead)
}

// RevalidateInBackground starts the refresh of a StaleWhileRevalidate
// lookup (RFC 5861 §3) whose stale Response the caller serves meanwhile: it
// sends lr.Request with send on a context detached from the request's (so
// that it survives the caller's cancel), bounded by WithBackgroundTimeout
// and cancelled by Close, and passes the outcome to Revalidate, reading a
// new body to its end so that it is stored. One refresh runs per stored
// response at a time; for another State it does nothing.
func (c *Cache) RevalidateInBackground(lr *LookupResult, send func(*http.Request) (*http.Response, error)) {
	c.revalidateInBackground(lr, sendFunc(send))
}

// revalidateInBackground is RevalidateInBackground sending with send.
func (c *Cache) revalidateInBackground(lr *LookupResult, send http.RoundTripper) {
	x := lr.x
	if x == nil || x.act != StaleWhileRevalidate {
		return
	}
	key := x.key + "\x00" + x.method
	// Checked and recorded under bgMu, so that Close (which closes the
	// gate, then waits under bgMu) sees every refresh that saw it open.
	c.bgMu.Lock()
	if c.bgKeys[key] || c.gate.closed() {
		c.bgMu.Unlock()
		return
	}
	c.bgKeys[key] = true
	c.bgMu.Unlock()
	c.stats.background.Add(1)

	bx := *x // the refresh's own: the caller may still use lr
	bx.resp = nil
	detached := context.WithoutCancel(x.req.Context())
	var o *observed
	if c.cfg.observers != nil {
		o = c.newObserved(detached, true)
		o.ev.Method, o.ev.Key, o.act = x.method, x.key, Revalidate
		detached = o
	}
	go func() {
		defer func() {
			c.bgMu.Lock()
			delete(c.bgKeys, key)
			if len(c.bgKeys) == 0 {
				c.bgIdle.Broadcast()
			}
			c.bgMu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(detached, c.cfg.backgroundTO)
		defer cancel()
		defer context.AfterFunc(c.bgCtx, cancel)() // Close cancels it
		c.refresh(ctx, &bx, send, o)
	}()
}

// refresh is the background refresh of x on ctx.
func (c *Cache) refresh(ctx context.Context, x *exchange, send http.RoundTripper, o *observed) {
	r := x.send.Clone(ctx)
	x.send = r
	x.reqTime = c.cfg.now()
	resp, err := send.RoundTrip(r)
	// The outcome is stored for the caller's request, not for the
	// conditional one (its validators must not select a variant).
	x.req = x.plain.WithContext(ctx)
	out, err := c.revalidate(ctx, x.req, x, resp, err)
	if o != nil {
		o.result(out.resp, err) // emitted now, or when the body read below ends
	}
	if err != nil {
		if c.gate.closed() {
			return // cancelled by Close
		}
		c.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "hoard: background refresh failed",
			slog.String("url", x.plain.URL.Redacted()), slog.Any("error", err))
		return
	}
	if out.resp != nil && out.resp.Body != nil {
		// Read to the end: a body streamed into the store is committed
		// only at EOF (bounded by the background timeout).
		io.Copy(io.Discard, out.resp.Body)
		out.resp.Body.Close()
	}
}

// invalidateOnce applies RFC 9111 §4.4 for the response to x, once.
func (c *Cache) invalidateOnce(ctx context.Context, x *exchange, resp *http.Response) {
	if !x.invalidated {
		x.invalidated = true
		c.invalidateAfter(ctx, x.req, resp)
	}
}
