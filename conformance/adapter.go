package conformance

import (
	"context"
	"net/http"
	"os"
	"testing"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// Doer sends one request through an adapter and returns the response as the
// adapter's library would hand it to its user, translated to *http.Response.
// The caller reads and closes the body.
type Doer func(req *http.Request) (*http.Response, error)

// AdapterHarness installs an adapter over a cache.
type AdapterHarness interface {
	// Doer returns a function that sends requests through the adapter
	// installed over cache, with the library's default transport below it.
	Doer(cache *core.Cache) Doer
	// Close releases what the harness holds.
	Close()
}

// StoreMaker is implemented by harnesses that want the scenarios to run over
// a particular store; without it they run over memstore.
type StoreMaker interface {
	MakeStore(ctx context.Context) (core.Store, error)
}

// AdapterHarnessMaker makes a harness for one subtest.
type AdapterHarnessMaker func(ctx context.Context, t *testing.T) (AdapterHarness, error)

// RunAdapterTests runs every HTTP caching scenario through the adapter that
// newHarness installs, against httptest origins that count requests, with an
// injected clock (no test sleeps to wait for expiry). The scenarios run over
// the harness's store when it implements StoreMaker, and otherwise twice:
// over memstore ("memstore/…") and over a persistent store, filestore in a
// temporary directory ("filestore/…").
func RunAdapterTests(t *testing.T, newHarness AdapterHarnessMaker) {
	t.Helper()
	probe, err := newHarness(t.Context(), t)
	if err != nil {
		t.Fatalf("making harness: %v", err)
	}
	_, own := probe.(StoreMaker)
	probe.Close()
	if own {
		runAdapterScenarios(t, newHarness, nil)
		return
	}
	t.Run("memstore", func(t *testing.T) { runAdapterScenarios(t, newHarness, memStore) })
	t.Run("filestore", func(t *testing.T) {
		parent := t.TempDir()
		runAdapterScenarios(t, newHarness, func(context.Context) (core.Store, error) {
			// A fresh directory per store: each scenario's cache starts empty.
			dir, err := os.MkdirTemp(parent, "store")
			if err != nil {
				return nil, err
			}
			return filestore.New(dir, nil)
		})
	})
}

// runAdapterScenarios runs every scenario with a fresh harness, over stores
// from newStore (nil: the harness's own).
func runAdapterScenarios(t *testing.T, newHarness AdapterHarnessMaker, newStore func(context.Context) (core.Store, error)) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			h, err := newHarness(t.Context(), t)
			if err != nil {
				t.Fatalf("making harness: %v", err)
			}
			t.Cleanup(h.Close)
			sc.run(t, &suite{harness: h, newStore: newStore})
		})
	}
}

// ScenarioMemBytes is the size bound of the memstores the HTTP scenarios
// run over: RunAdapterTests' "memstore" run, and the memory stores of store
// harnesses that implement ScenarioStoreMaker. The scenarios store
// kilobytes; a small bound also keeps eviction within reach of the
// scenarios that fill a store.
const ScenarioMemBytes = 4 << 20

func memStore(ctx context.Context) (core.Store, error) {
	return memstore.New(&memstore.Options{MaxBytes: ScenarioMemBytes})
}
