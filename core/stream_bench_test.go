package core_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
)

// benchStreamSize is the body of BenchmarkStreamHit.
const benchStreamSize = 256 << 20

// sink is a writer with nothing but Write (like a hash or a socket behind a
// buffer), so io.Copy cannot take a shortcut that only one contender has.
type sink struct{ n int64 }

func (s *sink) Write(p []byte) (int, error) { s.n += int64(len(p)); return len(p), nil }

// BenchmarkStreamHit measures the throughput of a 256 MiB hit streamed from
// filestore (the file in the page cache) into a plain io.Writer, side by
// side: Raw is the store's stream read as it is, which is what a hit cost
// before stream framing (StreamID then the body, unchecked); Binary adds the
// CRC-32C framing of the default codec; Signed HMAC-SHA256 per segment;
// Encrypted AES-GCM per segment.
func BenchmarkStreamHit(b *testing.B) {
	key := bytes.Repeat([]byte{0x42}, 32)
	signed, err := codecs.NewSigned(core.BinaryCodec{}, [][]byte{key})
	if err != nil {
		b.Fatal(err)
	}
	enc, err := codecs.NewEncrypted(core.BinaryCodec{}, [][]byte{key})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Raw", func(b *testing.B) {
		st, err := filestore.New(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		w, err := st.CreateStream(b.Context(), "k", core.Meta{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(w, conformance.PatternBody(benchStreamSize)); err != nil {
			b.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchStreamSize)
		b.ReportAllocs()
		for b.Loop() {
			rc, _, err := st.OpenStream(b.Context(), "k")
			if err != nil {
				b.Fatal(err)
			}
			var s sink
			_, err = io.Copy(&s, rc)
			rc.Close()
			if err != nil || s.n != benchStreamSize {
				b.Fatalf("read %d bytes, %v", s.n, err)
			}
		}
	})
	for _, tc := range []struct {
		name  string
		codec core.Codec
	}{{"Binary", core.BinaryCodec{}}, {"Signed", signed}, {"Encrypted", enc}} {
		b.Run(tc.name, func(b *testing.B) {
			st, err := filestore.New(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			c, err := core.New(st, core.WithCodec(tc.codec), core.WithMaxStreamSize(benchStreamSize),
				core.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			sends := 0
			send := func(r *http.Request) (*http.Response, error) {
				sends++
				if sends > 1 {
					return nil, errors.New("the origin was asked again: not a hit")
				}
				return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: r,
					Header: http.Header{"Cache-Control": {"max-age=86400"}, "Content-Length": {strconv.Itoa(benchStreamSize)}},
					Body:   io.NopCloser(conformance.PatternBody(benchStreamSize)), ContentLength: benchStreamSize}, nil
			}
			req, _ := http.NewRequest(http.MethodGet, "http://example.test/large", nil)
			get := func() {
				resp, err := c.Do(req, send)
				if err != nil {
					b.Fatal(err)
				}
				var s sink
				_, err = io.Copy(&s, resp.Body)
				resp.Body.Close()
				if err != nil || s.n != benchStreamSize {
					b.Fatalf("read %d bytes, %v", s.n, err)
				}
			}
			get() // the miss that stores it
			b.SetBytes(benchStreamSize)
			b.ReportAllocs()
			for b.Loop() {
				get()
			}
			if sends != 1 {
				b.Fatalf("origin asked %d times", sends)
			}
		})
	}
}
