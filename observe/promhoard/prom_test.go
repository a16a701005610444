package promhoard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/observe/promhoard"
	"github.com/hoardhttp/hoard/stores/memstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
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

func newCache(t *testing.T, store core.Store, opts ...core.Option) (*core.Cache, *promhoard.Collector) {
	t.Helper()
	col := promhoard.New(&promhoard.Options{StoreName: "mem"})
	opts = append([]core.Option{core.WithObserver(col), core.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	c, err := core.New(store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	col.Watch(c)
	t.Cleanup(func() { c.Close() })
	return c, col
}

func do(t *testing.T, c *core.Cache, method, url string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := c.Do(req, origin)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
}

func TestCollector(t *testing.T) {
	store, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, col := newCache(t, store)
	do(t, c, http.MethodGet, "https://example.com/a") // stored
	do(t, c, http.MethodGet, "https://example.com/a") // hit
	do(t, c, http.MethodGet, "https://example.com/a") // hit
	do(t, c, "PURGE", "https://example.com/a")        // bypass, §4.4 deletes

	want := `
# HELP hoard_requests_total Requests through the cache, by outcome (Cache-Status).
# TYPE hoard_requests_total counter
hoard_requests_total{background="false",cache_status="bypass",method="GET"} 0
hoard_requests_total{background="false",cache_status="bypass",method="_OTHER"} 1
hoard_requests_total{background="false",cache_status="collapsed",method="GET"} 0
hoard_requests_total{background="false",cache_status="hit",method="GET"} 2
hoard_requests_total{background="false",cache_status="miss",method="GET"} 0
hoard_requests_total{background="false",cache_status="revalidated",method="GET"} 0
hoard_requests_total{background="false",cache_status="stale",method="GET"} 0
hoard_requests_total{background="false",cache_status="stored",method="GET"} 1
# HELP hoard_served_from_cache_bytes_total Response body bytes served from the store.
# TYPE hoard_served_from_cache_bytes_total counter
hoard_served_from_cache_bytes_total{store="mem"} 24
# HELP hoard_invalidations_total Keys deleted after unsafe methods (Cache.Stats().Invalidations).
# TYPE hoard_invalidations_total counter
hoard_invalidations_total{store="mem"} 2
# HELP hoard_store_errors_total Failed store calls on which the cache failed open (Cache.Stats().StoreErrors).
# TYPE hoard_store_errors_total counter
hoard_store_errors_total{store="mem"} 0
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(want),
		"hoard_requests_total", "hoard_served_from_cache_bytes_total", "hoard_invalidations_total", "hoard_store_errors_total"); err != nil {
		t.Error(err)
	}
	// get ×3, set, delete ×2: three label sets of the histogram.
	if n := testutil.CollectAndCount(col, "hoard_store_duration_seconds"); n != 3 {
		t.Errorf("hoard_store_duration_seconds: %d series, want 3", n)
	}
	// The collector registers and lints cleanly.
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(col); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

func TestStoreErrors(t *testing.T) {
	store, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, col := newCache(t, failing{store})
	do(t, c, http.MethodGet, "https://example.com/e")
	want := `
# HELP hoard_store_errors_total Failed store calls on which the cache failed open (Cache.Stats().StoreErrors).
# TYPE hoard_store_errors_total counter
hoard_store_errors_total{store="mem"} 1
# HELP hoard_requests_total Requests through the cache, by outcome (Cache-Status).
# TYPE hoard_requests_total counter
hoard_requests_total{background="false",cache_status="bypass",method="GET"} 0
hoard_requests_total{background="false",cache_status="collapsed",method="GET"} 0
hoard_requests_total{background="false",cache_status="hit",method="GET"} 0
hoard_requests_total{background="false",cache_status="miss",method="GET"} 1
hoard_requests_total{background="false",cache_status="revalidated",method="GET"} 0
hoard_requests_total{background="false",cache_status="stale",method="GET"} 0
hoard_requests_total{background="false",cache_status="stored",method="GET"} 0
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), "hoard_requests_total", "hoard_store_errors_total"); err != nil {
		t.Error(err)
	}
	// The failed set is in the histogram with its error type.
	var b strings.Builder
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "hoard_store_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				b.WriteString(lp.GetName() + "=" + lp.GetValue() + " ")
			}
			b.WriteString("count=" + strings.TrimSpace(strings.Repeat("I", int(m.GetHistogram().GetSampleCount()))) + "\n")
		}
	}
	wantSeries := "error_type= operation=get store=mem count=I\nerror_type=_OTHER operation=set store=mem count=I\n"
	if b.String() != wantSeries {
		t.Errorf("histogram series:\n%s\nwant:\n%s", b.String(), wantSeries)
	}
}

// down fails every call, so the breaker opens.
type down struct{}

func (down) Get(context.Context, string) ([]byte, error)          { return nil, errors.New("refused") }
func (down) Set(context.Context, string, []byte, core.Meta) error { return errors.New("refused") }
func (down) Delete(context.Context, string) error                 { return errors.New("refused") }

// breakerWant is the exposition of the breaker metrics with opens and the
// current state.
func breakerWant(opens int, state core.BreakerState) string {
	b := func(st core.BreakerState) int {
		if st == state {
			return 1
		}
		return 0
	}
	return fmt.Sprintf(`
# HELP hoard_breaker_opens_total Times the circuit breaker around the store opened (Cache.Stats().Breaker.Opens).
# TYPE hoard_breaker_opens_total counter
hoard_breaker_opens_total{store="mem"} %d
# HELP hoard_breaker_state State of the circuit breaker around the store: 1 for the current state, 0 for the others (Cache.Stats().Breaker.State).
# TYPE hoard_breaker_state gauge
hoard_breaker_state{state="closed",store="mem"} %d
hoard_breaker_state{state="half-open",store="mem"} %d
hoard_breaker_state{state="open",store="mem"} %d
`, opens, b(core.BreakerClosed), b(core.BreakerHalfOpen), b(core.BreakerOpen))
}

func TestBreakerMetrics(t *testing.T) {
	// A backoff of an hour: the breaker stays open (no probe) while the
	// test reads it.
	c, col := newCache(t, down{}, core.WithBreaker(core.BreakerSettings{Backoff: time.Hour, MaxBackoff: time.Hour}))
	names := []string{"hoard_breaker_state", "hoard_breaker_opens_total"}
	if err := testutil.CollectAndCompare(col, strings.NewReader(breakerWant(0, core.BreakerClosed)), names...); err != nil {
		t.Errorf("before any failure: %v", err)
	}
	for i := 0; i < 10 && c.Stats().Breaker.Opens == 0; i++ {
		do(t, c, http.MethodGet, "https://example.com/"+strconv.Itoa(i))
	}
	if s := c.Stats().Breaker; s.Opens != 1 || s.State != core.BreakerOpen {
		t.Fatalf("the breaker did not open: %+v", s)
	}
	if err := testutil.CollectAndCompare(col, strings.NewReader(breakerWant(1, core.BreakerOpen)), names...); err != nil {
		t.Errorf("after repeated failures: %v", err)
	}
}
