package core

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hoardhttp/hoard/core/internal/rfc9111"
)

// Revalidate is the revalidation hook: given the LookupResult of a Revalidate
// or StaleWhileRevalidate lookup and the outcome of sending its Request, it
//   - on a 304, merges the 304's header fields into the stored response
//     (RFC 9111 §3.2, §4.3.4: never Content-Length or the fields the stored
//     body depends on), stores it and returns the stored response as a 200
//     (a caller that did not ask for a 304 never gets one);
//   - on a 304 to the caller's own conditional request (sent as it was),
//     returns that 304, and freshens the stored response as above when the
//     304 selects it by the rules of §4.3.4 (a matching strong validator;
//     otherwise weak ones that correspond and none that contradicts;
//     otherwise none on either side);
//   - on a transport error or a 500, 502, 503 or 504 (RFC 5861 §4), returns
//     the stale stored response when a stale-if-error window allows it,
//     otherwise the error or the response;
//   - on any other response, stores it when allowed and returns it.
//
// A 304 to the cache's own conditional request that does not select the
// stored response (§4.3.4: a strong validator that is not the stored one,
// weak ones that contradict it) cannot be used, nor can a 304 for a stored
// body that has meanwhile gone from the store; Revalidate then returns
// ErrResend, having turned lr into a Miss whose Request is the request
// without validators: send that once and pass the outcome to Store. A 304
// without any validator selects it (see notModifiedSelects).
//
// Like Store, Revalidate applies §4.4 first, reads nothing from the store
// but what Lookup found, and gives the waiting requests of a flight lr
// leads (see Join) the stored response. For a LookupResult without a stored
// response (a Miss, a Bypass) it is Store.
func (c *Cache) Revalidate(ctx context.Context, lr *LookupResult, resp *http.Response, err error) (*http.Response, error) {
	x := lr.x
	if x == nil || x.entry == nil {
		return c.Store(ctx, lr, resp, err)
	}
	if err == nil {
		c.invalidateOnce(ctx, x, resp)
	}
	o, err := c.revalidate(ctx, x.req, x, resp, err)
	if errors.Is(err, errValidatorMismatch) || errors.Is(err, errStreamGone) {
		// The 304 is for another representation, or the stored body is
		// gone: the request must be sent again, unconditionally.
		x.act, x.cond, x.send = Miss, false, x.plain
		if x.plain.GetBody != nil {
			x.plain.Body, _ = x.plain.GetBody()
		}
		lr.State, lr.Request = Miss, x.plain
		return nil, ErrResend
	}
	c.settle(x, o)
	return o.resp, err
}

// revalidate implements Revalidate for the exchange's stored response.
func (c *Cache) revalidate(ctx context.Context, req *http.Request, x *exchange, resp *http.Response, err error) (outcome, error) {
	if c.gate.closed() {
		if err != nil {
			return outcome{}, err
		}
		c.markForwarded(req, resp, csClosed, nil, "")
		return outcome{resp: resp}, nil
	}
	c.stats.revalidations.Add(1)
	withBody := x.method != http.MethodHead
	if err != nil {
		if ctx.Err() == nil && c.staleIfErrorAllows(x) {
			if r := c.serveLookup(ctx, req, x, csStaleIfError, withBody); r != nil {
				c.stats.staleHits.Add(1)
				return outcome{resp: r}, nil
			}
		}
		return outcome{}, err
	}
	canonicalResponse(resp)
	switch {
	case resp.StatusCode == http.StatusNotModified && x.cond:
		drain(resp)
		if !notModifiedSelects(x, resp.Header, c.cfg.now()) {
			return outcome{}, errValidatorMismatch
		}
		old := x.entry
		ne := c.freshen(ctx, req, x, resp.Header)
		c.stats.notModified.Add(1)
		x.entry = ne
		// ne copied what it keeps of the entry the lookup decoded, and
		// nothing else refers to that one (see entryPool).
		releaseEntry(old)
		cs := fwdStatus(x.fwd, detailNone, http.StatusNotModified, false, false)
		shared := c.shared(x)
		var r *http.Response
		if shared {
			r = c.serveLookup(ctx, req, x, cs, withBody)
		} else {
			r = c.serveOwned(ctx, req, ne, x.key, cs, withBody) // nobody else reads ne
		}
		if r == nil {
			return outcome{}, errStreamGone // fetch it again, unconditionally
		}
		if !shared {
			x.entry = nil // the response owns its header now
			return outcome{resp: r}, nil
		}
		return outcome{resp: r, entry: ne, key: x.key}, nil
	case resp.StatusCode == http.StatusNotModified && x.callerIf:
		// The caller's own conditional request: the 304 is the caller's
		// answer. When it selects the stored response (RFC 9111 §4.3.4) it
		// also freshens it; the Cache-Status says so with fwd-status=304.
		drain(resp)
		resp.Body = http.NoBody
		if !notModifiedSelects(x, resp.Header, c.cfg.now()) {
			c.markForwarded(req, resp, fwdStatus(x.fwd, detailNone, 0, false, false), nil, "")
			return outcome{resp: resp}, nil
		}
		ne := c.freshen(ctx, req, x, resp.Header)
		c.stats.notModified.Add(1)
		c.markForwarded(req, resp, fwdStatus(x.fwd, detailNone, http.StatusNotModified, false, false), ne, x.key)
		return outcome{resp: resp}, nil
	case rfc9111.StaleIfErrorStatus(resp.StatusCode) && c.staleIfErrorAllows(x):
		if r := c.serveLookup(ctx, req, x, csStaleIfError+"; fwd-status="+strconv.Itoa(resp.StatusCode), withBody); r != nil {
			drain(resp)
			c.stats.staleHits.Add(1)
			return outcome{resp: r}, nil
		}
	case x.fromGET && x.method == http.MethodHead:
		c.headUpdate(ctx, req, x, resp)
		x.index, x.indexDeletion = nil, time.Time{}
	}
	return c.storeResponse(ctx, req, resp, x), nil
}

// freshen merges the header of a 304 (or of a HEAD response) that selected
// the stored entry (RFC 9111 §4.3.4, §4.3.5) into it, recomputes its age and
// lifetime, and writes it with ctx (unless read-only).
func (c *Cache) freshen(ctx context.Context, req *http.Request, x *exchange, h http.Header) *Entry {
	old := x.entry
	now := c.cfg.now()
	ne := *old
	// The exchange owns old's header (see mergeHeader), and old is not
	// used once freshened: the merge takes it over.
	ne.Header = c.mergeHeader(old.Header, h)
	ne.RequestTime = x.reqTime
	if ne.RequestTime.IsZero() || ne.RequestTime.After(now) {
		ne.RequestTime = now
	}
	ne.ResponseTime = now
	// The 304 is the newest message: its Date and Age give the age (the
	// only fields CorrectedInitialAge reads).
	ne.InitialAge = rfc9111.CorrectedInitialAge(h, ne.RequestTime, now)
	cc := c.respDirectives(ne.Header)
	if !c.applyPolicy(req, &ne, cc, x.ro) {
		ne.Expires, ne.Deletion = now, now
	}
	if !c.cfg.readOnly {
		// It was just read (this lookup found it) and is served now: the
		// next read likely follows.
		c.writeRead(ctx, x.key, &ne)
		c.extendIndex(ctx, x, &ne)
	}
	return &ne
}

// extendIndex rewrites the variant index when an updated variant now
// outlives it.
func (c *Cache) extendIndex(ctx context.Context, x *exchange, e *Entry) {
	if x.index == nil || x.indexDeletion.IsZero() || (!e.Deletion.IsZero() && !e.Deletion.After(x.indexDeletion)) {
		return
	}
	primary := x.primary
	if x.fromGET {
		primary = x.getKey
	}
	ie := &Entry{Method: e.Method, URL: e.URL, Created: e.Created, Deletion: e.Deletion, Variants: x.index}
	if c.writeEntry(ctx, primary, ie) {
		x.indexDeletion = e.Deletion
	}
}

// headUpdate applies RFC 9111 §4.3.5 to the stored GET response a HEAD was
// answered from: matching validators (and Content-Length) freshen it,
// anything else means the stored GET is outdated and it is deleted.
func (c *Cache) headUpdate(ctx context.Context, req *http.Request, x *exchange, resp *http.Response) {
	if resp.StatusCode != http.StatusOK || c.cfg.readOnly {
		return
	}
	old := x.entry
	match := true
	for _, f := range []string{"Etag", "Last-Modified", "Content-Length"} {
		if v := resp.Header.Get(f); v != "" && v != old.Header.Get(f) {
			match = false
		}
	}
	if !hasValidator(resp.Header) {
		match = false
	}
	if !match {
		c.deleteKey(ctx, x.key)
		return
	}
	c.freshen(ctx, req, x, resp.Header)
}

// serveEntry builds a caller's response from an entry that may be shared.
// For a streamed entry it opens the stream (checking its first segment; a
// corrupt stream is deleted and counted by openStream); it returns nil when
// that fails (the caller must then fetch the response itself).
func (c *Cache) serveEntry(ctx context.Context, req *http.Request, e *Entry, key, cacheStatus string, withBody bool) *http.Response {
	own := scratchEntry()
	*own = *e
	own.Header = e.Header.Clone()
	r := c.serveOwned(ctx, req, own, key, cacheStatus, withBody)
	if r != nil {
		releaseEntry(own)
	}
	return r
}

// serveOwned builds a caller's response from e, which nothing else refers
// to: the response takes its header over (see serveEntry for the rest).
func (c *Cache) serveOwned(ctx context.Context, req *http.Request, e *Entry, key, cacheStatus string, withBody bool) *http.Response {
	r, err := c.respond(ctx, newServed(req), req, e, key, c.cfg.now(), cacheStatus, withBody)
	if err != nil {
		return nil
	}
	return r
}

// serveLookup serves the lookup's entry (nil when its stream is gone).
func (c *Cache) serveLookup(ctx context.Context, req *http.Request, x *exchange, cacheStatus string, withBody bool) *http.Response {
	return c.serveEntry(ctx, req, x.entry, x.key, cacheStatus, withBody)
}

// drain discards a little of a response body so the connection can be
// reused, then closes it.
func drain(resp *http.Response) {
	if resp.Body == nil {
		return
	}
	io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}
