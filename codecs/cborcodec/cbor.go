// Package cborcodec is a compact binary codec for hoard entries in CBOR
// (RFC 8949), with github.com/fxamacker/cbor/v2. It is a module of its own
// so that only users who import it pull that dependency.
//
//	cache, err := core.New(store, core.WithCodec(cborcodec.Codec{}))
//
// An encoding is the format identifier 0xC1 (CBOR, version 1) followed by
// one CBOR array (see Codec for its fields): a standard format that tools
// in other languages can read. core.BinaryCodec, the default, is faster and
// as compact (see BENCHMARKS.md); choose CBOR for its tooling.
//
// Decoding is safe on bytes from an untrusted store: the data is checked to
// be well-formed before anything is allocated, the decoder's limits on
// nesting, array and map sizes apply, CBOR tags are refused, and any
// malformed, truncated, foreign or newer-version input fails with an error
// wrapping core.ErrCorrupt. See package codecs for the format registry and
// the compatibility promise.
package cborcodec

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/hoardhttp/hoard/core"
)

// ID is the format identifier byte of the CBOR codec, version 1.
const ID = 0xC1

// Codec encodes entries as CBOR. Its encoding is ID followed by one CBOR
// array of, in order: method, URL, status, protocol, header, trailer, body,
// flags (bit 0 uncompressed, 1 no-cache, 2 must-revalidate, 3 immutable,
// 4 streamed), body size, the five times (request, response, created,
// expires, deletion) as ten integers (Unix seconds, nanoseconds), the three
// durations in nanoseconds (initial age, stale-while-revalidate,
// stale-if-error), the Vary header, and the variant index (null, or
// [names, all-headers, generation]). Headers are maps from name to the
// array of values, in order; times keep their nanoseconds and any year.
//
// The zero value is ready to use and safe for concurrent use.
type Codec struct{}

type wireEntry struct {
	_          struct{} `cbor:",toarray"`
	Method     string
	URL        string
	Status     int
	Proto      string
	Header     http.Header
	Trailer    http.Header
	Body       []byte
	Flags      uint
	BodySize   int64
	Times      []int64
	Durations  []int64
	VaryHeader http.Header
	Variants   *wireVariants
	StreamID   string
}

type wireVariants struct {
	_          struct{} `cbor:",toarray"`
	Names      []string
	AllHeaders bool
	Generation uint64
}

const (
	flagUncompressed = 1 << iota
	flagNoCache
	flagMustRevalidate
	flagImmutable
	flagStreamed
	flagsKnown = flagStreamed<<1 - 1
)

var modes = sync.OnceValues(func() (struct {
	enc cbor.EncMode
	dec cbor.DecMode
}, error) {
	var m struct {
		enc cbor.EncMode
		dec cbor.DecMode
	}
	var err error
	if m.enc, err = (cbor.EncOptions{}).EncMode(); err != nil {
		return m, err
	}
	m.dec, err = cbor.DecOptions{
		UTF8:   cbor.UTF8DecodeInvalid, // header values may hold any bytes (obs-text)
		TagsMd: cbor.TagsForbidden,
	}.DecMode()
	return m, err
})

var zeroUnix = time.Time{}.Unix()

// Encode implements core.Codec. It fails for a status outside 0..999.
func (Codec) Encode(e *core.Entry) ([]byte, error) {
	m, err := modes()
	if err != nil {
		return nil, fmt.Errorf("cborcodec: %w", err)
	}
	if e.Status < 0 || e.Status > 999 {
		return nil, fmt.Errorf("cborcodec: status %d out of range", e.Status)
	}
	var flags uint
	for bit, on := range [...]bool{e.Uncompressed, e.NoCache, e.MustRevalidate, e.Immutable, e.Streamed} {
		if on {
			flags |= 1 << bit
		}
	}
	var times [10]int64
	for i, t := range [...]time.Time{e.RequestTime, e.ResponseTime, e.Created, e.Expires, e.Deletion} {
		times[2*i], times[2*i+1] = t.Unix(), int64(t.Nanosecond())
	}
	durs := [3]int64{int64(e.InitialAge), int64(e.StaleWhileRevalidate), int64(e.StaleIfError)}
	w := wireEntry{
		Method: e.Method, URL: e.URL, Status: e.Status, Proto: e.Proto,
		Header: e.Header, Trailer: e.Trailer, Body: e.Body,
		Flags: flags, BodySize: e.BodySize, Times: times[:], Durations: durs[:],
		VaryHeader: e.VaryHeader, StreamID: e.StreamID,
	}
	if v := e.Variants; v != nil {
		w.Variants = &wireVariants{Names: v.Names, AllHeaders: v.AllHeaders, Generation: v.Generation}
	}
	out := make([]byte, 1, 128+len(e.Body))
	out[0] = ID
	b, err := m.enc.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("cborcodec: %w", err)
	}
	return append(out, b...), nil
}

// Decode implements core.Codec.
func (Codec) Decode(data []byte, e *core.Entry) (err error) {
	if len(data) < 2 || data[0] != ID {
		return fmt.Errorf("cborcodec: %w: not a CBOR v1 entry", core.ErrCorrupt)
	}
	m, err := modes()
	if err != nil {
		return fmt.Errorf("cborcodec: %w", err)
	}
	defer func() {
		// Defence in depth for bytes from an untrusted store: the fuzz
		// target finds no panic, but a decoder bug must be a miss, not a
		// crash.
		if r := recover(); r != nil {
			err = fmt.Errorf("cborcodec: %w: decoder panic: %v", core.ErrCorrupt, r)
		}
	}()
	var w wireEntry
	if err := m.dec.Unmarshal(data[1:], &w); err != nil {
		return fmt.Errorf("cborcodec: %w: %v", core.ErrCorrupt, err)
	}
	switch {
	case w.Status < 0 || w.Status > 999:
		return fmt.Errorf("cborcodec: %w: status %d out of range", core.ErrCorrupt, w.Status)
	case w.Flags&^flagsKnown != 0:
		return fmt.Errorf("cborcodec: %w: unknown flags %#x", core.ErrCorrupt, w.Flags)
	case len(w.Times) != 10 || len(w.Durations) != 3:
		return fmt.Errorf("cborcodec: %w: bad times", core.ErrCorrupt)
	}
	var times [5]time.Time
	for i := range times {
		sec, nsec := w.Times[2*i], w.Times[2*i+1]
		if nsec < 0 || nsec >= 1e9 {
			return fmt.Errorf("cborcodec: %w: bad nanoseconds", core.ErrCorrupt)
		}
		if sec != zeroUnix || nsec != 0 {
			times[i] = time.Unix(sec, nsec)
		}
	}
	*e = core.Entry{
		Method: w.Method, URL: w.URL, Status: w.Status, Proto: w.Proto,
		Header: w.Header, Trailer: w.Trailer, Body: w.Body,
		Uncompressed:         w.Flags&flagUncompressed != 0,
		NoCache:              w.Flags&flagNoCache != 0,
		MustRevalidate:       w.Flags&flagMustRevalidate != 0,
		Immutable:            w.Flags&flagImmutable != 0,
		Streamed:             w.Flags&flagStreamed != 0,
		BodySize:             w.BodySize,
		StreamID:             w.StreamID,
		RequestTime:          times[0],
		ResponseTime:         times[1],
		Created:              times[2],
		Expires:              times[3],
		Deletion:             times[4],
		InitialAge:           time.Duration(w.Durations[0]),
		StaleWhileRevalidate: time.Duration(w.Durations[1]),
		StaleIfError:         time.Duration(w.Durations[2]),
		VaryHeader:           w.VaryHeader,
	}
	if v := w.Variants; v != nil {
		e.Variants = &core.Variants{Names: v.Names, AllHeaders: v.AllHeaders, Generation: v.Generation}
	}
	return nil
}
