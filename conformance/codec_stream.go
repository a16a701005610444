package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/hoardhttp/hoard/core"
)

// Stream identities of the codec suite's stream checks.
const (
	codecStreamKey   = "h1:0123456789abcdef0123456789abcdef"
	codecStreamKey2  = "h1:fedcba9876543210fedcba9876543210"
	codecStreamID    = "00112233445566aa"
	codecStreamID2   = "00112233445566bb"
	codecSegmentSize = core.StreamSegmentSize
)

// SealTestStream frames body as core.SealStream does for codec c, key and
// streamID, writing it in odd-sized pieces; fuzz targets use it for their
// seed corpus.
func SealTestStream(c core.Codec, key, streamID string, body []byte) ([]byte, error) {
	var out bytes.Buffer
	w, err := core.SealStream(&out, c, key, streamID)
	if err != nil {
		return nil, err
	}
	for off, i := 0, 0; off < len(body); i++ {
		n := min(streamChunks[i%len(streamChunks)], len(body)-off)
		if _, err := w.Write(body[off : off+n]); err != nil {
			return nil, err
		}
		off += n
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func sealOrFail(t *testing.T, c core.Codec, key, streamID string, body []byte) []byte {
	t.Helper()
	data, err := SealTestStream(c, key, streamID, body)
	if err != nil {
		t.Fatalf("SealStream: %v", err)
	}
	return data
}

// openAll reads the body out of a framed stream: what was released and
// the error the reading ended with (a panic is reported as an error that
// does not wrap core.ErrCorrupt).
func openAll(c core.Codec, data []byte, key, streamID string, bodySize int64) (got []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panicked: %v", r)
		}
	}()
	r, err := core.OpenSealedStream(bytes.NewReader(data), c, key, streamID, bodySize)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	p := make([]byte, 10007) // an odd read size, unaligned with segments
	for {
		n, err := r.Read(p)
		buf.Write(p[:n])
		if err == io.EOF {
			return buf.Bytes(), nil
		}
		if err != nil {
			return buf.Bytes(), err
		}
	}
}

// streamLayout is what the segment offsets of a codec's streams are made
// of, derived from core.SealedStreamSize: the prefix (StreamID and header)
// and the overhead of a sealed segment.
type streamLayout struct {
	prefix, overhead int
}

func layoutOf(t *testing.T, c core.Codec) streamLayout {
	t.Helper()
	s0 := core.SealedStreamSize(c, codecStreamID, 0)
	s1 := core.SealedStreamSize(c, codecStreamID, codecSegmentSize)
	s2 := core.SealedStreamSize(c, codecStreamID, codecSegmentSize+1)
	if s0 < 0 || s1 < 0 || s2 < 0 {
		t.Fatalf("SealedStreamSize: %d, %d, %d: the codec's stream protection is invalid", s0, s1, s2)
	}
	o := int(s2 - s1 - 1)
	l := streamLayout{prefix: int(s0) - o, overhead: o}
	if o <= 0 || l.prefix <= len(codecStreamID) || s1 != s0+codecSegmentSize {
		t.Fatalf("SealedStreamSize gives an inconsistent layout: %d, %d, %d", s0, s1, s2)
	}
	return l
}

// segment returns the offset and sealed length of segment i of a body of
// size bytes.
func (l streamLayout) segment(i, size int) (off, n int) {
	off = l.prefix + i*(codecSegmentSize+l.overhead)
	n = min(codecSegmentSize, size-i*codecSegmentSize) + l.overhead
	return off, n
}

// codecHidesBytes reports whether c's encodings hide the bytes of the
// entries they hold: the marker is found neither in a small text entry nor
// in a large one of a type compressors leave alone, with the marker in a
// header too. Such a codec (encryption) must hide streams as well.
func codecHidesBytes(t *testing.T, c core.Codec) bool {
	for _, e := range []*core.Entry{
		{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte(streamMarker)},
		{Status: 200, Header: http.Header{"Content-Type": {"image/png"}, "X-Marker": {streamMarker}}, Body: MarkedBody(4096)},
	} {
		if bytes.Contains(encodeOrFail(t, c, e), []byte(streamMarker)) {
			return false
		}
	}
	return true
}

// testCodecStreams checks the framing of streamed bodies under c: round
// trips of every size class, and that a change anywhere in a stream, a
// cut, a reordering or a splice from another stream or key is detected
// before any byte of the affected segment is released.
func testCodecStreams(t *testing.T, c core.Codec) {
	l := layoutOf(t, c)
	t.Run("RoundTrip", func(t *testing.T) {
		for _, size := range []int{0, 1, codecSegmentSize - 1, codecSegmentSize, codecSegmentSize + 1, 2 * codecSegmentSize, 5*codecSegmentSize + 4321} {
			t.Run(fmt.Sprint(size), func(t *testing.T) {
				body := storeRandomBytes(size, uint64(size))
				data := sealOrFail(t, c, codecStreamKey, codecStreamID, body)
				if want := core.SealedStreamSize(c, codecStreamID, int64(size)); int64(len(data)) != want {
					t.Errorf("sealed stream of a %d-byte body: %d bytes, SealedStreamSize says %d", size, len(data), want)
				}
				if !bytes.HasPrefix(data, []byte(codecStreamID)) {
					t.Errorf("the sealed stream does not start with its StreamID")
				}
				got, err := openAll(c, data, codecStreamKey, codecStreamID, int64(size))
				if err != nil || !bytes.Equal(got, body) {
					t.Errorf("Read: %d bytes (equal: %v), %v; want the %d bytes written", len(got), bytes.Equal(got, body), err, size)
				}
				r, err := core.OpenSealedStream(bytes.NewReader(data), c, codecStreamKey, codecStreamID, int64(size))
				if err != nil {
					t.Fatalf("OpenSealedStream: %v", err)
				}
				var buf bytes.Buffer
				if _, err := io.Copy(&buf, r); err != nil || !bytes.Equal(buf.Bytes(), body) {
					t.Errorf("io.Copy: %d bytes (equal: %v), %v; want the %d bytes written", buf.Len(), bytes.Equal(buf.Bytes(), body), err, size)
				}
			})
		}
	})
	t.Run("SealedBytesHidePlaintext", func(t *testing.T) {
		if !codecHidesBytes(t, c) {
			t.Skip("the codec's entries show their bytes; its streams need not hide them")
		}
		data := sealOrFail(t, c, codecStreamKey, codecStreamID, MarkedBody(3*codecSegmentSize+999))
		if i := bytes.Index(data, []byte(streamMarker)); i >= 0 {
			t.Errorf("the codec hides the bytes of entries, but its sealed stream holds the plaintext marker at offset %d", i)
		}
	})

	const size = 4*codecSegmentSize + 777 // 5 segments, the last one short
	body := storeRandomBytes(size, 77)
	good := sealOrFail(t, c, codecStreamKey, codecStreamID, body)
	nseg := 5
	// expectDetected reads data as the stream of key and id and wants a
	// failure wrapping core.ErrCorrupt, with nothing released but body
	// bytes before the segment at index firstBad.
	expectDetected := func(t *testing.T, what string, data []byte, key, id string, bodySize int64, firstBad int) {
		t.Helper()
		got, err := openAll(c, data, key, id, bodySize)
		if !errors.Is(err, core.ErrCorrupt) {
			t.Errorf("%s: read %d bytes and error %v, want an error wrapping core.ErrCorrupt", what, len(got), err)
		}
		if !bytes.HasPrefix(body, got) {
			t.Errorf("%s: %d bytes released that are not the body's", what, len(got))
		}
		if len(got) > firstBad*codecSegmentSize {
			t.Errorf("%s: %d bytes released, want at most %d (the bytes before the bad segment %d)", what, len(got), firstBad*codecSegmentSize, firstBad)
		}
	}
	segOf := func(data []byte, i int) []byte {
		off, n := l.segment(i, size)
		return data[off : off+n]
	}
	replaceSeg := func(data []byte, i int, with []byte) []byte {
		out := bytes.Clone(data)
		off, n := l.segment(i, size)
		copy(out[off:off+n], with)
		return out
	}
	t.Run("FlippedBitsAreDetected", func(t *testing.T) {
		skipUnderRace(t, "FlippedBitsAreDetected", codecRun)
		for i := range l.prefix {
			for bit := range 8 {
				data := bytes.Clone(good)
				data[i] ^= 1 << bit
				expectDetected(t, fmt.Sprintf("bit %d of prefix byte %d flipped", bit, i), data, codecStreamKey, codecStreamID, size, 0)
			}
		}
		for s := range nseg {
			off, n := l.segment(s, size)
			for _, at := range []int{0, (n - l.overhead) / 2, n - l.overhead - 1, n - l.overhead, n - 1} {
				data := bytes.Clone(good)
				data[off+at] ^= 0x20
				expectDetected(t, fmt.Sprintf("byte %d of segment %d flipped", at, s), data, codecStreamKey, codecStreamID, size, s)
			}
		}
	})
	t.Run("CutsAreDetected", func(t *testing.T) {
		var cuts []int
		for s := range nseg {
			off, n := l.segment(s, size)
			cuts = append(cuts, off, off+1, off+n/2, off+n-1)
		}
		cuts = append(cuts, 0, len(codecStreamID), l.prefix-1)
		for _, n := range cuts {
			bad := 0
			for s := range nseg {
				if off, sn := l.segment(s, size); off+sn <= n {
					bad = s + 1
				}
			}
			expectDetected(t, fmt.Sprintf("stream cut to %d of %d bytes", n, len(good)), good[:n:n], codecStreamKey, codecStreamID, size, bad)
		}
		expectDetected(t, "stream with a byte appended", append(bytes.Clone(good), 0), codecStreamKey, codecStreamID, size, nseg-1)
	})
	t.Run("DroppedFinalSegmentIsDetected", func(t *testing.T) {
		off, _ := l.segment(nseg-1, size)
		// Even when the declared size agrees with what is left, the last
		// segment left was not sealed as the final one.
		expectDetected(t, "final segment dropped, size unchanged", good[:off], codecStreamKey, codecStreamID, size, nseg-1)
		expectDetected(t, "final segment dropped, size shortened to match", good[:off], codecStreamKey, codecStreamID, int64((nseg-1)*codecSegmentSize), nseg-2)
	})
	t.Run("ReorderedSegmentsAreDetected", func(t *testing.T) {
		for _, pair := range [][2]int{{0, 1}, {1, 2}, {2, 3}} {
			a, b := pair[0], pair[1]
			data := replaceSeg(replaceSeg(good, a, segOf(good, b)), b, segOf(good, a))
			expectDetected(t, fmt.Sprintf("segments %d and %d swapped", a, b), data, codecStreamKey, codecStreamID, size, a)
		}
	})
	t.Run("SplicedSegmentsAreDetected", func(t *testing.T) {
		others := []struct {
			name string
			data []byte
		}{
			{"another stream of the same key", sealOrFail(t, c, codecStreamKey, codecStreamID2, body)},
			{"another write of the same key and StreamID", sealOrFail(t, c, codecStreamKey, codecStreamID, body)},
			{"a stream of another key", sealOrFail(t, c, codecStreamKey2, codecStreamID, body)},
		}
		for _, o := range others {
			for _, s := range []int{0, 2, nseg - 1} {
				expectDetected(t, fmt.Sprintf("segment %d from %s", s, o.name), replaceSeg(good, s, segOf(o.data, s)), codecStreamKey, codecStreamID, size, s)
			}
			hdr := append(bytes.Clone(o.data[:l.prefix]), good[l.prefix:]...)
			expectDetected(t, "the StreamID and header of "+o.name, hdr, codecStreamKey, codecStreamID, size, 0)
		}
	})
	t.Run("StreamUnderAnotherIdentityIsDetected", func(t *testing.T) {
		renamed := append([]byte(codecStreamID2), good[len(codecStreamID):]...)
		expectDetected(t, "the stream relabelled with another StreamID", renamed, codecStreamKey, codecStreamID2, size, 0)
		expectDetected(t, "the stream read for another StreamID", good, codecStreamKey, codecStreamID2, size, 0)
		expectDetected(t, "the stream read under another key", good, codecStreamKey2, codecStreamID, size, 0)
		expectDetected(t, "the stream read with another body size", good, codecStreamKey, codecStreamID, size-1, nseg-1)
	})
	t.Run("ForgedStreamIsRejected", func(t *testing.T) {
		a, ok := c.(core.Authenticated)
		if !ok || !a.Authenticated() {
			t.Skip("the codec does not authenticate entries; anyone can write its streams too")
		}
		// Anyone can frame a body with a CRC-32C, as the cache does for
		// codecs without protection: a codec that authenticates entries
		// must not accept such a stream (a wrapper that hides the inner
		// codec's protection, lacking Unwrap, fails here).
		forged := sealOrFail(t, core.BinaryCodec{}, codecStreamKey, codecStreamID, body)
		expectDetected(t, "a stream framed without the codec's keys", forged, codecStreamKey, codecStreamID, size, 0)
	})
	t.Run("UnframedStreamIsDetected", func(t *testing.T) {
		// What releases before stream framing stored: the StreamID and the
		// body as it is.
		old := append([]byte(codecStreamID), body...)
		expectDetected(t, "an unframed stream", old, codecStreamKey, codecStreamID, size, 0)
	})
}

// testCodecStreamKeys checks that streams sealed with one key do not open
// with another (see RunCodecKeyTests).
func testCodecStreamKeys(t *testing.T, c, wrongKey core.Codec) {
	body := MarkedBody(2*codecSegmentSize + 10)
	for _, tc := range []struct {
		name        string
		write, read core.Codec
	}{
		{"written with another key", wrongKey, c},
		{"read with another key", c, wrongKey},
	} {
		data := sealOrFail(t, tc.write, codecStreamKey, codecStreamID, body)
		got, err := openAll(tc.read, data, codecStreamKey, codecStreamID, int64(len(body)))
		if !errors.Is(err, core.ErrCorrupt) || len(got) != 0 {
			t.Errorf("stream %s: read %d bytes and error %v, want none and an error wrapping core.ErrCorrupt", tc.name, len(got), err)
		}
	}
}
