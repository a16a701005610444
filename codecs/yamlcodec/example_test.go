package yamlcodec_test

import (
	"fmt"
	"net/http"

	"github.com/hoardhttp/hoard/codecs/yamlcodec"
	"github.com/hoardhttp/hoard/core"
)

func ExampleCodec() {
	e := &core.Entry{
		Method: "GET", URL: "https://api.example.com/items", Status: 200,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   []byte(`{"items":[1,2]}`),
	}
	data, err := yamlcodec.Codec{}.Encode(e)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(data))
	var out core.Entry
	if err := (yamlcodec.Codec{}).Decode(data, &out); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out.Status, string(out.Body))
	// Output:
	// hoard: yaml/1
	// method: GET
	// url: https://api.example.com/items
	// status: 200
	// header:
	//   Content-Type:
	//     - application/json
	// body: '{"items":[1,2]}'
	// ...
	// 200 {"items":[1,2]}
}
