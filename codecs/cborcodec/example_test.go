package cborcodec_test

import (
	"fmt"
	"net/http"

	"github.com/hoardhttp/hoard/codecs/cborcodec"
	"github.com/hoardhttp/hoard/core"
)

func ExampleCodec() {
	e := &core.Entry{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("hello")}
	data, err := cborcodec.Codec{}.Encode(e)
	if err != nil {
		fmt.Println(err)
		return
	}
	var out core.Entry
	if err := (cborcodec.Codec{}).Decode(data, &out); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%#x %d %s %s\n", data[0], out.Status, out.Header.Get("Content-Type"), out.Body)
	// Output: 0xc1 200 text/plain hello
}
