package rfc9111

import (
	"net/http"
	"time"
)

// HeuristicFraction is the share of (Date − Last-Modified) taken as a
// heuristic freshness lifetime (RFC 9111 §4.2.2 suggests 10%).
const HeuristicFraction = 10

// HeuristicallyCacheable reports whether status is heuristically cacheable by
// default (RFC 9110 §15.1).
func HeuristicallyCacheable(status int) bool {
	switch status {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// Lifetime computes a response's freshness lifetime (RFC 9111 §4.2.1) in the
// order s-maxage (shared caches only), max-age, Expires − Date, then the
// heuristic of §4.2.2 (10% of Date − Last-Modified, at most heuristicCap) for
// heuristically cacheable statuses or responses marked public. explicit
// reports whether the lifetime came from the response's own freshness
// information rather than the heuristic. A max-age=0 is an explicit zero
// lifetime, never "absent". Directives from a targeted field (RFC 9213 §2.2)
// make the cache ignore Expires. An Expires that is invalid, or given more than
// once with different values, means already expired (§5.3).
func Lifetime(h http.Header, d Directives, status int, shared bool, responseTime time.Time, heuristicCap time.Duration) (lifetime time.Duration, explicit bool) {
	if shared && d.SMaxAge != Absent {
		return seconds(d.SMaxAge), true
	}
	if d.MaxAge != Absent {
		return seconds(d.MaxAge), true
	}
	if exp, ok := h["Expires"]; ok && !d.Targeted {
		if len(exp) == 0 {
			return 0, true
		}
		for _, v := range exp[1:] {
			if v != exp[0] {
				return 0, true
			}
		}
		t, ok := ParseHTTPDate(exp[0], responseTime)
		if !ok {
			return 0, true
		}
		date := DateOr(h, responseTime)
		if lt := t.Sub(date); lt > 0 {
			return lt, true
		}
		return 0, true
	}
	if !HeuristicallyCacheable(status) && !d.Public {
		return 0, false
	}
	lm, ok := LastModified(h, responseTime)
	if !ok {
		return 0, false
	}
	span := DateOr(h, responseTime).Sub(lm)
	if span <= 0 {
		return 0, false
	}
	lt := span / HeuristicFraction
	if heuristicCap > 0 && lt > heuristicCap {
		lt = heuristicCap
	}
	return lt.Truncate(time.Second), false
}

// DateOr returns the response's Date, or fallback when it is missing or
// not an HTTP-date (RFC 9110 §6.6.1: a recipient with a clock uses the time
// of receipt). fallback is also the "now" of two-digit years.
func DateOr(h http.Header, fallback time.Time) time.Time {
	v := h["Date"]
	if len(v) == 0 {
		return fallback
	}
	t, ok := ParseHTTPDate(v[0], fallback)
	if !ok {
		return fallback
	}
	return t
}

// LastModified returns the response's Last-Modified time, when it has one
// that is an HTTP-date (RFC 9110 §8.8.2). now is the "now" of two-digit
// years.
func LastModified(h http.Header, now time.Time) (time.Time, bool) {
	v := h["Last-Modified"]
	if len(v) == 0 {
		return time.Time{}, false
	}
	return ParseHTTPDate(v[0], now)
}

func seconds(n int64) time.Duration { return time.Duration(n) * time.Second }
