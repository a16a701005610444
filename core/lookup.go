package core

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
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
	collapse      bool      // identical concurrent requests may share this one
	// streamDone, when set, is called once a body streamed into the store
	// is committed (with the entry and its key) or abandoned (nil, "").
	streamDone func(e *Entry, key string)
	reqTime    time.Time
	now        time.Time
	fresh      bool
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
	l.collapse = !l.callerIf && !l.ro.forceRefresh
	l.now = c.cfg.now()

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
		l.fwd = "vary-miss"
		return false
	}
	l.key = vk
	return true
}

func (c *Cache) miss(req *http.Request, l *lookup) error {
	l.send, l.cond = l.plain, false
	if l.ro.onlyIfCached || l.reqCC.OnlyIfCached {
		l.act, l.resp = Hit, c.gatewayTimeout(req)
		return nil
	}
	l.act = Miss
	if l.fwd == "" {
		l.fwd = "miss"
	}
	return nil
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
	case fresh && !bounded && (!wantRevalidate || onlyIfCached):
		if l.callerIf {
			if r := c.notModified(req, e, l.key, now, s); r != nil {
				l.act, l.resp = Hit, r
				return nil
			}
		}
		return c.serve(ctx, req, l, s, Hit, csHit, withBody)
	case !fresh && !e.MustRevalidate && !wantRevalidate && !bounded &&
		(l.reqCC.MaxStaleAny || (l.reqCC.MaxStale != rfc9111.Absent && staleFor <= time.Duration(l.reqCC.MaxStale)*time.Second)):
		return c.serve(ctx, req, l, s, Hit, csHitStale, withBody)
	case onlyIfCached:
		if c.staleIfErrorAllows(l) {
			return c.serve(ctx, req, l, s, Hit, csStaleIfError, withBody)
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
// StaleWhileRevalidate). A streamed entry whose body is missing or belongs
// to another write cannot be served: it is deleted (unless only its body was
// replaced by a newer write) and the request becomes a miss.
func (c *Cache) serve(ctx context.Context, req *http.Request, l *lookup, s *served, act State, cacheStatus string, withBody bool) error {
	e := &s.entry
	if e.Streamed && withBody {
		rc, err := c.openStream(ctx, l.key, e)
		if err != nil {
			c.deleteKey(ctx, l.key)
			l.entry, l.index = nil, nil
			return c.miss(req, l)
		}
		s.stream = rc
	}
	l.act, l.resp = act, c.build(s, req, e, l.key, l.now, cacheStatus, withBody)
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

// notModified answers a caller's own conditional request from a fresh entry
// (RFC 9110 §13.1.1-2): a 304 when its validators match, nil otherwise.
func (c *Cache) notModified(req *http.Request, e *Entry, key string, now time.Time, s *served) *http.Response {
	match := false
	if inm := req.Header.Get("If-None-Match"); inm != "" {
		et := e.Header.Get("Etag")
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || (et != "" && weakEqual(t, et)) {
				match = true
				break
			}
		}
	} else if ims, ok := rfc9111.ParseHTTPDate(req.Header.Get("If-Modified-Since"), now); ok {
		lm, ok := rfc9111.LastModified(e.Header, now)
		if !ok {
			lm = rfc9111.DateOr(e.Header, e.ResponseTime)
		}
		match = !lm.After(ims)
	}
	if !match {
		return nil
	}
	h := e.Header
	for _, k := range []string{"Content-Length", "Content-Encoding", "Transfer-Encoding", "Content-Range"} {
		delete(h, k)
	}
	ne := *e
	ne.Status = http.StatusNotModified
	ne.Body = nil
	return c.build(s, req, &ne, key, now, csHit, false)
}

// notModifiedSelects reports whether a 304 with header h, answering a
// conditional request whose validators were not (necessarily) the stored
// response's, selects the stored response with header stored for update, by
// the first rule of RFC 9111 §4.3.4 that applies: a strong validator in the
// 304 must be the stored response's (strong comparison, RFC 9110 §8.8.3.2);
// otherwise its weak validators (a weak entity tag, Last-Modified) must
// correspond to the stored response's; otherwise, with no validator in the
// 304, the stored response must have none either.
func notModifiedSelects(stored, h http.Header, now time.Time) bool {
	et, lm := h.Get("Etag"), h.Get("Last-Modified")
	storedET := stored.Get("Etag")
	switch {
	case et != "" && !strings.HasPrefix(et, "W/"):
		return et == storedET
	case et != "" || lm != "":
		if et != "" && (storedET == "" || !weakEqual(et, storedET)) {
			return false
		}
		return lm == "" || sameTime(lm, stored.Get("Last-Modified"), now)
	}
	return !hasValidator(stored)
}

// sameTime reports whether two HTTP-date field values name the same time
// (values that are not HTTP-dates only when they are identical).
func sameTime(a, b string, now time.Time) bool {
	ta, oka := rfc9111.ParseHTTPDate(a, now)
	tb, okb := rfc9111.ParseHTTPDate(b, now)
	if !oka || !okb {
		return a == b
	}
	return ta.Equal(tb)
}

// weakEqual compares entity tags by the weak comparison of RFC 9110 §8.8.3.2.
func weakEqual(a, b string) bool {
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

var errValidatorMismatch = errors.New("core: 304 does not match the stored response's validators")
