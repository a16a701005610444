// Package rfc9111 holds the pure functions of HTTP caching (RFC 9111, RFC 5861):
// directive parsing, freshness, age, storability, Vary selection and
// invalidation targets. One concern per file; nothing here performs I/O or
// reads the wall clock — every time is passed in.
package rfc9111

import (
	"net/http"
	"strings"
)

// Absent marks a delta-seconds directive that was not present.
const Absent = -1

// maxDelta is the value a delta-seconds that overflows is taken as (RFC 9111 §1.2.2).
const maxDelta = 2147483648

// Directives is a parsed Cache-Control field (RFC 9111 §5.2), request or
// response. Names are matched case-insensitively (§5.2: "Cache directives are
// case-insensitive"). Delta-seconds fields hold Absent when the directive is
// missing; when a directive occurs more than once, the first occurrence wins
// (§4.2.1).
type Directives struct {
	MaxAge               int64
	SMaxAge              int64
	MinFresh             int64
	MaxStale             int64 // MaxStaleAny is set for a bare max-stale
	StaleWhileRevalidate int64 // RFC 5861 §3
	StaleIfError         int64 // RFC 5861 §4

	MaxStaleAny     bool
	NoStore         bool
	NoCache         bool
	Private         bool
	Public          bool
	MustRevalidate  bool
	ProxyRevalidate bool
	Immutable       bool // RFC 8246
	MustUnderstand  bool
	OnlyIfCached    bool
	NoTransform     bool
}

// ParseDirectives parses every Cache-Control field line of h. It does not
// allocate.
func ParseDirectives(h http.Header) Directives {
	d := Directives{
		MaxAge: Absent, SMaxAge: Absent, MinFresh: Absent, MaxStale: Absent,
		StaleWhileRevalidate: Absent, StaleIfError: Absent,
	}
	for _, line := range h["Cache-Control"] {
		d.parseLine(line)
	}
	return d
}

func (d *Directives) parseLine(s string) {
	for len(s) > 0 {
		var item string
		if i := indexUnquoted(s, ','); i >= 0 {
			item, s = s[:i], s[i+1:]
		} else {
			item, s = s, ""
		}
		item = trimOWS(item)
		if item == "" {
			continue
		}
		name, value, hasValue := item, "", false
		if i := strings.IndexByte(item, '='); i >= 0 {
			name, value, hasValue = trimOWS(item[:i]), trimOWS(item[i+1:]), true
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
		}
		d.set(name, value, hasValue)
	}
}

func (d *Directives) set(name, value string, hasValue bool) {
	switch {
	case strings.EqualFold(name, "max-age"):
		setDelta(&d.MaxAge, value, hasValue)
	case strings.EqualFold(name, "s-maxage"):
		setDelta(&d.SMaxAge, value, hasValue)
	case strings.EqualFold(name, "min-fresh"):
		setDelta(&d.MinFresh, value, hasValue)
	case strings.EqualFold(name, "max-stale"):
		if !hasValue {
			d.MaxStaleAny = true
			return
		}
		setDelta(&d.MaxStale, value, hasValue)
	case strings.EqualFold(name, "stale-while-revalidate"):
		setDelta(&d.StaleWhileRevalidate, value, hasValue)
	case strings.EqualFold(name, "stale-if-error"):
		setDelta(&d.StaleIfError, value, hasValue)
	case strings.EqualFold(name, "no-store"):
		d.NoStore = true
	case strings.EqualFold(name, "no-cache"):
		// A qualified no-cache="field" is treated as unqualified (§5.2.2.4 allows it).
		d.NoCache = true
	case strings.EqualFold(name, "private"):
		d.Private = true
	case strings.EqualFold(name, "public"):
		d.Public = true
	case strings.EqualFold(name, "must-revalidate"):
		d.MustRevalidate = true
	case strings.EqualFold(name, "proxy-revalidate"):
		d.ProxyRevalidate = true
	case strings.EqualFold(name, "immutable"):
		d.Immutable = true
	case strings.EqualFold(name, "must-understand"):
		d.MustUnderstand = true
	case strings.EqualFold(name, "only-if-cached"):
		d.OnlyIfCached = true
	case strings.EqualFold(name, "no-transform"):
		d.NoTransform = true
	}
}

// setDelta stores a delta-seconds value (RFC 9111 §1.2.2) unless one is
// already set. A value that is not a non-negative integer is taken as 0, the
// conservative reading (the response is stale, the request bound strict).
func setDelta(dst *int64, value string, hasValue bool) {
	if *dst != Absent {
		return
	}
	if !hasValue || value == "" {
		*dst = 0
		return
	}
	var n int64
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c < '0' || c > '9' {
			*dst = 0
			return
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	if n > maxDelta {
		n = maxDelta
	}
	*dst = n
}

// indexUnquoted is strings.IndexByte that skips quoted-strings (RFC 9110
// §5.6.4), so that no-cache="a, b" stays one directive.
func indexUnquoted(s string, c byte) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == c:
			return i
		}
	}
	return -1
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// PragmaNoCache reports whether a request without Cache-Control carries
// Pragma: no-cache, which RFC 9111 §5.4 says to treat as Cache-Control: no-cache.
func PragmaNoCache(h http.Header) bool {
	if len(h["Cache-Control"]) > 0 {
		return false
	}
	for _, line := range h["Pragma"] {
		for _, item := range strings.Split(line, ",") {
			if strings.EqualFold(trimOWS(item), "no-cache") {
				return true
			}
		}
	}
	return false
}
