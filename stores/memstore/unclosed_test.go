package memstore_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// TestUnclosedStoreIsCollected checks that a Store its program forgot to
// Close does not keep a goroutine (and with it the store's memory) alive:
// otter's clean-up goroutine holds the cache only while it cleans it up, and
// returns at the first tick after the cache is collected.
func TestUnclosedStoreIsCollected(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 20 {
		s, err := memstore.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set(t.Context(), "k", []byte("v"), core.Meta{Expires: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := runtime.NumGoroutine(); n < before+20 {
		t.Fatalf("%d goroutines with 20 open stores, %d before: the test no longer sees otter's goroutine", n, before)
	}
	// The goroutines check at every tick (once a second); allow a few.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines 5 s after 20 unclosed stores became unreachable, %d before", n, before)
	}
}
