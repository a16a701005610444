package codecs_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
)

// TestStreamKeyRotation: a stream records the identifier of the key it was
// sealed with, so after a rotation (new key prepended) streams sealed with
// the old key still open, new ones are sealed with the new key, and once the
// old key is dropped its streams are corrupt (a miss), like entries.
func TestStreamKeyRotation(t *testing.T) {
	body := conformance.MarkedBody(3*core.StreamSegmentSize + 5)
	for _, tc := range []struct {
		name string
		make func(keys ...[]byte) core.Codec
	}{
		{"Signed", func(keys ...[]byte) core.Codec { return must(codecs.NewSigned(core.BinaryCodec{}, keys)) }},
		{"Encrypted", func(keys ...[]byte) core.Codec { return must(codecs.NewEncrypted(core.BinaryCodec{}, keys)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, during, after := tc.make(key2), tc.make(key1, key2), tc.make(key1)
			open := func(c core.Codec, data []byte) ([]byte, error) {
				r, err := core.OpenSealedStream(bytes.NewReader(data), c, "k", "id", int64(len(body)))
				if err != nil {
					return nil, err
				}
				return io.ReadAll(r)
			}
			old, err := conformance.SealTestStream(before, "k", "id", body)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := open(during, old); err != nil || !bytes.Equal(got, body) {
				t.Errorf("a stream of the old key read during the rotation: %d bytes, %v", len(got), err)
			}
			fresh, err := conformance.SealTestStream(during, "k", "id", body)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := open(after, fresh); err != nil || !bytes.Equal(got, body) {
				t.Errorf("a stream sealed during the rotation, read with the new key alone: %d bytes, %v", len(got), err)
			}
			if _, err := open(after, old); !errors.Is(err, core.ErrCorrupt) {
				t.Errorf("a stream of a dropped key: %v, want an error wrapping core.ErrCorrupt", err)
			}
		})
	}
}
