package otelhoard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/observe/otelhoard"
	"github.com/hoardhttp/hoard/stores/memstore"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func origin(req *http.Request) (*http.Response, error) {
	body := "hello, world"
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Cache-Control": {"max-age=60"}},
		Body:   io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}, nil
}

// failing fails every Set.
type failing struct{ *memstore.Store }

func (failing) Set(context.Context, string, []byte, core.Meta) error { return errors.New("disk full") }

type fixture struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	cache  *core.Cache
}

func newFixture(t *testing.T, store core.Store, opts ...core.Option) *fixture {
	t.Helper()
	f := &fixture{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader))
	f.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(f.spans))
	obs, err := otelhoard.New(&otelhoard.Options{MeterProvider: mp, StoreName: "mem"})
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]core.Option{core.WithObserver(obs), core.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	f.cache, err = core.New(store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := obs.Watch(f.cache)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Unregister(); f.cache.Close(); mp.Shutdown(context.Background()) })
	return f
}

// get sends one GET under a span of its own.
func (f *fixture) get(t *testing.T, method, url string) {
	t.Helper()
	ctx, span := f.tp.Tracer("test").Start(context.Background(), "GET")
	req, _ := http.NewRequestWithContext(ctx, method, url, nil)
	resp, err := f.cache.Do(req, origin)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	span.End()
}

func (f *fixture) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := f.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelhoard.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func attrsString(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
	}
	return strings.Join(parts, ",")
}

func sums(t *testing.T, m metricdata.Metrics) map[string]int64 {
	t.Helper()
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s: data %T, want a Sum[int64]", m.Name, m.Data)
	}
	if !s.IsMonotonic || s.Temporality != metricdata.CumulativeTemporality {
		t.Errorf("%s: not a cumulative monotonic sum", m.Name)
	}
	out := map[string]int64{}
	for _, dp := range s.DataPoints {
		out[attrsString(dp.Attributes)] = dp.Value
	}
	return out
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, must(memstore.New(nil)))
	f.get(t, http.MethodGet, "https://example.com/a") // stored
	f.get(t, http.MethodGet, "https://example.com/a") // hit
	f.get(t, http.MethodGet, "https://example.com/a") // hit
	f.get(t, "PURGE", "https://example.com/a")        // bypass, §4.4 deletes
	f.get(t, http.MethodGet, "https://example.com/a") // stored again
	got := f.collect(t)

	wantReq := map[string]int64{
		"hoard.background=false,hoard.cache_status=stored,http.request.method=GET":    2,
		"hoard.background=false,hoard.cache_status=hit,http.request.method=GET":       2,
		"hoard.background=false,hoard.cache_status=bypass,http.request.method=_OTHER": 1,
	}
	if d := diff(sums(t, got["hoard.requests"]), wantReq); d != "" {
		t.Errorf("hoard.requests: %s", d)
	}
	if got["hoard.requests"].Unit != "{request}" {
		t.Errorf("unit %q", got["hoard.requests"].Unit)
	}
	if d := diff(sums(t, got["hoard.served_from_cache"]), map[string]int64{"hoard.store.name=mem": 24}); d != "" {
		t.Errorf("hoard.served_from_cache: %s", d)
	}
	if d := diff(sums(t, got["hoard.invalidations"]), map[string]int64{"hoard.store.name=mem": 2}); d != "" {
		t.Errorf("hoard.invalidations: %s", d)
	}
	h, ok := got["hoard.store.duration"].Data.(metricdata.Histogram[float64])
	if !ok || got["hoard.store.duration"].Unit != "s" {
		t.Fatalf("hoard.store.duration: %T %q", got["hoard.store.duration"].Data, got["hoard.store.duration"].Unit)
	}
	counts := map[string]uint64{}
	for _, dp := range h.DataPoints {
		counts[attrsString(dp.Attributes)] = dp.Count
		if dp.Sum <= 0 || len(dp.Bounds) != len(otelhoard.DurationBuckets) {
			t.Errorf("data point %v: sum %v, %d bounds", dp.Attributes, dp.Sum, len(dp.Bounds))
		}
	}
	wantOps := map[string]uint64{
		"hoard.store.name=mem,hoard.store.operation=get":    4, // PURGE reads nothing
		"hoard.store.name=mem,hoard.store.operation=set":    2,
		"hoard.store.name=mem,hoard.store.operation=delete": 2,
	}
	if d := diff(counts, wantOps); d != "" {
		t.Errorf("hoard.store.duration counts: %s", d)
	}
}

func TestStoreErrors(t *testing.T) {
	f := newFixture(t, failing{must(memstore.New(nil))})
	f.get(t, http.MethodGet, "https://example.com/e")
	got := f.collect(t)
	if d := diff(sums(t, got["hoard.store.errors"]), map[string]int64{"hoard.store.name=mem": 1}); d != "" {
		t.Errorf("hoard.store.errors: %s", d)
	}
	if d := diff(sums(t, got["hoard.corrupt_entries"]), map[string]int64{"hoard.store.name=mem": 0}); d != "" {
		t.Errorf("hoard.corrupt_entries: %s", d)
	}
	h := got["hoard.store.duration"].Data.(metricdata.Histogram[float64])
	found := false
	for _, dp := range h.DataPoints {
		if attrsString(dp.Attributes) == "error.type=_OTHER,hoard.store.name=mem,hoard.store.operation=set" && dp.Count == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("no failed set in hoard.store.duration: %+v", h.DataPoints)
	}
	// The request failed open as a miss, and the span says so.
	spans := f.spans.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	var names []string
	for _, e := range spans[0].Events() {
		names = append(names, e.Name+"{"+attrsString(attribute.NewSet(e.Attributes...))+"}")
	}
	want := "hoard.cache{hoard.cache_status=miss,hoard.served_from_cache=0,hoard.store.calls=2,hoard.store.name=mem} " +
		"hoard.store.error{error.type=_OTHER,exception.message=disk full,hoard.store.name=mem,hoard.store.operation=set}"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("span events:\n%s\nwant:\n%s", got, want)
	}
}

func TestSpanAttributes(t *testing.T) {
	f := newFixture(t, must(memstore.New(nil)))
	f.get(t, http.MethodGet, "https://example.com/s")
	f.get(t, http.MethodGet, "https://example.com/s")
	spans := f.spans.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	for i, want := range []string{"stored", "hit"} {
		s := spans[i]
		if got := attrsString(attribute.NewSet(s.Attributes()...)); got != "hoard.cache_status="+want {
			t.Errorf("span %d attributes %s", i, got)
		}
		if ev := s.Events(); len(ev) != 1 || ev[0].Name != "hoard.cache" {
			t.Errorf("span %d events %+v", i, ev)
		}
	}
	// A request with no recording span records metrics only.
	req, _ := http.NewRequest(http.MethodGet, "https://example.com/s", nil)
	resp, err := f.cache.Do(req, origin)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestWatchNil(t *testing.T) {
	obs, err := otelhoard.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.Watch(nil); err == nil {
		t.Error("Watch(nil) succeeded")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func diff[V comparable](got, want map[string]V) string {
	var b strings.Builder
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			b.WriteString("\n  " + k + ": got " + fmtV(g, ok) + ", want " + fmtV(w, true))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			b.WriteString("\n  unexpected " + k + ": " + fmtV(g, true))
		}
	}
	return b.String()
}

func fmtV[V any](v V, ok bool) string {
	if !ok {
		return "none"
	}
	return fmt.Sprint(v)
}

// down fails every call, so the breaker opens.
type down struct{}

func (down) Get(context.Context, string) ([]byte, error)          { return nil, errors.New("refused") }
func (down) Set(context.Context, string, []byte, core.Meta) error { return errors.New("refused") }
func (down) Delete(context.Context, string) error                 { return errors.New("refused") }

func TestBreakerMetrics(t *testing.T) {
	// A backoff of an hour: the breaker stays open (no probe) while the
	// test reads it.
	f := newFixture(t, down{}, core.WithBreaker(core.BreakerSettings{Backoff: time.Hour, MaxBackoff: time.Hour}))
	got := f.collect(t)
	gauge := func(m metricdata.Metrics) map[string]int64 {
		g, ok := m.Data.(metricdata.Gauge[int64])
		if !ok {
			t.Fatalf("%s: data %T, want a Gauge[int64]", m.Name, m.Data)
		}
		out := map[string]int64{}
		for _, dp := range g.DataPoints {
			out[attrsString(dp.Attributes)] = dp.Value
		}
		return out
	}
	closed := map[string]int64{
		"hoard.breaker.state=closed,hoard.store.name=mem":    1,
		"hoard.breaker.state=open,hoard.store.name=mem":      0,
		"hoard.breaker.state=half-open,hoard.store.name=mem": 0,
	}
	if d := diff(gauge(got["hoard.breaker.state"]), closed); d != "" {
		t.Errorf("hoard.breaker.state before any failure: %s", d)
	}
	for i := 0; i < 10 && f.cache.Stats().Breaker.Opens == 0; i++ {
		f.get(t, http.MethodGet, fmt.Sprintf("https://example.com/%d", i))
	}
	got = f.collect(t)
	open := map[string]int64{
		"hoard.breaker.state=closed,hoard.store.name=mem":    0,
		"hoard.breaker.state=open,hoard.store.name=mem":      1,
		"hoard.breaker.state=half-open,hoard.store.name=mem": 0,
	}
	if d := diff(gauge(got["hoard.breaker.state"]), open); d != "" {
		t.Errorf("hoard.breaker.state after repeated failures: %s", d)
	}
	if d := diff(sums(t, got["hoard.breaker.opens"]), map[string]int64{"hoard.store.name=mem": 1}); d != "" {
		t.Errorf("hoard.breaker.opens: %s", d)
	}
}
