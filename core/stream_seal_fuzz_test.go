package core_test

import (
	"bytes"
	"errors"
	"io"
	"runtime/metrics"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
)

// runtimeAllocs measures the bytes allocated on the heap between start and
// bytes (all goroutines: run it where nothing else allocates much).
type runtimeAllocs struct{ at uint64 }

func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func (a *runtimeAllocs) start()        { a.at = heapAllocs() }
func (a *runtimeAllocs) bytes() uint64 { return heapAllocs() - a.at }

// FuzzStreamDecode feeds arbitrary bytes and declared body sizes to the
// stream segment decoder (core.OpenSealedStream), framed for the default
// codec (CRC-32C) or for an encrypting one: it never panics, fails only
// with errors wrapping core.ErrCorrupt, returns exactly the declared number
// of bytes when it succeeds, and allocates about one segment whatever the
// declared size.
func FuzzStreamDecode(f *testing.F) {
	enc, err := codecs.NewEncrypted(core.BinaryCodec{}, [][]byte{bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		f.Fatal(err)
	}
	codecList := []core.Codec{core.BinaryCodec{}, enc}
	const key, id = "h1:fuzz", "0011223344556677"
	for sel, c := range codecList {
		for _, n := range []int{0, 1, 100, core.StreamSegmentSize, core.StreamSegmentSize + 3} {
			body := conformance.MarkedBody(n)
			data, err := conformance.SealTestStream(c, key, id, body)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(byte(sel), int64(n), data)
			f.Add(byte(sel), int64(n)+1, data[:len(data)/2])
		}
	}
	f.Fuzz(func(t *testing.T, sel byte, bodySize int64, data []byte) {
		c := codecList[int(sel)%len(codecList)]
		var a runtimeAllocs
		a.start()
		var n int64
		r, err := core.OpenSealedStream(bytes.NewReader(data), c, key, id, bodySize)
		if err == nil {
			n, err = io.Copy(io.Discard, r)
		}
		if allocated := a.bytes(); allocated > 1<<20 {
			t.Errorf("decoding %d bytes declared as %d allocated %d bytes", len(data), bodySize, allocated)
		}
		if err != nil {
			if !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("error %v, want one wrapping core.ErrCorrupt", err)
			}
			return
		}
		if n != bodySize {
			t.Fatalf("decoded %d bytes without error, the stream declares %d", n, bodySize)
		}
	})
}
