package codecs_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/http"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
)

func TestGzipCompressesOnlyWhenItSaves(t *testing.T) {
	c := must(codecs.NewGzip(core.BinaryCodec{}, nil))
	inner := func(e *core.Entry) int { return len(must(core.BinaryCodec{}.Encode(e))) }
	png := conformance.CodecBenchEntry("json1k")
	png.Header.Set("Content-Type", "image/png")
	encoded := conformance.CodecBenchEntry("json1k")
	encoded.Header.Set("Content-Encoding", "br")
	tests := []struct {
		name       string
		e          *core.Entry
		compressed bool
	}{
		{"below MinSize", &core.Entry{Status: 200, Body: bytes.Repeat([]byte("a"), 100)}, false},
		{"1 KiB JSON", conformance.CodecBenchEntry("json1k"), true},
		{"64 KiB random", conformance.CodecBenchEntry("binary64k"), false},
		{"image/png is not tried", png, false},
		{"Content-Encoding br is not tried", encoded, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := must(c.Encode(tt.e))
			if data[0] != 0xE1 {
				t.Fatalf("leading byte %#x, want 0xe1", data[0])
			}
			if got := data[1] == 1; got != tt.compressed {
				t.Errorf("compressed: got %v, want %v (%d bytes, inner %d)", got, tt.compressed, len(data), inner(tt.e))
			}
			if !tt.compressed && len(data) != 2+inner(tt.e) {
				t.Errorf("stored size %d, want the inner %d + 2", len(data), inner(tt.e))
			}
			if tt.compressed && len(data) >= inner(tt.e)*3/4 {
				t.Errorf("compressed size %d, want well below the inner %d", len(data), inner(tt.e))
			}
		})
	}
}

func TestCompressOptions(t *testing.T) {
	if _, err := codecs.NewGzip(core.BinaryCodec{}, &codecs.CompressOptions{Level: 42}); err == nil {
		t.Errorf("NewGzip with level 42: got nil error, want one")
	}
	if _, err := codecs.NewGzip(nil, nil); err == nil {
		t.Errorf("NewGzip(nil): got nil error, want one")
	}
	if _, err := codecs.NewGzip(core.BinaryCodec{}, &codecs.CompressOptions{MaxDecodedSize: -1}); err == nil {
		t.Errorf("NewGzip with a negative MaxDecodedSize: got nil error, want one")
	}
	small := must(codecs.NewGzip(core.BinaryCodec{}, &codecs.CompressOptions{MaxDecodedSize: 1000}))
	if _, err := small.Encode(conformance.CodecBenchEntry("json1k")); err == nil {
		t.Errorf("Encode of an entry above MaxDecodedSize: got nil error, want one (it could not be read back)")
	}
}

// gzipFrame builds a gzip wrapper encoding by hand: mode 1, the declared
// length, then the gzip stream of raw.
func gzipFrame(declared int, raw []byte, tail ...byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	out := binary.AppendUvarint([]byte{0xE1, 1}, uint64(declared))
	return append(append(out, buf.Bytes()...), tail...)
}

func TestGzipDecodeErrors(t *testing.T) {
	inner := must(core.BinaryCodec{}.Encode(&core.Entry{Status: 200, Body: []byte("hello")}))
	c := must(codecs.NewGzip(core.BinaryCodec{}, &codecs.CompressOptions{MaxDecodedSize: 1 << 20}))
	var e core.Entry
	if err := c.Decode(gzipFrame(len(inner), inner), &e); err != nil || string(e.Body) != "hello" {
		t.Fatalf("Decode of a hand-made frame: got %v %q, want nil and hello", err, e.Body)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"unknown mode", append([]byte{0xE1, 2}, inner...)},
		{"declared length above MaxDecodedSize", gzipFrame(1<<20+1, inner)},
		{"declared length too small", gzipFrame(len(inner)-1, inner)},
		{"declared length too large", gzipFrame(len(inner)+1, inner)},
		{"bomb: 8 MiB of zeros (8× MaxDecodedSize) declared small", gzipFrame(100, make([]byte, 8<<20))},
		{"second gzip member", append(gzipFrame(len(inner), inner), gzipFrame(0, nil)[3:]...)},
		{"bytes after the stream", gzipFrame(len(inner), inner, 0)},
		{"bad checksum", func() []byte {
			b := gzipFrame(len(inner), inner)
			b[len(b)-5] ^= 1 // last byte of the CRC-32
			return b
		}()},
		{"stored, inner corrupt", append([]byte{0xE1, 0}, 0xB1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Decode(tt.data, &e); !errors.Is(err, core.ErrCorrupt) {
				t.Errorf("Decode: got %v, want an error wrapping core.ErrCorrupt", err)
			}
		})
	}
}

func TestSigned(t *testing.T) {
	if _, err := codecs.NewSigned(core.BinaryCodec{}, nil); err == nil {
		t.Errorf("NewSigned without keys: got nil error, want one")
	}
	if _, err := codecs.NewSigned(core.BinaryCodec{}, [][]byte{key1, make([]byte, 15)}); err == nil {
		t.Errorf("NewSigned with a 15-byte key: got nil error, want one")
	}
	if _, err := codecs.NewSigned(nil, [][]byte{key1}); err == nil {
		t.Errorf("NewSigned(nil): got nil error, want one")
	}
	e := conformance.CodecBenchEntry("json1k")
	old := must(codecs.NewSigned(core.BinaryCodec{}, [][]byte{key1}))
	rotated := must(codecs.NewSigned(core.BinaryCodec{}, [][]byte{key2, key1}))
	retired := must(codecs.NewSigned(core.BinaryCodec{}, [][]byte{key2}))
	written := must(old.Encode(e))
	var out core.Entry
	if err := rotated.Decode(written, &out); err != nil {
		t.Errorf("after rotation, an entry signed with the old key: got %v, want it to verify", err)
	}
	if err := retired.Decode(written, &out); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("once the old key is retired: got %v, want ErrCorrupt", err)
	}
	newer := must(rotated.Encode(e))
	if err := retired.Decode(newer, &out); err != nil {
		t.Errorf("an entry written after rotation is signed with the first key: got %v", err)
	}
	if err := old.Decode(newer, &out); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("an entry signed with the new key read with only the old: got %v, want ErrCorrupt", err)
	}
	// Unsigned bytes of the inner codec are never accepted.
	if err := old.Decode(must(core.BinaryCodec{}.Encode(e)), &out); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("unsigned entry: got %v, want ErrCorrupt", err)
	}
	// A signature from one key id relabelled with another key's id fails.
	relabel := bytes.Clone(newer)
	copy(relabel[1:5], written[1:5])
	if err := rotated.Decode(relabel, &out); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("relabelled key id: got %v, want ErrCorrupt", err)
	}
}

func TestEncrypted(t *testing.T) {
	for _, bad := range [][][]byte{nil, {make([]byte, 15)}, {key1, make([]byte, 33)}} {
		if _, err := codecs.NewEncrypted(core.BinaryCodec{}, bad); err == nil {
			t.Errorf("NewEncrypted with keys of lengths %v: got nil error, want one", lens(bad))
		}
	}
	e := conformance.CodecBenchEntry("json1k")
	e.Header.Set("X-Secret", "hunter2")
	old := must(codecs.NewEncrypted(core.BinaryCodec{}, [][]byte{key1}))
	rotated := must(codecs.NewEncrypted(core.BinaryCodec{}, [][]byte{key3, key1}))
	retired := must(codecs.NewEncrypted(core.BinaryCodec{}, [][]byte{key3}))
	written := must(old.Encode(e))
	for _, secret := range []string{"hunter2", e.URL, "api.example", `"items"`} {
		if bytes.Contains(written, []byte(secret)) {
			t.Errorf("ciphertext contains %q in the clear", secret)
		}
	}
	if again := must(old.Encode(e)); bytes.Equal(again, written) {
		t.Errorf("two encryptions of one entry are equal: the nonce is not random")
	}
	var out core.Entry
	if err := rotated.Decode(written, &out); err != nil || out.Header.Get("X-Secret") != "hunter2" {
		t.Errorf("after rotation, an entry encrypted with the old key: got %v, want it to decrypt", err)
	}
	if err := retired.Decode(written, &out); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("once the old key is retired: got %v, want ErrCorrupt", err)
	}
	if err := old.Decode(must(rotated.Encode(e)), &out); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("an entry encrypted with the new key read with only the old: got %v, want ErrCorrupt", err)
	}
	if err := old.Decode(must(core.BinaryCodec{}.Encode(e)), &out); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("plaintext entry: got %v, want ErrCorrupt", err)
	}
}

func lens(keys [][]byte) []int {
	var out []int
	for _, k := range keys {
		out = append(out, len(k))
	}
	return out
}

// TestCorruptEntryIsMissDeletedCounted checks the cache's side of a
// tampered signed entry: a miss, the entry deleted, the counter bumped.
// (RunCodecTests checks the same for undecodable bytes of any codec.)
func TestCorruptEntryIsMissDeletedCounted(t *testing.T) {
	signed := must(codecs.NewSigned(core.BinaryCodec{}, [][]byte{key1}))
	st := &tamperStore{m: map[string][]byte{}}
	cache := must(core.New(st, core.WithCodec(signed), core.WithLogger(slog.New(slog.DiscardHandler))))
	e := &core.Entry{Method: "GET", URL: "http://x/", Status: 200, Body: []byte("ok"), Header: http.Header{}}
	data := must(signed.Encode(e))
	data[len(data)/2] ^= 1
	// Learn the key the cache reads for the URL, then put the tampered
	// entry there.
	if ok, err := cache.Contains(t.Context(), must(http.NewRequest(http.MethodGet, "http://x/", nil))); ok || err != nil {
		t.Fatalf("Contains on an empty store: got %v, %v, want false, nil", ok, err)
	}
	if len(st.gets) == 0 {
		t.Fatalf("Contains read no key")
	}
	for k := range st.gets {
		st.m[k] = data
	}
	st.gets = map[string]int{}
	if ok, err := cache.Contains(t.Context(), must(http.NewRequest(http.MethodGet, "http://x/", nil))); ok || err != nil {
		t.Errorf("Contains of a tampered entry: got %v, %v, want false, nil", ok, err)
	}
	if got := cache.Stats().CorruptErrors; got < 1 {
		t.Errorf("Stats().CorruptErrors: got %d, want at least 1", got)
	}
	for k := range st.gets {
		if _, still := st.m[k]; still {
			t.Errorf("tampered entry %s still in the store, want it deleted", k)
		}
	}
}

// tamperStore is a map store that records the keys read.
type tamperStore struct {
	m    map[string][]byte
	gets map[string]int
}

func (s *tamperStore) Get(_ context.Context, key string) ([]byte, error) {
	if s.gets == nil {
		s.gets = map[string]int{}
	}
	s.gets[key]++
	if v, ok := s.m[key]; ok {
		return v, nil
	}
	return nil, core.ErrNotFound
}

func (s *tamperStore) Set(_ context.Context, key string, value []byte, _ core.Meta) error {
	s.m[key] = value
	return nil
}

func (s *tamperStore) Delete(_ context.Context, key string) error {
	delete(s.m, key)
	return nil
}

func FuzzGzipDecode(f *testing.F) {
	inner := must(core.BinaryCodec{}.Encode(&core.Entry{Status: 200, Body: []byte("hello")}))
	conformance.FuzzCodecDecode(f, must(codecs.NewGzip(core.BinaryCodec{}, &codecs.CompressOptions{MinSize: -1, MaxDecodedSize: 1 << 20})),
		gzipFrame(len(inner), inner), gzipFrame(100, make([]byte, 1000)))
}

func FuzzSignedDecode(f *testing.F) {
	conformance.FuzzCodecDecode(f, must(codecs.NewSigned(core.BinaryCodec{}, [][]byte{key1, key2})))
}

func FuzzEncryptedDecode(f *testing.F) {
	conformance.FuzzCodecDecode(f, must(codecs.NewEncrypted(core.BinaryCodec{}, [][]byte{key1, key3})))
}
