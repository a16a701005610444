package zstdcodec_test

import (
	"bytes"
	"fmt"

	"github.com/hoardhttp/hoard/codecs/zstdcodec"
	"github.com/hoardhttp/hoard/core"
)

// Entries at least MinSize (512 bytes by default) long are compressed when
// that saves space.
func ExampleNew() {
	c, err := zstdcodec.New(core.BinaryCodec{}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	e := &core.Entry{Status: 200, Body: bytes.Repeat([]byte("all work and no play "), 100)}
	data, err := c.Encode(e)
	if err != nil {
		fmt.Println(err)
		return
	}
	var out core.Entry
	if err := c.Decode(data, &out); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(e.Body), len(data) < 200, bytes.Equal(out.Body, e.Body))
	// Output: 2100 true true
}
