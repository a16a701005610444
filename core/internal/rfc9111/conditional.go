package rfc9111

import (
	"net/http"
	"time"
)

// EntityTag is a parsed entity-tag (RFC 9110 §8.8.3): its opaque-tag with
// the quotes, and whether it is weak.
type EntityTag struct {
	Opaque string // `"xyzzy"`, quotes included
	Weak   bool
}

// ParseEntityTag parses one entity-tag, surrounded by optional white space.
func ParseEntityTag(v string) (EntityTag, bool) {
	tag, rest, ok := nextEntityTag(trimOWS(v))
	if !ok || rest != "" {
		return EntityTag{}, false
	}
	return tag, true
}

// nextEntityTag reads an entity-tag at the start of s and returns the rest.
// etagc excludes only DQUOTE (and controls), so a comma is part of an
// opaque-tag: "a,b" is one tag.
func nextEntityTag(s string) (EntityTag, string, bool) {
	var t EntityTag
	if len(s) >= 2 && s[0] == 'W' && s[1] == '/' {
		t.Weak, s = true, s[2:]
	}
	if len(s) < 2 || s[0] != '"' {
		return EntityTag{}, s, false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			t.Opaque = s[:i+1]
			return t, s[i+1:], true
		case c < 0x21 || c == 0x7f:
			return EntityTag{}, s, false
		}
	}
	return EntityTag{}, s, false
}

// StrongMatch is the strong comparison of RFC 9110 §8.8.3.2.
func StrongMatch(a, b EntityTag) bool { return !a.Weak && !b.Weak && a.Opaque == b.Opaque }

// WeakMatch is the weak comparison of RFC 9110 §8.8.3.2.
func WeakMatch(a, b EntityTag) bool { return a.Opaque == b.Opaque }

// ETag returns the response's entity tag when its ETag field is one.
func ETag(h http.Header) (EntityTag, bool) {
	v := h["Etag"]
	if len(v) == 0 {
		return EntityTag{}, false
	}
	return ParseEntityTag(v[0])
}

// NoneMatch evaluates If-None-Match (RFC 9110 §13.1.2) against a stored
// response that is a current representation and has the entity tag etag
// (ok false: none): it reports whether the condition is false, which for
// GET and HEAD means 304. "*" matches any current representation; a list
// matches when one of its tags weakly matches etag. A field value that is
// not "*" or a list of entity tags does not match (the request is then
// answered as if unconditional, the conservative outcome). Every field line
// is part of the list.
func NoneMatch(lines []string, etag EntityTag, ok bool) bool {
	if len(lines) == 1 && trimOWS(lines[0]) == "*" {
		return true
	}
	match := false
	for _, line := range lines {
		s := line
		for {
			for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == ',') {
				s = s[1:]
			}
			if s == "" {
				break
			}
			tag, rest, valid := nextEntityTag(s)
			if !valid {
				return false
			}
			if ok && WeakMatch(tag, etag) {
				match = true
			}
			s = trimOWS(rest)
			if s != "" && s[0] != ',' {
				return false
			}
		}
	}
	return match
}

// NotModifiedSince evaluates If-Modified-Since (RFC 9110 §13.1.3) for a
// stored response, as RFC 9111 §4.3.2 says a cache does: against its
// Last-Modified, or without one its Date, or without that the time it was
// received. It reports whether the condition is false (304), and applies is
// false when the field must be ignored: more than one field line or a value
// that is not an HTTP-date.
func NotModifiedSince(lines []string, stored http.Header, received, now time.Time) (notModified, applies bool) {
	if len(lines) != 1 {
		return false, false
	}
	ims, ok := ParseHTTPDate(lines[0], now)
	if !ok {
		return false, false
	}
	lm, ok := LastModified(stored, now)
	if !ok {
		lm = DateOr(stored, received)
	}
	return !lm.After(ims), true
}

// NotModifiedSelects reports whether a 304 whose header is resp identifies
// the stored response whose header is stored for update (RFC 9111 §4.3.4),
// stored being the one response the request selected, by the first rule
// that applies:
//
//   - a strong entity tag in the 304 selects a stored response with the same
//     strong entity tag (strong comparison), and nothing else;
//   - weak validators (a weak entity tag, Last-Modified) select a stored
//     response they correspond to: at least one of them matches the stored
//     one (weak comparison; the same time), and none contradicts it (a
//     stored ETag or Last-Modified that differs);
//   - a 304 without validators selects a stored response without validators.
//
// An ETag or Last-Modified field that does not parse counts as a validator
// that matches nothing.
func NotModifiedSelects(stored, resp http.Header, now time.Time) bool {
	_, respHasTag := resp["Etag"]
	_, respHasLM := resp["Last-Modified"]
	tag, tagOK := ETag(resp)
	sTag, sTagOK := ETag(stored)
	switch {
	case respHasTag && tagOK && !tag.Weak:
		return sTagOK && StrongMatch(tag, sTag)
	case respHasTag || respHasLM:
		corresponds := false
		if respHasTag {
			_, storedHas := stored["Etag"]
			switch {
			case !tagOK:
				return false
			case sTagOK && WeakMatch(tag, sTag):
				corresponds = true
			case storedHas:
				return false
			}
		}
		if respHasLM {
			lm, ok := LastModified(resp, now)
			if !ok {
				return false
			}
			sLM, sOK := LastModified(stored, now)
			_, storedHas := stored["Last-Modified"]
			switch {
			case sOK && lm.Equal(sLM):
				corresponds = true
			case storedHas:
				return false
			}
		}
		return corresponds
	}
	_, storedTag := stored["Etag"]
	_, storedLM := stored["Last-Modified"]
	return !storedTag && !storedLM
}
