package pgstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/pgstore"
)

// A store opened by DSN. The example needs a server, so it is compiled but
// not run by go test (TestOpenStoreByDSN runs the same calls).
func Example() {
	ctx := context.Background()
	st, err := pgstore.Open(ctx, "postgres://app@127.0.0.1:5432/app?sslmode=disable&table=http_cache&max_bytes=256MiB")
	if err != nil {
		log.Fatal(err) // wraps core.ErrUnavailable or core.ErrInvalidConfig
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
	fmt.Println(string(body))
}

// ParseDSN shows what a DSN configures, without connecting.
func ExampleParseDSN() {
	opts, err := pgstore.ParseDSN("postgres://app@db.internal/app?table=cache.http&max_bytes=4GiB&sweep_interval=off")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(opts.Table, opts.MaxBytes, opts.SweepInterval)
	// Output: cache.http 4294967296 -1ns
}

// With notify=true every change is also sent on the table's LISTEN/NOTIFY
// channel, and a tiered store in front (tiered://?l2=<this DSN, escaped>)
// drops the in-process copies other processes change.
func ExampleParseDSN_notify() {
	opts, err := pgstore.ParseDSN("postgres://app@db.internal/app?table=http_cache&notify=true")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(opts.Table, opts.Notify)
	// Output: http_cache true
}
