package codecs_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/core"
)

// The JSON codec writes entries a person can read.
func ExampleJSON() {
	created := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	e := &core.Entry{
		Method: "GET",
		URL:    "https://api.example.com/users/1",
		Status: 200,
		Proto:  "HTTP/1.1",
		Header: http.Header{
			"Content-Type": {"application/json"},
			"Set-Cookie":   {"a=1", "b=2"},
		},
		Body:                 []byte(`{"id":1,"name":"Ada"}`),
		Created:              created,
		Expires:              created.Add(time.Hour),
		StaleWhileRevalidate: -1,
		StaleIfError:         -1,
	}
	data, err := codecs.JSON{Indent: true}.Encode(e)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(data))
	// Output:
	// {
	//   "hoard": "json/1",
	//   "method": "GET",
	//   "url": "https://api.example.com/users/1",
	//   "status": 200,
	//   "proto": "HTTP/1.1",
	//   "header": {
	//     "Content-Type": [
	//       "application/json"
	//     ],
	//     "Set-Cookie": [
	//       "a=1",
	//       "b=2"
	//     ]
	//   },
	//   "body": "{\"id\":1,\"name\":\"Ada\"}",
	//   "created": "2024-05-06T07:08:09.123456789Z",
	//   "expires": "2024-05-06T08:08:09.123456789Z",
	//   "stale_while_revalidate_ns": -1,
	//   "stale_if_error_ns": -1
	// }
}

// Wrappers compose: here entries are compressed when that saves space,
// then encrypted. Keys are listed newest first: after a rotation, entries
// written with the old key still decode.
func ExampleNewEncrypted() {
	oldKey := bytes.Repeat([]byte{1}, 32) // use 32 random bytes, kept secret
	newKey := bytes.Repeat([]byte{2}, 32)

	gz, err := codecs.NewGzip(core.BinaryCodec{}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	before, _ := codecs.NewEncrypted(gz, [][]byte{oldKey})
	after, _ := codecs.NewEncrypted(gz, [][]byte{newKey, oldKey})
	other, _ := codecs.NewEncrypted(gz, [][]byte{newKey})

	data, err := before.Encode(&core.Entry{Status: 200, Body: []byte("hello")})
	if err != nil {
		fmt.Println(err)
		return
	}
	var e core.Entry
	fmt.Println(after.Decode(data, &e), e.Status, string(e.Body))
	err = other.Decode(data, &e)
	fmt.Println(errors.Is(err, core.ErrCorrupt))
	// Output:
	// <nil> 200 hello
	// true
}

// A signed entry that was changed in the store fails to decode with
// core.ErrCorrupt: the cache treats it as a miss, deletes and counts it.
func ExampleNewSigned() {
	signed, err := codecs.NewSigned(core.BinaryCodec{}, [][]byte{bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		fmt.Println(err)
		return
	}
	data, _ := signed.Encode(&core.Entry{Status: 200, Body: []byte("price: 10")})
	tampered := bytes.Replace(data, []byte("10"), []byte("99"), 1)

	var e core.Entry
	fmt.Println(signed.Decode(data, &e), string(e.Body))
	fmt.Println(errors.Is(signed.Decode(tampered, &e), core.ErrCorrupt))
	// Output:
	// <nil> price: 10
	// true
}
