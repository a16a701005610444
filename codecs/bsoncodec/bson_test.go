package bsoncodec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/codecs/bsoncodec"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"go.mongodb.org/mongo-driver/v2/bson"
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
		{"BSON", bsoncodec.Codec{}},
		{"BSON/Gzip", must(codecs.NewGzip(bsoncodec.Codec{}, nil))},
		{"BSON/Signed", must(codecs.NewSigned(bsoncodec.Codec{}, [][]byte{key}))},
		{"BSON/Gzip/Encrypted", must(codecs.NewEncrypted(must(codecs.NewGzip(bsoncodec.Codec{}, nil)), [][]byte{key}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { conformance.RunCodecTests(t, tt.c) })
	}
}

func TestDecodeErrors(t *testing.T) {
	doc := func(d bson.D) []byte { return append([]byte{bsoncodec.ID}, must(bson.Marshal(d))...) }
	good := must(bsoncodec.Codec{}.Encode(&core.Entry{Status: 200}))
	tests := []struct {
		name string
		data []byte
	}{
		{"newer version", doc(bson.D{{Key: "hoard", Value: "bson/2"}, {Key: "status", Value: int32(200)}})},
		{"no version", doc(bson.D{{Key: "status", Value: int32(200)}})},
		{"newer identifier byte", append([]byte{bsoncodec.ID + 1}, good[1:]...)},
		{"status 1000", doc(bson.D{{Key: "hoard", Value: bsoncodec.Version}, {Key: "status", Value: int32(1000)}})},
		{"status of another type", doc(bson.D{{Key: "hoard", Value: bsoncodec.Version}, {Key: "status", Value: "200"}})},
		{"bad nanoseconds", doc(bson.D{{Key: "hoard", Value: bsoncodec.Version}, {Key: "created", Value: bson.D{{Key: "s", Value: int64(1)}, {Key: "n", Value: int32(1e9)}}}})},
		{"header without a name", doc(bson.D{{Key: "hoard", Value: bsoncodec.Version}, {Key: "header", Value: bson.A{bson.A{}}}})},
		{"header twice", doc(bson.D{{Key: "hoard", Value: bsoncodec.Version}, {Key: "header", Value: bson.A{bson.A{"A", "1"}, bson.A{"A", "2"}}}})},
		{"length larger than the data", append([]byte{bsoncodec.ID, 0xff, 0xff, 0xff, 0x7f}, good[5:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e core.Entry
			if err := (bsoncodec.Codec{}).Decode(tt.data, &e); !errors.Is(err, core.ErrCorrupt) {
				t.Errorf("Decode: got %v, want an error wrapping core.ErrCorrupt", err)
			}
		})
	}
}

// TestDocument checks that MarshalDocument writes what a MongoDB store
// can keep as a document and query: named fields, the version.
func TestDocument(t *testing.T) {
	e := conformance.CodecBenchEntry("json1k")
	raw := must(bsoncodec.MarshalDocument(e))
	if v, ok := raw.Lookup("hoard").StringValueOK(); !ok || v != bsoncodec.Version {
		t.Errorf("hoard field: got %q, want %q", v, bsoncodec.Version)
	}
	if v, ok := raw.Lookup("url").StringValueOK(); !ok || v != e.URL {
		t.Errorf("url field: got %q, want %q", v, e.URL)
	}
	var out core.Entry
	if err := bsoncodec.UnmarshalDocument(raw, &out); err != nil {
		t.Fatalf("UnmarshalDocument: %v", err)
	}
	if d := conformance.DiffEntry(&out, e); d != "" {
		t.Errorf("round trip: %s", d)
	}
}

func FuzzBSONDecode(f *testing.F) {
	conformance.FuzzCodecDecode(f, bsoncodec.Codec{})
}

func BenchmarkCodec(b *testing.B) {
	conformance.RunCodecBenchmarks(b,
		conformance.NamedCodec{Name: "Binary", Codec: core.BinaryCodec{}},
		conformance.NamedCodec{Name: "BSON", Codec: bsoncodec.Codec{}},
	)
}
