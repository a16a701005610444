package bsoncodec_test

import (
	"fmt"

	"github.com/hoardhttp/hoard/codecs/bsoncodec"
	"github.com/hoardhttp/hoard/core"
)

// A MongoDB store can keep an entry as a document and read its fields.
func ExampleMarshalDocument() {
	doc, err := bsoncodec.MarshalDocument(&core.Entry{Method: "GET", URL: "https://example.com/", Status: 200, Body: []byte("hi")})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(doc.Lookup("hoard").StringValue(), doc.Lookup("url").StringValue(), doc.Lookup("status").Int32())

	var e core.Entry
	if err := bsoncodec.UnmarshalDocument(doc, &e); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.Status, string(e.Body))
	// Output:
	// bson/1 https://example.com/ 200
	// 200 hi
}
