package core

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
)

// Stream framing, format version 1.
//
// The cache never writes a body into a store's stream as it is: every
// stream is framed so that the codec's protection covers every byte of it.
//
//	stream  = StreamID header segment*
//	header  = 0x53                         format identifier and version ('S', version 1)
//	          n                            number of protection layers (1 byte; 0: CRC-32C)
//	          n × (protection, key id)     1 byte and 4 bytes big-endian each, outermost first
//	          salt                         16 random bytes, new for every stream
//	segment = seal(plaintext)
//
// The body is cut into segments of StreamSegmentSize (64 KiB) plaintext
// bytes; the last one holds the rest and may be shorter (an empty body is
// one empty segment). A body of B bytes has N = max(1, ⌈B/64 KiB⌉) segments;
// segment i holds body bytes [i·64 KiB, min((i+1)·64 KiB, B)) and is sealed
// with its index i and a final flag set only on segment N−1. Each sealed
// segment is its plaintext length plus a fixed overhead O (4 bytes for the
// CRC-32C; the sum of the layers' StreamOverhead otherwise), so segment i
// starts at offset
//
//	len(StreamID) + H + i·(64 KiB + O),  H = 18 + 5n
//
// and a reader can seek to the segment that holds any byte of the body
// without reading the ones before it. The stream is len(StreamID) + H + B +
// N·O bytes long (SealedStreamSize).
//
// Every segment is sealed with the same associated data: the header
// followed by the uvarint length and bytes of the StreamID, then of the
// store key. So a segment moved to another stream (another salt or
// StreamID), to another key, to another index (reordering, splicing), or
// a stream cut at a segment boundary (no segment with the final flag),
// fails to open, whichever protection applies.
//
// The protection of a segment comes from the codec: each StreamSealer found
// in the codec and the codecs it wraps (through Unwrap() Codec) seals it in
// turn, innermost first, as they encode entries. A codec without any gets,
// after each segment's plaintext, the CRC-32C (Castagnoli, 4 bytes
// big-endian) of the associated data, the index (8 bytes big-endian), the
// final flag (1 byte) and the plaintext: corruption is detected, forgery is
// not (the entry is not protected against it either).
const (
	streamFormatV1 = 0x53
	// StreamSegmentSize is the plaintext size of every segment of a
	// streamed body but the last (see SealStream).
	StreamSegmentSize = 64 << 10
	streamSaltLen     = 16
	crcOverhead       = 4
	// maxStreamLayers and maxStreamOverhead bound what a codec may ask
	// for, so a reader's memory stays one segment.
	maxStreamLayers   = 8
	maxStreamOverhead = 4096
	// maxStreamBody bounds the body size a stream may declare, far above
	// any real one, so that sizes never overflow.
	maxStreamBody = 1 << 56
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// StreamSealer is implemented by codecs that protect the streamed bodies of
// their entries as they protect entries (signing, encryption). The cache
// frames every stream it writes into segments (see SealStream) and asks each
// StreamSealer of its codec — the codec itself and those it wraps, found
// through an Unwrap() Codec method that every wrapper should have — to seal
// each segment, innermost first. A codec with none gets a CRC-32C per
// segment instead.
//
// A codec that reports Authenticated but has no StreamSealer would leave
// streams unprotected: the cache then streams no bodies (larger bodies are
// stored whole up to WithMaxBodySize, or not at all).
//
// Implementations must be safe for concurrent use; the SegmentSealers they
// return serve one stream each and are used by one goroutine at a time.
type StreamSealer interface {
	// StreamProtection identifies the protection in stream headers: a
	// non-zero byte unique to the scheme and its version (the codecs of
	// package codecs use their entry format identifiers).
	StreamProtection() byte
	// StreamOverhead is the number of bytes sealing adds to a segment: a
	// constant, at most 4096 over all the layers of a codec.
	StreamOverhead() int
	// SealingStream returns the sealer of a new stream whose header
	// carries salt (random, new for every stream), and the identifier of
	// the key it seals with, which the header records.
	SealingStream(salt []byte) (SegmentSealer, uint32, error)
	// OpeningStream returns the sealer that opens the segments of a stream
	// whose header carries keyID and salt. It fails with an error wrapping
	// ErrCorrupt for a key it does not hold.
	OpeningStream(keyID uint32, salt []byte) (SegmentSealer, error)
}

// SegmentSealer seals and opens the segments of one stream (see
// StreamSealer). index is the segment's position in the stream, final is
// set on the last segment only, and ad is the associated data the seal must
// authenticate (the same for every segment of a stream).
type SegmentSealer interface {
	// Seal seals seg in place and returns the result, which is seg
	// extended by StreamOverhead bytes (using seg's spare capacity when it
	// has enough).
	Seal(seg []byte, index uint64, final bool, ad []byte) []byte
	// Open checks a sealed segment and returns its plaintext, which may
	// use sealed's memory. It fails with an error wrapping ErrCorrupt when
	// the segment was not sealed with this stream's key, salt, index,
	// final flag and ad, or was changed since.
	Open(sealed []byte, index uint64, final bool, ad []byte) ([]byte, error)
}

// errStreamID is the failure of a stream that starts with another
// StreamID: it was committed by another write, which is not corruption.
var errStreamID = fmt.Errorf("%w: the stream belongs to another write", ErrCorrupt)

// streamFormat is the framing of streams for one codec.
type streamFormat struct {
	layers   []StreamSealer // outermost first
	overhead int
}

// newStreamFormat finds the stream protection of c.
func newStreamFormat(c Codec) (*streamFormat, error) {
	f := new(streamFormat)
	for depth := 0; c != nil && depth < 64; depth++ {
		if s, ok := c.(StreamSealer); ok {
			o := s.StreamOverhead()
			if o <= 0 || o > maxStreamOverhead {
				return nil, fmt.Errorf("codec %T: stream overhead %d outside 1..%d", c, o, maxStreamOverhead)
			}
			f.layers = append(f.layers, s)
			f.overhead += o
		}
		u, ok := c.(interface{ Unwrap() Codec })
		if !ok {
			break
		}
		c = u.Unwrap()
	}
	if len(f.layers) == 0 {
		f.overhead = crcOverhead
	}
	if len(f.layers) > maxStreamLayers || f.overhead > maxStreamOverhead {
		return nil, fmt.Errorf("codec: %d stream protection layers adding %d bytes per segment, want at most %d and %d",
			len(f.layers), f.overhead, maxStreamLayers, maxStreamOverhead)
	}
	return f, nil
}

func (f *streamFormat) headerLen() int { return 2 + 5*len(f.layers) + streamSaltLen }

// segments returns the number of segments of a body of size bytes and the
// plaintext length of the last one.
func segments(size int64) (n uint64, last int) {
	if size <= 0 {
		return 1, 0
	}
	n = uint64((size + StreamSegmentSize - 1) / StreamSegmentSize)
	return n, int(size - int64(n-1)*StreamSegmentSize)
}

// size is the length of the framed stream of a body of bodySize bytes.
func (f *streamFormat) size(idLen int, bodySize int64) int64 {
	n, _ := segments(bodySize)
	return int64(idLen+f.headerLen()) + bodySize + int64(n)*int64(f.overhead)
}

// appendAD appends the associated data of a stream's segments.
func appendAD(dst, hdr []byte, key, streamID string) []byte {
	dst = append(dst, hdr...)
	dst = binary.AppendUvarint(dst, uint64(len(streamID)))
	dst = append(dst, streamID...)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}

// sealing is the per-stream state shared by the writer and the reader.
type sealing struct {
	f     *streamFormat
	seals []SegmentSealer // outermost first, as f.layers
	ad    []byte
	crcAD uint32  // CRC-32C of ad, for the CRC framing
	crcIn [9]byte // index and final flag (a field: a local would escape)
}

func (s *sealing) seal(seg []byte, index uint64, final bool) []byte {
	if len(s.seals) == 0 {
		return binary.BigEndian.AppendUint32(seg, s.crc(seg, index, final))
	}
	for i := len(s.seals) - 1; i >= 0; i-- {
		seg = s.seals[i].Seal(seg, index, final, s.ad)
	}
	return seg
}

func (s *sealing) open(sealed []byte, index uint64, final bool) ([]byte, error) {
	if len(s.seals) == 0 {
		n := len(sealed) - crcOverhead
		if n < 0 || binary.BigEndian.Uint32(sealed[n:]) != s.crc(sealed[:n], index, final) {
			return nil, fmt.Errorf("%w: segment %d fails its CRC-32C", ErrCorrupt, index)
		}
		return sealed[:n], nil
	}
	var err error
	for _, sl := range s.seals {
		if sealed, err = sl.Open(sealed, index, final, s.ad); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				err = fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
			return nil, fmt.Errorf("segment %d: %w", index, err)
		}
	}
	return sealed, nil
}

func (s *sealing) crc(plain []byte, index uint64, final bool) uint32 {
	b := s.crcIn[:]
	binary.BigEndian.PutUint64(b, index)
	b[8] = 0
	if final {
		b[8] = 1
	}
	return crc32.Update(crc32.Update(s.crcAD, castagnoli, b), castagnoli, plain)
}

// sealWriter frames a body into a stream, one segment at a time.
type sealWriter struct {
	w     io.Writer
	s     sealing
	mem   []byte // one segment and its overhead
	buf   []byte // plaintext not sealed yet (a prefix of mem)
	index uint64
	err   error
	done  bool
}

// newWriter writes streamID and a new header to w and returns the writer
// of the body's segments.
func (f *streamFormat) newWriter(w io.Writer, key, streamID string) (*sealWriter, error) {
	pre := make([]byte, len(streamID)+f.headerLen())
	copy(pre, streamID)
	hdr := pre[len(streamID):]
	hdr[0], hdr[1] = streamFormatV1, byte(len(f.layers))
	salt := hdr[len(hdr)-streamSaltLen:]
	rand.Read(salt)
	sw := &sealWriter{w: w, s: sealing{f: f}}
	for i, l := range f.layers {
		seal, id, err := l.SealingStream(salt)
		if err != nil {
			return nil, fmt.Errorf("sealing stream: %w", err)
		}
		hdr[2+5*i] = l.StreamProtection()
		binary.BigEndian.PutUint32(hdr[3+5*i:], id)
		sw.s.seals = append(sw.s.seals, seal)
	}
	sw.s.ad = appendAD(nil, hdr, key, streamID)
	sw.s.crcAD = crc32.Checksum(sw.s.ad, castagnoli)
	if _, err := w.Write(pre); err != nil {
		return nil, err
	}
	sw.mem = make([]byte, StreamSegmentSize+f.overhead)
	sw.buf = sw.mem[:0]
	return sw, nil
}

// Write buffers p, sealing and writing each segment once it is full and
// more bytes follow (the last segment is sealed by Close).
func (w *sealWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, errors.New("core: write to a closed stream")
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == StreamSegmentSize {
			if err := w.flush(false); err != nil {
				return n, err
			}
		}
		k := copy(w.buf[len(w.buf):StreamSegmentSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

func (w *sealWriter) flush(final bool) error {
	sealed := w.s.seal(w.buf, w.index, final)
	if _, err := w.w.Write(sealed); err != nil {
		w.err = err
		return err
	}
	w.index++
	w.buf = w.mem[:0]
	return nil
}

// Close seals and writes the final segment. It does not close the
// underlying writer.
func (w *sealWriter) Close() error {
	if w.err != nil || w.done {
		return w.err
	}
	w.done = true
	return w.flush(true)
}

// sealedReader reads the body out of a framed stream, releasing the bytes
// of each segment only after the segment has been checked.
type sealedReader struct {
	r     io.Reader
	s     sealing
	key   string
	mem   []byte
	plain []byte // checked plaintext not read yet
	index uint64 // next segment to read
	nseg  uint64
	last  int // plaintext length of the final segment
	err   error
	// closer closes the store's reader; onCorrupt is called once when a
	// segment after the first fails its check, and returns the error to
	// report.
	closer    io.Closer
	onCorrupt func(error) error
}

// newReader reads and checks streamID, the header and the first segment
// of a stream holding a body of bodySize bytes, stored under key. size is
// the stream's stored length, or -1 when unknown. Failures wrap ErrCorrupt
// (errStreamID for another StreamID), except read errors of r, which are
// returned wrapped once.
func (f *streamFormat) newReader(r io.Reader, key, streamID string, bodySize, size int64) (*sealedReader, error) {
	return f.newReaderAt(r, key, streamID, bodySize, size, 0)
}

// newReaderAt is newReader starting at segment first: after the StreamID
// and the header, it moves r to that segment (by Seek when r is an
// io.Seeker, otherwise by discarding the bytes before it, unread and
// unchecked: none of them is returned) and reads and checks it. Every
// segment read is checked with its own index and final flag, so a stream
// cut short still fails when the reader reaches the cut.
func (f *streamFormat) newReaderAt(r io.Reader, key, streamID string, bodySize, size int64, first uint64) (*sealedReader, error) {
	if bodySize < 0 || bodySize > maxStreamBody {
		return nil, fmt.Errorf("%w: stream body size %d", ErrCorrupt, bodySize)
	}
	pre := make([]byte, len(streamID)+f.headerLen())
	if _, err := io.ReadFull(r, pre[:len(streamID)]); err != nil {
		return nil, readErr(key, "its StreamID", err)
	}
	if string(pre[:len(streamID)]) != streamID {
		return nil, errStreamID
	}
	if want := f.size(len(streamID), bodySize); size >= 0 && size != want {
		return nil, fmt.Errorf("%w: stream of %d bytes, want %d for a body of %d bytes (unframed, or cut)", ErrCorrupt, size, want, bodySize)
	}
	if _, err := io.ReadFull(r, pre[len(streamID):]); err != nil {
		return nil, readErr(key, "its header", err)
	}
	hdr := pre[len(streamID):]
	if hdr[0] != streamFormatV1 {
		return nil, fmt.Errorf("%w: stream format %#x, want %#x", ErrCorrupt, hdr[0], streamFormatV1)
	}
	if int(hdr[1]) != len(f.layers) {
		return nil, fmt.Errorf("%w: stream sealed with %d layers, the codec has %d", ErrCorrupt, hdr[1], len(f.layers))
	}
	salt := hdr[len(hdr)-streamSaltLen:]
	sr := &sealedReader{r: r, s: sealing{f: f}, key: key}
	for i, l := range f.layers {
		if p := hdr[2+5*i]; p != l.StreamProtection() {
			return nil, fmt.Errorf("%w: stream protection %#x, the codec's is %#x", ErrCorrupt, p, l.StreamProtection())
		}
		seal, err := l.OpeningStream(binary.BigEndian.Uint32(hdr[3+5*i:]), salt)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				err = fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
			return nil, err
		}
		sr.s.seals = append(sr.s.seals, seal)
	}
	sr.s.ad = appendAD(nil, hdr, key, streamID)
	sr.s.crcAD = crc32.Checksum(sr.s.ad, castagnoli)
	sr.nseg, sr.last = segments(bodySize)
	if first > 0 {
		if first >= sr.nseg {
			return nil, fmt.Errorf("core: segment %d of a stream of %d", first, sr.nseg)
		}
		if err := f.skipTo(r, key, len(pre), first); err != nil {
			return nil, err
		}
		sr.index = first
	}
	sr.mem = make([]byte, StreamSegmentSize+f.overhead)
	if err := sr.next(); err != nil {
		return nil, err
	}
	return sr, nil
}

// skipTo moves r, which has just read the prefix (StreamID and header, pre
// bytes), to the start of segment i.
func (f *streamFormat) skipTo(r io.Reader, key string, pre int, i uint64) error {
	off := int64(pre) + int64(i)*int64(StreamSegmentSize+f.overhead)
	if sk, ok := r.(io.Seeker); ok {
		if _, err := sk.Seek(off, io.SeekStart); err != nil {
			return &Error{Op: "seek stream", Key: key, Err: err}
		}
		return nil
	}
	if _, err := io.CopyN(io.Discard, r, off-int64(pre)); err != nil {
		return readErr(key, "segment "+strconv.FormatUint(i, 10), err)
	}
	return nil
}

// readErr reports a failed read of part of a stream: a short stream is
// corrupt (cut), anything else is the store's error.
func readErr(key, what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the stream ends inside %s", ErrCorrupt, what)
	}
	return &Error{Op: "read stream", Key: key, Err: err}
}

// next reads and checks the next segment.
func (r *sealedReader) next() error {
	final := r.index == r.nseg-1
	n := StreamSegmentSize
	if final {
		n = r.last
	}
	buf := r.mem[:n+r.s.f.overhead]
	if _, err := io.ReadFull(r.r, buf); err != nil {
		return readErr(r.key, "segment "+strconv.FormatUint(r.index, 10), err)
	}
	plain, err := r.s.open(buf, r.index, final)
	if err != nil {
		return err
	}
	if final {
		var one [1]byte
		switch _, err := io.ReadFull(r.r, one[:]); {
		case err == nil:
			return fmt.Errorf("%w: bytes after the final segment", ErrCorrupt)
		case err != io.EOF:
			return &Error{Op: "read stream", Key: r.key, Err: err}
		}
	}
	r.plain = plain
	r.index++
	return nil
}

// advance makes plaintext available, or sets r.err (io.EOF at the end).
func (r *sealedReader) advance() {
	if r.index == r.nseg {
		r.err = io.EOF
		return
	}
	if err := r.next(); err != nil {
		if errors.Is(err, ErrCorrupt) && r.onCorrupt != nil {
			err = r.onCorrupt(err)
		}
		r.err = err
	}
}

// Read implements io.Reader.
func (r *sealedReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.advance()
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// WriteTo implements io.WriterTo: each checked segment is written from the
// reader's buffer, without another copy.
func (r *sealedReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.plain) > 0 {
			n, err := w.Write(r.plain)
			total += int64(n)
			r.plain = r.plain[n:]
			if err != nil {
				return total, err
			}
			continue
		}
		if r.err != nil {
			if r.err == io.EOF {
				return total, nil
			}
			return total, r.err
		}
		r.advance()
	}
}

// Close closes the store's reader.
func (r *sealedReader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// SealStream returns a writer that frames the body written to it as the
// stream of an entry stored under key with the given StreamID, protected as
// codec c protects streams (see StreamSealer; a CRC-32C per segment for a
// codec without protection), and writes the framed bytes to w: the
// StreamID and the stream header at once, then one segment per 64 KiB of
// body. Close writes the final segment (a body that was not closed has no
// final segment and fails to open); it does not close w. Memory use is one
// segment, whatever the body's length.
//
// The cache frames every streamed body this way; SealStream,
// OpenSealedStream and SealedStreamSize are there for tools and tests that
// read or write stored streams themselves. The layout is documented with
// StreamSegmentSize: segment i of the body starts at an offset computed
// from i alone, so a reader can seek to it.
func SealStream(w io.Writer, c Codec, key, streamID string) (io.WriteCloser, error) {
	f, err := newStreamFormat(c)
	if err != nil {
		return nil, err
	}
	return f.newWriter(w, key, streamID)
}

// OpenSealedStream returns a reader of the body framed in r by SealStream
// for key and streamID, bodySize bytes long (the entry's BodySize). It
// reads and checks the StreamID, the header and the first segment before it
// returns, and each later segment before Read returns any of its bytes, so
// it never returns bytes that were not written for this key and stream. A
// stream that fails a check (another StreamID, another codec or key,
// changed, cut, reordered, or spliced bytes) fails with an error wrapping
// ErrCorrupt. Memory use is one segment, whatever bodySize says.
func OpenSealedStream(r io.Reader, c Codec, key, streamID string, bodySize int64) (io.Reader, error) {
	f, err := newStreamFormat(c)
	if err != nil {
		return nil, err
	}
	sr, err := f.newReader(r, key, streamID, bodySize, -1)
	if err != nil {
		return nil, err
	}
	return sr, nil
}

// SealedStreamSize returns the length of the stream SealStream writes for a
// body of bodySize bytes with codec c and that StreamID, or -1 when c's
// stream protection is invalid or bodySize is out of range.
func SealedStreamSize(c Codec, streamID string, bodySize int64) int64 {
	f, err := newStreamFormat(c)
	if err != nil || bodySize < 0 || bodySize > maxStreamBody {
		return -1
	}
	return f.size(len(streamID), bodySize)
}
