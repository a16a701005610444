package core

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/hoardhttp/hoard/core/internal/rfc9111"
)

// Do runs the whole caching algorithm for req, calling send (the next
// RoundTripper's RoundTrip, typically) whenever the origin must be asked:
// lookup; a fresh hit answered without send; identical concurrent misses and
// revalidations collapsed into one send; stale-while-revalidate refreshes in
// the background on a context detached from req's; stale-if-error; storing;
// and invalidation after unsafe methods (RFC 9111 §4.4).
//
// Do follows the http.RoundTripper contract: it does not modify req, it
// closes req.Body on every path, it returns a non-nil error only without a
// response, and it is safe for concurrent use.
func (c *Cache) Do(req *http.Request, send func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	if c.cfg.observers != nil {
		return c.observedDo(req, send)
	}
	return c.do(req.Context(), req, send, nil)
}

// do is Do on ctx (req's context, or the observed record wrapping it).
func (c *Cache) do(ctx context.Context, req *http.Request, send func(*http.Request) (*http.Response, error), o *observed) (*http.Response, error) {
	req = canonicalRequest(req)
	var l lookup
	if err := c.lookup(ctx, req, &l); err != nil {
		closeBody(req)
		return nil, err
	}
	o.lookedUp(&l)
	switch l.act {
	case Hit:
		closeBody(req)
		if InfoOf(l.resp).Stale {
			c.stats.staleHits.Add(1)
		} else {
			c.stats.hits.Add(1)
		}
		return l.resp, nil
	case StaleWhileRevalidate:
		closeBody(req)
		c.stats.staleHits.Add(1)
		c.refreshInBackground(req, &l, send)
		return l.resp, nil
	}
	// The hit paths above keep l on the stack; the paths below share it
	// with closures (collapsing, streaming), so they get a heap copy.
	lp := new(lookup)
	*lp = l
	switch lp.act {
	case Revalidate:
		return c.doRevalidate(ctx, req, lp, send)
	case Miss:
		return c.doMiss(ctx, req, lp, send)
	}
	sent := c.cfg.now()
	resp, err := send(lp.send)
	if err != nil {
		return nil, err
	}
	if lp.fwd != fwdClosed {
		c.invalidateAfter(ctx, req, resp)
	}
	if lp.fwd == "method" {
		if out, ok := c.storePOSTAsGET(ctx, req, resp, sent); ok {
			return out, nil
		}
	}
	c.markForwarded(req, resp, bypassStatus(lp), nil, "")
	return resp, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// exchange sends one request and stores or revalidates with its answer.
type exchange func(l *lookup) (resp *http.Response, e *Entry, key string, pending bool, err error)

// collapsed runs ex for the first of identical concurrent requests (the
// flight named fk) and lets the others wait for it: a waiter is served the
// entry the leader stored when it applies to its request too, and otherwise
// runs ex itself. A waiter never depends on the leader's caller reading its
// body: when that body is streamed into the store, the waiter waits for the
// commit at most WithCollapseWait and then sends its own request.
func (c *Cache) collapsed(ctx context.Context, req *http.Request, l *lookup, fk, fwd string, ex exchange) (*http.Response, error) {
	f, leader := c.flights.join(fk)
	if !leader {
		c.stats.collapsed.Add(1)
		done, err := f.wait(ctx, c.cfg.collapseWait)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		if !done {
			c.flights.forget(fk, f)
		} else if r := c.fromFlight(ctx, req, l, f, fwd); r != nil {
			closeBody(req)
			return r, nil
		}
		resp, _, _, _, err := ex(l)
		return resp, err
	}
	var once sync.Once
	finish := func(e *Entry, key string, status int) {
		once.Do(func() {
			if e != nil {
				f.index = l.index
			}
			c.flights.finish(fk, f, e, key, status)
		})
	}
	status := 0
	l.streamDone = func(e *Entry, key string) { finish(e, key, status) }
	resp, e, key, pending, err := ex(l)
	if resp != nil && fwd != "miss" {
		status = resp.StatusCode
		if InfoOf(resp).Revalidated {
			status = http.StatusNotModified
		}
	}
	if pending {
		close(f.streaming) // the waiters' bounded wait starts now
	} else {
		finish(e, key, status)
	}
	return resp, err
}

// doMiss sends a miss, collapsing identical concurrent ones.
func (c *Cache) doMiss(ctx context.Context, req *http.Request, l *lookup, send func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	c.stats.misses.Add(1)
	ex := func(l *lookup) (*http.Response, *Entry, string, bool, error) {
		l.reqTime = c.cfg.now()
		resp, err := send(l.send)
		if err != nil {
			return nil, nil, "", false, err
		}
		c.invalidateAfter(ctx, req, resp)
		out, e, key, pending := c.storeResponse(ctx, req, resp, l)
		return out, e, key, pending, nil
	}
	if !l.collapse {
		resp, _, _, _, err := ex(l)
		return resp, err
	}
	return c.collapsed(ctx, req, l, "m"+l.primary, "miss", c.leased(ctx, req, ex))
}

// fromFlight serves a waiter from the leader's shared entry when the entry
// applies to this request too (same Vary selection).
func (c *Cache) fromFlight(ctx context.Context, req *http.Request, l *lookup, f *flight, fwd string) *http.Response {
	if f.entry == nil {
		return nil
	}
	if f.index != nil {
		sel, _, ok := c.selection(req, f.index)
		if !ok || variantKey(l.primary, f.index, sel) != f.key {
			return nil
		}
	}
	return c.serveEntry(ctx, req, f.entry, f.key, fwdStatus(fwd, f.status, false, true), l.method != http.MethodHead)
}

// doRevalidate sends a revalidation, collapsing identical concurrent ones.
func (c *Cache) doRevalidate(ctx context.Context, req *http.Request, l *lookup, send func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	ex := func(l *lookup) (*http.Response, *Entry, string, bool, error) {
		return c.revalidateOnce(ctx, req, l, send)
	}
	if !l.collapse {
		// The caller's own conditional request: its answer is its own.
		resp, _, _, _, err := ex(l)
		return resp, err
	}
	return c.collapsed(ctx, req, l, "r"+l.key+"\x00"+l.method, l.fwd, ex)
}

func (c *Cache) revalidateOnce(ctx context.Context, req *http.Request, l *lookup, send func(*http.Request) (*http.Response, error)) (*http.Response, *Entry, string, bool, error) {
	l.reqTime = c.cfg.now()
	resp, err := send(l.send)
	if err == nil {
		c.invalidateAfter(ctx, req, resp)
	}
	out, e, k, pending, rerr := c.revalidate(ctx, req, l, resp, err)
	if errors.Is(rerr, errValidatorMismatch) || errors.Is(rerr, errStreamGone) {
		// The 304 is for another representation: fetch it unconditionally.
		l.cond, l.send = false, l.plain
		if l.plain.GetBody != nil {
			l.plain.Body, _ = l.plain.GetBody()
		}
		resp, err = send(l.plain)
		if err != nil {
			return nil, nil, "", false, err
		}
		out, e, k, pending = c.storeResponse(ctx, req, resp, l)
		rerr = nil
	}
	return out, e, k, pending, rerr
}

// refreshInBackground starts one stale-while-revalidate refresh per key, on
// a context detached from the caller's (so it survives the caller's cancel)
// and bounded by WithBackgroundTimeout.
func (c *Cache) refreshInBackground(req *http.Request, l *lookup, send func(*http.Request) (*http.Response, error)) {
	key := l.key + "\x00" + l.method
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

	bl := *l // the caller's lookup lives on its stack
	bl.resp = nil
	detached := context.WithoutCancel(req.Context())
	var o *observed
	if c.cfg.observers != nil {
		o = c.newObserved(detached, true)
		o.ev.Method, o.ev.Key, o.act = l.method, l.key, Revalidate
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
		r := bl.send.Clone(ctx)
		bl.send = r
		bl.reqTime = c.cfg.now()
		resp, err := send(r)
		// The outcome is stored for the caller's request, not for the
		// conditional one (its validators must not select a variant).
		out, _, _, _, err := c.revalidate(ctx, bl.plain.WithContext(ctx), &bl, resp, err)
		if o != nil {
			o.result(out, err) // emitted now, or when the body read below ends
		}
		if err != nil {
			if c.gate.closed() {
				return // cancelled by Close
			}
			c.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "hoard: background refresh failed",
				slog.String("url", req.URL.Redacted()), slog.Any("error", err))
			return
		}
		if out != nil && out.Body != nil {
			// Read to the end: a body streamed into the store is committed
			// only at EOF (bounded by the background timeout).
			io.Copy(io.Discard, out.Body)
			out.Body.Close()
		}
	}()
}

// invalidateAfter implements RFC 9111 §4.4: after a non-error response to an
// unsafe method, the stored GET and HEAD responses (every variant) of the
// target URI and of same-origin Location / Content-Location are removed. The
// target URI has the effective host (Request.Host), and the other two are
// resolved against it.
func (c *Cache) invalidateAfter(ctx context.Context, req *http.Request, resp *http.Response) {
	canonicalResponse(resp)
	if rfc9111.Safe(req.Method) || req.Method == "" || !rfc9111.NonError(resp.StatusCode) {
		return
	}
	for _, u := range rfc9111.InvalidationTargets(wireURL(req), resp.Header) {
		c.invalidateURL(ctx, req.Header, u)
	}
}

// invalidateURL deletes the GET and HEAD primary keys of u (entries or
// variant indexes: deleting an index makes all its variants unreachable).
func (c *Cache) invalidateURL(ctx context.Context, h http.Header, u *url.URL) {
	for _, k := range c.urlKeys(ctx, h, u) {
		if c.deleteKey(ctx, k) {
			c.stats.invalidations.Add(1)
		}
	}
}

// urlKeys are the primary keys of GET and HEAD requests for u with header h.
func (c *Cache) urlKeys(ctx context.Context, h http.Header, u *url.URL) [2]string {
	var keys [2]string
	for i, m := range [2]string{http.MethodGet, http.MethodHead} {
		r := (&http.Request{Method: m, URL: u, Header: h, Host: u.Host}).WithContext(ctx)
		keys[i] = c.primaryKeyFor(r, m, "")
	}
	return keys
}
