package core_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/hoardhttp/hoard/core"
)

// A stream as the cache stores it: the StreamID, a header and the body in
// sealed segments (here with the default codec, a CRC-32C per segment).
// Reading it back checks every segment before releasing its bytes.
func ExampleSealStream() {
	const key, id = "h1:0123", "00112233aabbccdd"
	body := []byte("a body too large to keep in an entry")

	var stored bytes.Buffer
	w, err := core.SealStream(&stored, core.BinaryCodec{}, key, id)
	if err != nil {
		fmt.Println(err)
		return
	}
	w.Write(body)
	w.Close() // writes the final segment
	fmt.Println(int64(stored.Len()) == core.SealedStreamSize(core.BinaryCodec{}, id, int64(len(body))))

	r, err := core.OpenSealedStream(bytes.NewReader(stored.Bytes()), core.BinaryCodec{}, key, id, int64(len(body)))
	if err != nil {
		fmt.Println(err)
		return
	}
	got, err := io.ReadAll(r)
	fmt.Printf("%s %v\n", got, err)

	// The same bytes read for another key fail: segments are bound to it.
	_, err = core.OpenSealedStream(bytes.NewReader(stored.Bytes()), core.BinaryCodec{}, "h1:other", id, int64(len(body)))
	fmt.Println(err != nil)
	// Output:
	// true
	// a body too large to keep in an entry <nil>
	// true
}
