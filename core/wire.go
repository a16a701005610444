package core

import (
	"net/http"
	"net/url"
	"slices"
)

// The cache reads requests and responses as they go on the wire. Field
// names are case-insensitive (RFC 9110 §5.1), and net/http sends a header
// whose map key is not canonical exactly as given; the cache's rules look
// headers up by canonical name, so every request and response is given
// canonical names where it enters the cache. And net/http sends
// Request.Host, when set, in place of URL.Host (RFC 9110 §7.2), so the
// effective host is what keys, stored URLs and invalidation use.

// canonicalRequest returns req with every header name in canonical form.
// When every name already is (the common case) it returns req itself and
// allocates nothing; otherwise it returns a shallow copy whose Header merges
// the values of every spelling of a name (see mergeHeaderNames). The
// caller's request is never modified; the copy is what the cache sends, with
// the same content.
func canonicalRequest(req *http.Request) *http.Request {
	if req == nil || headerCanonical(req.Header) {
		return req
	}
	cp := *req
	cp.Header = mergeHeaderNames(req.Header)
	return &cp
}

// canonicalResponse gives resp's header canonical names, for a response that
// enters the cache from a send function (a RoundTripper may return any
// spelling). It only allocates when a name is not canonical.
func canonicalResponse(resp *http.Response) {
	if resp != nil && !headerCanonical(resp.Header) {
		resp.Header = mergeHeaderNames(resp.Header)
	}
}

// headerCanonical reports whether every name in h is in canonical form.
func headerCanonical(h http.Header) bool {
	for k := range h {
		if !canonicalName(k) {
			return false
		}
	}
	return true
}

// canonicalName reports whether name is in the form http.CanonicalHeaderKey
// gives (upper case first and after each '-', lower case elsewhere), a third
// of CanonicalHeaderKey's cost on a hit. It may report false for a name
// CanonicalHeaderKey leaves alone because it holds a byte that is not valid
// in a field name; merging then keeps that name as it is.
func canonicalName(name string) bool {
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

// mergeHeaderNames returns a copy of h with canonical names. The values of
// the spellings of one name are concatenated in the order of the spellings'
// bytes ("Accept" before "accept"), the order in which net/http writes
// header lines, so the merged field has the values the origin receives, in
// the same order (RFC 9110 §5.3). A name with one spelling shares its
// values with h, as Request.WithContext shares the whole header; h itself
// is never written to.
func mergeHeaderNames(h http.Header) http.Header {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make(http.Header, len(h))
	for _, k := range names {
		ck := http.CanonicalHeaderKey(k)
		if prev, ok := out[ck]; ok {
			out[ck] = append(prev[:len(prev):len(prev)], h[k]...)
		} else {
			out[ck] = h[k]
		}
	}
	return out
}

// wireHost is the host a request is sent to: Request.Host when set,
// otherwise URL.Host, as net/http chooses (RFC 9110 §7.2). Keys normalise it
// as they normalise URL.Host.
func wireHost(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}

// wireURL is req.URL with the effective host. It allocates only when
// Request.Host names another host than URL.Host.
func wireURL(req *http.Request) *url.URL {
	if req.Host == "" || req.Host == req.URL.Host {
		return req.URL
	}
	u := *req.URL
	u.Host = req.Host
	return &u
}
