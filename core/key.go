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

	"github.com/hoardhttp/hoard/core/internal/rfc9111"
)

// keyPrefix versions the key format: a change to how keys are derived changes
// the prefix, so a new release never reads entries under keys it would now
// compute differently.
const keyPrefix = "h1:"

// redacted replaces ignored parameters' values in what is stored.
const redacted = "REDACTED"

// maxNormalizedBody is the largest body normalised as JSON or form before
// hashing; larger bodies are hashed as they are.
const maxNormalizedBody = 10 << 20

// hashKey derives a key from parts separated by NUL bytes (no part can
// contain the framing of another).
func hashKey(parts ...string) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		io.WriteString(h, p)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var out [len(keyPrefix) + 32]byte
	copy(out[:], keyPrefix)
	hex.Encode(out[len(keyPrefix):], sum[:16])
	return string(out[:])
}

// primaryKeyFor is the key a request's entry (or variant index) is stored
// under: method, normalised URL and body digest, or the user's key function.
func (c *Cache) primaryKeyFor(req *http.Request, method, bodyDigest string) string {
	k := hashKey(method, c.keyURL(req.URL), bodyDigest)
	if c.cfg.keyFunc != nil {
		k = hashKey("custom", c.cfg.keyFunc(req, k))
	}
	return k
}

// keyURL normalises u for keys: lower-case scheme and host, default port
// dropped, empty path as "/", query sorted with ignored parameters removed,
// fragment dropped.
func (c *Cache) keyURL(u *url.URL) string { return c.normalizeURL(u, false) }

// storedURL is keyURL with ignored parameters redacted instead of removed.
func (c *Cache) storedURL(u *url.URL) string { return c.normalizeURL(u, true) }

func (c *Cache) normalizeURL(u *url.URL, redact bool) string {
	var b strings.Builder
	scheme := strings.ToLower(u.Scheme)
	b.WriteString(scheme)
	b.WriteString("://")
	host := strings.ToLower(u.Host)
	if h, p, ok := strings.Cut(host, ":"); ok && !strings.Contains(p, "]") {
		if (scheme == "http" && p == "80") || (scheme == "https" && p == "443") || p == "" {
			host = h
		}
	} else if i := strings.LastIndex(host, "]:"); i >= 0 {
		p := host[i+2:]
		if (scheme == "http" && p == "80") || (scheme == "https" && p == "443") {
			host = host[:i+1]
		}
	}
	b.WriteString(host)
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	b.WriteString(p)
	if u.RawQuery != "" {
		if q := c.normalizeQuery(u.RawQuery, redact); q != "" {
			b.WriteByte('?')
			b.WriteString(q)
		}
	}
	return b.String()
}

// normalizeQuery sorts parameters (stably, by name then value) and removes or
// redacts ignored ones. Blank values are kept: ?a= and ?a differ from no a.
func (c *Cache) normalizeQuery(raw string, redact bool) string {
	parts := strings.Split(raw, "&")
	out := parts[:0]
	for _, p := range parts {
		if p == "" {
			continue
		}
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil && c.ignoredParam(n) {
			if !redact {
				continue
			}
			p = name + "=" + redacted
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return strings.Join(out, "&")
}

// ignoredParam reports whether a query or body parameter is ignored (exact
// match, as requests-cache).
func (c *Cache) ignoredParam(name string) bool {
	return slices.Contains(c.cfg.ignored, name)
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
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
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

func selectedValue(req *http.Request, name string) (string, bool) {
	return rfc9111.SelectedValue(req.Header, name)
}
