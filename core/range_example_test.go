package core_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// A Range request for a stored complete response is answered from the
// store with a 206 (RFC 9110 §14); a range past the end gets a 416.
func ExampleCache_Do_range() {
	store, err := memstore.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	calls := 0
	send := func(req *http.Request) (*http.Response, error) {
		calls++
		body := "0123456789abcdefghij"
		return &http.Response{
			StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Cache-Control": {"max-age=60"}, "Etag": {`"v1"`}},
			Body:          io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)), Request: req,
		}, nil
	}
	get := func(hdr ...string) {
		req, _ := http.NewRequest(http.MethodGet, "https://files.example.com/data", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := cache.Do(req, send)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d %q Content-Range=%q from cache=%v\n",
			resp.StatusCode, b, resp.Header.Get("Content-Range"), core.InfoOf(resp).FromCache)
	}
	get()                                          // stored
	get("Range", "bytes=10-14")                    // a range of it
	get("Range", "bytes=-3")                       // the last three bytes
	get("Range", "bytes=5-9", "If-Range", `"v1"`)  // If-Range matches
	get("Range", "bytes=5-9", "If-Range", `"old"`) // it does not: the whole
	get("Range", "bytes=100-")                     // past the end
	fmt.Println("origin calls:", calls)
	// Output:
	// 200 "0123456789abcdefghij" Content-Range="" from cache=false
	// 206 "abcde" Content-Range="bytes 10-14/20" from cache=true
	// 206 "hij" Content-Range="bytes 17-19/20" from cache=true
	// 206 "56789" Content-Range="bytes 5-9/20" from cache=true
	// 200 "0123456789abcdefghij" Content-Range="" from cache=true
	// 416 "" Content-Range="bytes */20" from cache=true
	// origin calls: 1
}
