package filestore_test

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
	"github.com/hoardhttp/hoard/stores/filestore"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hoard-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	st, err := filestore.New(filepath.Join(dir, "cache"), &filestore.Options{MaxBytes: 1 << 30})
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

	// A large body goes in as a stream, without being held in memory.
	w, err := st.CreateStream(ctx, "GET https://example.com/", meta)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(w, strings.NewReader("a body of any size")); err != nil {
		_ = w.Abort()
		log.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		log.Fatal(err)
	}
	rc, size, err := st.OpenStream(ctx, "GET https://example.com/")
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	stream, err := io.ReadAll(rc)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stream: %d bytes: %s\n", size, stream)

	for item, err := range st.List(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("listed:", item.Key, item.Meta.Status, item.Meta.Size)
	}
	// Output:
	// hit: hello
	// miss is ErrNotFound: true
	// stream: 18 bytes: a body of any size
	// listed: GET https://example.com/ 200 5
}

// Opening the store from a DSN, as configuration files do. The path must be
// absolute: file:// followed by /path.
func Example_openStore() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hoard-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	st, err := core.OpenStore(ctx, "file://"+filepath.ToSlash(dir)+"?max_bytes=1GiB&sweep_interval=1m")
	if err != nil {
		log.Fatal(err)
	}
	fs := st.(*filestore.Store)
	defer fs.Close()
	fmt.Println(fs.Options().MaxBytes, fs.Options().SweepInterval)

	_, err = core.OpenStore(ctx, "file://cache/app")
	fmt.Println(err != nil)
	// Output:
	// 1073741824 1m0s
	// true
}
