package core

import (
	"net/http"
	"slices"
	"time"

	"github.com/hoardhttp/hoard/core/internal/rfc9111"
)

// absentDirectives is what response directives look like when Cache-Control
// is not honoured.
var absentDirectives = rfc9111.Directives{
	MaxAge: rfc9111.Absent, SMaxAge: rfc9111.Absent, MinFresh: rfc9111.Absent, MaxStale: rfc9111.Absent,
	StaleWhileRevalidate: rfc9111.Absent, StaleIfError: rfc9111.Absent,
}

// respDirectives returns the directives that govern a response whose
// header is h: none when Cache-Control is not honoured; otherwise those of
// the first valid targeted field of WithTargetedCacheControl (RFC 9213
// §2.2), else those of Cache-Control. A qualified no-cache or private that
// names a field the stored response depends on counts as unqualified
// (rfc9111.Directives.ProtectLists).
func (c *Cache) respDirectives(h http.Header) rfc9111.Directives {
	if !c.cfg.cacheControl {
		return absentDirectives
	}
	d, ok := rfc9111.Directives{}, false
	if len(c.cfg.targeted) > 0 {
		d, ok = rfc9111.ParseTargeted(h, c.cfg.targeted)
	}
	if !ok {
		d = rfc9111.ParseDirectives(h)
	}
	d.ProtectLists()
	return d
}

// storable decides whether resp (to req) may be stored, apart from its body
// size. It returns a reason when it may not.
func (c *Cache) storable(req *http.Request, resp *http.Response, l *exchange, cc rfc9111.Directives) string {
	switch {
	case c.cfg.readOnly:
		return "read-only"
	case !c.cfg.methods.has(l.method):
		return "method"
	case !c.statusStorable(resp.StatusCode, resp.Header, cc):
		return "status"
	}
	if c.cfg.cacheControl {
		if r := rfc9111.Storable(resp.StatusCode, l.reqCC, cc, req.Header, c.cfg.shared); r != "" {
			return r
		}
		// §3: without explicit freshness, public/private or a heuristically
		// cacheable status, only a lifetime the user configured allows it.
		if !rfc9111.HasFreshnessInfo(resp.StatusCode, resp.Header, cc, c.cfg.shared) && !c.userLifetime(req, l.ro, resp.StatusCode) {
			return "no freshness information"
		}
	} else if l.reqCC.NoStore {
		return "request no-store"
	} else if !rfc9111.CompleteForAnyRequest(resp.StatusCode) {
		return "status"
	}
	if _, star := rfc9111.VaryNames(resp.Header); star {
		return "vary *"
	}
	if c.cfg.filter != nil && !c.cfg.filter(resp) {
		return "filter"
	}
	return ""
}

// statusStorable applies the status rule of WithAllowableCodes: an
// allowable code, or, with the default codes and Cache-Control honoured,
// a status the origin's explicit freshness or public allows (among those
// the cache understands) or a heuristically cacheable one (RFC 9111 §3,
// §4.2.2). 401 and 407 are left to an explicit WithAllowableCodes: they
// answer the request's credentials, which no key holds (Authorization and
// Proxy-Authorization are never part of it), so a stored one would answer
// the same request sent with other credentials.
func (c *Cache) statusStorable(status int, h http.Header, cc rfc9111.Directives) bool {
	switch {
	case c.cfg.codes[status]:
		return true
	case c.cfg.codesSet || !c.cfg.cacheControl:
		return false
	case status == http.StatusUnauthorized || status == http.StatusProxyAuthRequired:
		return false
	case rfc9111.HeuristicallyCacheable(status):
		return true
	}
	return rfc9111.Understood(status) && (cc.Public || rfc9111.ExplicitFreshness(h, cc, c.cfg.shared))
}

// userLifetime reports whether a configured lifetime (rows 2, 3 and 5 of the
// lifetime table) applies to req and a response with status: configured
// lifetimes apply to the allowable codes only.
func (c *Cache) userLifetime(req *http.Request, ro reqOpts, status int) bool {
	if !c.cfg.codes[status] {
		return false
	}
	if ro.hasExpireAfter || c.cfg.hasExpireAfter {
		return true
	}
	if len(c.cfg.urlRules) > 0 {
		_, ok := c.cfg.urlExpireAfter(wireURL(req).String())
		return ok
	}
	return false
}

// applyPolicy sets e's expiry, flags and deletion time from its header and
// the settings, following the lifetime precedence table. It reports false
// when there is no usable lifetime (nothing to store).
func (c *Cache) applyPolicy(req *http.Request, e *Entry, cc rfc9111.Directives, ro reqOpts) bool {
	respTime := e.ResponseTime
	user := func(d time.Duration) {
		switch d {
		case NeverExpire:
			e.Expires = time.Time{}
		default:
			e.Expires = respTime.Add(d)
		}
	}
	rfc := func(lt time.Duration) { e.Expires = respTime.Add(lt - e.InitialAge) }
	// Lifetimes the user configured apply to the allowable codes only.
	configured := c.cfg.codes[e.Status]
	switch lt, explicit := rfc9111.Lifetime(e.Header, cc, e.Status, c.cfg.shared, respTime, c.cfg.heuristicCap); {
	case configured && ro.hasExpireAfter:
		user(ro.expireAfter)
	case configured && c.urlRule(req, user):
	case c.cfg.cacheControl && explicit:
		rfc(lt)
	case c.cfg.cacheControl && cc.Immutable:
		e.Expires = time.Time{}
	case configured && c.cfg.hasExpireAfter:
		user(c.cfg.expireAfter)
	case c.cfg.cacheControl && lt > 0:
		rfc(lt)
	case configured && !c.cfg.cacheControl:
		e.Expires = time.Time{}
	default:
		e.Expires = respTime // no usable lifetime: stale at once
	}
	e.NoCache = cc.NoCache
	e.MustRevalidate = cc.MustRevalidate || (c.cfg.shared && (cc.ProxyRevalidate || cc.SMaxAge != rfc9111.Absent))
	e.Immutable = cc.Immutable
	e.StaleWhileRevalidate = deltaOrNone(cc.StaleWhileRevalidate)
	e.StaleIfError = deltaOrNone(cc.StaleIfError)

	validator := hasValidator(e.Header)
	swr := max(e.StaleWhileRevalidate, c.cfg.staleWhileReval)
	sie := max(e.StaleIfError, c.cfg.staleIfError)
	if !e.Expires.IsZero() && !e.Expires.After(respTime) && !validator && swr <= 0 && sie <= 0 {
		return false
	}
	e.Deletion = time.Time{}
	if !e.Expires.IsZero() {
		keep := max(swr, sie)
		if validator {
			keep = max(keep, c.cfg.staleRetention)
		}
		if keep != Forever {
			e.Deletion = e.Expires.Add(keep)
		}
	}
	return true
}

// urlRule applies the first matching WithURLExpireAfter rule through set.
func (c *Cache) urlRule(req *http.Request, set func(time.Duration)) bool {
	if len(c.cfg.urlRules) == 0 {
		return false
	}
	d, ok := c.cfg.urlExpireAfter(wireURL(req).String())
	if ok {
		set(d)
	}
	return ok
}

func deltaOrNone(n int64) time.Duration {
	if n == rfc9111.Absent {
		return -1
	}
	return time.Duration(n) * time.Second
}

// hopByHop lists fields never stored (RFC 9111 §3.1, RFC 9110 §7.6.1), plus
// the Age and Cache-Status fields the cache computes itself when serving.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Age",
}

// storedHeader copies h without the fields a cache must not store (RFC 9111
// §3.1): hop-by-hop fields and those listed in Connection, the Age and
// Cache-Status the cache computes itself, and the fields the response's
// directives cc keep out of storage (a qualified no-cache, and for a shared
// cache a qualified private).
func (c *Cache) storedHeader(h http.Header, cc rfc9111.Directives) http.Header {
	out := h.Clone()
	if out == nil {
		out = make(http.Header)
	}
	for _, k := range connectionFields(h) {
		delete(out, k)
	}
	for _, k := range hopByHop {
		delete(out, k)
	}
	for _, k := range cc.Unstored(c.cfg.shared) {
		delete(out, k)
	}
	return out
}

// connectionFields returns the fields h's Connection field names, in
// canonical form: fields of this hop only (RFC 9110 §7.6.1).
func connectionFields(h http.Header) []string {
	var out []string
	for _, v := range h["Connection"] {
		for _, f := range splitList(v) {
			out = append(out, http.CanonicalHeaderKey(f))
		}
	}
	return out
}

// noUpdate lists fields a 304 or HEAD response never changes in a stored
// response (RFC 9111 §3.2 and §4.3.4): Content-Length, and the fields the
// stored (already decoded) body depends on.
var noUpdate = map[string]bool{
	"Content-Length": true, "Content-Encoding": true, "Transfer-Encoding": true, "Content-Range": true,
}

// mergeHeader updates stored with the fields of newer (RFC 9111 §3.2),
// except the fields excepted from storage (§3.1) by newer's framing or by
// the directives of the merged header, and returns it. It merges in place:
// stored must be the caller's own (the lookup's copy of the entry, which
// nothing else refers to); a nil stored gives a new header. The values
// taken from newer are copied.
func (c *Cache) mergeHeader(stored, newer http.Header) http.Header {
	out := stored
	if out == nil {
		out = make(http.Header, len(newer))
	}
	// The fields of newer that storedHeader would keep, except those a 304
	// never changes, copied into one array of values (as Header.Clone does)
	// without a copy of newer first.
	conn := connectionFields(newer)
	takes := func(k string) bool {
		return !noUpdate[k] && k != "Cache-Status" && !slices.Contains(hopByHop, k) && !slices.Contains(conn, k)
	}
	n := 0
	for k, v := range newer {
		if takes(k) {
			n += len(v)
		}
	}
	vals := make([]string, 0, n)
	for k, v := range newer {
		switch {
		case !takes(k):
		case v == nil:
			out[k] = nil
		default:
			vals = append(vals, v...)
			out[k] = vals[len(vals)-len(v) : len(vals) : len(vals)]
		}
	}
	for _, k := range c.respDirectives(out).Unstored(c.cfg.shared) {
		delete(out, k)
	}
	return out
}
