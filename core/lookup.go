package core

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/hoardhttp/hoard/core/internal/rfc9111"
)

// State is what Lookup found a request should do.
type State int

// Lookup states.
const (
	// Bypass: the cache is not used; send LookupResult.Request (the
	// caller's request, or for a body longer than WithMaxKeyedBodySize a
	// clone that streams the same body) and pass the outcome to Store,
	// which invalidates after unsafe methods (RFC 9111 §4.4) and stores
	// nothing else (but a POST response that RFC 9110 §9.3.3 makes a GET's).
	Bypass State = iota
	// Hit: serve LookupResult.Response (fresh, stale within max-stale, or
	// the synthetic 504 of only-if-cached); nothing is sent.
	Hit
	// StaleWhileRevalidate: serve Response now and refresh in the
	// background with RevalidateInBackground.
	StaleWhileRevalidate
	// Revalidate: send Request (conditional when the stored response has a
	// validator) and pass the outcome to Revalidate; Join first to collapse
	// identical revalidations.
	Revalidate
	// Miss: send Request and pass the outcome to Store; Join first to
	// collapse identical misses.
	Miss
)

func (s State) String() string {
	switch s {
	case Bypass:
		return "bypass"
	case Hit:
		return "hit"
	case StaleWhileRevalidate:
		return "stale-while-revalidate"
	case Revalidate:
		return "revalidate"
	case Miss:
		return "miss"
	}
	return "unknown"
}

// Forward says why a request goes to the origin: the fwd parameter of the
// cache's Cache-Status field (RFC 9211 §2.2), which String gives.
type Forward int

// Forwarding reasons.
const (
	// ForwardNone: the request is not forwarded (a Hit).
	ForwardNone Forward = iota
	// ForwardBypass: the cache is not used for this request (disabled,
	// DoNotCache, a body too long to key, closed), or the store is skipped
	// (its circuit breaker is open).
	ForwardBypass
	// ForwardMethod: the method is not one of WithAllowableMethods.
	ForwardMethod
	// ForwardMiss: nothing is stored for the request.
	ForwardMiss
	// ForwardVaryMiss: responses are stored for the URL, none for this
	// request's values of the fields they vary on.
	ForwardVaryMiss
	// ForwardStale: the stored response is stale and must be validated.
	ForwardStale
	// ForwardRequest: the stored response is fresh, but the request or the
	// settings ask for a new or validated one (no-cache, max-age=0,
	// Refresh, ForceRefresh, always-revalidate, its own conditionals).
	ForwardRequest
)

// String returns the Cache-Status fwd value: "bypass", "method", "miss",
// "vary-miss", "stale", "request" ("" for ForwardNone).
func (f Forward) String() string {
	switch f {
	case ForwardBypass:
		return "bypass"
	case ForwardMethod:
		return "method"
	case ForwardMiss:
		return "miss"
	case ForwardVaryMiss:
		return "vary-miss"
	case ForwardStale:
		return "stale"
	case ForwardRequest:
		return "request"
	}
	return ""
}

// detail is the Cache-Status detail of a forwarded request, when it says why.
type detail uint8

const (
	detailNone         detail = iota
	detailBodyTooLarge        // longer than WithMaxKeyedBodySize
	detailUnavailable         // the store was skipped: its circuit breaker is open
	detailClosed              // the cache is closed
)

func (d detail) String() string {
	switch d {
	case detailBodyTooLarge:
		return "body-too-large"
	case detailUnavailable:
		return "store-unavailable"
	case detailClosed:
		return "closed"
	}
	return ""
}

// LookupResult is what Lookup returns: what to do with the request, and
// what the other hooks (Join, Store, Revalidate, RevalidateInBackground) need
// to finish it without reading the store again. Pass the same LookupResult,
// by pointer, to them; it is not safe for concurrent use.
type LookupResult struct {
	State State
	// Forward says why the request goes to the origin (ForwardNone for a
	// Hit): the fwd parameter of the Cache-Status field (RFC 9211 §2.2).
	Forward Forward
	// Response is set for Hit and StaleWhileRevalidate.
	Response *http.Response
	// Request is the request to send for Bypass, Miss, Revalidate and
	// StaleWhileRevalidate: the caller's request, or a copy with canonical
	// header names, or a clone carrying validators (and a re-readable or
	// replayed body). It is never the caller's request modified.
	// A request that carries its own validators (If-None-Match,
	// If-Modified-Since) is sent with them, not the cache's.
	Request *http.Request
	// Key is the store key of the stored response found, or of the one a
	// Miss will write.
	Key string

	x *exchange // nil for a Hit
}

// asked is what the request asks for, fixed once the lookup has read it.
type asked struct {
	req      *http.Request // the caller's request, canonical header names
	plain    *http.Request // the unconditional form of what is sent
	ro       reqOpts
	reqCC    rfc9111.Directives
	method   string
	primary  string    // key new responses for this request are written under
	getKey   string    // for HEAD: the GET entry's primary key
	callerIf bool      // the caller sent conditional headers
	originIf bool      // ... that only the origin can evaluate
	collapse bool      // identical concurrent requests may share this one
	now      time.Time // when the lookup ran
}

// found is what the lookup read from the store.
type found struct {
	key           string    // key of the entry found
	index         *Variants // index found at the entry's primary key
	indexDeletion time.Time // the index's deletion time
	entry         *Entry    // entry found (owned by the exchange)
	fromGET       bool      // a HEAD answered from a stored GET
	// storeErr is the first store error a read for this lookup met (the
	// lookup then fails open as a miss); management calls return it.
	storeErr error
}

// verdict is what the lookup decided.
type verdict struct {
	act    State
	fwd    Forward        // Cache-Status fwd= for a forwarded request
	detail detail         // Cache-Status detail=, when it says why
	resp   *http.Response // Hit / StaleWhileRevalidate
	send   *http.Request  // what to send
	cond   bool           // send carries the cache's own validators
}

// exchange is one request's state from Lookup to the hook that ends it:
// what was asked, what was found, the verdict, and then the exchange with
// the origin.
type exchange struct {
	asked
	found
	verdict
	reqTime     time.Time // when the request was sent (about)
	invalidated bool      // §4.4 was applied for the response
	// fl is the flight this exchange leads (see Join), named fk; revalidation
	// is set when it is a revalidation's flight, whose waiters learn the
	// status the leader got (status, 304 when revalidated).
	fl           *flight
	fk           string
	revalidation bool
	status       int
	// lease is the store's lease the flight's leader holds (WithLeaseWait,
	// lease.go), released by publish.
	lease *heldLease
}

// Lookup finds the stored response for req and decides what to do with it
// (see the precedence table in the package doc), counting a hit, a stale hit
// or a miss in Stats. Store errors fail open: they are logged and counted
// and Lookup reports a Miss. The returned error is only for a request body
// that cannot be read. Lookup sends nothing and emits no observer event.
func (c *Cache) Lookup(ctx context.Context, req *http.Request) (LookupResult, error) {
	var x exchange // on the stack: a hit needs no more
	if err := c.lookup(ctx, req, &x); err != nil {
		return LookupResult{}, err
	}
	lr := LookupResult{State: x.act, Forward: x.fwd, Response: x.resp, Request: x.send, Key: x.key}
	if lr.Key == "" {
		lr.Key = x.primary
	}
	switch x.act {
	case Hit:
		lr.Forward = ForwardNone // also for the 504 of only-if-cached after a miss
		if InfoOf(x.resp).Stale {
			c.stats.staleHits.Add(1)
		} else {
			c.stats.hits.Add(1)
		}
		releaseEntry(x.entry) // the response holds nothing of it (see entryPool)
		return lr, nil
	case StaleWhileRevalidate:
		c.stats.staleHits.Add(1)
	case Miss:
		c.stats.misses.Add(1)
	}
	lr.x = new(exchange)
	*lr.x = x
	if lr.x.reqTime = x.now; x.now.IsZero() { // a bypass decided before the clock was read
		lr.x.reqTime = c.cfg.now()
	}
	return lr, nil
}

func hasValidator(h http.Header) bool {
	return len(h["Etag"]) > 0 || len(h["Last-Modified"]) > 0
}

// lookup fills x for req: what it asks, what is stored for it and the
// verdict. From ask on it reads x.req, req with canonical header names.
func (c *Cache) lookup(ctx context.Context, req *http.Request, x *exchange) error {
	if done, err := c.ask(ctx, req, x); done || err != nil {
		return err
	}
	req = x.req
	if x.ro.forceRefresh {
		// Nothing is read to serve, but the URL's variant index is kept so
		// that storing this response leaves the other variants reachable.
		var idx Entry
		if c.readEntry(ctx, x.primary, &idx) == nil && idx.Variants != nil {
			x.index, x.indexDeletion = idx.Variants, idx.Deletion
		}
		x.act, x.fwd = Miss, ForwardRequest
		return nil
	}
	e := scratchEntry()
	found := false
	if x.method == http.MethodHead && c.cfg.methods.has(http.MethodGet) {
		x.getKey = c.primaryKeyFor(req, http.MethodGet, "")
		found = c.find(ctx, req, x.getKey, e, x)
		x.fromGET = found
	}
	if !found {
		x.index, x.indexDeletion, x.fwd = nil, time.Time{}, ForwardNone
		found = c.find(ctx, req, x.primary, e, x)
	}
	if !found {
		releaseEntry(e)
		return c.miss(req, x)
	}
	if c.cfg.filter != nil {
		probe := &http.Response{StatusCode: e.Status, Header: e.Header, Request: req, ContentLength: int64(len(e.Body))}
		if !c.cfg.filter(probe) {
			c.deleteKey(ctx, x.key)
			x.index = nil
			return c.miss(req, x)
		}
	}
	x.entry = e
	return c.decide(ctx, req, x)
}

// ask fills what req asks for (x.asked) and reports done when that alone
// decides (a bypass). x.req (and the request sent) is req with canonical
// header names: req itself when its names already are (see
// canonicalRequest).
func (c *Cache) ask(ctx context.Context, req *http.Request, x *exchange) (done bool, err error) {
	f := readRequestFields(req.Header)
	if !f.canonical {
		req = canonicalRequest(req)
		f = readRequestFields(req.Header)
	}
	x.req = req
	x.ro = requestOptions(ctx)
	x.method = req.Method
	if x.method == "" {
		x.method = http.MethodGet
	}
	x.send = req
	x.plain = req
	switch {
	case c.gate.closed():
		x.act, x.fwd, x.detail = Bypass, ForwardBypass, detailClosed
		return true, nil
	case c.cfg.disabled || x.ro.disabled:
		x.act, x.fwd = Bypass, ForwardBypass
		return true, nil
	case !c.cfg.methods.has(x.method):
		x.act, x.fwd = Bypass, ForwardMethod
		return true, nil
	case c.doNotCache(req, x.ro):
		x.act, x.fwd = Bypass, ForwardBypass
		return true, nil
	}
	x.reqCC = rfc9111.ParseDirectiveLines(f.cacheControl)
	if rfc9111.PragmaNoCacheLines(f.cacheControl, f.pragma) {
		x.reqCC.NoCache = true
	}
	bodyKey := ""
	if x.method != http.MethodGet && x.method != http.MethodHead {
		if bodyKey, done, err = c.keyBody(ctx, req, x); done || err != nil {
			return done, err
		}
	}
	x.primary = c.primaryKeyFor(req, x.method, bodyKey)
	x.callerIf = f.ifNoneMatch || f.ifModifiedSince
	// If-Match and If-Unmodified-Since only apply to an origin server
	// (RFC 9111 §4.3.2), and so do the preconditions of a method other
	// than GET and HEAD (a 412, not a 304, RFC 9110 §13.2.2): such a
	// request is forwarded as it is, never answered from the cache.
	x.originIf = f.ifMatch || f.ifUnmodifiedSince ||
		(x.callerIf && x.method != http.MethodGet && x.method != http.MethodHead)
	x.callerIf = x.callerIf || x.originIf
	x.collapse = !x.callerIf && !x.ro.forceRefresh
	x.now = c.cfg.now()
	c.markClock(ctx, x.now)
	return false, nil
}

// requestFields are the fields of a request's header a lookup reads first:
// the Cache-Control and Pragma lines, whether it carries each
// precondition, and whether every name in it is canonical (when one is
// not, the fields must be read again from the header canonicalRequest
// gives, which merges the spellings of a name).
type requestFields struct {
	cacheControl, pragma                                     []string
	ifNoneMatch, ifModifiedSince, ifMatch, ifUnmodifiedSince bool
	canonical                                                bool
}

// smallHeader is the number of fields up to which readRequestFields walks
// a header rather than looking each of its six names up: a request carries
// a few fields, and one walk of a few, which also checks their names, costs
// less than six hashed lookups and a walk of its own for the names.
const smallHeader = 8

// readRequestFields reads the requestFields of h.
func readRequestFields(h http.Header) (f requestFields) {
	if len(h) > smallHeader {
		f.canonical = headerCanonical(h)
		f.cacheControl, f.pragma = h["Cache-Control"], h["Pragma"]
		f.ifNoneMatch, f.ifModifiedSince = len(h["If-None-Match"]) > 0, len(h["If-Modified-Since"]) > 0
		f.ifMatch, f.ifUnmodifiedSince = len(h["If-Match"]) > 0, len(h["If-Unmodified-Since"]) > 0
		return f
	}
	f.canonical = true
	for k, v := range h {
		if !canonicalName(k) {
			f.canonical = false
		}
		switch k {
		case "Cache-Control":
			f.cacheControl = v
		case "Pragma":
			f.pragma = v
		case "If-None-Match":
			f.ifNoneMatch = len(v) > 0
		case "If-Modified-Since":
			f.ifModifiedSince = len(v) > 0
		case "If-Match":
			f.ifMatch = len(v) > 0
		case "If-Unmodified-Since":
			f.ifUnmodifiedSince = len(v) > 0
		}
	}
	return f
}

// keyBody reads the body of a request other than GET or HEAD for its key
// and makes the request to send replay it. It reports done (a bypass) for
// a body longer than WithMaxKeyedBodySize.
func (c *Cache) keyBody(ctx context.Context, req *http.Request, x *exchange) (key string, done bool, err error) {
	var buf []byte
	if req.Body != nil && req.Body != http.NoBody {
		if req.ContentLength > c.cfg.maxKeyedBody {
			x.act, x.fwd, x.detail = Bypass, ForwardBypass, detailBodyTooLarge
			return "", true, nil
		}
		b, over, err := c.readKeyedBody(ctx, req)
		if err != nil {
			return "", false, &Error{Op: "read request body", Key: req.URL.Redacted(), Err: err}
		}
		if over != nil {
			x.send, x.plain = over, over
			x.act, x.fwd, x.detail = Bypass, ForwardBypass, detailBodyTooLarge
			return "", true, nil
		}
		buf = b
		clone := req.Clone(ctx)
		clone.Body = io.NopCloser(bytes.NewReader(buf))
		clone.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
		clone.ContentLength = int64(len(buf))
		x.send, x.plain = clone, clone
	}
	return c.bodyKey(req.Header.Get("Content-Type"), buf), false, nil
}

// bypassStatus is the Cache-Status of a bypassed request.
func bypassStatus(x *exchange) string {
	switch {
	case x.detail == detailBodyTooLarge:
		return csBodyTooLarge
	case x.fwd == ForwardMethod:
		return csMethod
	case x.detail == detailClosed:
		return csClosed
	}
	return csBypass
}

// readKeyedBody reads the body of req to key it, up to WithMaxKeyedBodySize.
// It reads a copy through GetBody when there is one (so a request whose Body
// was already sent, as with the Store hook, still has its key), and then
// closes req.Body, as the RoundTripper contract asks: that body is not the
// one sent. A body longer than the bound is not read further; over is then
// the request to send instead: a clone whose body replays the bytes read and
// streams the rest of the same reader, with req's GetBody for retries.
func (c *Cache) readKeyedBody(ctx context.Context, req *http.Request) (buf []byte, over *http.Request, err error) {
	src := req.Body
	if req.GetBody != nil {
		if rc, gerr := req.GetBody(); gerr == nil && rc != nil {
			req.Body.Close()
			src = rc
		}
	}
	limit := c.cfg.maxKeyedBody
	b, err := readUpTo(src, req.ContentLength, limit+1)
	if err != nil {
		src.Close()
		return nil, nil, err
	}
	if int64(len(b)) <= limit {
		src.Close()
		return b, nil, nil
	}
	over = req.Clone(ctx)
	over.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(b), src), Closer: src}
	return nil, over, nil
}

// release closes the body of the request a lookup prepared to send, for the
// hooks that send nothing (Store, Delete, Contains): it may hold a reader
// obtained from GetBody.
func (x *exchange) release(req *http.Request) {
	if x.send != nil && x.send != req && x.send.Body != nil {
		x.send.Body.Close()
	}
}

// belongs reports whether e, read under key, was written for req's URL (an
// entry for GET may answer a HEAD). It only checks when the codec
// authenticates entries (without that, whoever can write the store can write
// any entry anyway); an entry that fails is treated as corrupt.
func (c *Cache) belongs(ctx context.Context, req *http.Request, key string, e *Entry) bool {
	if !c.bindEntries {
		return true
	}
	var arr [512]byte
	u := c.appendURL(arr[:0], req.URL, wireHost(req), true)
	m := req.Method
	if m == "" {
		m = http.MethodGet
	}
	if string(u) == e.URL && (e.Method == m || (m == http.MethodHead && e.Method == http.MethodGet)) {
		return true
	}
	c.stats.corrupt.Add(1)
	c.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "hoard: entry under a key it was not written for; deleted",
		slog.String("key", key))
	c.deleteKey(ctx, key)
	return false
}

// doNotCache applies row 1 of the lifetime precedence table.
func (c *Cache) doNotCache(req *http.Request, ro reqOpts) bool {
	if ro.hasExpireAfter {
		return ro.expireAfter == DoNotCache
	}
	if len(c.cfg.urlRules) > 0 {
		if d, ok := c.cfg.urlExpireAfter(wireURL(req).String()); ok {
			return d == DoNotCache
		}
	}
	return c.cfg.hasExpireAfter && c.cfg.expireAfter == DoNotCache
}

// find reads the entry for primary into e, following a variant index. It
// records the key found and the index in x.
func (c *Cache) find(ctx context.Context, req *http.Request, primary string, e *Entry, x *exchange) bool {
	if err := c.readEntry(ctx, primary, e); err != nil || !c.belongs(ctx, req, primary, e) {
		x.failed(err)
		return false
	}
	if e.Variants == nil {
		if len(c.cfg.matchHeaders) > 0 || c.cfg.matchAll {
			// Stored before header matching was configured: not a match.
			return false
		}
		x.key = primary
		return true
	}
	idx := e.Variants
	x.index, x.indexDeletion = idx, e.Deletion
	sel, _, ok := c.selection(req, idx)
	if !ok {
		x.fwd = ForwardVaryMiss
		return false
	}
	vk := variantKey(primary, idx, sel)
	if err := c.readEntry(ctx, vk, e); err != nil || e.Variants != nil || !c.belongs(ctx, req, vk, e) {
		x.failed(err)
		x.fwd = ForwardVaryMiss
		return false
	}
	x.key = vk
	return true
}

// failed records err, the error of a read, if it is a store error (not a
// miss) and the first one.
func (x *exchange) failed(err error) {
	if err != nil && x.storeErr == nil && !errors.Is(err, ErrNotFound) {
		x.storeErr = err
	}
}

func (c *Cache) miss(req *http.Request, x *exchange) error {
	x.send, x.cond = x.plain, false
	if x.ro.onlyIfCached || x.reqCC.OnlyIfCached {
		x.act, x.resp = Hit, c.gatewayTimeout(req)
		return nil
	}
	x.act = Miss
	if x.fwd == ForwardNone && errors.Is(x.storeErr, errBreakerOpen) {
		x.fwd, x.detail = ForwardBypass, detailUnavailable
	}
	if x.fwd == ForwardNone {
		x.fwd = ForwardMiss
	}
	return nil
}

// skipWrite reports whether the response to this lookup must not be
// written: its read found the breaker open, or ran out of the store
// timeout (a write would most likely wait as long again).
func (x *exchange) skipWrite() bool {
	return x.storeErr != nil && (errors.Is(x.storeErr, errStoreTimeout) || errors.Is(x.storeErr, errBreakerOpen))
}

// usage is what the stored response and the request say about using it.
type usage struct {
	fresh          bool          // within its freshness lifetime
	staleFor       time.Duration // how long it has been stale
	bounded        bool          // a bound of the request (max-age, min-fresh, ExpireAfter) rules it out
	wantRevalidate bool          // the request, the response or the settings ask for validation
	onlyIfCached   bool          // the origin may not be asked
}

// usageOf evaluates the entry found for the request (RFC 9111 §4.2, §5.2.1).
func (c *Cache) usageOf(x *exchange) usage {
	e, now := x.entry, x.now
	age := rfc9111.CurrentAge(e.InitialAge, e.ResponseTime, now)
	// Expires is the response time plus what the lifetime leaves after the
	// initial age, so now is before it exactly when the lifetime exceeds
	// the current age (§4.2), once now is no earlier than the response
	// time: the resident time in the age is never negative (§4.2.3; this
	// lookup may have read the clock before another request stored the
	// response it finds).
	if now.Before(e.ResponseTime) {
		now = e.ResponseTime
	}
	u := usage{
		fresh:        e.Expires.IsZero() || now.Before(e.Expires),
		onlyIfCached: x.ro.onlyIfCached || x.reqCC.OnlyIfCached,
	}
	if !u.fresh {
		u.staleFor = now.Sub(e.Expires)
	}
	// Bounds the request puts on a fresh response: max-age (and the
	// per-request ExpireAfter), min-fresh.
	u.bounded = (x.reqCC.MaxAge != rfc9111.Absent && x.reqCC.MaxAge > 0 && age > time.Duration(x.reqCC.MaxAge)*time.Second) ||
		(x.ro.hasExpireAfter && x.ro.expireAfter > 0 && age > x.ro.expireAfter) ||
		(u.fresh && x.reqCC.MinFresh != rfc9111.Absent && !e.Expires.IsZero() &&
			e.Expires.Sub(now) < time.Duration(x.reqCC.MinFresh)*time.Second)
	u.wantRevalidate = x.ro.refresh || x.reqCC.NoCache || x.reqCC.MaxAge == 0 ||
		(x.ro.hasExpireAfter && x.ro.expireAfter == ExpireImmediately) || e.NoCache ||
		(c.cfg.alwaysRevalidate && hasValidator(e.Header) && !(u.fresh && e.Immutable))
	return u
}

// decide applies the usage precedence table to the entry found: serve it,
// or forward the request (see revalidation).
func (c *Cache) decide(ctx context.Context, req *http.Request, x *exchange) error {
	e := x.entry
	u := c.usageOf(x)
	withBody := x.method != http.MethodHead
	switch {
	case x.originIf && u.onlyIfCached:
		// Preconditions only the origin can evaluate, and the origin may
		// not be asked (RFC 9111 §5.2.1.7).
		x.act, x.resp = Hit, c.gatewayTimeout(req)
		return nil
	case x.originIf:
		// Preconditions for the origin alone: forwarded below.
	case u.fresh && !u.bounded && (!u.wantRevalidate || u.onlyIfCached):
		return c.serveConditional(ctx, req, x, csHit, withBody)
	case !u.fresh && !e.MustRevalidate && !u.wantRevalidate && !u.bounded &&
		(x.reqCC.MaxStaleAny || (x.reqCC.MaxStale != rfc9111.Absent && u.staleFor <= time.Duration(x.reqCC.MaxStale)*time.Second)):
		return c.serveConditional(ctx, req, x, csHitStale, withBody)
	case u.onlyIfCached:
		if c.staleIfErrorAllows(x) {
			return c.serveConditional(ctx, req, x, csStaleIfError, withBody)
		}
		x.act, x.resp = Hit, c.gatewayTimeout(req)
		return nil
	}
	return c.revalidation(ctx, req, x, u)
}

// revalidation makes the verdict for a stored response that cannot be
// served as it is: Revalidate, with a conditional request made from its
// validators (RFC 9111 §4.3.1) unless the caller sent its own, or
// StaleWhileRevalidate when a stale-while-revalidate window allows serving
// it meanwhile (RFC 5861 §3).
func (c *Cache) revalidation(ctx context.Context, req *http.Request, x *exchange, u usage) error {
	e := x.entry
	x.act, x.fwd = Revalidate, ForwardStale
	if u.fresh {
		x.fwd = ForwardRequest
	}
	if x.callerIf {
		// The caller validates its own copy: forward its request untouched
		// (its validators, not ours) so that a 304 reaches the one who
		// asked for it, and let the answer update the stored response
		// (RFC 9111 §4.3.4 for a 304, §4.3.3 for a full response).
		return nil
	}
	if hasValidator(e.Header) {
		// A shallow copy with a header of its own: the validators are the
		// only change, and a RoundTripper may not modify what it is sent
		// (so the URL and the rest are shared, not deep-copied).
		cond := x.plain.WithContext(ctx)
		cond.Header = x.plain.Header.Clone()
		if cond.Header == nil {
			cond.Header = make(http.Header, 2)
		}
		if x.plain.GetBody != nil {
			cond.Body, _ = x.plain.GetBody()
		}
		if et := e.Header.Get("Etag"); et != "" {
			cond.Header.Set("If-None-Match", et)
		}
		if lm := e.Header.Get("Last-Modified"); lm != "" {
			cond.Header.Set("If-Modified-Since", lm)
		}
		x.send, x.cond = cond, true
	}
	swr := max(e.StaleWhileRevalidate, c.cfg.staleWhileReval)
	if !u.fresh && !e.MustRevalidate && !u.wantRevalidate && !u.bounded && swr > 0 && u.staleFor <= swr &&
		(x.method == http.MethodGet || x.method == http.MethodHead) {
		// The background refresh merges into its own copy of the entry;
		// the response owns the decoded one.
		x.entry = e.shallowForServe()
		return c.serve(ctx, req, x, e, StaleWhileRevalidate, csHitSWR, x.method != http.MethodHead)
	}
	return nil
}

// serve answers the request from e, the entry the lookup decoded (act is
// Hit or StaleWhileRevalidate). A streamed entry whose body is missing,
// belongs to another write or fails its checks cannot be served: it is
// deleted (and, when corrupt, counted) and the request becomes a miss.
func (c *Cache) serve(ctx context.Context, req *http.Request, x *exchange, e *Entry, act State, cacheStatus string, withBody bool) error {
	r, err := c.respond(ctx, newServed(req), req, e, x.key, x.now, cacheStatus, withBody)
	if err != nil {
		if !errors.Is(err, errStreamCorrupt) { // a corrupt one is deleted already
			c.deleteKey(ctx, x.key)
		}
		x.entry, x.index = nil, nil
		return c.miss(req, x)
	}
	x.act, x.resp = act, r
	return nil
}

// shallowForServe returns a copy of e whose Header the response may own,
// leaving e intact for the background refresh that will merge into it.
func (e *Entry) shallowForServe() *Entry {
	cp := *e
	cp.Header = e.Header.Clone()
	return &cp
}

// staleIfErrorAllows reports whether the stored response may be served
// because refreshing it failed: within the largest stale-if-error window of
// the stored response, the request and the settings, and never when it is
// must-revalidate (RFC 5861 §4, RFC 9111 §5.2.2.2). The error response's own
// headers play no part.
func (c *Cache) staleIfErrorAllows(x *exchange) bool {
	e := x.entry
	if e == nil || e.MustRevalidate {
		return false
	}
	window := max(e.StaleIfError, c.cfg.staleIfError)
	if x.reqCC.StaleIfError != rfc9111.Absent {
		window = max(window, time.Duration(x.reqCC.StaleIfError)*time.Second)
	}
	if window <= 0 {
		// No window anywhere: a response whose use required validation
		// (stale, no-cache, a refresh the request asked for) is not served
		// when the validation fails.
		return false
	}
	if window == Forever || e.Expires.IsZero() {
		return true
	}
	return c.cfg.now().Sub(e.Expires) <= window
}

// serveConditional serves the entry the lookup decoded as a Hit, answering
// the caller's own If-None-Match or If-Modified-Since with a 304 built from
// it when they say the caller's copy is current (see notModified).
func (c *Cache) serveConditional(ctx context.Context, req *http.Request, x *exchange, cacheStatus string, withBody bool) error {
	if x.callerIf && !x.originIf {
		if r := c.notModified(req, x.entry, x.key, x.now, cacheStatus); r != nil {
			x.act, x.resp = Hit, r
			return nil
		}
	}
	return c.serve(ctx, req, x, x.entry, Hit, cacheStatus, withBody)
}

// notModifiedFields are the fields of a stored response a 304 built from it
// carries: those RFC 9110 §15.4.5 requires a 304 to have when a 200 would
// (Cache-Control, Content-Location, Date, ETag, Expires, Vary), and
// Last-Modified, which guides the update of the caller's own cache (ibid.).
var notModifiedFields = [...]string{"Cache-Control", "Content-Location", "Date", "Etag", "Expires", "Vary", "Last-Modified"}

// notModified evaluates the caller's own conditional GET or HEAD against the
// stored response e that the cache may use for it (RFC 9111 §4.3.2), and
// returns a 304 built from e when the caller's copy is current, nil
// otherwise. Only a stored 200 is evaluated (§4.3.2; for any other status
// the origin would ignore the preconditions too, RFC 9110 §13.2.1).
// If-None-Match takes precedence (RFC 9110 §13.2.2): weak comparison, a list
// of tags or "*" (§13.1.2); without it, If-Modified-Since is evaluated
// against the stored Last-Modified, else Date, else the time it was
// received, and ignored when it is not one valid HTTP-date (§13.1.3).
func (c *Cache) notModified(req *http.Request, e *Entry, key string, now time.Time, cacheStatus string) *http.Response {
	if e.Status != http.StatusOK {
		return nil
	}
	var match bool
	if inm := req.Header["If-None-Match"]; len(inm) > 0 {
		tag, ok := rfc9111.ETag(e.Header)
		match = rfc9111.NoneMatch(inm, tag, ok)
	} else {
		match, _ = rfc9111.NotModifiedSince(req.Header["If-Modified-Since"], e.Header, e.ResponseTime, now)
	}
	if !match {
		return nil
	}
	h := make(http.Header, len(notModifiedFields)+len(c.cfg.targeted)+2)
	for _, k := range notModifiedFields {
		if v, ok := e.Header[k]; ok {
			h[k] = v
		}
	}
	for _, k := range c.cfg.targeted {
		if v, ok := e.Header[k]; ok {
			h[k] = v
		}
	}
	ne := *e
	ne.Status = http.StatusNotModified
	ne.Header = h
	ne.Body, ne.Trailer, ne.Streamed = nil, nil, false
	r := c.build(newServed(req), req, &ne, key, now, cacheStatus, false)
	r.ContentLength = 0 // RFC 9110 §15.4.5: no content
	return r
}

// notModifiedSelects reports whether a 304 with header h selects the stored
// response x.entry for update (RFC 9111 §4.3.4; see
// rfc9111.NotModifiedSelects). For a conditional request the cache made
// from that response's own validators (x.cond), a 304 without any validator
// selects it too: the request nominated that one response, and RFC 9110
// §15.4.5 makes the 304 mean "the representation you named"; origins that
// leave the ETag out of their 304s are common. Validators in the 304 that
// contradict the stored ones never select it.
func notModifiedSelects(x *exchange, h http.Header, now time.Time) bool {
	if rfc9111.NotModifiedSelects(x.entry.Header, h, now) {
		return true
	}
	return x.cond && len(h["Etag"]) == 0 && len(h["Last-Modified"]) == 0
}

var errValidatorMismatch = errors.New("core: 304 does not match the stored response's validators")
