package promhoard_test

import (
	"context"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/observe/promhoard"
)

// BenchmarkObserve is the cost the collector adds to a hit: one event with
// one store call.
func BenchmarkObserve(b *testing.B) {
	col := promhoard.New(nil)
	ev := &core.Event{Outcome: core.OutcomeHit, Method: "GET", Key: "k", Status: 200, BytesFromCache: 1024,
		StoreOps: []core.StoreOp{{Op: core.OpGet, Duration: 3 * time.Microsecond}}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		col.Observe(ctx, ev)
	}
}
