package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// The export format, version 1, is described in the package documentation
// (doc.go).
const (
	exportVersion = 1
	chunkSize     = 48 << 10
)

type exportHeader struct {
	Version int       `json:"hoard_export"`
	Created time.Time `json:"created"`
	Source  string    `json:"source,omitempty"`
}

// exportEntry is core.Entry as the export format writes it. Times are RFC
// 3339 with nanoseconds, absent when zero; durations are nanoseconds
// (stale_while_revalidate_ns and stale_if_error_ns are -1 when the
// response had no such directive).
type exportEntry struct {
	Method       string      `json:"method"`
	URL          string      `json:"url"`
	Status       int         `json:"status,omitempty"`
	Proto        string      `json:"proto,omitempty"`
	Header       http.Header `json:"header,omitempty"`
	Trailer      http.Header `json:"trailer,omitempty"`
	Body         []byte      `json:"body,omitempty"`
	Uncompressed bool        `json:"uncompressed,omitempty"`
	Streamed     bool        `json:"streamed,omitempty"`
	BodySize     int64       `json:"body_size,omitempty"`

	RequestTime  time.Time     `json:"request_time,omitzero"`
	ResponseTime time.Time     `json:"response_time,omitzero"`
	InitialAge   time.Duration `json:"initial_age_ns,omitempty"`
	Created      time.Time     `json:"created,omitzero"`
	Expires      time.Time     `json:"expires,omitzero"`
	Deletion     time.Time     `json:"deletion,omitzero"`

	NoCache              bool          `json:"no_cache,omitempty"`
	MustRevalidate       bool          `json:"must_revalidate,omitempty"`
	Immutable            bool          `json:"immutable,omitempty"`
	StaleWhileRevalidate time.Duration `json:"stale_while_revalidate_ns"`
	StaleIfError         time.Duration `json:"stale_if_error_ns"`

	VaryHeader http.Header     `json:"vary_header,omitempty"`
	Variants   *exportVariants `json:"variants,omitempty"`
}

type exportVariants struct {
	Names      []string `json:"names"`
	AllHeaders bool     `json:"all_headers,omitempty"`
	Generation uint64   `json:"generation,string"`
}

// record is any line after the first.
type record struct {
	Key     string       `json:"key,omitempty"`
	Entry   *exportEntry `json:"entry,omitempty"`
	Chunk   []byte       `json:"chunk,omitempty"`
	BodyEnd *bodyEnd     `json:"body_end,omitempty"`
	End     *exportEnd   `json:"end,omitempty"`
}

type bodyEnd struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type exportEnd struct {
	Records int `json:"records"`
}

func exportOf(e *core.Entry) *exportEntry {
	x := &exportEntry{
		Method: e.Method, URL: e.URL, Status: e.Status, Proto: e.Proto, Header: e.Header, Trailer: e.Trailer,
		Uncompressed: e.Uncompressed, Streamed: e.Streamed,
		RequestTime: e.RequestTime, ResponseTime: e.ResponseTime, InitialAge: e.InitialAge,
		Created: e.Created, Expires: e.Expires, Deletion: e.Deletion,
		NoCache: e.NoCache, MustRevalidate: e.MustRevalidate, Immutable: e.Immutable,
		StaleWhileRevalidate: e.StaleWhileRevalidate, StaleIfError: e.StaleIfError,
		VaryHeader: e.VaryHeader,
	}
	if e.Streamed {
		x.BodySize = e.BodySize
	} else {
		x.Body = e.Body
	}
	if v := e.Variants; v != nil {
		x.Variants = &exportVariants{Names: v.Names, AllHeaders: v.AllHeaders, Generation: v.Generation}
	}
	return x
}

func (x *exportEntry) entry(key string) *core.Entry {
	e := &core.Entry{
		Key: key, Method: x.Method, URL: x.URL, Status: x.Status, Proto: x.Proto, Header: x.Header, Trailer: x.Trailer,
		Body: x.Body, Uncompressed: x.Uncompressed, Streamed: x.Streamed, BodySize: x.BodySize,
		RequestTime: x.RequestTime, ResponseTime: x.ResponseTime, InitialAge: x.InitialAge,
		Created: x.Created, Expires: x.Expires, Deletion: x.Deletion,
		NoCache: x.NoCache, MustRevalidate: x.MustRevalidate, Immutable: x.Immutable,
		StaleWhileRevalidate: x.StaleWhileRevalidate, StaleIfError: x.StaleIfError,
		VaryHeader: x.VaryHeader,
	}
	if e.Header == nil && x.Variants == nil {
		e.Header = http.Header{}
	}
	if v := x.Variants; v != nil {
		e.Variants = &core.Variants{Names: v.Names, AllHeaders: v.AllHeaders, Generation: v.Generation}
	}
	return e
}

// exportWriter writes the export format.
type exportWriter struct {
	w       *bufio.Writer
	enc     *json.Encoder
	records int
}

func newExportWriter(w io.Writer, source string) (*exportWriter, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	x := &exportWriter{w: bw, enc: json.NewEncoder(bw)}
	x.enc.SetEscapeHTML(false)
	return x, x.enc.Encode(exportHeader{Version: exportVersion, Created: time.Now().UTC(), Source: source})
}

// write writes the record of e and, for a streamed body, its chunks read
// from body.
func (x *exportWriter) write(e *core.Entry, body io.Reader) (int64, error) {
	if err := x.enc.Encode(record{Key: e.Key, Entry: exportOf(e)}); err != nil {
		return 0, err
	}
	x.records++
	if !e.Streamed {
		return int64(len(e.Body)), nil
	}
	h := sha256.New()
	buf := make([]byte, chunkSize)
	var n int64
	for {
		k, err := io.ReadFull(body, buf)
		if k > 0 {
			h.Write(buf[:k])
			n += int64(k)
			if err := x.enc.Encode(record{Chunk: buf[:k]}); err != nil {
				return n, err
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("reading the body of %s: %w", e.Key, err)
		}
	}
	if n != e.BodySize {
		return n, fmt.Errorf("the body of %s has %d bytes, its entry says %d", e.Key, n, e.BodySize)
	}
	return n, x.enc.Encode(record{BodyEnd: &bodyEnd{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}})
}

func (x *exportWriter) close() error {
	if err := x.enc.Encode(record{End: &exportEnd{Records: x.records}}); err != nil {
		return err
	}
	return x.w.Flush()
}

// exportReader reads the export format.
type exportReader struct {
	dec     *json.Decoder
	header  exportHeader
	records int
	line    int
}

var errCut = errors.New("the export ends before its end line (cut?)")

func newExportReader(r io.Reader) (*exportReader, error) {
	x := &exportReader{dec: json.NewDecoder(bufio.NewReaderSize(r, 256<<10)), line: 1}
	if err := x.dec.Decode(&x.header); err != nil {
		return nil, fmt.Errorf("line 1: not a hoard export: %w", err)
	}
	if x.header.Version != exportVersion {
		return nil, fmt.Errorf("line 1: hoard export version %d, this hoard reads version %d", x.header.Version, exportVersion)
	}
	return x, nil
}

// next returns the next entry, and for a streamed one the reader of its
// body, which must be read to its end before next is called again. It
// returns io.EOF after the end line.
func (x *exportReader) next() (*core.Entry, io.Reader, error) {
	var rec record
	if err := x.decode(&rec); err != nil {
		return nil, nil, err
	}
	switch {
	case rec.End != nil:
		if rec.End.Records != x.records {
			return nil, nil, fmt.Errorf("line %d: the end line counts %d records, the file has %d", x.line, rec.End.Records, x.records)
		}
		return nil, nil, io.EOF
	case rec.Entry == nil || rec.Key == "":
		return nil, nil, fmt.Errorf("line %d: want a record with a key and an entry", x.line)
	}
	x.records++
	e := rec.Entry.entry(rec.Key)
	if !e.Streamed {
		return e, nil, nil
	}
	if e.BodySize < 0 {
		return nil, nil, fmt.Errorf("line %d: negative body_size", x.line)
	}
	return e, &chunkReader{x: x, want: e.BodySize, h: sha256.New()}, nil
}

func (x *exportReader) decode(v any) error {
	x.line++
	err := x.dec.Decode(v)
	if err == io.EOF {
		return errCut
	}
	if err != nil {
		return fmt.Errorf("line %d: %w", x.line, err)
	}
	return nil
}

// chunkReader reads a streamed body from its chunk lines, and checks its
// body_end line before it reports io.EOF.
type chunkReader struct {
	x    *exportReader
	want int64
	n    int64
	buf  []byte
	h    hash.Hash
	err  error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 && c.err == nil {
		var rec record
		if err := c.x.decode(&rec); err != nil {
			c.err = err
			break
		}
		switch {
		case rec.Chunk != nil && c.n+int64(len(rec.Chunk)) <= c.want:
			c.buf = rec.Chunk
			c.n += int64(len(rec.Chunk))
			c.h.Write(rec.Chunk)
		case rec.Chunk != nil:
			c.err = fmt.Errorf("line %d: the body is longer than its body_size %d", c.x.line, c.want)
		case rec.BodyEnd != nil:
			switch {
			case c.n != c.want || rec.BodyEnd.Size != c.want:
				c.err = fmt.Errorf("line %d: body of %d bytes, body_size %d, body_end size %d", c.x.line, c.n, c.want, rec.BodyEnd.Size)
			case hex.EncodeToString(c.h.Sum(nil)) != rec.BodyEnd.SHA256:
				c.err = fmt.Errorf("line %d: the body fails its SHA-256", c.x.line)
			default:
				c.err = io.EOF
			}
		default:
			c.err = fmt.Errorf("line %d: want a chunk or body_end line", c.x.line)
		}
	}
	if len(c.buf) > 0 {
		k := copy(p, c.buf)
		c.buf = c.buf[k:]
		return k, nil
	}
	return 0, c.err
}
