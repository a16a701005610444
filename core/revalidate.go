package core

import (
	"context"
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
// weak ones that contradict it) cannot be used; Revalidate then returns an
// error and the caller should send the request again without validators. A
// 304 without any validator selects it (see notModifiedSelects).
func (c *Cache) Revalidate(ctx context.Context, req *http.Request, lr *LookupResult, resp *http.Response, err error) (*http.Response, error) {
	req = canonicalRequest(req)
	if lr == nil || lr.l == nil || lr.l.entry == nil {
		if err != nil {
			return nil, err
		}
		return c.Store(ctx, req, resp)
	}
	out, _, _, _, rerr := c.revalidate(ctx, req, lr.l, resp, err)
	return out, rerr
}

// revalidate implements Revalidate and also returns the entry now stored (for
// collapsed waiters), its key, and whether a streamed body is still being
// stored (see storeResponse).
func (c *Cache) revalidate(ctx context.Context, req *http.Request, l *lookup, resp *http.Response, err error) (*http.Response, *Entry, string, bool, error) {
	if c.gate.closed() {
		if err != nil {
			return nil, nil, "", false, err
		}
		c.markForwarded(req, resp, csClosed, nil, "")
		return resp, nil, "", false, nil
	}
	c.stats.revalidations.Add(1)
	withBody := l.method != http.MethodHead
	if err != nil {
		if ctx.Err() == nil && c.staleIfErrorAllows(l) {
			if r := c.serveLookup(ctx, req, l, csStaleIfError, withBody); r != nil {
				c.stats.staleHits.Add(1)
				return r, nil, "", false, nil
			}
		}
		return nil, nil, "", false, err
	}
	canonicalResponse(resp)
	switch {
	case resp.StatusCode == http.StatusNotModified && l.cond:
		drain(resp)
		if !notModifiedSelects(l, resp.Header, c.cfg.now()) {
			return nil, nil, "", false, errValidatorMismatch
		}
		ne := c.freshen(ctx, req, l, resp.Header)
		c.stats.notModified.Add(1)
		l.entry = ne
		r := c.serveLookup(ctx, req, l, fwdStatus(l.fwd, http.StatusNotModified, false, false), withBody)
		if r == nil {
			return nil, nil, "", false, errStreamGone // fetch it again, unconditionally
		}
		return r, ne, l.key, false, nil
	case resp.StatusCode == http.StatusNotModified && l.callerIf:
		// The caller's own conditional request: the 304 is the caller's
		// answer. When it selects the stored response (RFC 9111 §4.3.4) it
		// also freshens it; the Cache-Status says so with fwd-status=304.
		drain(resp)
		resp.Body = http.NoBody
		if !notModifiedSelects(l, resp.Header, c.cfg.now()) {
			c.markForwarded(req, resp, fwdStatus(l.fwd, 0, false, false), nil, "")
			return resp, nil, "", false, nil
		}
		ne := c.freshen(ctx, req, l, resp.Header)
		c.stats.notModified.Add(1)
		c.markForwarded(req, resp, fwdStatus(l.fwd, http.StatusNotModified, false, false), ne, l.key)
		return resp, nil, "", false, nil
	case rfc9111.StaleIfErrorStatus(resp.StatusCode) && c.staleIfErrorAllows(l):
		if r := c.serveLookup(ctx, req, l, csStaleIfError+"; fwd-status="+strconv.Itoa(resp.StatusCode), withBody); r != nil {
			drain(resp)
			c.stats.staleHits.Add(1)
			return r, nil, "", false, nil
		}
	case l.fromGET && l.method == http.MethodHead:
		c.headUpdate(ctx, req, l, resp)
		l.index, l.indexDeletion = nil, time.Time{}
		out, e, key, pending := c.storeResponse(ctx, req, resp, l)
		return out, e, key, pending, nil
	}
	out, e, key, pending := c.storeResponse(ctx, req, resp, l)
	return out, e, key, pending, nil
}

// freshen merges the header of a 304 (or of a HEAD response) that selected
// the stored entry (RFC 9111 §4.3.4, §4.3.5) into it, recomputes its age and
// lifetime, and writes it with ctx (unless read-only).
func (c *Cache) freshen(ctx context.Context, req *http.Request, l *lookup, h http.Header) *Entry {
	old := l.entry
	now := c.cfg.now()
	ne := *old
	ne.Header = c.mergeHeader(old.Header, h)
	ne.RequestTime = l.reqTime
	if ne.RequestTime.IsZero() || ne.RequestTime.After(now) {
		ne.RequestTime = now
	}
	ne.ResponseTime = now
	// The 304 is the newest message: its Date and Age give the age.
	ageHeader := http.Header{}
	if v := h["Date"]; len(v) > 0 {
		ageHeader["Date"] = v
	}
	if v := h["Age"]; len(v) > 0 {
		ageHeader["Age"] = v
	}
	ne.InitialAge = rfc9111.CorrectedInitialAge(ageHeader, ne.RequestTime, now)
	cc := c.respDirectives(ne.Header)
	if !c.applyPolicy(req, &ne, cc, l.ro) {
		ne.Expires, ne.Deletion = now, now
	}
	if !c.cfg.readOnly {
		c.writeEntry(ctx, l.key, &ne)
		c.extendIndex(ctx, l, &ne)
	}
	return &ne
}

// extendIndex rewrites the variant index when an updated variant now
// outlives it.
func (c *Cache) extendIndex(ctx context.Context, l *lookup, e *Entry) {
	if l.index == nil || l.indexDeletion.IsZero() || (!e.Deletion.IsZero() && !e.Deletion.After(l.indexDeletion)) {
		return
	}
	primary := l.primary
	if l.fromGET {
		primary = l.getKey
	}
	ie := &Entry{Method: e.Method, URL: e.URL, Created: e.Created, Deletion: e.Deletion, Variants: l.index}
	if c.writeEntry(ctx, primary, ie) {
		l.indexDeletion = e.Deletion
	}
}

// headUpdate applies RFC 9111 §4.3.5 to the stored GET response a HEAD was
// answered from: matching validators (and Content-Length) freshen it,
// anything else means the stored GET is outdated and it is deleted.
func (c *Cache) headUpdate(ctx context.Context, req *http.Request, l *lookup, resp *http.Response) {
	if resp.StatusCode != http.StatusOK || c.cfg.readOnly {
		return
	}
	old := l.entry
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
		c.deleteKey(ctx, l.key)
		return
	}
	c.freshen(ctx, req, l, resp.Header)
}

// serveEntry builds a caller's response from an entry that may be shared.
// For a streamed entry it opens the stream (checking its first segment; a
// corrupt stream is deleted and counted by openStream); it returns nil when
// that fails (the caller must then fetch the response itself).
func (c *Cache) serveEntry(ctx context.Context, req *http.Request, e *Entry, key, cacheStatus string, withBody bool) *http.Response {
	s := new(served)
	s.entry = *e
	s.entry.Header = e.Header.Clone()
	r, err := c.respond(ctx, s, req, &s.entry, key, c.cfg.now(), cacheStatus, withBody)
	if err != nil {
		return nil
	}
	return r
}

// serveLookup serves the lookup's entry (nil when its stream is gone).
func (c *Cache) serveLookup(ctx context.Context, req *http.Request, l *lookup, cacheStatus string, withBody bool) *http.Response {
	return c.serveEntry(ctx, req, l.entry, l.key, cacheStatus, withBody)
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
