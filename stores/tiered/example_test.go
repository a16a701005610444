package tiered_test

import (
	"context"
	"fmt"
	"os"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
	"github.com/hoardhttp/hoard/stores/memstore"
	"github.com/hoardhttp/hoard/stores/tiered"
)

// A memstore in front of a filestore: the second Get is served from memory.
// Over a shared store without invalidation (as here), an L1 copy lives at
// most MaxL1Age.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "tiered-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	l2, err := filestore.New(dir, nil)
	if err != nil {
		panic(err)
	}
	l1, err := memstore.New(nil)
	if err != nil {
		panic(err)
	}
	st, err := tiered.New(l1, l2, nil)
	if err != nil {
		panic(err)
	}
	cache, err := core.New(st)
	if err != nil {
		panic(err)
	}
	defer cache.Close() // closes both tiers

	ctx := context.Background()
	if err := st.Set(ctx, "k", []byte("v"), core.Meta{}); err != nil {
		panic(err)
	}
	v, _ := l1.Get(ctx, "k")
	fmt.Printf("L1 holds %q\n", v)
	_, streams := st.(core.Streamer)
	fmt.Println("streams (to L2):", streams)
	// Output:
	// L1 holds "v"
	// streams (to L2): true
}
