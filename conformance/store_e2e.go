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

// ScenarioStoreMaker is implemented by store harnesses whose stores for the
// HTTP scenarios (the EndToEnd run) should differ from those the store
// checks get, such as a memory store bounded by ScenarioMemBytes rather
// than sized for the largest value the store checks write. Without it the
// scenarios run over MakeStore's stores.
type ScenarioStoreMaker interface {
	MakeScenarioStore(ctx context.Context) (core.Store, error)
}

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
				mk := h.MakeStore
				if sm, ok := h.(ScenarioStoreMaker); ok {
					mk = sm.MakeScenarioStore
				}
				s := &suite{harness: netHTTPHarness{}, newStore: mk}
				sc.run(t, s)
			})
		}
	})
}
