package codecs_test

import (
	"bytes"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
)

// Keys for tests only: fixed, so failures reproduce.
var (
	key1 = bytes.Repeat([]byte{1}, 32)
	key2 = bytes.Repeat([]byte{2}, 32)
	key3 = bytes.Repeat([]byte{3}, 16)
)

// must returns v, or panics on a constructor error (the test's arguments
// are fixed, so an error is a bug in the test).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestConformance runs the codec suite on every codec, each wrapper around
// each, and the compositions users are told to build (compress, then
// encrypt or sign). Wrappers do not look inside the inner encoding, so not
// every combination of inner codec and wrapper chain is repeated.
func TestConformance(t *testing.T) {
	bin, js := core.BinaryCodec{}, codecs.JSON{}
	gzBin := must(codecs.NewGzip(bin, nil))
	gzJSON := must(codecs.NewGzip(js, nil))
	tests := []struct {
		name string
		c    core.Codec
	}{
		{"Binary", bin},
		{"JSON", js},
		{"JSONIndent", codecs.JSON{Indent: true}},
		{"Binary/Gzip", gzBin},
		{"Binary/GzipEveryEntry", must(codecs.NewGzip(bin, &codecs.CompressOptions{MinSize: -1, Level: 1}))},
		{"JSON/Gzip", gzJSON},
		{"Binary/Signed", must(codecs.NewSigned(bin, [][]byte{key1, key2}))},
		{"JSON/Signed", must(codecs.NewSigned(js, [][]byte{key1}))},
		{"Binary/Encrypted", must(codecs.NewEncrypted(bin, [][]byte{key1, key3}))},
		{"Binary/Gzip/Signed", must(codecs.NewSigned(gzBin, [][]byte{key1}))},
		{"JSON/Gzip/Encrypted", must(codecs.NewEncrypted(gzJSON, [][]byte{key1}))},
		{"Binary/Gzip/Encrypted/Signed", must(codecs.NewSigned(must(codecs.NewEncrypted(gzBin, [][]byte{key2})), [][]byte{key1}))},
		// Compressing outside the protection is the wrong order for entries,
		// but must not lose the protection of streams.
		{"Binary/Encrypted/Gzip", must(codecs.NewGzip(must(codecs.NewEncrypted(bin, [][]byte{key1})), nil))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { conformance.RunCodecTests(t, tt.c) })
	}
}

// TestKeys runs the authenticated-codec checks on the signing and
// encryption wrappers.
func TestKeys(t *testing.T) {
	inner := core.BinaryCodec{}
	t.Run("Signed", func(t *testing.T) {
		conformance.RunCodecKeyTests(t,
			must(codecs.NewSigned(inner, [][]byte{key1, key2})),
			must(codecs.NewSigned(inner, [][]byte{key3})))
	})
	t.Run("Encrypted", func(t *testing.T) {
		conformance.RunCodecKeyTests(t,
			must(codecs.NewEncrypted(inner, [][]byte{key1, key2})),
			must(codecs.NewEncrypted(inner, [][]byte{key3})))
	})
	t.Run("GzipSigned", func(t *testing.T) {
		gz := must(codecs.NewGzip(codecs.JSON{}, nil))
		conformance.RunCodecKeyTests(t,
			must(codecs.NewSigned(gz, [][]byte{key1})),
			must(codecs.NewSigned(gz, [][]byte{key2})))
	})
}
