package rfc9111

import (
	"net/http"
	"slices"
	"strings"
)

// VaryNames returns the field names listed by every Vary line of h (RFC 9111
// §4.1), canonicalised, de-duplicated and sorted, and whether one of them is
// "*" (which no request matches).
func VaryNames(h http.Header) (names []string, star bool) {
	for _, line := range h["Vary"] {
		for _, n := range strings.Split(line, ",") {
			n = trimOWS(n)
			switch n {
			case "":
				continue
			case "*":
				star = true
				continue
			}
			names = append(names, http.CanonicalHeaderKey(n))
		}
	}
	slices.Sort(names)
	return slices.Compact(names), star
}

// SelectedValue is the normalised value of the request field name for Vary
// matching (§4.1: two requests match when one's fields can be turned into
// the other's by adding or removing white space where the syntax allows it,
// combining field lines, or "normalizing both header field values in a way
// that is known to have identical semantics"). For every field: all field
// lines combined, each list member's surrounding white space removed (a
// comma inside a quoted-string is not a separator), empty members dropped,
// members joined with ", ". For the content-negotiation fields whose
// specification makes order and case insignificant (Accept,
// Accept-Charset, Accept-Encoding, Accept-Language; see acceptNormal) the
// members are normalised further and sorted. Fields the cache knows nothing
// of keep their order and case. A missing field is "" with present false,
// which the caller keeps distinct from every present value.
func SelectedValue(h http.Header, name string) (value string, present bool) {
	lines, ok := h[name]
	if !ok {
		return "", false
	}
	var arr [8]string
	members := arr[:0]
	for _, line := range lines {
		for line != "" {
			var m string
			if i := indexUnquoted(line, ','); i >= 0 {
				m, line = line[:i], line[i+1:]
			} else {
				m, line = line, ""
			}
			if m = trimOWS(m); m != "" {
				members = append(members, m)
			}
		}
	}
	if negotiation[name] {
		for i, m := range members {
			members[i] = acceptNormal(m)
		}
		slices.Sort(members)
		members = slices.Compact(members)
	}
	return strings.Join(members, ", "), true
}

// negotiation lists the proactive-negotiation request fields (RFC 9110
// §12.5) whose members are unordered preferences: each carries its own
// weight (§12.4.2), the default weight is 1, and ties are broken by
// specificity, not position, so reordering members keeps the semantics; the
// tokens they hold (media types, charsets, content codings, language tags)
// are case-insensitive (§8.3.1, §8.3.2, §8.4.1; RFC 4647 §2).
var negotiation = map[string]bool{
	"Accept": true, "Accept-Charset": true, "Accept-Encoding": true, "Accept-Language": true,
}

// acceptNormal normalises one member of a negotiation field: white space
// around ";" and "=" removed (the grammar's OWS, §5.6.6), the range and the
// parameter names lower-cased, the weight written in its shortest form and
// dropped when it is the default 1. Parameter values other than the weight
// keep their case (a media type parameter value can be case-sensitive,
// §8.3.1); an invalid weight is kept as written, lower-cased.
func acceptNormal(m string) string {
	if acceptIsNormal(m) {
		return m
	}
	return acceptNormalize(m)
}

// acceptNormalize is acceptNormal without the fast path.
func acceptNormalize(m string) string {
	var parts []string
	for rest := m; ; {
		i := indexUnquoted(rest, ';')
		if i < 0 {
			parts = append(parts, rest)
			break
		}
		parts = append(parts, rest[:i])
		rest = rest[i+1:]
	}
	var b strings.Builder
	b.WriteString(asciiLower(trimOWS(parts[0])))
	for _, p := range parts[1:] {
		k, v, hasValue := strings.Cut(p, "=")
		k = asciiLower(trimOWS(k))
		v = trimOWS(v)
		if k == "q" && hasValue {
			if q, ok := qvalue(v); ok {
				if q == "1" {
					continue
				}
				v = q
			} else {
				v = asciiLower(v)
			}
		}
		b.WriteByte(';')
		b.WriteString(k)
		if hasValue {
			b.WriteByte('=')
			b.WriteString(v)
		}
	}
	return b.String()
}

// acceptIsNormal reports whether acceptNormal would return m unchanged, for
// the common case without allocating: no upper case, no white space, and
// any weight already in its shortest form and not the default.
func acceptIsNormal(m string) bool {
	for i := 0; i < len(m); i++ {
		if c := m[i]; ('A' <= c && c <= 'Z') || c == ' ' || c == '\t' {
			return false
		}
	}
	for rest := m; ; {
		i := strings.IndexByte(rest, ';')
		if i < 0 {
			return true
		}
		rest = rest[i+1:]
		p := rest
		if j := strings.IndexByte(p, ';'); j >= 0 {
			p = p[:j]
		}
		if v, ok := strings.CutPrefix(p, "q="); ok {
			if q, valid := qvalue(v); valid && (q != v || q == "1") {
				return false
			}
		}
	}
}

// qvalue parses a weight (RFC 9110 §12.4.2: "0" ["." 0*3DIGIT] or "1" ["."
// 0*3("0")]) and returns it without trailing zeros ("0.500" is "0.5").
func qvalue(v string) (string, bool) {
	if v == "" || (v[0] != '0' && v[0] != '1') {
		return "", false
	}
	if len(v) == 1 {
		return v, true
	}
	if v[1] != '.' || len(v) > 5 {
		return "", false
	}
	frac := v[2:]
	for i := 0; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' || (v[0] == '1' && frac[i] != '0') {
			return "", false
		}
	}
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		return v[:1], true
	}
	return v[:1] + "." + frac, true
}

// asciiLower lower-cases the ASCII letters of s and leaves every other byte
// as it is (strings.ToLower would turn invalid UTF-8 into U+FFFD and merge
// distinct values).
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
