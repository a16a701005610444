package rfc9111

import "net/http"

// Understood reports whether the cache understands status for the purpose of
// must-understand (RFC 9111 §5.2.2.3): a final status code the cache knows.
func Understood(status int) bool {
	return status >= 200 && status < 600 && http.StatusText(status) != "" && status != http.StatusPartialContent
}

// CompleteForAnyRequest reports whether a response with status can answer
// the request that produced it without its Range and precondition fields,
// which are not part of the cache key: a final status (§3) other than 206
// and 416 (answers to a Range, RFC 9110 §15.3.7, §15.5.17; partial content
// is not stored, §3.3) and 304 and 412 (answers to preconditions, RFC 9110
// §15.4.5, §15.5.13). Storing one of those under the URL would serve it to
// requests that did not ask for it.
func CompleteForAnyRequest(status int) bool {
	switch {
	case status < 200:
		return false
	case status == http.StatusPartialContent, status == http.StatusRequestedRangeNotSatisfiable,
		status == http.StatusNotModified, status == http.StatusPreconditionFailed:
		return false
	}
	return true
}

// ExplicitFreshness reports whether a response carries explicit freshness
// information (§4.2.1): max-age, s-maxage in a shared cache, or Expires
// (unless the directives come from a targeted field, RFC 9213 §2.2).
func ExplicitFreshness(h http.Header, d Directives, shared bool) bool {
	return d.MaxAge != Absent || (shared && d.SMaxAge != Absent) || (len(h["Expires"]) > 0 && !d.Targeted)
}

// Storable applies RFC 9111 §3 to a final response: it returns "" when the
// response may be stored, otherwise the reason it may not. The method and
// status filters of the cache's own settings are applied by the caller; this
// function is the protocol part alone.
func Storable(status int, req, resp Directives, reqHeader http.Header, shared bool) string {
	if !CompleteForAnyRequest(status) {
		return "status"
	}
	if req.NoStore {
		return "request no-store"
	}
	if resp.MustUnderstand {
		if !Understood(status) {
			return "must-understand"
		}
	} else if resp.NoStore {
		return "no-store"
	}
	if shared {
		if resp.Private {
			return "private"
		}
		// §3.5: a shared cache stores a response to an authenticated request
		// only when the response explicitly allows it.
		if reqHeader.Get("Authorization") != "" && !resp.Public && !resp.MustRevalidate && resp.SMaxAge == Absent {
			return "authorization"
		}
	}
	return ""
}

// HasFreshnessInfo reports whether a response carries what §3 requires
// besides the above: public, Expires, max-age, s-maxage (shared), private
// (private cache), or a heuristically cacheable status.
func HasFreshnessInfo(status int, h http.Header, d Directives, shared bool) bool {
	switch {
	case d.Public, ExplicitFreshness(h, d, shared):
		return true
	case !shared && (d.Private || d.PrivateFields != ""):
		return true
	}
	return HeuristicallyCacheable(status)
}

// dependedOn lists the fields a stored response depends on (RFC 9111 §3.2):
// the ones that select it (Vary) and describe the stored content. They are
// never removed from a stored response.
var dependedOn = map[string]bool{
	"Vary": true, "Content-Encoding": true, "Content-Length": true, "Content-Range": true,
	"Transfer-Encoding": true, "Content-Type": true,
}

// ProtectLists makes a qualified no-cache or private whose list names a
// field the stored response depends on (Vary, Content-Type, Content-Encoding,
// Content-Length, Content-Range, Transfer-Encoding) unqualified: the cache
// cannot store the response without such a field and still serve it
// correctly, so it honours the directive as a whole, the more restrictive
// reading.
func (d *Directives) ProtectLists() {
	for _, f := range FieldNames(d.NoCacheFields) {
		if dependedOn[f] {
			d.NoCache, d.NoCacheFields = true, ""
			break
		}
	}
	for _, f := range FieldNames(d.PrivateFields) {
		if dependedOn[f] {
			d.Private, d.PrivateFields = true, ""
			break
		}
	}
}

// Unstored returns the header fields a cache must not store from a response
// with directives d (RFC 9111 §3.1): those a qualified no-cache lists (a
// cache may reuse the response only without them, §5.2.2.4), and for a
// shared cache those a qualified private lists (§5.2.2.7). A private cache
// may store the fields a qualified private lists.
func (d Directives) Unstored(shared bool) []string {
	out := FieldNames(d.NoCacheFields)
	if shared && d.PrivateFields != "" {
		out = append(out, FieldNames(d.PrivateFields)...)
	}
	return out
}
