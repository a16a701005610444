package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/hoardhttp/hoard/core"
)

// rangeStore is streamStore whose stream readers can Seek (or not), count
// the bytes they deliver, and read a mutated copy of the stream.
type rangeStore struct {
	*streamStore
	seekable bool
	mutate   func([]byte) []byte // applied to the stream at OpenStream
	read     atomic.Int64        // bytes the stream readers returned
	seeks    atomic.Int64
}

type countingReadSeeker struct {
	*bytes.Reader
	s *rangeStore
}

func (r *countingReadSeeker) Read(p []byte) (int, error) {
	n, err := r.Reader.Read(p)
	r.s.read.Add(int64(n))
	return n, err
}

func (r *countingReadSeeker) Seek(off int64, whence int) (int64, error) {
	r.s.seeks.Add(1)
	return r.Reader.Seek(off, whence)
}

func (r *countingReadSeeker) Close() error { return nil }

// plainReader hides the Seek of countingReadSeeker.
type plainReader struct{ r *countingReadSeeker }

func (r plainReader) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r plainReader) Close() error               { return nil }

func (s *rangeStore) OpenStream(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	s.mu.Lock()
	b, ok := s.streams[key]
	s.mu.Unlock()
	if !ok {
		return nil, 0, core.ErrNotFound
	}
	if s.mutate != nil {
		b = s.mutate(bytes.Clone(b))
	}
	rs := &countingReadSeeker{Reader: bytes.NewReader(b), s: s}
	if s.seekable {
		return rs, int64(len(b)), nil
	}
	return plainReader{rs}, int64(len(b)), nil
}

// rangePattern is n position-dependent bytes.
func rangePattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i ^ i>>8 ^ i>>16 ^ 0x5a)
	}
	return b
}

func rangeOriginFunc(body []byte, calls *atomic.Int64) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		calls.Add(1)
		return &http.Response{
			StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Cache-Control": {"max-age=60"}, "Etag": {`"p"`},
				"Content-Length": {strconv.Itoa(len(body))}},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
		}, nil
	}
}

// newRangeCache is a cache streaming bodies above one segment into a
// rangeStore, and an origin serving body that counts its calls.
func newRangeCache(t *testing.T, seekable bool, body []byte) (*rangeStore, *core.Cache, func(*http.Request) (*http.Response, error), *atomic.Int64) {
	t.Helper()
	st := &rangeStore{streamStore: newStreamStore(t), seekable: seekable}
	c, err := core.New(st, core.WithStreamThreshold(core.StreamSegmentSize))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	calls := new(atomic.Int64)
	return st, c, rangeOriginFunc(body, calls), calls
}

func getRange(t *testing.T, c *core.Cache, send func(*http.Request) (*http.Response, error), spec string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/big", nil)
	if spec != "" {
		req.Header.Set("Range", spec)
	}
	resp, err := c.Do(req, send)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// TestRangeStreamed checks ranges of a streamed entry, read by Seek and by
// read-through, across segment boundaries: the bytes, the 206's fields, and
// that a seeking reader reads only the segments the range covers.
func TestRangeStreamed(t *testing.T) {
	const seg = core.StreamSegmentSize
	body := rangePattern(7*seg + 999)
	n := len(body)
	for _, seekable := range []bool{true, false} {
		t.Run(fmt.Sprintf("seekable=%v", seekable), func(t *testing.T) {
			st, c, send, calls := newRangeCache(t, seekable, body)
			if _, b, err := getRange(t, c, send, ""); err != nil || !bytes.Equal(b, body) {
				t.Fatalf("first fetch: %d bytes, %v", len(b), err)
			}
			for _, r := range [][2]int{{0, 0}, {0, seg - 1}, {seg - 1, seg}, {seg, seg}, {3*seg + 17, 5*seg + 3}, {n - 1, n - 1}, {7 * seg, n - 1}, {0, n - 1}, {n - seg - 5, n - 1}} {
				st.read.Store(0)
				resp, b, err := getRange(t, c, send, fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
				if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, body[r[0]:r[1]+1]) {
					t.Fatalf("range %v: status %d, %d bytes, %v", r, resp.StatusCode, len(b), err)
				}
				if got, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", r[0], r[1], n); got != want {
					t.Errorf("Content-Range %q, want %q", got, want)
				}
				if resp.ContentLength != int64(r[1]-r[0]+1) {
					t.Errorf("ContentLength %d, want %d", resp.ContentLength, r[1]-r[0]+1)
				}
				if !core.InfoOf(resp).FromCache {
					t.Errorf("range %v not from the cache", r)
				}
				covered := int64(r[1]/seg-r[0]/seg+1) * (seg + 64)
				if seekable && st.read.Load() > covered+512 {
					t.Errorf("range %v: the store delivered %d bytes, want at most the %d of the segments it covers", r, st.read.Load(), covered)
				}
				if !seekable && st.read.Load() < int64(r[0]/seg)*seg {
					t.Errorf("range %v read through: only %d bytes read", r, st.read.Load())
				}
			}
			if calls.Load() != 1 {
				t.Errorf("origin calls = %d, want 1", calls.Load())
			}
			if seekable != (st.seeks.Load() > 0) {
				t.Errorf("Seek called %d times with seekable=%v", st.seeks.Load(), seekable)
			}
		})
	}
}

// TestRangeStreamedIntegrity checks that a range is never served from a
// damaged stream: a segment that fails its check where the range starts is
// a miss (the entry deleted, the origin asked), one later in the range ends
// the body with ErrCorrupt, and a stream cut short (with the size it claims
// or its real one) never passes for a shorter valid one.
func TestRangeStreamedIntegrity(t *testing.T) {
	const seg = core.StreamSegmentSize
	body := rangePattern(6*seg + 100)
	// segStart is the stream offset of segment i: the StreamID (16 hex
	// digits), the 18-byte header of the CRC framing, then 64 KiB + 4 per
	// segment.
	segStart := func(i int) int { return 16 + 18 + i*(seg+4) }
	cases := []struct {
		name   string
		mutate func([]byte) []byte
		spec   string
		miss   bool // answered by the origin instead
		bodyOK bool // the 206 body reads to the end without error
	}{
		{"flip in the first segment of the range", func(b []byte) []byte { b[segStart(3)+10] ^= 1; return b }, fmt.Sprintf("bytes=%d-%d", 3*seg+5, 4*seg+5), true, false},
		{"flip later in the range", func(b []byte) []byte { b[segStart(4)+10] ^= 1; return b }, fmt.Sprintf("bytes=%d-%d", 3*seg+5, 4*seg+5), false, false},
		{"flip before the range is not read", func(b []byte) []byte { b[segStart(1)+10] ^= 1; return b }, fmt.Sprintf("bytes=%d-%d", 3*seg+5, 4*seg+5), false, true},
		{"cut at a segment boundary", func(b []byte) []byte { return b[:segStart(6)] }, fmt.Sprintf("bytes=%d-", 5*seg), true, false},
		{"last segment moved up as final", func(b []byte) []byte {
			// Drop segment 5: segment 6 (final) then sits where 5 was
			// and its index no longer matches.
			return append(b[:segStart(5)], b[segStart(6):]...)
		}, fmt.Sprintf("bytes=%d-", 5*seg), true, false},
	}
	for _, seekable := range []bool{true, false} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/seekable=%v", tc.name, seekable), func(t *testing.T) {
				st, c, send, calls := newRangeCache(t, seekable, body)
				getRange(t, c, send, "")
				st.mutate = tc.mutate
				resp, b, err := getRange(t, c, send, tc.spec)
				if tc.miss {
					if core.InfoOf(resp).FromCache || calls.Load() != 2 || resp.StatusCode != 200 || !bytes.Equal(b, body) {
						t.Errorf("damaged stream: status %d, FromCache %v, origin calls %d; want the origin's whole 200",
							resp.StatusCode, core.InfoOf(resp).FromCache, calls.Load())
					}
					if c.Stats().CorruptErrors == 0 {
						t.Errorf("damage not counted")
					}
					return
				}
				if resp.StatusCode != http.StatusPartialContent {
					t.Fatalf("status %d, want 206", resp.StatusCode)
				}
				var first, last int
				fmt.Sscanf(tc.spec, "bytes=%d-%d", &first, &last)
				if tc.bodyOK {
					if err != nil || !bytes.Equal(b, body[first:last+1]) {
						t.Errorf("body %d bytes, %v; want bytes %d-%d", len(b), err, first, last)
					}
					return
				}
				if !errors.Is(err, core.ErrCorrupt) {
					t.Errorf("read error %v, want ErrCorrupt", err)
				}
				if !bytes.Equal(b, body[first:first+len(b)]) {
					t.Errorf("the bytes before the failure are not the body's")
				}
			})
		}
	}
}

func TestSeekOffset(t *testing.T) {
	cases := []struct {
		offset         int64
		whence         int
		pos, size, abs int64
		fails          bool
	}{
		{10, io.SeekStart, 5, 100, 10, false},
		{-3, io.SeekCurrent, 5, 100, 2, false},
		{-1, io.SeekEnd, 5, 100, 99, false},
		{50, io.SeekEnd, 5, 100, 150, false},
		{-6, io.SeekCurrent, 5, 100, 0, true},
		{-1, io.SeekStart, 5, 100, 0, true},
		{0, 7, 5, 100, 0, true},
	}
	for _, tc := range cases {
		abs, err := core.SeekOffset(tc.offset, tc.whence, tc.pos, tc.size)
		if (err != nil) != tc.fails || (!tc.fails && abs != tc.abs) {
			t.Errorf("SeekOffset(%d, %d, %d, %d) = %d, %v; want %d, fails %v", tc.offset, tc.whence, tc.pos, tc.size, abs, err, tc.abs, tc.fails)
		}
	}
}
