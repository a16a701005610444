package rfc9111

import (
	"net/http"
	"strings"
)

// ParseTargeted implements the cache behaviour of RFC 9213 §2.2 for a cache
// whose target list is names (most applicable first): it returns the
// directives of the first field in the list that is present, non-empty and
// valid, and ok false when there is none (the cache then falls back to
// Cache-Control and Expires). A targeted field is a Dictionary Structured
// Field (RFC 8941 §3.2); one that does not parse as one is ignored as if it
// were absent (§2.1), and the next name in the list is tried.
//
// The directives carry Targeted, so that Lifetime ignores Expires (§2.2: the
// cache "MUST ignore the Cache-Control and Expires header fields in that
// response"). Values map to the directives as §2.1 says: delta-seconds are
// Integers (a value of another type, or a negative one, is invalid and read
// as 0, as for Cache-Control, RFC 9111 §4.2.1); no-cache and private are
// Boolean true (unqualified) or a String listing field names (qualified);
// the other directives are Booleans, where ?0 means absent. Parameters are
// ignored, and so are unknown directives.
func ParseTargeted(h http.Header, names []string) (d Directives, ok bool) {
	for _, name := range names {
		lines := h[name]
		if len(lines) == 0 {
			continue
		}
		v := strings.Join(lines, ", ")
		if d, ok := parseTargetedValue(v); ok {
			return d, true
		}
	}
	return none, false
}

// sfValue is a parsed Structured Field bare item, as far as cache directives
// need it.
type sfValue struct {
	kind    byte // 'i' integer, 'd' decimal, 's' string, 't' token, 'b' boolean, 'y' byte sequence, 'l' inner list
	integer int64
	str     string // a String's content (unescaped), a Token
	boolean bool
}

// parseTargetedValue parses an sf-dictionary (RFC 8941 §4.2.2) into
// directives; ok is false for an empty field or a parse error.
func parseTargetedValue(v string) (Directives, bool) {
	p := sfParser{s: v}
	p.skipSP()
	if p.done() {
		return none, false // empty: ignored (RFC 9213 §2.1)
	}
	type member struct {
		key string
		val sfValue
	}
	var members []member
	for {
		key, ok := p.key()
		if !ok {
			return none, false
		}
		val := sfValue{kind: 'b', boolean: true}
		if p.peek('=') {
			p.i++
			if val, ok = p.memberValue(); !ok {
				return none, false
			}
		} else if !p.parameters() {
			return none, false
		}
		// A later member with the same key replaces the earlier one
		// (RFC 8941 §4.2.2).
		replaced := false
		for i := range members {
			if members[i].key == key {
				members[i].val, replaced = val, true
			}
		}
		if !replaced {
			members = append(members, member{key, val})
		}
		p.skipOWS()
		if p.done() {
			break
		}
		if !p.peek(',') {
			return none, false
		}
		p.i++
		p.skipOWS()
		if p.done() {
			return none, false // trailing comma
		}
	}
	d := none
	d.Targeted = true
	for _, m := range members {
		d.setTargeted(m.key, m.val)
	}
	return d, true
}

// setTargeted maps one dictionary member onto d (RFC 9213 §2.1).
func (d *Directives) setTargeted(key string, v sfValue) {
	delta := func(dst *int64) {
		if v.kind == 'i' && v.integer >= 0 {
			*dst = min(v.integer, maxDelta)
			return
		}
		*dst = 0 // not an Integer, or negative: invalid
	}
	// restrictive: present unless explicitly false; permissive: only true.
	restrictive := v.kind != 'b' || v.boolean
	permissive := v.kind == 'b' && v.boolean
	switch key {
	case "max-age":
		delta(&d.MaxAge)
	case "s-maxage":
		delta(&d.SMaxAge)
	case "stale-while-revalidate":
		delta(&d.StaleWhileRevalidate)
	case "stale-if-error":
		delta(&d.StaleIfError)
	case "no-store":
		d.NoStore = restrictive
	case "no-cache":
		d.NoCache, d.NoCacheFields = targetedList(v)
	case "private":
		d.Private, d.PrivateFields = targetedList(v)
	case "public":
		d.Public = permissive
	case "must-revalidate":
		d.MustRevalidate = restrictive
	case "proxy-revalidate":
		d.ProxyRevalidate = restrictive
	case "immutable":
		d.Immutable = permissive
	case "must-understand":
		d.MustUnderstand = permissive
	case "no-transform":
		d.NoTransform = restrictive
	}
}

// targetedList maps a no-cache or private member: true is unqualified, a
// String a field list (an empty one unqualified), false absent, and any
// other type unqualified (the restrictive reading of a value it should not
// have).
func targetedList(v sfValue) (unqualified bool, fields string) {
	switch {
	case v.kind == 'b':
		return v.boolean, ""
	case v.kind == 's' && trimOWS(strings.Trim(v.str, ", \t")) != "":
		return false, v.str
	}
	return true, ""
}

// sfParser is a parser for the parts of RFC 8941 a dictionary needs.
type sfParser struct {
	s string
	i int
}

func (p *sfParser) done() bool { return p.i >= len(p.s) }

func (p *sfParser) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func isLCAlpha(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool   { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || ('A' <= c && c <= 'Z') }

// isTchar reports whether c is a tchar (RFC 9110 §5.6.2).
func isTchar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// key parses a key (RFC 8941 §4.2.3.3).
func (p *sfParser) key() (string, bool) {
	start := p.i
	if p.done() || !(isLCAlpha(p.s[p.i]) || p.s[p.i] == '*') {
		return "", false
	}
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !(isLCAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*') {
			break
		}
		p.i++
	}
	return p.s[start:p.i], true
}

// memberValue parses an sf-item or an inner-list, with its parameters.
func (p *sfParser) memberValue() (sfValue, bool) {
	if p.peek('(') {
		return p.innerList()
	}
	v, ok := p.bareItem()
	if !ok || !p.parameters() {
		return sfValue{}, false
	}
	return v, true
}

// innerList parses an inner-list (RFC 8941 §4.2.1.2); its items are checked
// and dropped (no cache directive takes one).
func (p *sfParser) innerList() (sfValue, bool) {
	p.i++ // '('
	for {
		p.skipSP()
		if p.peek(')') {
			p.i++
			return sfValue{kind: 'l'}, p.parameters()
		}
		if _, ok := p.bareItem(); !ok || !p.parameters() {
			return sfValue{}, false
		}
		if !p.peek(' ') && !p.peek(')') {
			return sfValue{}, false
		}
	}
}

// parameters parses and drops parameters (RFC 8941 §4.2.3.2).
func (p *sfParser) parameters() bool {
	for p.peek(';') {
		p.i++
		p.skipSP()
		if _, ok := p.key(); !ok {
			return false
		}
		if p.peek('=') {
			p.i++
			if _, ok := p.bareItem(); !ok {
				return false
			}
		}
	}
	return true
}

// bareItem parses a bare item (RFC 8941 §4.2.3.1).
func (p *sfParser) bareItem() (sfValue, bool) {
	if p.done() {
		return sfValue{}, false
	}
	switch c := p.s[p.i]; {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.str()
	case c == '*' || isAlpha(c):
		start := p.i
		p.i++
		for p.i < len(p.s) && (isTchar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
			p.i++
		}
		return sfValue{kind: 't', str: p.s[start:p.i]}, true
	case c == ':':
		p.i++
		for p.i < len(p.s) && p.s[p.i] != ':' {
			b := p.s[p.i]
			if !(isAlpha(b) || isDigit(b) || b == '+' || b == '/' || b == '=') {
				return sfValue{}, false
			}
			p.i++
		}
		if p.done() {
			return sfValue{}, false
		}
		p.i++
		return sfValue{kind: 'y'}, true
	case c == '?':
		p.i++
		if p.peek('0') || p.peek('1') {
			v := sfValue{kind: 'b', boolean: p.s[p.i] == '1'}
			p.i++
			return v, true
		}
	}
	return sfValue{}, false
}

// number parses an sf-integer or sf-decimal (RFC 8941 §4.2.4).
func (p *sfParser) number() (sfValue, bool) {
	neg := false
	if p.peek('-') {
		neg = true
		p.i++
	}
	var n int64
	intDigits, fracDigits, decimal := 0, 0, false
scan:
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case isDigit(c) && decimal:
			fracDigits++
		case isDigit(c):
			intDigits++
			n = n*10 + int64(c-'0')
		case c == '.' && !decimal && intDigits > 0:
			decimal = true
		default:
			break scan
		}
	}
	switch {
	case intDigits == 0:
		return sfValue{}, false
	case !decimal && intDigits > 15:
		return sfValue{}, false
	case decimal && (intDigits > 12 || fracDigits == 0 || fracDigits > 3):
		return sfValue{}, false
	}
	if neg {
		n = -n
	}
	if decimal {
		return sfValue{kind: 'd'}, true
	}
	return sfValue{kind: 'i', integer: n}, true
}

// str parses an sf-string (RFC 8941 §4.2.5).
func (p *sfParser) str() (sfValue, bool) {
	p.i++ // '"'
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if p.done() || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
				return sfValue{}, false
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case c == '"':
			return sfValue{kind: 's', str: b.String()}, true
		case c < 0x20 || c > 0x7e:
			return sfValue{}, false
		default:
			b.WriteByte(c)
		}
	}
	return sfValue{}, false
}
