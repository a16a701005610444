// Package bsoncodec encodes hoard entries as BSON documents, with
// go.mongodb.org/mongo-driver/v2/bson, so that a MongoDB store can keep an
// entry as a document (MarshalDocument, UnmarshalDocument) rather than an
// opaque binary value, and people can read it with MongoDB tools. It is a
// module of its own so that only users who import it pull that dependency.
//
//	cache, err := core.New(store, core.WithCodec(bsoncodec.Codec{}))
//
// Codec's encoding is the format identifier 0xD1 (BSON, version 1) followed
// by the document. The document carries its own version in its "hoard"
// field ("bson/1"), for stores that keep the document without the
// identifier byte.
//
// Decoding is safe on bytes from an untrusted store: lengths are checked
// against the input before use, and any malformed, truncated, foreign or
// newer-version input fails with an error wrapping core.ErrCorrupt. See
// package codecs for the format registry and the compatibility promise.
package bsoncodec

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/hoardhttp/hoard/core"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// ID is the format identifier byte of the BSON codec, version 1.
const ID = 0xD1

// Version is the value of a document's "hoard" field.
const Version = "bson/1"

// Codec encodes entries as BSON documents (see MarshalDocument for the
// fields). The zero value is ready to use and safe for concurrent use.
type Codec struct{}

// document is the BSON document of version 1. Headers are arrays of
// [name, value...] arrays sorted by name (a header name may hold '.', '$' or
// any byte that document keys cannot); times are {s: Unix seconds, n:
// nanoseconds} (BSON dates stop at milliseconds); the generation is the bits
// of the uint64 as an int64 (BSON has no unsigned integers).
type document struct {
	Hoard                string       `bson:"hoard"`
	Method               string       `bson:"method,omitempty"`
	URL                  string       `bson:"url,omitempty"`
	Status               int32        `bson:"status,omitempty"`
	Proto                string       `bson:"proto,omitempty"`
	Header               [][]string   `bson:"header,omitempty"`
	Trailer              [][]string   `bson:"trailer,omitempty"`
	Body                 []byte       `bson:"body,omitempty"`
	Uncompressed         bool         `bson:"uncompressed,omitempty"`
	Streamed             bool         `bson:"streamed,omitempty"`
	BodySize             int64        `bson:"body_size,omitempty"`
	StreamID             string       `bson:"stream_id,omitempty"`
	RequestTime          *docTime     `bson:"request_time,omitempty"`
	ResponseTime         *docTime     `bson:"response_time,omitempty"`
	InitialAge           int64        `bson:"initial_age_ns,omitempty"`
	Created              *docTime     `bson:"created,omitempty"`
	Expires              *docTime     `bson:"expires,omitempty"`
	Deletion             *docTime     `bson:"deletion,omitempty"`
	NoCache              bool         `bson:"no_cache,omitempty"`
	MustRevalidate       bool         `bson:"must_revalidate,omitempty"`
	Immutable            bool         `bson:"immutable,omitempty"`
	StaleWhileRevalidate int64        `bson:"stale_while_revalidate_ns,omitempty"`
	StaleIfError         int64        `bson:"stale_if_error_ns,omitempty"`
	VaryHeader           [][]string   `bson:"vary_header,omitempty"`
	Variants             *docVariants `bson:"variants,omitempty"`
}

type docTime struct {
	S int64 `bson:"s"`
	N int32 `bson:"n"`
}

type docVariants struct {
	Names      []string `bson:"names,omitempty"`
	AllHeaders bool     `bson:"all_headers,omitempty"`
	Generation int64    `bson:"generation"`
}

func toDocTime(t time.Time) *docTime {
	if t.IsZero() {
		return nil
	}
	return &docTime{S: t.Unix(), N: int32(t.Nanosecond())}
}

func toHeaderArray(h http.Header) [][]string {
	if h == nil {
		return nil
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([][]string, len(names))
	for i, k := range names {
		out[i] = append(append(make([]string, 0, 1+len(h[k])), k), h[k]...)
	}
	return out
}

// MarshalDocument returns e as a BSON document (the bytes of Codec's
// encoding after the identifier byte). Its fields: hoard ("bson/1"),
// method, url, status, proto, header, trailer (arrays of [name, values...]
// sorted by name), body (binary), uncompressed, streamed, body_size,
// request_time, response_time, created, expires, deletion ({s, n}: Unix
// seconds and nanoseconds), initial_age_ns, no_cache, must_revalidate,
// immutable, stale_while_revalidate_ns, stale_if_error_ns, vary_header and
// variants ({names, all_headers, generation}). Zero fields are left out.
func MarshalDocument(e *core.Entry) (bson.Raw, error) {
	if e.Status < 0 || e.Status > 999 {
		return nil, fmt.Errorf("bsoncodec: status %d out of range", e.Status)
	}
	d := document{
		Hoard: Version, Method: e.Method, URL: e.URL, Status: int32(e.Status), Proto: e.Proto,
		Header: toHeaderArray(e.Header), Trailer: toHeaderArray(e.Trailer), Body: e.Body,
		Uncompressed: e.Uncompressed, Streamed: e.Streamed, BodySize: e.BodySize, StreamID: e.StreamID,
		RequestTime: toDocTime(e.RequestTime), ResponseTime: toDocTime(e.ResponseTime),
		InitialAge: int64(e.InitialAge), Created: toDocTime(e.Created),
		Expires: toDocTime(e.Expires), Deletion: toDocTime(e.Deletion),
		NoCache: e.NoCache, MustRevalidate: e.MustRevalidate, Immutable: e.Immutable,
		StaleWhileRevalidate: int64(e.StaleWhileRevalidate), StaleIfError: int64(e.StaleIfError),
		VaryHeader: toHeaderArray(e.VaryHeader),
	}
	if v := e.Variants; v != nil {
		d.Variants = &docVariants{Names: v.Names, AllHeaders: v.AllHeaders, Generation: int64(v.Generation)}
	}
	raw, err := bson.Marshal(&d)
	if err != nil {
		return nil, fmt.Errorf("bsoncodec: %w", err)
	}
	return raw, nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("bsoncodec: %w: %s", core.ErrCorrupt, fmt.Sprintf(format, args...))
}

func fromDocTime(t *docTime) (time.Time, error) {
	if t == nil {
		return time.Time{}, nil
	}
	if t.N < 0 || t.N >= 1e9 {
		return time.Time{}, corrupt("bad nanoseconds")
	}
	return time.Unix(t.S, int64(t.N)), nil
}

func fromHeaderArray(a [][]string) (http.Header, error) {
	if len(a) == 0 {
		return nil, nil
	}
	h := make(http.Header, len(a)+2) // room for Age and Cache-Status
	for _, f := range a {
		if len(f) == 0 {
			return nil, corrupt("header field without a name")
		}
		if _, dup := h[f[0]]; dup {
			return nil, corrupt("header %.40q given twice", f[0])
		}
		h[f[0]] = f[1:len(f):len(f)]
	}
	return h, nil
}

// UnmarshalDocument decodes a document written by MarshalDocument into e,
// replacing every field. It fails with an error wrapping core.ErrCorrupt
// for a document that is malformed, of another format or of another
// version.
func UnmarshalDocument(doc bson.Raw, e *core.Entry) (err error) {
	if len(doc) < 5 || int64(binary.LittleEndian.Uint32(doc)) != int64(len(doc)) {
		return corrupt("document length does not match the data")
	}
	defer func() {
		// Defence in depth for bytes from an untrusted store: the fuzz
		// target finds no panic, but a decoder bug must be a miss, not a
		// crash.
		if r := recover(); r != nil {
			err = corrupt("decoder panic: %v", r)
		}
	}()
	if err := doc.Validate(); err != nil {
		return corrupt("%v", err)
	}
	var d document
	if err := bson.Unmarshal(doc, &d); err != nil {
		return corrupt("%v", err)
	}
	switch {
	case d.Hoard == "":
		return corrupt(`no "hoard" field: not a hoard entry`)
	case d.Hoard != Version:
		return corrupt("unknown format version %.20q", d.Hoard)
	case d.Status < 0 || d.Status > 999:
		return corrupt("status %d out of range", d.Status)
	}
	out := core.Entry{
		Method: d.Method, URL: d.URL, Status: int(d.Status), Proto: d.Proto, Body: d.Body,
		Uncompressed: d.Uncompressed, Streamed: d.Streamed, BodySize: d.BodySize, StreamID: d.StreamID,
		InitialAge: time.Duration(d.InitialAge), NoCache: d.NoCache, MustRevalidate: d.MustRevalidate,
		Immutable: d.Immutable, StaleWhileRevalidate: time.Duration(d.StaleWhileRevalidate),
		StaleIfError: time.Duration(d.StaleIfError),
	}
	if out.Header, err = fromHeaderArray(d.Header); err != nil {
		return err
	}
	if out.Trailer, err = fromHeaderArray(d.Trailer); err != nil {
		return err
	}
	if out.VaryHeader, err = fromHeaderArray(d.VaryHeader); err != nil {
		return err
	}
	for _, t := range [...]struct {
		dst *time.Time
		src *docTime
	}{
		{&out.RequestTime, d.RequestTime}, {&out.ResponseTime, d.ResponseTime}, {&out.Created, d.Created},
		{&out.Expires, d.Expires}, {&out.Deletion, d.Deletion},
	} {
		if *t.dst, err = fromDocTime(t.src); err != nil {
			return err
		}
	}
	if v := d.Variants; v != nil {
		out.Variants = &core.Variants{Names: v.Names, AllHeaders: v.AllHeaders, Generation: uint64(v.Generation)}
	}
	*e = out
	return nil
}

// Encode implements core.Codec.
func (Codec) Encode(e *core.Entry) ([]byte, error) {
	doc, err := MarshalDocument(e)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+len(doc))
	out[0] = ID
	copy(out[1:], doc)
	return out, nil
}

// Decode implements core.Codec.
func (Codec) Decode(data []byte, e *core.Entry) error {
	if len(data) == 0 || data[0] != ID {
		return corrupt("not a BSON v1 entry")
	}
	return UnmarshalDocument(bson.Raw(data[1:]), e)
}
