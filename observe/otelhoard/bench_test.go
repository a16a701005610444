package otelhoard_test

import (
	"context"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/observe/otelhoard"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// BenchmarkObserve is the cost the observer adds to a hit: one event with
// one store call, recorded into the SDK's instruments (no span).
func BenchmarkObserve(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer mp.Shutdown(context.Background())
	obs, err := otelhoard.New(&otelhoard.Options{MeterProvider: mp})
	if err != nil {
		b.Fatal(err)
	}
	ev := &core.Event{Outcome: core.OutcomeHit, Method: "GET", Key: "k", Status: 200, BytesFromCache: 1024,
		StoreOps: []core.StoreOp{{Op: core.OpGet, Duration: 3 * time.Microsecond}}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		obs.Observe(ctx, ev)
	}
}
