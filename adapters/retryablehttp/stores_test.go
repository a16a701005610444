package retryablecache_test

import "testing"

// testStores are the stores the conformance scenarios run over.
func testStores(t *testing.T) []namedStore {
	return []namedStore{{"memstore", memStore}}
}
