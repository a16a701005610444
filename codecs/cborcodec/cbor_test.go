package cborcodec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/codecs/cborcodec"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
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
		{"CBOR", cborcodec.Codec{}},
		{"CBOR/Gzip", must(codecs.NewGzip(cborcodec.Codec{}, nil))},
		{"CBOR/Signed", must(codecs.NewSigned(cborcodec.Codec{}, [][]byte{key}))},
		{"CBOR/Gzip/Encrypted", must(codecs.NewEncrypted(must(codecs.NewGzip(cborcodec.Codec{}, nil)), [][]byte{key}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { conformance.RunCodecTests(t, tt.c) })
	}
}

func TestDecodeErrors(t *testing.T) {
	good := must(cborcodec.Codec{}.Encode(&core.Entry{Status: 200}))
	tests := []struct {
		name string
		data []byte
	}{
		{"newer version", append([]byte{cborcodec.ID + 1}, good[1:]...)},
		{"array too short", []byte{cborcodec.ID, 0x80}},
		{"map instead of array", []byte{cborcodec.ID, 0xa0}},
		{"a tag", append([]byte{cborcodec.ID, 0xc0}, good[1:]...)},
		{"status 1000", must(cborcodec.Codec{}.Encode(&core.Entry{Status: 200}))},
		{"huge byte string length", []byte{cborcodec.ID, 0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"deep nesting", append([]byte{cborcodec.ID}, bytes.Repeat([]byte{0x81}, 10000)...)},
	}
	// Patch the status of the last-but-two case: 200 is 0x18 0xc8; 1000 is 0x19 0x03 0xe8.
	tests[4].data = bytes.Replace(tests[4].data, []byte{0x18, 0xc8}, []byte{0x19, 0x03, 0xe8}, 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e core.Entry
			if err := (cborcodec.Codec{}).Decode(tt.data, &e); !errors.Is(err, core.ErrCorrupt) {
				t.Errorf("Decode: got %v, want an error wrapping core.ErrCorrupt", err)
			}
		})
	}
}

func FuzzCBORDecode(f *testing.F) {
	conformance.FuzzCodecDecode(f, cborcodec.Codec{})
}

func BenchmarkCodec(b *testing.B) {
	conformance.RunCodecBenchmarks(b,
		conformance.NamedCodec{Name: "Binary", Codec: core.BinaryCodec{}},
		conformance.NamedCodec{Name: "CBOR", Codec: cborcodec.Codec{}},
	)
}
