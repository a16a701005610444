package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/core"
)

// streamMarker is a plaintext marker the stream-protection checks put all
// over the bodies they cache; under encryption it must appear nowhere in
// the store.
const streamMarker = "HOARD-PLAINTEXT-MARKER"

// streamTestKey is the signing and encryption key of the stream-protection
// checks: fixed, so failures reproduce.
var streamTestKey = bytes.Repeat([]byte{0x5c}, 32)

// MarkedBody returns a deterministic body of size bytes made of numbered
// lines that each carry streamMarker: every position holds a different
// byte sequence, so bytes served from the wrong place are noticed, and the
// marker shows any plaintext left in a store.
func MarkedBody(size int) []byte {
	var b bytes.Buffer
	b.Grow(size + 64)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%09d %s\n", i, streamMarker)
	}
	return b.Bytes()[:size]
}

// StreamMarker is the plaintext marker MarkedBody repeats, for store tests
// that look for it in the store's own files.
const StreamMarker = streamMarker

// streamProtectionCodecs are the codecs the store-level stream-protection
// checks run under: the default (CRC-32C framing), signing and encryption.
func streamProtectionCodecs(t *testing.T) []struct {
	name         string
	codec        core.Codec
	confidential bool
} {
	signed, err := codecs.NewSigned(core.BinaryCodec{}, [][]byte{streamTestKey})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := codecs.NewEncrypted(core.BinaryCodec{}, [][]byte{streamTestKey})
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		name         string
		codec        core.Codec
		confidential bool
	}{
		{"Binary", core.BinaryCodec{}, false},
		{"Signed", signed, false},
		{"Encrypted", enc, true},
	}
}

// runStreamProtection checks, for a store that declares Streaming, that
// whatever the codec promises for entries holds for streamed bodies too
// (one mechanism in the core, whatever the store): through a core.Cache
// with the default codec, Signed and Encrypted, a body above the stream
// threshold is stored as a stream; a bit flipped in the stored stream's
// first segment (written back through the store's own Streamer) makes the
// next request a miss that reaches the origin, counted in
// Stats().CorruptErrors; a bit flipped further on ends the served body with
// an error wrapping core.ErrCorrupt after correct bytes only, and the entry
// is gone afterwards; under Encrypted the stored stream holds no plaintext.
func runStreamProtection(t *testing.T, newHarness StoreHarnessMaker) {
	t.Run("StreamProtection", func(t *testing.T) {
		h, err := newHarness(t.Context(), t)
		if err != nil {
			t.Fatalf("making harness: %v", err)
		}
		caps := h.Capabilities()
		h.Close()
		if !caps.Streaming {
			t.Skip("the harness does not declare Streaming")
		}
		for _, tc := range streamProtectionCodecs(t) {
			t.Run(tc.name, func(t *testing.T) {
				st, _ := openStoreUnderTest(t, newHarness)
				sm, ok := st.(core.Streamer)
				if !ok {
					t.Fatalf("the harness declares Streaming but %T does not implement core.Streamer", st)
				}
				testStreamProtection(t, st, sm, tc.codec, tc.confidential)
			})
		}
	})
}

func testStreamProtection(t *testing.T, st core.Store, sm core.Streamer, codec core.Codec, confidential bool) {
	body := MarkedBody(3<<20 + 12345)
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	defer origin.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c, err := core.New(st, core.WithCodec(codec), core.WithLogger(slog.New(slog.DiscardHandler)), semanticsTimeout())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Wait()

	// get fetches the body through the cache, returning what was read
	// before the body ended and the error it ended with.
	get := func(t *testing.T) (*http.Response, []byte, error) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, origin.URL+"/big", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req, tr.RoundTrip)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		defer resp.Body.Close()
		var got bytes.Buffer
		_, err = io.Copy(&got, resp.Body)
		return resp, got.Bytes(), err
	}
	// getWhole fetches the body and wants it whole and intact.
	getWhole := func(t *testing.T, when string, wantFromCache bool) *http.Response {
		t.Helper()
		resp, got, err := get(t)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%s: read %d bytes (intact: %v), %v; want the %d bytes the origin sent", when, len(got), bytes.Equal(got, body), err, len(body))
		}
		if info := core.InfoOf(resp); info.FromCache != wantFromCache {
			t.Fatalf("%s: FromCache = %v, want %v (Cache-Status %q)", when, info.FromCache, wantFromCache, resp.Header.Get("Cache-Status"))
		}
		return resp
	}
	getWhole(t, "first request", false)
	key := core.InfoOf(getWhole(t, "second request", true)).Key
	if n := hits.Load(); n != 1 {
		t.Fatalf("origin requests after a miss and a hit: %d, want 1", n)
	}

	if confidential {
		raw, _ := streamRead(t, sm, key)
		if i := bytes.Index(raw, []byte(streamMarker)); i >= 0 {
			t.Errorf("the stored stream holds the body's plaintext (marker at offset %d) although the codec encrypts", i)
		}
		if v := storeGet(t, st, key); bytes.Contains(v, []byte(streamMarker)) {
			t.Errorf("the stored entry holds the body's plaintext although the codec encrypts")
		}
	}

	// rewrite replaces the stored stream of key by f applied to it, through
	// the store's own Streamer, leaving the entry in place.
	rewrite := func(t *testing.T, f func(b []byte)) {
		t.Helper()
		b, _ := streamRead(t, sm, key)
		f(b)
		streamWrite(t, sm, key, b, core.Meta{Expires: time.Now().Add(time.Hour), Size: int64(len(b))})
	}

	t.Run("FlipInFirstSegmentIsAMiss", func(t *testing.T) {
		rewrite(t, func(b []byte) { b[1000] ^= 0x04 })
		before, hitsBefore := c.Stats().CorruptErrors, hits.Load()
		getWhole(t, "after a bit flip in the first segment", false)
		if got := hits.Load() - hitsBefore; got != 1 {
			t.Errorf("origin requests: %d, want 1 (the corrupt entry is a miss)", got)
		}
		if got := c.Stats().CorruptErrors - before; got != 1 {
			t.Errorf("Stats().CorruptErrors grew by %d, want 1", got)
		}
		getWhole(t, "after the miss stored it again", true)
	})

	t.Run("FlipInLaterSegmentEndsBody", func(t *testing.T) {
		rewrite(t, func(b []byte) { b[len(b)/2] ^= 0x10 })
		before, hitsBefore := c.Stats().CorruptErrors, hits.Load()
		resp, got, err := get(t)
		if !core.InfoOf(resp).FromCache {
			t.Errorf("FromCache = false: the first segment is intact, the hit should start (Cache-Status %q)", resp.Header.Get("Cache-Status"))
		}
		if err == nil {
			t.Errorf("read %d bytes and no error from a stream with a bit flipped in its middle", len(got))
		} else if !errors.Is(err, core.ErrCorrupt) {
			t.Errorf("the body ended with %v, want an error wrapping core.ErrCorrupt", err)
		}
		if !bytes.HasPrefix(body, got) {
			t.Errorf("the %d bytes served before the error are not the start of the body: wrong bytes served", len(got))
		}
		if len(got) >= len(body) {
			t.Errorf("the whole %d-byte body was served from a stream with a bit flipped in its middle", len(got))
		}
		if got := c.Stats().CorruptErrors - before; got != 1 {
			t.Errorf("Stats().CorruptErrors grew by %d, want 1", got)
		}
		storeWantMiss(t, st, key)
		streamWant(t, sm, key, nil, "after the corrupt body")
		getWhole(t, "after the corrupt entry was deleted", false)
		if got := hits.Load() - hitsBefore; got != 1 {
			t.Errorf("origin requests: %d, want 1", got)
		}
	})
}
