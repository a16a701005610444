package core

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hoardhttp/hoard/core/internal/rfc9111"
)

// keyPrefix versions the key format: a change to how keys are derived changes
// the prefix, so a new release never reads entries under keys it would now
// compute differently.
//
// h2: the effective host (Request.Host) replaces URL.Host, the values of a
// repeated query parameter keep their order, and the Content-Type is part
// of a body's key.
const keyPrefix = "h2:"

// redacted replaces ignored parameters' values in what is stored.
const redacted = "REDACTED"

// maxNormalizedBody is the largest body normalised as JSON or form before
// hashing; larger bodies are hashed as they are.
const maxNormalizedBody = 10 << 20

// hashKey derives a key from parts separated by NUL bytes (no part can
// contain the framing of another).
func hashKey(parts ...string) string {
	var arr [512]byte
	b := arr[:0]
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return sumKey(b)
}

// sumKey is keyPrefix + the first 128 bits of SHA-256(b), in hex.
func sumKey(b []byte) string {
	sum := sha256.Sum256(b)
	var out [len(keyPrefix) + 32]byte
	copy(out[:], keyPrefix)
	hex.Encode(out[len(keyPrefix):], sum[:16])
	return string(out[:])
}

// primaryKeyFor is the key a request's entry (or variant index) is stored
// under: method, normalised URL with the effective host, and the body's key
// (see bodyKey), or the user's key function.
func (c *Cache) primaryKeyFor(req *http.Request, method, bodyKey string) string {
	if bodyKey == "" && c.cfg.keyFunc == nil {
		in, ok := inputOf(req, method)
		if !ok {
			return c.deriveKey(req, method, "")
		}
		k, h, ok := c.keys.get(&in)
		if !ok {
			k = c.deriveKey(req, method, "")
			c.keys.derived(&in, h, k)
		}
		return k
	}
	return c.deriveKey(req, method, bodyKey)
}

// deriveKey is primaryKeyFor without the memo.
func (c *Cache) deriveKey(req *http.Request, method, bodyKey string) string {
	var arr [512]byte
	b := append(arr[:0], method...)
	b = append(b, 0)
	b = c.appendURL(b, req.URL, wireHost(req), false)
	b = append(b, 0)
	b = append(b, bodyKey...)
	k := sumKey(b)
	if c.cfg.keyFunc != nil {
		r := req
		if req.Method != method {
			// The function sees the request it keys: for a HEAD answered from
			// a stored GET, a GET.
			cp := *req
			cp.Method = method
			r = &cp
		}
		// The method stays part of the key whatever the function returns,
		// so a HEAD response is never served to a GET.
		k = hashKey("custom", method, c.cfg.keyFunc(r, k))
	}
	return k
}

// keyURL normalises u for keys: lower-case scheme and host, default port
// dropped, empty path as "/", query sorted with ignored parameters removed,
// fragment dropped.
func (c *Cache) keyURL(u *url.URL) string { return c.urlString(u, u.Host, false) }

// storedURL is keyURL with ignored parameters redacted instead of removed.
func (c *Cache) storedURL(u *url.URL) string { return c.urlString(u, u.Host, true) }

// requestURL is the stored URL of a request: storedURL with the effective
// host (Entry.URL and Meta.URL).
func (c *Cache) requestURL(req *http.Request) string {
	return c.urlString(req.URL, wireHost(req), true)
}

// urlString is appendURL as a string, built in a buffer on the stack: one
// allocation, for the string, where appending to nil grows the slice
// several times first.
func (c *Cache) urlString(u *url.URL, host string, redact bool) string {
	var arr [256]byte
	return string(c.appendURL(arr[:0], u, host, redact))
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		b = append(b, ch)
	}
	return b
}

// appendURL appends u normalised for keys, with host (the effective host)
// in place of u.Host.
func (c *Cache) appendURL(b []byte, u *url.URL, host string, redact bool) []byte {
	start := len(b)
	b = appendLower(b, u.Scheme)
	scheme := string(b[start:]) // small; compared only
	b = append(b, "://"...)
	b = appendHost(b, scheme, host)
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	b = append(b, p...)
	if u.RawQuery != "" {
		b = c.appendQuery(b, u.RawQuery, redact)
	}
	return b
}

// appendHost appends host lower-cased, without the scheme's default port
// (or an empty one).
func appendHost(b []byte, scheme, host string) []byte {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		p := host[i+1:]
		if p == "" || (scheme == "http" && p == "80") || (scheme == "https" && p == "443") {
			host = host[:i]
		}
	}
	return appendLower(b, host)
}

// queryName is the raw name of a "name=value" query item.
func queryName(item string) string {
	name, _, _ := strings.Cut(item, "=")
	return name
}

// compareQueryNames orders query items by their raw names only, so that a
// stable sort keeps the values of a repeated parameter in their order.
func compareQueryNames(a, b string) int { return strings.Compare(queryName(a), queryName(b)) }

// appendQuery appends "?" and the query with parameters sorted by their raw
// names, stably (?a=1&a=2 and ?a=2&a=1 are different requests: the values of
// a repeated parameter keep their order), and ignored ones removed or
// redacted. Blank values are kept: ?a= and ?a differ from no a. An already
// sorted query without empty items or ignored parameters is appended as it
// is.
func (c *Cache) appendQuery(b []byte, raw string, redact bool) []byte {
	sorted, prev, clean := !strings.HasSuffix(raw, "&"), "", true
	for rest := raw; rest != ""; {
		var p string
		p, rest, _ = strings.Cut(rest, "&")
		name := queryName(p)
		if p == "" || name < prev {
			sorted = false
		}
		prev = name
		if c.paramIgnored(p) {
			clean = false
		}
	}
	if sorted && clean {
		b = append(b, '?')
		return append(b, raw...)
	}
	var arr [16]string
	out := arr[:0]
	for rest := raw; rest != ""; {
		var p string
		p, rest, _ = strings.Cut(rest, "&")
		if p == "" {
			continue
		}
		if !clean && c.paramIgnored(p) {
			if !redact {
				continue
			}
			name, _, _ := strings.Cut(p, "=")
			p = name + "=" + redacted
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return b
	}
	slices.SortStableFunc(out, compareQueryNames)
	b = append(b, '?')
	for i, p := range out {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p...)
	}
	return b
}

// normalizeQuery is appendQuery for form bodies, without the "?".
func (c *Cache) normalizeQuery(raw string, redact bool) string {
	q := c.appendQuery(nil, raw, redact)
	if len(q) > 0 {
		q = q[1:]
	}
	return string(q)
}

// paramIgnored reports whether a "name=value" query item's name is ignored.
func (c *Cache) paramIgnored(item string) bool {
	if len(c.cfg.ignored) == 0 {
		return false
	}
	name, _, _ := strings.Cut(item, "=")
	if strings.IndexByte(name, '%') >= 0 || strings.IndexByte(name, '+') >= 0 {
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
	}
	return c.ignoredParam(name)
}

// ignoredParam reports whether a query or body parameter is ignored (exact
// match, as requests-cache).
func (c *Cache) ignoredParam(name string) bool {
	if n := len(name); n < 64 && c.ignoredLens&(1<<n) == 0 {
		return false
	}
	_, ok := c.ignoredSet[name]
	return ok
}

// ignoredHeader reports whether a header is ignored (case-insensitive).
func (c *Cache) ignoredHeader(name string) bool {
	for _, n := range c.cfg.ignored {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// bodyKey is the part of the key that comes from a request for a method
// other than GET and HEAD: the normalised Content-Type (an origin reads the
// same bytes differently as JSON or as a form) and the body's digest. It is
// empty when the request has neither.
func (c *Cache) bodyKey(contentType string, body []byte) string {
	ct := normalizeMediaType(contentType)
	d := c.bodyDigest(contentType, body)
	if ct == "" && d == "" {
		return ""
	}
	// d is empty or 32 hex digits: the framing is unambiguous.
	return ct + "\x00" + d
}

// normalizeMediaType is a Content-Type value in one form (RFC 9110 §8.3.1):
// type, subtype and parameter names lower-cased, parameters sorted, the
// charset value lower-cased (it is case-insensitive, §8.3.2), quoting only
// where needed. A value that does not parse is kept as it is, trimmed.
func normalizeMediaType(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return v
	}
	if cs, ok := params["charset"]; ok {
		params["charset"] = strings.ToLower(cs)
	}
	if f := mime.FormatMediaType(mt, params); f != "" {
		return f
	}
	return v
}

// bodyDigest hashes a request body for the key, normalising JSON (object keys
// sorted, ignored top-level keys removed) and form bodies (fields sorted,
// ignored fields removed) so that equivalent bodies share a key.
func (c *Cache) bodyDigest(contentType string, body []byte) string {
	if len(body) == 0 {
		return ""
	}
	norm := body
	if len(body) <= maxNormalizedBody {
		mt, _, _ := mime.ParseMediaType(contentType)
		switch {
		case mt == "application/x-www-form-urlencoded":
			norm = []byte(c.normalizeQuery(string(body), false))
		case strings.HasPrefix(mt, "application/") && strings.Contains(mt, "json"):
			if n, ok := c.normalizeJSON(body); ok {
				norm = n
			}
		}
	}
	sum := sha256.Sum256(norm)
	return hex.EncodeToString(sum[:16])
}

func (c *Cache) normalizeJSON(body []byte) ([]byte, bool) {
	if !utf8.Valid(body) {
		return nil, false // encoding/json would replace bad bytes and merge distinct bodies
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // trailing data: not one JSON value
	}
	if m, ok := v.(map[string]any); ok {
		for k := range m {
			if c.ignoredParam(k) {
				delete(m, k)
			}
		}
	}
	out, err := json.Marshal(v) // map keys are marshalled sorted
	if err != nil {
		return nil, false
	}
	return out, true
}

// variantKey is the key of the response selected by sel under an index.
func variantKey(primary string, v *Variants, sel string) string {
	return hashKey(primary, strconv.FormatUint(v.Generation, 16), sel)
}

// selection computes the request's selecting header values for an index:
// a canonical string for the key, and the values to record in the entry
// (ignored parameters redacted). ok is false when the request carries an
// ignored header the response varies on (never matched, never stored: the
// cache would otherwise hand one user's response to another).
func (c *Cache) selection(req *http.Request, v *Variants) (sel string, recorded http.Header, ok bool) {
	names := v.Names
	if v.AllHeaders {
		names = names[:0:0]
		for k := range req.Header {
			names = append(names, k)
		}
		names = append(names, v.Names...)
		slices.Sort(names)
		names = slices.Compact(names)
	}
	var b strings.Builder
	recorded = make(http.Header, len(names))
	for _, n := range names {
		val, present := selectedValue(req, n)
		if c.ignoredHeader(n) {
			if present && !v.AllHeaders {
				return "", nil, false
			}
			if v.AllHeaders {
				continue
			}
		}
		b.WriteString(n)
		if present {
			b.WriteByte('=')
			b.WriteString(val)
			recorded[n] = []string{val}
		}
		b.WriteByte(0)
	}
	return b.String(), recorded, true
}

// selectedValue is the value of the request's field name for Vary and
// matched headers. Host is the effective host, normalised as in keys: the
// field net/http sends, whatever the header map holds.
func selectedValue(req *http.Request, name string) (string, bool) {
	if name == "Host" {
		var arr [64]byte
		return string(appendHost(arr[:0], strings.ToLower(req.URL.Scheme), wireHost(req))), true
	}
	return rfc9111.SelectedValue(req.Header, name)
}
