package core_test

import (
	"testing"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
)

// TestBinaryCodecConformance runs the shared codec suite on the default codec.
func TestBinaryCodecConformance(t *testing.T) {
	conformance.RunCodecTests(t, core.BinaryCodec{})
}

// FuzzBinaryCodecConformance fuzzes the default codec's decoder through the
// shared harness (no panics; whatever decodes re-encodes to the same entry).
func FuzzBinaryCodecConformance(f *testing.F) {
	conformance.FuzzCodecDecode(f, core.BinaryCodec{})
}
