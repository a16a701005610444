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
// matching (§4.1): all field lines combined with ", ", each item's
// surrounding white space removed. A missing field is "" and distinct from
// any present value by the caller's framing.
func SelectedValue(h http.Header, name string) (value string, present bool) {
	lines, ok := h[name]
	if !ok {
		return "", false
	}
	var b strings.Builder
	first := true
	for _, line := range lines {
		for _, item := range strings.Split(line, ",") {
			item = trimOWS(item)
			if !first {
				b.WriteString(", ")
			}
			first = false
			b.WriteString(item)
		}
	}
	return b.String(), true
}
