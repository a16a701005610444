package codecs_test

import (
	"bytes"
	"encoding/gob"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
)

// gobCodec is encoding/gob over core.Entry, measured here only to decide
// whether gob earns a place among the codecs (it does not ship: it is
// slower and larger than core.BinaryCodec, see BENCHMARKS.md). It has no
// format identifier and is not safe on untrusted input sizes.
type gobCodec struct{}

func (gobCodec) Encode(e *core.Entry) ([]byte, error) {
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(e)
	return buf.Bytes(), err
}

func (gobCodec) Decode(data []byte, e *core.Entry) error {
	*e = core.Entry{}
	return gob.NewDecoder(bytes.NewReader(data)).Decode(e)
}

func BenchmarkCodec(b *testing.B) {
	gz := must(codecs.NewGzip(core.BinaryCodec{}, nil))
	gz1 := must(codecs.NewGzip(core.BinaryCodec{}, &codecs.CompressOptions{Level: 1}))
	conformance.RunCodecBenchmarks(b,
		conformance.NamedCodec{Name: "Binary", Codec: core.BinaryCodec{}},
		conformance.NamedCodec{Name: "JSON", Codec: codecs.JSON{}},
		conformance.NamedCodec{Name: "GobNotShipped", Codec: gobCodec{}},
		conformance.NamedCodec{Name: "Gzip(Binary)", Codec: gz},
		conformance.NamedCodec{Name: "Gzip1(Binary)", Codec: gz1},
		conformance.NamedCodec{Name: "Signed(Binary)", Codec: must(codecs.NewSigned(core.BinaryCodec{}, [][]byte{key1}))},
		conformance.NamedCodec{Name: "Encrypted(Binary)", Codec: must(codecs.NewEncrypted(core.BinaryCodec{}, [][]byte{key1}))},
		conformance.NamedCodec{Name: "Encrypted(Gzip(Binary))", Codec: must(codecs.NewEncrypted(gz, [][]byte{key1}))},
		conformance.NamedCodec{Name: "Signed(Gzip(JSON))", Codec: must(codecs.NewSigned(must(codecs.NewGzip(codecs.JSON{}, nil)), [][]byte{key1}))},
	)
}
