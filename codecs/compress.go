package codecs

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/hoardhttp/hoard/core"
)

// Compression is a compression algorithm for Compressed. Implementations
// must be safe for concurrent use.
type Compression interface {
	// ID is the format identifier byte Compressed writes first; it must be
	// registered in the package documentation's table.
	ID() byte
	// Name names the algorithm in errors ("gzip", "zstd").
	Name() string
	// AppendCompressed appends the compressed form of src to dst.
	AppendCompressed(dst, src []byte) ([]byte, error)
	// AppendDecompressed appends the decompressed form of src to dst. It
	// fails when src is not one complete, valid compressed stream, or when
	// it would decompress to more than limit bytes (without decompressing
	// more than limit+1 bytes first).
	AppendDecompressed(dst, src []byte, limit int) ([]byte, error)
}

// CompressOptions configures Compressed. A nil *CompressOptions means the
// defaults.
type CompressOptions struct {
	// MinSize is the size of the inner encoding below which it is stored
	// uncompressed. 0 means 512 bytes; a negative value compresses every
	// entry.
	MinSize int
	// MaxDecodedSize bounds the decompressed size an entry may declare, so a
	// small entry in an untrusted store cannot make the decoder allocate
	// without bound; larger entries fail to decode (ErrCorrupt). 0 means
	// 128 MiB. Set it above core.WithMaxBodySize plus the headers.
	MaxDecodedSize int
	// Level is the compression level, in the algorithm's own scale (see
	// NewGzip, zstdcodec.New); 0 means the algorithm's default.
	Level int
}

const (
	defaultMinSize        = 512
	defaultMaxDecodedSize = 128 << 20

	modeStored     = 0
	modeCompressed = 1
)

// Compressed is a codec wrapper that compresses the inner codec's encoding
// when it is at least MinSize bytes long and compression makes it smaller;
// otherwise it stores it as it is. It does not try when the body is
// already compressed (a Content-Encoding other than identity; images other
// than SVG and BMP, audio, video, fonts in WOFF, archives): that would cost
// time and save nothing. Its encoding is the algorithm's format
// identifier byte, a mode byte (0 stored, 1 compressed), then either the
// inner encoding, or the uvarint length of the inner encoding and its
// compressed form.
//
// Build one with NewGzip, zstdcodec.New, or NewCompressed for another
// algorithm. It is safe for concurrent use if the inner codec is.
type Compressed struct {
	inner   core.Codec
	alg     Compression
	minSize int
	maxSize int
}

// NewCompressed wraps inner with the compression alg; opts may be nil.
func NewCompressed(inner core.Codec, alg Compression, opts *CompressOptions) (*Compressed, error) {
	if inner == nil || alg == nil {
		return nil, errors.New("codecs: NewCompressed: nil codec or compression")
	}
	c := &Compressed{inner: inner, alg: alg, minSize: defaultMinSize, maxSize: defaultMaxDecodedSize}
	if opts != nil {
		if opts.MinSize != 0 {
			c.minSize = max(opts.MinSize, 0)
		}
		if opts.MaxDecodedSize < 0 {
			return nil, fmt.Errorf("codecs: NewCompressed: negative MaxDecodedSize %d", opts.MaxDecodedSize)
		}
		if opts.MaxDecodedSize > 0 {
			c.maxSize = opts.MaxDecodedSize
		}
	}
	return c, nil
}

// Encode implements core.Codec.
func (c *Compressed) Encode(e *core.Entry) ([]byte, error) {
	raw, err := c.inner.Encode(e)
	if err != nil {
		return nil, err
	}
	if len(raw) > c.maxSize {
		return nil, fmt.Errorf("codecs: %s: encoding of %d bytes exceeds MaxDecodedSize %d", c.alg.Name(), len(raw), c.maxSize)
	}
	if len(raw) >= c.minSize && !precompressed(e) {
		out := make([]byte, 0, 2+binary.MaxVarintLen64+len(raw)/2)
		out = append(out, c.alg.ID(), modeCompressed)
		out = binary.AppendUvarint(out, uint64(len(raw)))
		out, err = c.alg.AppendCompressed(out, raw)
		if err != nil {
			return nil, fmt.Errorf("codecs: %s: %w", c.alg.Name(), err)
		}
		if len(out) < 2+len(raw) {
			return out, nil
		}
	}
	out := make([]byte, 2+len(raw))
	out[0], out[1] = c.alg.ID(), modeStored
	copy(out[2:], raw)
	return out, nil
}

// Decode implements core.Codec.
func (c *Compressed) Decode(data []byte, e *core.Entry) error {
	name := c.alg.Name()
	if len(data) < 2 || data[0] != c.alg.ID() {
		return corrupt(name, "not a %s entry", name)
	}
	switch data[1] {
	case modeStored:
		return c.inner.Decode(data[2:], e)
	case modeCompressed:
	default:
		return corrupt(name, "unknown mode %d", data[1])
	}
	n, k := binary.Uvarint(data[2:])
	if k <= 0 || n > uint64(c.maxSize) {
		return corrupt(name, "bad or too large decoded length")
	}
	raw, err := c.alg.AppendDecompressed(make([]byte, 0, n), data[2+k:], int(n))
	if err != nil {
		return corrupt(name, "%v", err)
	}
	if len(raw) != int(n) {
		return corrupt(name, "decompressed %d bytes, want %d", len(raw), n)
	}
	return c.inner.Decode(raw, e)
}

// NewGzip wraps inner with gzip compression (compress/gzip, format
// identifier 0xE1); opts may be nil. CompressOptions.Level is a gzip level
// (gzip.BestSpeed to gzip.BestCompression, or gzip.HuffmanOnly); 0 means
// gzip.DefaultCompression.
func NewGzip(inner core.Codec, opts *CompressOptions) (*Compressed, error) {
	level := gzip.DefaultCompression
	if opts != nil && opts.Level != 0 {
		level = opts.Level
	}
	if _, err := gzip.NewWriterLevel(io.Discard, level); err != nil {
		return nil, fmt.Errorf("codecs: NewGzip: %w", err)
	}
	return NewCompressed(inner, &gzipCompression{level: level}, opts)
}

// gzipCompression is Compression with compress/gzip; writers and readers
// are pooled (a gzip.Writer holds several hundred KiB of state).
type gzipCompression struct {
	level   int
	writers sync.Pool // *gzip.Writer
	readers sync.Pool // *gzip.Reader
}

func (*gzipCompression) ID() byte     { return idGzip }
func (*gzipCompression) Name() string { return "gzip" }

// sliceWriter appends to a byte slice.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (g *gzipCompression) AppendCompressed(dst, src []byte) ([]byte, error) {
	sw := &sliceWriter{b: dst}
	zw, _ := g.writers.Get().(*gzip.Writer)
	if zw == nil {
		var err error
		if zw, err = gzip.NewWriterLevel(sw, g.level); err != nil {
			return nil, err
		}
	} else {
		zw.Reset(sw)
	}
	_, err := zw.Write(src)
	if err == nil {
		err = zw.Close()
	}
	zw.Reset(io.Discard) // drop the reference to sw before pooling
	g.writers.Put(zw)
	return sw.b, err
}

func (g *gzipCompression) AppendDecompressed(dst, src []byte, limit int) ([]byte, error) {
	br := bytes.NewReader(src)
	zr, _ := g.readers.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(br)
	} else {
		err = zr.Reset(br)
	}
	if err != nil {
		return nil, err
	}
	defer g.readers.Put(zr)
	zr.Multistream(false)
	return readAllLimited(dst, zr, limit, br)
}

// readAllLimited appends what r yields to dst: at most limit bytes, then
// r must end (reading past limit is an error). If rest is not nil, it must
// be empty at the end (no bytes after the compressed stream).
func readAllLimited(dst []byte, r io.Reader, limit int, rest *bytes.Reader) ([]byte, error) {
	dst = slices.Grow(dst, limit)
	n, err := io.ReadFull(r, dst[len(dst):len(dst)+limit])
	dst = dst[:len(dst)+n]
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return dst, nil // shorter than limit: the caller compares lengths
	case err != nil:
		return nil, err
	}
	var one [1]byte
	if m, err := r.Read(one[:]); m != 0 || !errors.Is(err, io.EOF) {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, fmt.Errorf("more than the %d bytes declared", limit)
	}
	if rest != nil && rest.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after the compressed stream", rest.Len())
	}
	return dst, nil
}

// precompressed reports whether e's body is most of the entry and already
// compressed, by its Content-Encoding or Content-Type.
func precompressed(e *core.Entry) bool {
	if len(e.Body) < 256 {
		return false
	}
	if ce := e.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return true
	}
	ct := strings.ToLower(e.Header.Get("Content-Type"))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	switch {
	case strings.HasPrefix(ct, "image/"):
		return ct != "image/svg+xml" && ct != "image/bmp" && ct != "image/x-icon"
	case strings.HasPrefix(ct, "video/"), strings.HasPrefix(ct, "audio/"):
		return ct != "audio/wav" && ct != "audio/x-wav"
	}
	switch ct {
	case "application/zip", "application/gzip", "application/x-gzip", "application/zstd",
		"application/x-7z-compressed", "application/x-xz", "application/x-bzip2",
		"application/vnd.rar", "font/woff", "font/woff2":
		return true
	}
	return false
}

// Authenticated reports whether the wrapped codec authenticates entries, so
// that compressing around a signed or encrypted codec keeps the cache's
// check that entries answer the request they were written for.
func (c *Compressed) Authenticated() bool {
	a, ok := c.inner.(core.Authenticated)
	return ok && a.Authenticated()
}
