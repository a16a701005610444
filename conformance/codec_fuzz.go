package conformance

import (
	"errors"
	"testing"

	"github.com/hoardhttp/hoard/core"
)

// FuzzCodecDecode is the body of a codec's FuzzXxxDecode target. It seeds
// the corpus with c's encodings of CodecSampleEntries (except the largest),
// the extra seeds given, and short inputs around c's format identifier; then
// for every input it checks that Decode neither panics nor fails with an
// error that does not wrap core.ErrCorrupt, and that an entry it decodes
// survives Encode and Decode again unchanged.
//
//	func FuzzMyCodecDecode(f *testing.F) { conformance.FuzzCodecDecode(f, mycodec.New()) }
func FuzzCodecDecode(f *testing.F, c core.Codec, seeds ...[]byte) {
	f.Helper()
	var id byte
	for _, in := range CodecSampleEntries() {
		if len(in.Entry.Body) > 4<<10 || len(in.Entry.Header["X-Long"]) > 0 {
			continue // keep the corpus small: the fuzzer mutates every seed
		}
		data, err := c.Encode(in.Entry)
		if err != nil {
			f.Fatalf("Encode %s: %v", in.Name, err)
		}
		id = data[0]
		f.Add(data)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte(nil))
	f.Add([]byte{id})
	f.Add([]byte{id, 0})
	f.Add([]byte{id, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e1 core.Entry
		if err := decodeSafely(c, data, &e1); err != nil {
			if !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("Decode: got error %v, want nil or one wrapping core.ErrCorrupt", err)
			}
			return
		}
		again, err := c.Encode(&e1)
		if err != nil {
			// A decoded entry may hold values the encoder refuses (for
			// example a time the format cannot write); that is an error,
			// never a panic.
			return
		}
		var e2 core.Entry
		if err := decodeSafely(c, again, &e2); err != nil {
			t.Fatalf("Decode of a re-encoded entry: got error %v, want nil", err)
		}
		if d := DiffEntry(&e2, &e1); d != "" {
			t.Fatalf("decode(encode(decode(data))) differs from decode(data): %s", d)
		}
	})
}
