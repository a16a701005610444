package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hoard-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	st, err := sqlitestore.New(ctx, &sqlitestore.Options{
		Path:     filepath.Join(dir, "cache.db"),
		MaxBytes: 256 << 20,
	})
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
	st, err := core.OpenStore(ctx, "sqlite:///:memory:?max_bytes=64MiB&sweep_interval=30s")
	if err != nil {
		log.Fatal(err)
	}
	s := st.(*sqlitestore.Store)
	defer s.Close()
	fmt.Println(s.MaxBytes(), s.Path() == "")
	// Output:
	// 67108864 true
}

// A body written as a stream never needs to be in memory whole.
func ExampleStore_CreateStream() {
	ctx := context.Background()
	st, err := sqlitestore.New(ctx, nil) // in memory
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	w, err := st.CreateStream(ctx, "big", core.Meta{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(w, strings.NewReader(strings.Repeat("x", 1<<20))); err != nil {
		_ = w.Abort()
		log.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		log.Fatal(err)
	}
	rc, size, err := st.OpenStream(ctx, "big")
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	fmt.Println(size, n, err)
	// Output:
	// 1048576 1048576 <nil>
}
