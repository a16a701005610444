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
// response, or a targeted field (RFC 9213, see ParseTargeted). Names are
// matched case-insensitively (§5.2: "Cache directives are
// case-insensitive") and arguments are accepted in token and quoted-string
// form (§5.2). Delta-seconds fields hold Absent when the directive is
// missing; an invalid value (not a non-negative integer, or missing) is 0,
// the conservative reading ("caches are encouraged to consider responses
// that have invalid freshness information ... to be stale", §4.2.1).
//
// A directive given more than once keeps the most restrictive value (§4.2.1:
// "If directives conflict ..., the most restrictive directive should be
// honored"): max-age and s-maxage whose values differ become 0, which makes
// a response stale (the second reading §4.2.1 allows for duplicates: "the
// response should be considered stale") and a request revalidate; min-fresh
// keeps the largest value; max-stale, stale-while-revalidate and
// stale-if-error the smallest, a bare max-stale giving way to one with a
// value. A qualified and an unqualified no-cache or private make the
// unqualified one; two qualified ones with different lists likewise.
type Directives struct {
	MaxAge               int64
	SMaxAge              int64
	MinFresh             int64
	MaxStale             int64 // MaxStaleAny is set for a bare max-stale
	StaleWhileRevalidate int64 // RFC 5861 §3
	StaleIfError         int64 // RFC 5861 §4

	MaxStaleAny bool
	NoStore     bool
	// NoCache is the unqualified no-cache; NoCacheFields holds the field
	// names of a qualified no-cache="a, b" (§5.2.2.4) as written, without
	// the quotes (see FieldNames). An empty list is the unqualified form.
	NoCache       bool
	NoCacheFields string
	// Private is the unqualified private; PrivateFields the field names
	// of a qualified private="a, b" (§5.2.2.7), as for NoCacheFields.
	Private         bool
	PrivateFields   string
	Public          bool
	MustRevalidate  bool
	ProxyRevalidate bool
	Immutable       bool // RFC 8246
	MustUnderstand  bool
	OnlyIfCached    bool
	NoTransform     bool

	// Targeted is set when the directives come from a targeted field (RFC
	// 9213 §2.2): the response's Expires is then ignored too.
	Targeted bool
}

// none is Directives with nothing present.
var none = Directives{
	MaxAge: Absent, SMaxAge: Absent, MinFresh: Absent, MaxStale: Absent,
	StaleWhileRevalidate: Absent, StaleIfError: Absent,
}

// ParseDirectives parses every Cache-Control field line of h. It does not
// allocate.
func ParseDirectives(h http.Header) Directives {
	return ParseDirectiveLines(h["Cache-Control"])
}

// ParseDirectiveLines is ParseDirectives of the Cache-Control field lines
// given.
func ParseDirectiveLines(lines []string) Directives {
	d := none
	for _, line := range lines {
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
		setDelta(&d.MaxAge, value, hasValue, conflictZero)
	case strings.EqualFold(name, "s-maxage"):
		setDelta(&d.SMaxAge, value, hasValue, conflictZero)
	case strings.EqualFold(name, "min-fresh"):
		setDelta(&d.MinFresh, value, hasValue, largest)
	case strings.EqualFold(name, "max-stale"):
		if !hasValue {
			if d.MaxStale == Absent {
				d.MaxStaleAny = true
			}
			return
		}
		d.MaxStaleAny = false
		setDelta(&d.MaxStale, value, hasValue, smallest)
	case strings.EqualFold(name, "stale-while-revalidate"):
		setDelta(&d.StaleWhileRevalidate, value, hasValue, smallest)
	case strings.EqualFold(name, "stale-if-error"):
		setDelta(&d.StaleIfError, value, hasValue, smallest)
	case strings.EqualFold(name, "no-store"):
		// A value where none is defined (§5.2) does not make a
		// restrictive directive less so.
		d.NoStore = true
	case strings.EqualFold(name, "no-cache"):
		setFields(&d.NoCache, &d.NoCacheFields, value, hasValue)
	case strings.EqualFold(name, "private"):
		setFields(&d.Private, &d.PrivateFields, value, hasValue)
	case strings.EqualFold(name, "public"):
		// The directives that allow more than the response would
		// otherwise get count only in the form §5.2 defines, without a
		// value: public="x" is not public.
		d.Public = d.Public || !hasValue
	case strings.EqualFold(name, "must-revalidate"):
		d.MustRevalidate = true
	case strings.EqualFold(name, "proxy-revalidate"):
		d.ProxyRevalidate = true
	case strings.EqualFold(name, "immutable"):
		d.Immutable = d.Immutable || !hasValue
	case strings.EqualFold(name, "must-understand"):
		d.MustUnderstand = d.MustUnderstand || !hasValue
	case strings.EqualFold(name, "only-if-cached"):
		d.OnlyIfCached = true
	case strings.EqualFold(name, "no-transform"):
		d.NoTransform = true
	}
}

// setFields records a no-cache or private directive: unqualified (no value,
// or an empty list) or qualified with a field list. See Directives for how
// repeats combine.
func setFields(unqualified *bool, fields *string, value string, hasValue bool) {
	if *unqualified {
		return
	}
	if !hasValue || trimOWS(strings.Trim(value, ", \t")) == "" {
		*unqualified, *fields = true, ""
		return
	}
	if *fields != "" && *fields != value {
		*unqualified, *fields = true, ""
		return
	}
	*fields = value
}

// FieldNames splits a field list of a qualified no-cache or private (RFC
// 9111 §5.2.2.4, §5.2.2.7) into canonical header names.
func FieldNames(list string) []string {
	var out []string
	for list != "" {
		var n string
		if i := strings.IndexByte(list, ','); i >= 0 {
			n, list = list[:i], list[i+1:]
		} else {
			n, list = list, ""
		}
		if n = trimOWS(n); n != "" {
			out = append(out, http.CanonicalHeaderKey(n))
		}
	}
	return out
}

func largest(a, b int64) int64  { return max(a, b) }
func smallest(a, b int64) int64 { return min(a, b) }

// conflictZero combines two different values of max-age or s-maxage: 0.
func conflictZero(a, b int64) int64 {
	if a == b {
		return a
	}
	return 0
}

// setDelta stores a delta-seconds value (RFC 9111 §1.2.2), combining it with
// one already present by combine. A value that is not a non-negative
// integer is taken as 0, the conservative reading (the response is stale,
// the request bound strict).
func setDelta(dst *int64, value string, hasValue bool, combine func(a, b int64) int64) {
	n := parseDelta(value, hasValue)
	if *dst != Absent {
		n = combine(*dst, n)
	}
	*dst = n
}

// parseDelta parses delta-seconds: 0 when invalid, 2^31 when larger.
func parseDelta(value string, hasValue bool) int64 {
	if !hasValue || value == "" {
		return 0
	}
	var n int64
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c < '0' || c > '9' {
			return 0
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	if n > maxDelta {
		n = maxDelta
	}
	return n
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
	return PragmaNoCacheLines(h["Cache-Control"], h["Pragma"])
}

// PragmaNoCacheLines is PragmaNoCache of a header whose Cache-Control and
// Pragma field lines are cacheControl and pragma.
func PragmaNoCacheLines(cacheControl, pragma []string) bool {
	if len(cacheControl) > 0 {
		return false
	}
	for _, line := range pragma {
		for _, item := range strings.Split(line, ",") {
			if strings.EqualFold(trimOWS(item), "no-cache") {
				return true
			}
		}
	}
	return false
}
