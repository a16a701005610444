package core

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Codec turns an Entry into bytes and back. Implementations must be safe for
// concurrent use. Every encoding starts with a format identifier and version,
// so that bytes written by another codec or a newer version fail to decode
// (ErrCorrupt) instead of decoding to garbage; the cache treats such an entry
// as a miss and deletes it.
//
// Decode may make e.Body alias data (stores promise not to modify what Get
// returned), so a hit serves the body without a copy.
//
// Bodies streamed to a store do not go through Encode; they are framed in
// segments protected by the codec's StreamSealers (see SealStream). A codec
// that wraps another should have an Unwrap() Codec method returning it, so
// that the cache finds the protection of the codecs inside.
type Codec interface {
	Encode(e *Entry) ([]byte, error)
	Decode(data []byte, e *Entry) error
}

// Authenticated is implemented by codecs whose encodings cannot be forged
// without a key (signing, authenticated encryption). With such a codec the
// cache also checks that an entry read under a key was written for the
// request's method and URL, so a valid entry copied to another key by someone
// with write access to the store is a miss (deleted and counted in
// Stats().CorruptErrors), never served. Putting back an older entry of the
// same key is not detected. Such a codec should also be (or wrap) a
// StreamSealer, or the cache streams no bodies with it.
type Authenticated interface {
	Authenticated() bool
}

// ErrCorrupt is returned (wrapped) by codecs for bytes they cannot decode:
// truncated, tampered, of another format, or of an unknown version; and by
// stores for data that fails their own integrity check (see Store).
var ErrCorrupt = errors.New("core: corrupt or unknown entry encoding")

// binaryV1 is the leading format byte of BinaryCodec version 1.
const binaryV1 = 0xB1

// BinaryCodec is the default codec: a compact length-prefixed binary format
// whose first byte is a format and version identifier (0xB1). Decoding
// allocates one string for all header text and aliases the body.
type BinaryCodec struct{}

const (
	flagUncompressed = 1 << iota
	flagNoCache
	flagMustRevalidate
	flagImmutable
	flagAllHeaders
	flagStreamed
)

// Encode implements Codec.
func (BinaryCodec) Encode(e *Entry) ([]byte, error) {
	text := make([]byte, 0, 64+e.textSizeHint())
	nvals := 0
	text = appendString(text, e.Method)
	text = appendString(text, e.URL)
	text = appendString(text, e.Proto)
	text = appendString(text, e.StreamID)
	for _, h := range [...]http.Header{e.Header, e.Trailer, e.VaryHeader} {
		text = binary.AppendUvarint(text, uint64(len(h)))
		for k, vs := range h {
			text = appendString(text, k)
			text = binary.AppendUvarint(text, uint64(len(vs)))
			for _, v := range vs {
				text = appendString(text, v)
			}
			nvals += len(vs)
		}
	}
	var flags byte
	var gen uint64
	kind := byte(0)
	var names []string
	if e.Variants != nil {
		kind = 1
		names = e.Variants.Names
		gen = e.Variants.Generation
		if e.Variants.AllHeaders {
			flags |= flagAllHeaders
		}
	}
	text = binary.AppendUvarint(text, uint64(len(names)))
	for _, n := range names {
		text = appendString(text, n)
	}
	if e.Uncompressed {
		flags |= flagUncompressed
	}
	if e.NoCache {
		flags |= flagNoCache
	}
	if e.MustRevalidate {
		flags |= flagMustRevalidate
	}
	if e.Immutable {
		flags |= flagImmutable
	}
	if e.Streamed {
		flags |= flagStreamed
	}
	// Fixed part: 3 bytes, status, 5 times of up to 15 bytes, 3 durations,
	// generation, body size, counts: 160 bytes cover the worst case.
	out := make([]byte, 0, 160+len(text)+len(e.Body))
	out = append(out, binaryV1, kind, flags)
	out = binary.AppendUvarint(out, uint64(e.Status))
	for _, t := range [...]time.Time{e.RequestTime, e.ResponseTime, e.Created, e.Expires, e.Deletion} {
		out = appendTime(out, t)
	}
	for _, d := range [...]time.Duration{e.InitialAge, e.StaleWhileRevalidate, e.StaleIfError} {
		out = binary.AppendVarint(out, int64(d))
	}
	out = binary.AppendUvarint(out, gen)
	out = binary.AppendVarint(out, e.BodySize)
	out = binary.AppendUvarint(out, uint64(nvals))
	out = binary.AppendUvarint(out, uint64(len(text)))
	out = append(out, text...)
	out = binary.AppendUvarint(out, uint64(len(e.Body)))
	out = append(out, e.Body...)
	return out, nil
}

// textSizeHint estimates the encoded size of e's strings and headers.
func (e *Entry) textSizeHint() int {
	n := len(e.Method) + len(e.URL) + len(e.Proto) + len(e.StreamID)
	for _, h := range [...]http.Header{e.Header, e.Trailer, e.VaryHeader} {
		for k, vs := range h {
			n += len(k) + 4
			for _, v := range vs {
				n += len(v) + 2
			}
		}
	}
	if e.Variants != nil {
		for _, name := range e.Variants.Names {
			n += len(name) + 2
		}
	}
	return n
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime encodes t as Unix seconds and nanoseconds (any year fits); the
// zero time is a single 0 byte.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// Decode implements Codec.
func (BinaryCodec) Decode(data []byte, e *Entry) error {
	if len(data) < 3 || data[0] != binaryV1 {
		return fmt.Errorf("%w: not a binary v1 entry", ErrCorrupt)
	}
	kind, flags := data[1], data[2]
	if kind > 1 {
		return fmt.Errorf("%w: unknown kind %d", ErrCorrupt, kind)
	}
	r := byteReader{b: data, off: 3}
	status := r.uvarint()
	var times [5]time.Time
	for i := range times {
		times[i] = r.time()
	}
	var durs [3]int64
	for i := range durs {
		durs[i] = r.varint()
	}
	gen := r.uvarint()
	bodySize := r.varint()
	nvals := r.uvarint()
	textLen := r.uvarint()
	if r.err || status > 999 || textLen > uint64(len(data)-r.off) || nvals > textLen {
		return fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	text := string(data[r.off : r.off+int(textLen)])
	r.off += int(textLen)
	bodyLen := r.uvarint()
	if r.err || bodyLen != uint64(len(data)-r.off) {
		return fmt.Errorf("%w: bad body length", ErrCorrupt)
	}
	body := data[r.off:len(data):len(data)]

	t := stringReader{s: text}
	*e = Entry{
		Status:               int(status),
		Uncompressed:         flags&flagUncompressed != 0,
		NoCache:              flags&flagNoCache != 0,
		MustRevalidate:       flags&flagMustRevalidate != 0,
		Immutable:            flags&flagImmutable != 0,
		Streamed:             flags&flagStreamed != 0,
		BodySize:             bodySize,
		RequestTime:          times[0],
		ResponseTime:         times[1],
		Created:              times[2],
		Expires:              times[3],
		Deletion:             times[4],
		InitialAge:           time.Duration(durs[0]),
		StaleWhileRevalidate: time.Duration(durs[1]),
		StaleIfError:         time.Duration(durs[2]),
		Body:                 body,
	}
	e.Method = t.str()
	e.URL = t.str()
	e.Proto = t.str()
	e.StreamID = t.str()
	hs, backing, err := t.headers(make([]string, nvals))
	if err != nil {
		return err
	}
	e.Header, e.Trailer, e.VaryHeader = hs[0], hs[1], hs[2]
	if e.Variants, err = t.variants(kind == 1, gen, flags&flagAllHeaders != 0); err != nil {
		return err
	}
	if t.err || len(backing) != 0 {
		return fmt.Errorf("%w: truncated text", ErrCorrupt)
	}
	return nil
}

// headers reads the three header maps of an entry (its header, trailer and
// the fields that selected its variant), their values sliced from backing;
// it returns what is left of backing.
func (t *stringReader) headers(backing []string) (hs [3]http.Header, rest []string, err error) {
	for i := range hs {
		n := t.uvarint()
		if t.err || n > uint64(len(t.s)) {
			return hs, nil, fmt.Errorf("%w: bad header count", ErrCorrupt)
		}
		if n == 0 {
			continue
		}
		hint := n
		if i == 0 {
			hint += 2 // room for the Age and Cache-Status fields added when serving
		}
		if hs[i], backing, err = t.header(n, hint, backing); err != nil {
			return hs, nil, err
		}
	}
	return hs, backing, nil
}

// header reads one header map of n fields.
func (t *stringReader) header(n, hint uint64, backing []string) (http.Header, []string, error) {
	h := make(http.Header, hint)
	for j := uint64(0); j < n; j++ {
		k := t.str()
		nv := t.uvarint()
		if t.err || nv > uint64(len(backing)) {
			return nil, nil, fmt.Errorf("%w: bad header values", ErrCorrupt)
		}
		vs := backing[:nv:nv]
		backing = backing[nv:]
		for v := range vs {
			vs[v] = t.str()
		}
		h[k] = vs
	}
	return h, backing, nil
}

// variants reads the variant names, and returns the index for an entry of
// the index kind (nil otherwise).
func (t *stringReader) variants(index bool, gen uint64, all bool) (*Variants, error) {
	nnames := t.uvarint()
	if t.err || nnames > uint64(len(t.s)) {
		return nil, fmt.Errorf("%w: bad variant names", ErrCorrupt)
	}
	if !index {
		return nil, nil
	}
	v := &Variants{Generation: gen, AllHeaders: all}
	if nnames > 0 {
		v.Names = make([]string, nnames)
		for i := range v.Names {
			v.Names[i] = t.str()
		}
	}
	return v, nil
}

type byteReader struct {
	b   []byte
	off int
	err bool
}

func (r *byteReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.err = true
		return 0
	}
	r.off += n
	return v
}

func (r *byteReader) time() time.Time {
	if r.off >= len(r.b) {
		r.err = true
		return time.Time{}
	}
	flag := r.b[r.off]
	r.off++
	if flag == 0 {
		return time.Time{}
	}
	sec, nsec := r.varint(), r.uvarint()
	if flag != 1 || nsec >= 1e9 {
		r.err = true
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec))
}

func (r *byteReader) varint() int64 {
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.err = true
		return 0
	}
	r.off += n
	return v
}

type stringReader struct {
	s   string
	err bool
}

func (r *stringReader) uvarint() uint64 {
	var x uint64
	var s uint
	for i := 0; i < len(r.s) && i < binary.MaxVarintLen64; i++ {
		c := r.s[i]
		if c < 0x80 {
			r.s = r.s[i+1:]
			return x | uint64(c)<<s
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	r.err = true
	r.s = ""
	return 0
}

func (r *stringReader) str() string {
	n := r.uvarint()
	if r.err || n > uint64(len(r.s)) {
		r.err = true
		r.s = ""
		return ""
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v
}
