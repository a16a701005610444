package conformance

import (
	"context"
	"testing"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
)

// netHTTPHarness is the reference adapter harness: net/http over the cache.
type netHTTPHarness struct{}

func (netHTTPHarness) Doer(c *core.Cache) Doer { return nethttpcache.NewClient(c, nil).Do }
func (netHTTPHarness) Close()                  {}

// runEndToEnd runs every HTTP caching scenario through the net/http adapter
// over stores made by newHarness, so each store gets the RFC coverage.
func runEndToEnd(t *testing.T, newHarness StoreHarnessMaker) {
	t.Helper()
	runLargeBody(t, newHarness)
	t.Run("EndToEnd", func(t *testing.T) {
		for _, sc := range scenarios() {
			t.Run(sc.name, func(t *testing.T) {
				h, err := newHarness(t.Context(), t)
				if err != nil {
					t.Fatalf("making harness: %v", err)
				}
				t.Cleanup(h.Close)
				s := &suite{harness: netHTTPHarness{}, newStore: func(ctx context.Context) (core.Store, error) {
					return h.MakeStore(ctx)
				}}
				sc.run(t, s)
			})
		}
	})
}
