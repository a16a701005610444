package core

import (
	"context"
	"net/http"
	"net/url"

	"github.com/hoardhttp/hoard/core/internal/rfc9111"
)

// Do runs the whole caching algorithm for req, calling send (the next
// RoundTripper's RoundTrip, typically) whenever the origin must be asked:
// lookup; a fresh hit answered without send; identical concurrent misses and
// revalidations collapsed into one send; stale-while-revalidate refreshes in
// the background on a context detached from req's; stale-if-error; storing;
// and invalidation after unsafe methods (RFC 9111 §4.4). It is the
// composition of the hooks Lookup, RevalidateInBackground, Join, Store and
// Revalidate, and an adapter built from them gets the same semantics.
//
// Do follows the http.RoundTripper contract: it does not modify req, it
// closes req.Body on every path, it returns a non-nil error only without a
// response, and it is safe for concurrent use.
func (c *Cache) Do(req *http.Request, send func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	return c.DoTransport(req, sendFunc(send))
}

// DoTransport is Do with next.RoundTrip as the send function: what an
// http.RoundTripper that wraps next calls. Passing next itself, where Do
// would be given the method value next.RoundTrip, saves the allocation of
// that method value on every request, hits included.
func (c *Cache) DoTransport(req *http.Request, next http.RoundTripper) (*http.Response, error) {
	if c.cfg.observers != nil {
		return c.observedDo(req, next)
	}
	return c.do(req.Context(), req, next, nil)
}

// sendFunc makes a send function an http.RoundTripper (a func value fits
// an interface without an allocation).
type sendFunc func(*http.Request) (*http.Response, error)

func (f sendFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// do is Do on ctx (req's context, or the observed record wrapping it).
func (c *Cache) do(ctx context.Context, req *http.Request, send http.RoundTripper, o *observed) (*http.Response, error) {
	lr, err := c.Lookup(ctx, req)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	o.lookedUp(&lr)
	switch lr.State {
	case Hit:
		closeBody(req)
		return lr.Response, nil
	case StaleWhileRevalidate:
		closeBody(req)
		c.revalidateInBackground(&lr, send)
		return lr.Response, nil
	}
	if resp, err := c.Join(ctx, &lr); resp != nil || err != nil {
		closeBody(req) // answered by the flight it joined, or given up
		return resp, err
	}
	return c.forward(ctx, &lr, send)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
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
