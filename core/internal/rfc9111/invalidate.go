package rfc9111

import (
	"net/http"
	"net/url"
	"strings"
)

// Safe reports whether method is safe (RFC 9110 §9.2.1). Every other method,
// including unknown ones, invalidates on a non-error response (RFC 9111 §4.4).
func Safe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// NonError reports whether status is a "non-error response" (§4.4): 2xx or 3xx.
func NonError(status int) bool { return status >= 200 && status < 400 }

// InvalidationTargets returns the URIs to invalidate after a non-error
// response to an unsafe request (§4.4): the target URI, and the Location and
// Content-Location URIs resolved against it when they share its origin.
func InvalidationTargets(target *url.URL, resp http.Header) []*url.URL {
	out := []*url.URL{target}
	for _, name := range []string{"Location", "Content-Location"} {
		v := resp.Get(name)
		if v == "" {
			continue
		}
		ref, err := url.Parse(v)
		if err != nil {
			continue
		}
		u := target.ResolveReference(ref)
		if SameOrigin(target, u) {
			out = append(out, u)
		}
	}
	return out
}

// SameOrigin compares scheme, host and port (RFC 9110 §4.3.1), with default
// ports made explicit.
func SameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}
