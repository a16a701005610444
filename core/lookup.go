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
	// clone that streams the same body).
	Bypass State = iota
	// Hit: serve LookupResult.Response (fresh, stale within max-stale, or
	// the synthetic 504 of only-if-cached); nothing is sent.
	Hit
	// StaleWhileRevalidate: serve Response now and send Request in the
	// background, passing the outcome to Revalidate.
	StaleWhileRevalidate
	// Revalidate: send Request (conditional when the stored response has a
	// validator) and pass the outcome to Revalidate.
	Revalidate
	// Miss: send Request and pass the response to Store.
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

// LookupResult is what Lookup returns.
type LookupResult struct {
	State State
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

	l *lookup
}

// action is lookup's internal verdict.
type action = State

// lookup is the per-request working state shared by the hooks.
type lookup struct {
	act           action
	resp          *http.Response // Hit / StaleWhileRevalidate
	send          *http.Request  // what to send
	plain         *http.Request  // the unconditional form of send
	ro            reqOpts
	reqCC         rfc9111.Directives
	method        string
	primary       string    // key new responses for this request are written under
	getKey        string    // for HEAD: the GET entry's primary key
	key           string    // key of the entry found
	index         *Variants // index found at the entry's primary key
	indexDeletion time.Time // the index's deletion time
	entry         *Entry    // entry found (owned by the lookup)
	fromGET       bool      // a HEAD answered from a stored GET
	fwd           string    // Cache-Status fwd= for a forwarded request
	detail        string    // Cache-Status detail= for a bypass, when it says why
	cond          bool      // send carries the cache's own validators
	callerIf      bool      // the caller sent conditional headers
	originIf      bool      // ... that only the origin can evaluate
	collapse      bool      // identical concurrent requests may share this one
	// streamDone, when set, is called once a body streamed into the store
	// is committed (with the entry and its key) or abandoned (nil, "").
	streamDone func(e *Entry, key string)
	reqTime    time.Time
	now        time.Time
	fresh      bool
	// storeErr is the first store error a read for this lookup met (the
	// lookup then fails open as a miss); management calls return it.
	storeErr error
}

// Lookup finds the stored response for req and decides what to do with it
// (see the precedence table in the package doc). Store errors fail open: they
// are logged and counted and Lookup reports a Miss. The returned error is
// only for a request body that cannot be read.
func (c *Cache) Lookup(ctx context.Context, req *http.Request) (*LookupResult, error) {
	req = canonicalRequest(req)
	l := new(lookup)
	if err := c.lookup(ctx, req, l); err != nil {
		return nil, err
	}
	key := l.key
	if key == "" {
		key = l.primary
	}
	return &LookupResult{State: l.act, Response: l.resp, Request: l.send, Key: key, l: l}, nil
}

// fwdClosed is the lookup's fwd for a request made after Close.
const fwdClosed = "closed"

func hasValidator(h http.Header) bool {
	return len(h["Etag"]) > 0 || len(h["Last-Modified"]) > 0
}

func (c *Cache) lookup(ctx context.Context, req *http.Request, l *lookup) error {
	l.ro = requestOptions(ctx)
	l.method = req.Method
	if l.method == "" {
		l.method = http.MethodGet
	}
	l.send = req
	l.plain = req
	if c.gate.closed() {
		l.act, l.fwd = Bypass, fwdClosed
		return nil
	}
	if c.cfg.disabled || l.ro.disabled {
		l.act, l.fwd = Bypass, "bypass"
		return nil
	}
	if !c.cfg.methods[l.method] {
		l.act, l.fwd = Bypass, "method"
		return nil
	}
	if c.doNotCache(req, l.ro) {
		l.act, l.fwd = Bypass, "bypass"
		return nil
	}
	l.reqCC = rfc9111.ParseDirectives(req.Header)
	if rfc9111.PragmaNoCache(req.Header) {
		l.reqCC.NoCache = true
	}
	bodyKey := ""
	if l.method != http.MethodGet && l.method != http.MethodHead {
		var buf []byte
		if req.Body != nil && req.Body != http.NoBody {
			if req.ContentLength > c.cfg.maxKeyedBody {
				l.act, l.fwd, l.detail = Bypass, "bypass", detailBodyTooLarge
				return nil
			}
			b, over, err := c.readKeyedBody(ctx, req)
			if err != nil {
				return &Error{Op: "read request body", Key: req.URL.Redacted(), Err: err}
			}
			if over != nil {
				l.send, l.plain = over, over
				l.act, l.fwd, l.detail = Bypass, "bypass", detailBodyTooLarge
				return nil
			}
			buf = b
			clone := req.Clone(ctx)
			clone.Body = io.NopCloser(bytes.NewReader(buf))
			clone.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
			clone.ContentLength = int64(len(buf))
			l.send, l.plain = clone, clone
		}
		bodyKey = c.bodyKey(req.Header.Get("Content-Type"), buf)
	}
	l.primary = c.primaryKeyFor(req, l.method, bodyKey)
	l.callerIf = len(req.Header["If-None-Match"]) > 0 || len(req.Header["If-Modified-Since"]) > 0
	// If-Match and If-Unmodified-Since only apply to an origin server
	// (RFC 9111 §4.3.2), and so do the preconditions of a method other
	// than GET and HEAD (a 412, not a 304, RFC 9110 §13.2.2): such a
	// request is forwarded as it is, never answered from the cache.
	l.originIf = len(req.Header["If-Match"]) > 0 || len(req.Header["If-Unmodified-Since"]) > 0 ||
		(l.callerIf && l.method != http.MethodGet && l.method != http.MethodHead)
	l.callerIf = l.callerIf || l.originIf
	l.collapse = !l.callerIf && !l.ro.forceRefresh
	l.now = c.cfg.now()
	c.markClock(ctx, l.now)

	if l.ro.forceRefresh {
		// Nothing is read to serve, but the URL's variant index is kept so
		// that storing this response leaves the other variants reachable.
		var idx Entry
		if c.readEntry(ctx, l.primary, &idx) == nil && idx.Variants != nil {
			l.index, l.indexDeletion = idx.Variants, idx.Deletion
		}
		l.act, l.fwd = Miss, "request"
		return nil
	}

	s := new(served)
	e := &s.entry
	found := false
	if l.method == http.MethodHead && c.cfg.methods[http.MethodGet] {
		l.getKey = c.primaryKeyFor(req, http.MethodGet, "")
		found = c.find(ctx, req, l.getKey, e, l)
		l.fromGET = found
	}
	if !found {
		l.index, l.indexDeletion, l.fwd = nil, time.Time{}, ""
		found = c.find(ctx, req, l.primary, e, l)
	}
	if !found {
		return c.miss(req, l)
	}
	if c.cfg.filter != nil {
		probe := &http.Response{StatusCode: e.Status, Header: e.Header, Request: req, ContentLength: int64(len(e.Body))}
		if !c.cfg.filter(probe) {
			c.deleteKey(ctx, l.key)
			l.index = nil
			return c.miss(req, l)
		}
	}
	l.entry = e
	return c.decide(ctx, req, l, s)
}

// detailBodyTooLarge is the Cache-Status detail of a request whose body is
// longer than WithMaxKeyedBodySize.
const detailBodyTooLarge = "body-too-large"

// bypassStatus is the Cache-Status of a bypassed request.
func bypassStatus(l *lookup) string {
	switch {
	case l.detail == detailBodyTooLarge:
		return csBodyTooLarge
	case l.fwd == "method":
		return csMethod
	case l.fwd == fwdClosed:
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
func (l *lookup) release(req *http.Request) {
	if l.send != nil && l.send != req && l.send.Body != nil {
		l.send.Body.Close()
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
// records the key found and the index in l.
func (c *Cache) find(ctx context.Context, req *http.Request, primary string, e *Entry, l *lookup) bool {
	if err := c.readEntry(ctx, primary, e); err != nil || !c.belongs(ctx, req, primary, e) {
		l.failed(err)
		return false
	}
	if e.Variants == nil {
		if len(c.cfg.matchHeaders) > 0 || c.cfg.matchAll {
			// Stored before header matching was configured: not a match.
			return false
		}
		l.key = primary
		return true
	}
	idx := e.Variants
	l.index, l.indexDeletion = idx, e.Deletion
	sel, _, ok := c.selection(req, idx)
	if !ok {
		l.fwd = "vary-miss"
		return false
	}
	vk := variantKey(primary, idx, sel)
	if err := c.readEntry(ctx, vk, e); err != nil || e.Variants != nil || !c.belongs(ctx, req, vk, e) {
		l.failed(err)
		l.fwd = "vary-miss"
		return false
	}
	l.key = vk
	return true
}

// failed records err, the error of a read, if it is a store error (not a
// miss) and the first one.
func (l *lookup) failed(err error) {
	if err != nil && l.storeErr == nil && !errors.Is(err, ErrNotFound) {
		l.storeErr = err
	}
}

func (c *Cache) miss(req *http.Request, l *lookup) error {
	l.send, l.cond = l.plain, false
	if l.ro.onlyIfCached || l.reqCC.OnlyIfCached {
		l.act, l.resp = Hit, c.gatewayTimeout(req)
		return nil
	}
	l.act = Miss
	if l.fwd == "" && errors.Is(l.storeErr, errBreakerOpen) {
		l.fwd, l.detail = "bypass", detailUnavailable
	}
	if l.fwd == "" {
		l.fwd = "miss"
	}
	return nil
}

// detailUnavailable is the Cache-Status detail of a request that skipped the
// store because the circuit breaker is open.
const detailUnavailable = "store-unavailable"

// skipWrite reports whether the response to this lookup must not be
// written: its read found the breaker open, or ran out of the store
// timeout (a write would most likely wait as long again).
func (l *lookup) skipWrite() bool {
	return l.storeErr != nil && (errors.Is(l.storeErr, errStoreTimeout) || errors.Is(l.storeErr, errBreakerOpen))
}

// decide applies the usage precedence table to the entry found.
func (c *Cache) decide(ctx context.Context, req *http.Request, l *lookup, s *served) error {
	e := l.entry
	now := l.now
	age := rfc9111.CurrentAge(e.InitialAge, e.ResponseTime, now)
	fresh := e.Expires.IsZero() || now.Before(e.Expires)
	var staleFor time.Duration
	if !fresh {
		staleFor = now.Sub(e.Expires)
	}
	onlyIfCached := l.ro.onlyIfCached || l.reqCC.OnlyIfCached
	validator := hasValidator(e.Header)

	// Bounds the request puts on a fresh response: max-age (and the
	// per-request ExpireAfter), min-fresh.
	bounded := false
	if l.reqCC.MaxAge != rfc9111.Absent && l.reqCC.MaxAge > 0 && age > time.Duration(l.reqCC.MaxAge)*time.Second {
		bounded = true
	}
	if l.ro.hasExpireAfter && l.ro.expireAfter > 0 && age > l.ro.expireAfter {
		bounded = true
	}
	if fresh && l.reqCC.MinFresh != rfc9111.Absent && !e.Expires.IsZero() &&
		e.Expires.Sub(now) < time.Duration(l.reqCC.MinFresh)*time.Second {
		bounded = true
	}

	wantRevalidate := l.ro.refresh || l.reqCC.NoCache || l.reqCC.MaxAge == 0 ||
		(l.ro.hasExpireAfter && l.ro.expireAfter == ExpireImmediately) || e.NoCache ||
		(c.cfg.alwaysRevalidate && validator && !(fresh && e.Immutable))

	withBody := l.method != http.MethodHead
	switch {
	case l.originIf && onlyIfCached:
		// Preconditions only the origin can evaluate, and the origin may
		// not be asked (RFC 9111 §5.2.1.7).
		l.act, l.resp = Hit, c.gatewayTimeout(req)
		return nil
	case l.originIf:
		// Preconditions for the origin alone: forwarded below.
	case fresh && !bounded && (!wantRevalidate || onlyIfCached):
		return c.serveConditional(ctx, req, l, s, csHit, withBody)
	case !fresh && !e.MustRevalidate && !wantRevalidate && !bounded &&
		(l.reqCC.MaxStaleAny || (l.reqCC.MaxStale != rfc9111.Absent && staleFor <= time.Duration(l.reqCC.MaxStale)*time.Second)):
		return c.serveConditional(ctx, req, l, s, csHitStale, withBody)
	case onlyIfCached:
		if c.staleIfErrorAllows(l) {
			return c.serveConditional(ctx, req, l, s, csStaleIfError, withBody)
		}
		l.act, l.resp = Hit, c.gatewayTimeout(req)
		return nil
	}

	l.fresh = fresh
	l.fwd = "stale"
	if fresh {
		l.fwd = "request"
	}
	if l.callerIf {
		// The caller validates its own copy: forward its request untouched
		// (its validators, not ours) so that a 304 reaches the one who
		// asked for it, and let the answer update the stored response
		// (RFC 9111 §4.3.4 for a 304, §4.3.3 for a full response).
		l.act = Revalidate
		return nil
	}
	l.act = Revalidate
	if validator {
		cond := l.plain.Clone(ctx)
		if cond.Header == nil {
			cond.Header = make(http.Header)
		}
		if l.plain.GetBody != nil {
			cond.Body, _ = l.plain.GetBody()
		}
		if et := e.Header.Get("Etag"); et != "" {
			cond.Header.Set("If-None-Match", et)
		}
		if lm := e.Header.Get("Last-Modified"); lm != "" {
			cond.Header.Set("If-Modified-Since", lm)
		}
		l.send, l.cond = cond, true
	}
	swr := max(e.StaleWhileRevalidate, c.cfg.staleWhileReval)
	if !fresh && !e.MustRevalidate && !wantRevalidate && !bounded && swr > 0 && staleFor <= swr &&
		(l.method == http.MethodGet || l.method == http.MethodHead) {
		// The background refresh merges into its own copy of the entry;
		// the response owns the decoded one.
		l.entry = e.shallowForServe()
		if err := c.serve(ctx, req, l, s, StaleWhileRevalidate, csHitSWR, withBody); err != nil || l.act != StaleWhileRevalidate {
			return err
		}
		return nil
	}
	return nil
}

// serve answers the request from the entry decoded into s (act is Hit or
// StaleWhileRevalidate). A streamed entry whose body is missing, belongs to
// another write or fails its checks cannot be served: it is deleted (and,
// when corrupt, counted) and the request becomes a miss.
func (c *Cache) serve(ctx context.Context, req *http.Request, l *lookup, s *served, act State, cacheStatus string, withBody bool) error {
	r, err := c.respond(ctx, s, req, &s.entry, l.key, l.now, cacheStatus, withBody)
	if err != nil {
		if !errors.Is(err, errStreamCorrupt) { // a corrupt one is deleted already
			c.deleteKey(ctx, l.key)
		}
		l.entry, l.index = nil, nil
		return c.miss(req, l)
	}
	l.act, l.resp = act, r
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
func (c *Cache) staleIfErrorAllows(l *lookup) bool {
	e := l.entry
	if e == nil || e.MustRevalidate {
		return false
	}
	window := max(e.StaleIfError, c.cfg.staleIfError)
	if l.reqCC.StaleIfError != rfc9111.Absent {
		window = max(window, time.Duration(l.reqCC.StaleIfError)*time.Second)
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

// serveConditional serves the entry decoded into s as a Hit, answering the
// caller's own If-None-Match or If-Modified-Since with a 304 built from it
// when they say the caller's copy is current (see notModified).
func (c *Cache) serveConditional(ctx context.Context, req *http.Request, l *lookup, s *served, cacheStatus string, withBody bool) error {
	if l.callerIf && !l.originIf {
		if r := c.notModified(req, l.entry, l.key, l.now, s, cacheStatus); r != nil {
			l.act, l.resp = Hit, r
			return nil
		}
	}
	return c.serve(ctx, req, l, s, Hit, cacheStatus, withBody)
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
func (c *Cache) notModified(req *http.Request, e *Entry, key string, now time.Time, s *served, cacheStatus string) *http.Response {
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
	r := c.build(s, req, &ne, key, now, cacheStatus, false)
	r.ContentLength = 0 // RFC 9110 §15.4.5: no content
	return r
}

// notModifiedSelects reports whether a 304 with header h selects the stored
// response l.entry for update (RFC 9111 §4.3.4; see
// rfc9111.NotModifiedSelects). For a conditional request the cache made
// from that response's own validators (l.cond), a 304 without any validator
// selects it too: the request nominated that one response, and RFC 9110
// §15.4.5 makes the 304 mean "the representation you named"; origins that
// leave the ETag out of their 304s are common. Validators in the 304 that
// contradict the stored ones never select it.
func notModifiedSelects(l *lookup, h http.Header, now time.Time) bool {
	if rfc9111.NotModifiedSelects(l.entry.Header, h, now) {
		return true
	}
	return l.cond && len(h["Etag"]) == 0 && len(h["Last-Modified"]) == 0
}

var errValidatorMismatch = errors.New("core: 304 does not match the stored response's validators")
