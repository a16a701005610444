package conformance

import (
	"context"
	"net/http"
	"testing"

	"github.com/hoardhttp/hoard/core"
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
// injected clock (no test sleeps to wait for expiry).
func RunAdapterTests(t *testing.T, newHarness AdapterHarnessMaker) {
	t.Helper()
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			h, err := newHarness(t.Context(), t)
			if err != nil {
				t.Fatalf("making harness: %v", err)
			}
			t.Cleanup(h.Close)
			s := &suite{harness: h}
			sc.run(t, s)
		})
	}
}

func memStore(ctx context.Context) (core.Store, error) {
	return memstore.New(nil)
}
