package rfc9111

import "net/http"

// Understood reports whether the cache understands status for the purpose of
// must-understand (RFC 9111 §5.2.2.3): a final status code the cache knows.
func Understood(status int) bool {
	return status >= 200 && status < 600 && http.StatusText(status) != "" && status != http.StatusPartialContent
}

// Storable applies RFC 9111 §3 to a final response: it returns "" when the
// response may be stored, otherwise the reason it may not. The method and
// status filters of the cache's own settings are applied by the caller; this
// function is the protocol part alone.
func Storable(status int, req, resp Directives, reqHeader http.Header, shared bool) string {
	if status < 200 || status == http.StatusPartialContent || status == http.StatusNotModified {
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
	case d.Public, d.MaxAge != Absent, len(h["Expires"]) > 0:
		return true
	case shared && d.SMaxAge != Absent:
		return true
	case !shared && d.Private:
		return true
	}
	return HeuristicallyCacheable(status)
}
