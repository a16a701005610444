package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

func Example() {
	ctx := context.Background()
	st, err := memstore.New(&memstore.Options{MaxBytes: 32 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	meta := core.Meta{URL: "https://example.com/", Method: "GET", Status: 200}
	if err := st.Set(ctx, "GET https://example.com/", []byte("hello"), meta); err != nil {
		log.Fatal(err)
	}
	body, err := st.Get(ctx, "GET https://example.com/")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("hit: %s\n", body)

	_, err = st.Get(ctx, "GET https://example.com/missing")
	fmt.Println("miss is ErrNotFound:", errors.Is(err, core.ErrNotFound))

	for item, err := range st.List(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("listed:", item.Key, item.Meta.Status, item.Meta.Size)
	}
	// Output:
	// hit: hello
	// miss is ErrNotFound: true
	// listed: GET https://example.com/ 200 5
}

// Opening the store from a DSN, as configuration files do.
func Example_openStore() {
	ctx := context.Background()
	st, err := core.OpenStore(ctx, "mem://?max_bytes=64MiB")
	if err != nil {
		log.Fatal(err)
	}
	defer st.(*memstore.Store).Close()
	fmt.Println(st.(*memstore.Store).MaxBytes())
	// Output:
	// 67108864
}
