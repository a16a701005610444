package memstore_test

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// cleanupGoroutines counts the goroutines running otter's periodic clean-up,
// one per live store.
func cleanupGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte("otter/v2.periodicCleanUp"))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestUnclosedStoreIsCollected checks that a Store its program forgot to
// Close does not keep a goroutine (and with it the store's memory) alive:
// otter's clean-up goroutine holds the cache only while it cleans it up, and
// returns at the first tick after the cache is collected. The goroutines are
// counted by their stacks, so that other tests' goroutines do not count.
func TestUnclosedStoreIsCollected(t *testing.T) {
	before := cleanupGoroutines()
	stores := make([]*memstore.Store, 20)
	for i := range stores {
		s, err := memstore.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set(t.Context(), "k", []byte("v"), core.Meta{Expires: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	// Held, the stores keep their goroutines (which may not have run yet;
	// those of earlier tests' stores may end meanwhile, so only ours are
	// sure to be there).
	deadline := time.Now().Add(5 * time.Second)
	for cleanupGoroutines() < len(stores) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := cleanupGoroutines(); n < len(stores) {
		t.Fatalf("%d clean-up goroutines with 20 open stores: the test no longer sees otter's goroutine", n)
	}
	runtime.KeepAlive(stores)
	stores = nil
	// The goroutines check at every tick (once a second); allow a few. No
	// other test runs meanwhile, so the count can only fall.
	deadline = time.Now().Add(5 * time.Second)
	for cleanupGoroutines() > before && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
	}
	if n := cleanupGoroutines(); n > before {
		t.Errorf("%d clean-up goroutines 5 s after 20 unclosed stores became unreachable, %d before", n, before)
	}
}
