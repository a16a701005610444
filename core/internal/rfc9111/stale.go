package rfc9111

import "net/http"

// StaleIfErrorStatus reports whether a response status is an error that lets
// a cache serve a stale response under stale-if-error. RFC 5861 §4: "an
// error is any situation that would result in a 500, 502, 503 or 504 HTTP
// response status code being returned"; other statuses, 5xx included (501
// Not Implemented, 505 HTTP Version Not Supported, ...), are answers.
func StaleIfErrorStatus(code int) bool {
	switch code {
	case http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
