package rfc9111

import (
	"net/http"
	"strings"
	"time"
)

// RangeVerdict is what a Range request asks of a complete stored
// representation (RFC 9110 §14.2).
type RangeVerdict int

// Range verdicts.
const (
	// RangeIgnore: answer with the whole representation (no Range, an
	// invalid or unknown one, several ranges, an empty representation).
	RangeIgnore RangeVerdict = iota
	// RangeSatisfiable: answer with a 206 holding the one range.
	RangeSatisfiable
	// RangeUnsatisfiable: answer with a 416 (RFC 9110 §15.5.17).
	RangeUnsatisfiable
)

// ByteRange is a satisfiable byte range: First and Last are the offsets of
// its first and last bytes, inclusive (RFC 9110 §14.1.2).
type ByteRange struct {
	First, Last int64
}

// Len is the number of bytes of the range.
func (r ByteRange) Len() int64 { return r.Last - r.First + 1 }

// maxPos bounds the positions parsed: a larger one saturates (RFC 9110
// §14.1.2: recipients must not overflow on large numerals), which is far
// past any representation length.
const maxPos = 1 << 62

// ParseRange evaluates the Range field lines of a GET request against a
// representation of size bytes (RFC 9110 §14.1.1, §14.1.2, §14.2). A single
// satisfiable range gives RangeSatisfiable and the range, last-pos clamped to
// the end and a suffix-range longer than the representation being all of it.
// A valid ranges-specifier none of whose ranges is satisfiable gives
// RangeUnsatisfiable. Everything else is RangeIgnore: no Range, several
// field lines, a unit other than bytes (an origin must ignore those, §14.2),
// an invalid specifier (which a server may ignore, §14.2: one whose int-range
// ends before it starts, or that does not parse), several ranges of which
// one is satisfiable (a server may answer with the whole representation
// instead, §14.2, §15.3.7), and a suffix-range of an empty representation (§14.2: a server may ignore
// Range then; no Content-Range can describe an empty part).
func ParseRange(h http.Header, size int64) (ByteRange, RangeVerdict) {
	lines := h["Range"]
	if len(lines) != 1 || size < 0 {
		return ByteRange{}, RangeIgnore
	}
	unit, set, ok := strings.Cut(lines[0], "=")
	if !ok || !strings.EqualFold(trimOWS(unit), "bytes") || trimOWS(unit) != unit {
		return ByteRange{}, RangeIgnore
	}
	var (
		n   int
		one ByteRange
		sat int
	)
	for spec := range strings.SplitSeq(set, ",") {
		spec = trimOWS(spec)
		if spec == "" {
			continue // empty list elements are allowed (§5.6.1)
		}
		n++
		r, satisfiable, valid := parseRangeSpec(spec, size)
		if !valid {
			return ByteRange{}, RangeIgnore
		}
		if satisfiable {
			sat++
			one = r
		}
	}
	switch {
	case n == 0:
		return ByteRange{}, RangeIgnore
	case sat == 0:
		return ByteRange{}, RangeUnsatisfiable
	case n > 1, size == 0:
		return ByteRange{}, RangeIgnore
	}
	return one, RangeSatisfiable
}

// parseRangeSpec parses one bytes range-spec (int-range or suffix-range).
func parseRangeSpec(spec string, size int64) (r ByteRange, satisfiable, valid bool) {
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return ByteRange{}, false, false
	}
	if first == "" { // suffix-range
		n, ok := rangeDigits(last)
		if !ok {
			return ByteRange{}, false, false
		}
		if n == 0 {
			return ByteRange{}, false, true
		}
		if size == 0 {
			// Satisfiable (§14.1.2), but the part is empty: the
			// caller ignores the Range.
			return ByteRange{}, true, true
		}
		return ByteRange{First: size - min(n, size), Last: size - 1}, true, true
	}
	a, ok := rangeDigits(first)
	if !ok {
		return ByteRange{}, false, false
	}
	b := int64(maxPos)
	if last != "" {
		if b, ok = rangeDigits(last); !ok || b < a {
			return ByteRange{}, false, false
		}
	}
	if a >= size {
		return ByteRange{}, false, true
	}
	return ByteRange{First: a, Last: min(b, size-1)}, true, true
}

// rangeDigits parses 1*DIGIT, saturating at maxPos.
func rangeDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxPos {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, maxPos), true
}

// IfRange evaluates the If-Range field of a Range request against the
// stored response header stored (RFC 9110 §13.1.5): true when there is
// none; for an entity-tag, true when it matches the stored ETag by the
// strong comparison (§8.8.3.2: never a weak tag); for an HTTP-date, true
// when it is the stored Last-Modified exactly and that is a strong
// validator: the stored Date is at least one second after it (§8.8.2.2,
// the rule for a cache comparing with its own entry). Anything else
// (several lines, a value that is neither) is false, and the Range is then
// ignored: the whole representation is sent.
func IfRange(h, stored http.Header, now time.Time) bool {
	lines := h["If-Range"]
	switch {
	case len(lines) == 0:
		return true
	case len(lines) > 1:
		return false
	}
	v := trimOWS(lines[0])
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, `W/"`) {
		tag, ok := ParseEntityTag(v)
		have, okStored := ETag(stored)
		return ok && okStored && StrongMatch(tag, have)
	}
	at, ok := ParseHTTPDate(v, now)
	if !ok {
		return false
	}
	lm, ok := LastModified(stored, now)
	if !ok || !lm.Equal(at) {
		return false
	}
	d := stored["Date"]
	if len(d) == 0 {
		return false
	}
	date, ok := ParseHTTPDate(d[0], now)
	return ok && date.Sub(lm) >= time.Second
}
