package codecs

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hoardhttp/hoard/core"
)

// jsonVersion is the value of the "hoard" member JSON writes and reads.
const jsonVersion = "json/1"

// JSON is a codec for people who want to read their cache: each entry is one
// JSON object, its first member "hoard":"json/1" (the format identifier and
// version; the first byte is always '{'). Header, trailer and Vary header
// fields are objects whose names are sorted (deterministic output) and whose
// value lists keep their order and case; a field whose name or values are
// not valid UTF-8 goes, base64-encoded, into header_base64 (trailer_base64,
// vary_header_base64) instead, so no byte is lost. A textual body (JSON,
// text/*, XML, form; by the Content-Type header) that is valid UTF-8 is
// stored as a string in "body", any other body base64-encoded in
// "body_base64". Times are RFC 3339 strings in UTC with nanoseconds;
// durations are integers of nanoseconds.
//
// Decoding is strict: unknown members, a missing or other version, a
// status above 999, both body members at once or the same header name twice
// fail with an error wrapping core.ErrCorrupt.
//
// The zero value is ready to use and safe for concurrent use.
type JSON struct {
	// Indent, when true, writes one member per line indented by two
	// spaces, for reading the cache by eye.
	Indent bool
}

// jsonEntry is the JSON document of version 1. Field order is output order.
type jsonEntry struct {
	Hoard                  string              `json:"hoard"`
	Method                 string              `json:"method,omitempty"`
	URL                    string              `json:"url,omitempty"`
	Status                 int                 `json:"status,omitempty"`
	Proto                  string              `json:"proto,omitempty"`
	Header                 map[string][]string `json:"header,omitempty"`
	HeaderBase64           map[string][]string `json:"header_base64,omitempty"`
	Trailer                map[string][]string `json:"trailer,omitempty"`
	TrailerBase64          map[string][]string `json:"trailer_base64,omitempty"`
	Body                   *string             `json:"body,omitempty"`
	BodyBase64             []byte              `json:"body_base64,omitempty"`
	Uncompressed           bool                `json:"uncompressed,omitempty"`
	Streamed               bool                `json:"streamed,omitempty"`
	BodySize               int64               `json:"body_size,omitempty"`
	StreamID               string              `json:"stream_id,omitempty"`
	RequestTime            string              `json:"request_time,omitempty"`
	ResponseTime           string              `json:"response_time,omitempty"`
	InitialAgeNs           int64               `json:"initial_age_ns,omitempty"`
	Created                string              `json:"created,omitempty"`
	Expires                string              `json:"expires,omitempty"`
	Deletion               string              `json:"deletion,omitempty"`
	NoCache                bool                `json:"no_cache,omitempty"`
	MustRevalidate         bool                `json:"must_revalidate,omitempty"`
	Immutable              bool                `json:"immutable,omitempty"`
	StaleWhileRevalidateNs int64               `json:"stale_while_revalidate_ns,omitempty"`
	StaleIfErrorNs         int64               `json:"stale_if_error_ns,omitempty"`
	VaryHeader             map[string][]string `json:"vary_header,omitempty"`
	VaryHeaderBase64       map[string][]string `json:"vary_header_base64,omitempty"`
	Variants               *jsonVariants       `json:"variants,omitempty"`
}

type jsonVariants struct {
	Names      []string `json:"names,omitempty"`
	AllHeaders bool     `json:"all_headers,omitempty"`
	Generation uint64   `json:"generation,omitempty"`
}

// Encode implements core.Codec. It fails for a status outside 0..999, for a
// time outside the years 0 to 9999, and for a method, URL, protocol or
// variant name that is not valid UTF-8 (a JSON string cannot hold it).
func (c JSON) Encode(e *core.Entry) ([]byte, error) {
	if e.Status < 0 || e.Status > maxStatus {
		return nil, fmt.Errorf("codecs: json: status %d out of range", e.Status)
	}
	for _, s := range [...]string{e.Method, e.URL, e.Proto} {
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("codecs: json: %.40q is not valid UTF-8", s)
		}
	}
	w := jsonEntry{
		Hoard:                  jsonVersion,
		Method:                 e.Method,
		URL:                    e.URL,
		Status:                 e.Status,
		Proto:                  e.Proto,
		Uncompressed:           e.Uncompressed,
		Streamed:               e.Streamed,
		BodySize:               e.BodySize,
		StreamID:               e.StreamID,
		InitialAgeNs:           int64(e.InitialAge),
		NoCache:                e.NoCache,
		MustRevalidate:         e.MustRevalidate,
		Immutable:              e.Immutable,
		StaleWhileRevalidateNs: int64(e.StaleWhileRevalidate),
		StaleIfErrorNs:         int64(e.StaleIfError),
	}
	w.Header, w.HeaderBase64 = splitHeader(e.Header)
	w.Trailer, w.TrailerBase64 = splitHeader(e.Trailer)
	w.VaryHeader, w.VaryHeaderBase64 = splitHeader(e.VaryHeader)
	if len(e.Body) > 0 {
		if isTextual(e.Header.Get("Content-Type")) && utf8.Valid(e.Body) {
			s := string(e.Body)
			w.Body = &s
		} else {
			w.BodyBase64 = e.Body
		}
	}
	var err error
	for _, t := range [...]struct {
		dst *string
		t   time.Time
	}{
		{&w.RequestTime, e.RequestTime}, {&w.ResponseTime, e.ResponseTime}, {&w.Created, e.Created},
		{&w.Expires, e.Expires}, {&w.Deletion, e.Deletion},
	} {
		if *t.dst, err = formatTime(t.t); err != nil {
			return nil, err
		}
	}
	if v := e.Variants; v != nil {
		for _, n := range v.Names {
			if !utf8.ValidString(n) {
				return nil, fmt.Errorf("codecs: json: variant name %.40q is not valid UTF-8", n)
			}
		}
		w.Variants = &jsonVariants{Names: v.Names, AllHeaders: v.AllHeaders, Generation: v.Generation}
	}
	var buf bytes.Buffer
	buf.Grow(256 + len(e.Body)*4/3)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep <, > and & readable; they need no escaping in a JSON string
	if c.Indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(&w); err != nil {
		return nil, fmt.Errorf("codecs: json: %w", err)
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil // Encoder.Encode ends with a newline; a truncated entry must not decode
}

// isTextual reports whether a body of the given Content-Type is text a
// reader wants to see as such: text/*, JSON, XML, form data, JavaScript.
func isTextual(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/x-www-form-urlencoded",
		mt == "application/javascript", mt == "application/ecmascript",
		mt == "application/x-ndjson", mt == "application/graphql":
		return true
	}
	return false
}

// splitHeader returns the fields of h whose name and values are valid UTF-8
// as they are, and the others with name and values base64-encoded.
func splitHeader(h http.Header) (text, b64 map[string][]string) {
	if len(h) == 0 {
		return nil, nil
	}
	for k, vs := range h {
		if headerIsUTF8(k, vs) {
			continue
		}
		if b64 == nil {
			b64 = make(map[string][]string)
		}
		enc := make([]string, len(vs))
		for i, v := range vs {
			enc[i] = base64.StdEncoding.EncodeToString([]byte(v))
		}
		if vs == nil {
			enc = nil
		}
		b64[base64.StdEncoding.EncodeToString([]byte(k))] = enc
	}
	if b64 == nil {
		return h, nil // the common case: no copy
	}
	text = make(map[string][]string, len(h)-len(b64))
	for k, vs := range h {
		if headerIsUTF8(k, vs) {
			text[k] = vs
		}
	}
	return text, b64
}

func headerIsUTF8(k string, vs []string) bool {
	if !utf8.ValidString(k) {
		return false
	}
	for _, v := range vs {
		if !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

// joinHeader rebuilds a header from its two JSON members.
func joinHeader(text, b64 map[string][]string) (http.Header, error) {
	if len(text) == 0 && len(b64) == 0 {
		return nil, nil
	}
	h := make(http.Header, len(text)+len(b64)+2) // room for Age and Cache-Status
	for k, vs := range text {
		h[k] = vs
	}
	for k, vs := range b64 {
		name, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			return nil, corrupt("json", "header name %.40q: %v", k, err)
		}
		if _, dup := h[string(name)]; dup {
			return nil, corrupt("json", "header %.40q given twice", name)
		}
		var dec []string
		if vs != nil {
			dec = make([]string, len(vs))
		}
		for i, v := range vs {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, corrupt("json", "header %.40q value: %v", name, err)
			}
			dec[i] = string(b)
		}
		h[string(name)] = dec
	}
	return h, nil
}

// formatTime writes t in UTC as RFC 3339 with nanoseconds; the zero time is
// the empty string (the member is then left out).
func formatTime(t time.Time) (string, error) {
	if t.IsZero() {
		return "", nil
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return "", fmt.Errorf("codecs: json: time %v outside the years 0 to 9999", t)
	}
	return t.UTC().Format(time.RFC3339Nano), nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, corrupt("json", "time %.40q: %v", s, err)
	}
	return t, nil
}

// Decode implements core.Codec.
func (JSON) Decode(data []byte, e *core.Entry) error {
	if len(data) == 0 || data[0] != idJSON {
		return corrupt("json", "not a JSON entry")
	}
	var w jsonEntry
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return corrupt("json", "%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return corrupt("json", "data after the entry")
	}
	switch {
	case w.Hoard == "":
		return corrupt("json", `no "hoard" member: not a hoard entry`)
	case w.Hoard != jsonVersion:
		return corrupt("json", "unknown format version %.20q", w.Hoard)
	case w.Status < 0 || w.Status > maxStatus:
		return corrupt("json", "status %d out of range", w.Status)
	case w.Body != nil && w.BodyBase64 != nil:
		return corrupt("json", "both body and body_base64")
	}
	out := core.Entry{
		Method:               w.Method,
		URL:                  w.URL,
		Status:               w.Status,
		Proto:                w.Proto,
		Uncompressed:         w.Uncompressed,
		Streamed:             w.Streamed,
		BodySize:             w.BodySize,
		StreamID:             w.StreamID,
		InitialAge:           time.Duration(w.InitialAgeNs),
		NoCache:              w.NoCache,
		MustRevalidate:       w.MustRevalidate,
		Immutable:            w.Immutable,
		StaleWhileRevalidate: time.Duration(w.StaleWhileRevalidateNs),
		StaleIfError:         time.Duration(w.StaleIfErrorNs),
		Body:                 w.BodyBase64,
	}
	if w.Body != nil {
		out.Body = []byte(*w.Body)
	}
	var err error
	if out.Header, err = joinHeader(w.Header, w.HeaderBase64); err != nil {
		return err
	}
	if out.Trailer, err = joinHeader(w.Trailer, w.TrailerBase64); err != nil {
		return err
	}
	if out.VaryHeader, err = joinHeader(w.VaryHeader, w.VaryHeaderBase64); err != nil {
		return err
	}
	for _, t := range [...]struct {
		dst *time.Time
		s   string
	}{
		{&out.RequestTime, w.RequestTime}, {&out.ResponseTime, w.ResponseTime}, {&out.Created, w.Created},
		{&out.Expires, w.Expires}, {&out.Deletion, w.Deletion},
	} {
		if *t.dst, err = parseTime(t.s); err != nil {
			return err
		}
	}
	if v := w.Variants; v != nil {
		out.Variants = &core.Variants{Names: v.Names, AllHeaders: v.AllHeaders, Generation: v.Generation}
	}
	*e = out
	return nil
}
