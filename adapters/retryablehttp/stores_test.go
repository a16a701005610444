package retryablecache_test

import (
	"context"
	"os"
	"testing"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
)

// testStores are the stores the conformance scenarios run over: memstore
// and a persistent one, filestore, each store in its own directory under
// the test's temporary directory.
func testStores(t *testing.T) []namedStore {
	parent := t.TempDir()
	return []namedStore{
		{"memstore", memStore},
		{"filestore", func(context.Context) (core.Store, error) {
			dir, err := os.MkdirTemp(parent, "store")
			if err != nil {
				return nil, err
			}
			return filestore.New(dir, nil)
		}},
	}
}
