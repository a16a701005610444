package otelhoard_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/observe/otelhoard"
	"github.com/hoardhttp/hoard/stores/memstore"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func Example() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	obs, err := otelhoard.New(&otelhoard.Options{MeterProvider: mp, StoreName: "memory"})
	if err != nil {
		log.Fatal(err)
	}
	store, err := memstore.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store, core.WithObserver(obs))
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	reg, err := obs.Watch(cache)
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()

	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/items", nil)
		resp, err := cache.Do(req, origin)
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "hoard.requests" {
			for _, dp := range s.DataPoints {
				status, _ := dp.Attributes.Value(otelhoard.AttrCacheStatus)
				fmt.Println(m.Name, status.AsString(), dp.Value)
			}
		}
	}
	// Unordered output:
	// hoard.requests stored 1
	// hoard.requests hit 2
}
