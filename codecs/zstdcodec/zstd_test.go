package zstdcodec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/codecs/zstdcodec"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/klauspost/compress/zstd"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err) // fixed test arguments: an error is a bug in the test
	}
	return v
}

var key = bytes.Repeat([]byte{9}, 32)

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		c    core.Codec
	}{
		{"Binary", must(zstdcodec.New(core.BinaryCodec{}, nil))},
		{"BinaryEveryEntry", must(zstdcodec.New(core.BinaryCodec{}, &codecs.CompressOptions{MinSize: -1, Level: int(zstd.SpeedFastest)}))},
		{"JSON", must(zstdcodec.New(codecs.JSON{}, nil))},
		{"Binary/Encrypted", must(codecs.NewEncrypted(must(zstdcodec.New(core.BinaryCodec{}, nil)), [][]byte{key}))},
		{"JSON/Signed", must(codecs.NewSigned(must(zstdcodec.New(codecs.JSON{}, nil)), [][]byte{key}))},
		// zstd outside the encryption: streams stay encrypted.
		{"Binary/Encrypted/Zstd", must(zstdcodec.New(must(codecs.NewEncrypted(core.BinaryCodec{}, [][]byte{key})), nil))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { conformance.RunCodecTests(t, tt.c) })
	}
}

func TestCompressesOnlyWhenItSaves(t *testing.T) {
	c := must(zstdcodec.New(core.BinaryCodec{}, nil))
	raw := func(e *core.Entry) int { return len(must(core.BinaryCodec{}.Encode(e))) }
	tests := []struct {
		name       string
		e          *core.Entry
		compressed bool
	}{
		{"small entry", &core.Entry{Status: 200, Body: []byte("hi")}, false},
		{"1 KiB JSON", conformance.CodecBenchEntry("json1k"), true},
		{"64 KiB random", conformance.CodecBenchEntry("binary64k"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := must(c.Encode(tt.e))
			if data[0] != zstdcodec.ID {
				t.Fatalf("leading byte %#x, want %#x", data[0], zstdcodec.ID)
			}
			if got := data[1] == 1; got != tt.compressed {
				t.Errorf("compressed: got %v, want %v (%d bytes, inner %d)", got, tt.compressed, len(data), raw(tt.e))
			}
			if tt.compressed && len(data) >= raw(tt.e) {
				t.Errorf("compressed size %d, want below the inner encoding's %d", len(data), raw(tt.e))
			}
		})
	}
}

// TestDecompressionBomb checks that an entry declaring (or expanding to)
// more than MaxDecodedSize fails to decode instead of allocating.
func TestDecompressionBomb(t *testing.T) {
	small := must(zstdcodec.New(core.BinaryCodec{}, &codecs.CompressOptions{MaxDecodedSize: 1 << 16}))
	big := must(zstdcodec.New(core.BinaryCodec{}, &codecs.CompressOptions{MinSize: -1}))
	bomb := must(big.Encode(&core.Entry{Status: 200, Body: make([]byte, 1<<20)}))
	if len(bomb) > 1<<10 {
		t.Fatalf("1 MiB of zeros compressed to %d bytes, want under 1 KiB", len(bomb))
	}
	var e core.Entry
	if err := small.Decode(bomb, &e); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("Decode of an entry above MaxDecodedSize: got %v, want ErrCorrupt", err)
	}
	// The same stream with a lying (small) declared length.
	lying := append([]byte{zstdcodec.ID, 1, 0x80, 0x02}, bomb[2+3:]...) // declared 256 bytes
	if err := big.Decode(lying, &e); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("Decode of a stream longer than declared: got %v, want ErrCorrupt", err)
	}
}

func FuzzZstdDecode(f *testing.F) {
	conformance.FuzzCodecDecode(f, must(zstdcodec.New(core.BinaryCodec{}, &codecs.CompressOptions{MinSize: -1, MaxDecodedSize: 1 << 20})))
}

func BenchmarkCodec(b *testing.B) {
	conformance.RunCodecBenchmarks(b,
		conformance.NamedCodec{Name: "Binary", Codec: core.BinaryCodec{}},
		conformance.NamedCodec{Name: "Zstd(Binary)", Codec: must(zstdcodec.New(core.BinaryCodec{}, nil))},
		conformance.NamedCodec{Name: "Zstd1(Binary)", Codec: must(zstdcodec.New(core.BinaryCodec{}, &codecs.CompressOptions{Level: int(zstd.SpeedFastest)}))},
		conformance.NamedCodec{Name: "Encrypted(Zstd(Binary))", Codec: must(codecs.NewEncrypted(must(zstdcodec.New(core.BinaryCodec{}, nil)), [][]byte{key}))},
	)
}
