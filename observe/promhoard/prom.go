// Package promhoard exposes what a hoard cache does as Prometheus metrics,
// with prometheus/client_golang. It is a module of its own.
//
//	col := promhoard.New(&promhoard.Options{StoreName: "redis"})
//	cache, err := core.New(store, core.WithObserver(col))
//	col.Watch(cache)           // the counters read from cache.Stats()
//	prometheus.MustRegister(col)
//
// The figures are those of package otelhoard, under Prometheus names (the
// OpenTelemetry name with dots as underscores, the unit as a suffix, and
// "_total" on counters, as the OpenTelemetry-to-Prometheus mapping writes
// them):
//
//	| metric                               | type      | labels |
//	|--------------------------------------|-----------|--------|
//	| hoard_requests_total                 | counter   | cache_status, method, background |
//	| hoard_store_duration_seconds         | histogram | operation, store, error_type ("" on success) |
//	| hoard_served_from_cache_bytes_total  | counter   | store |
//	| hoard_store_errors_total             | counter   | store (Cache.Stats().StoreErrors) |
//	| hoard_corrupt_entries_total          | counter   | store (Cache.Stats().CorruptErrors) |
//	| hoard_invalidations_total            | counter   | store (Cache.Stats().Invalidations) |
//	| hoard_breaker_state                  | gauge     | store, state (closed, open, half-open: 1 for the current one) |
//	| hoard_breaker_opens_total            | counter   | store (Cache.Stats().Breaker.Opens) |
//
// cache_status is the outcome in Cache-Status (RFC 9211) terms: hit, stale,
// revalidated, miss, bypass, collapsed, stored (core.Outcome). The request
// counters of every outcome and method GET exist from the start (at zero),
// so that rates can be taken before the first hit.
package promhoard

import (
	"context"
	"net/http"
	"strconv"
	"sync"

	"github.com/hoardhttp/hoard/core"
	"github.com/prometheus/client_golang/prometheus"
)

// DurationBuckets are the buckets of hoard_store_duration_seconds: from
// 10 µs (a memory store) to 10 s (a store timing out); the same as
// otelhoard's.
var DurationBuckets = []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Options configure a Collector; nil means the defaults.
type Options struct {
	// StoreName is the store label (for example "redis"); default
	// "default". Give each cache of a process its own.
	StoreName string
	// ConstLabels are added to every metric (for example the service).
	ConstLabels prometheus.Labels
}

// Collector is a core.Observer and a prometheus.Collector. It is safe for
// concurrent use.
type Collector struct {
	store    string
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	served   prometheus.Counter

	storeErr, corrupt, invalid *prometheus.Desc
	breaker, breakerOpens      *prometheus.Desc

	// reqs caches the counter of each reqKey, ops the histogram of each
	// opKey: the hot path then hashes no label values.
	reqs sync.Map
	ops  sync.Map

	mu    sync.Mutex
	cache *core.Cache
}

type reqKey struct {
	outcome    core.Outcome
	method     string
	background bool
}

// New returns a Collector; register it with a prometheus.Registerer and
// install it with core.WithObserver.
func New(opts *Options) *Collector {
	if opts == nil {
		opts = &Options{}
	}
	store := opts.StoreName
	if store == "" {
		store = "default"
	}
	cl := opts.ConstLabels
	c := &Collector{store: store}
	c.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hoard_requests_total", Help: "Requests through the cache, by outcome (Cache-Status).", ConstLabels: cl,
	}, []string{"cache_status", "method", "background"})
	c.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hoard_store_duration_seconds", Help: "Duration of the store calls made for requests.",
		Buckets: DurationBuckets, ConstLabels: cl,
	}, []string{"operation", "store", "error_type"})
	c.served = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hoard_served_from_cache_bytes_total", Help: "Response body bytes served from the store.",
		ConstLabels: mergeLabels(cl, prometheus.Labels{"store": store}),
	})
	storeLabel := []string{"store"}
	c.storeErr = prometheus.NewDesc("hoard_store_errors_total",
		"Failed store calls on which the cache failed open (Cache.Stats().StoreErrors).", storeLabel, cl)
	c.corrupt = prometheus.NewDesc("hoard_corrupt_entries_total",
		"Corrupt entries found and deleted (Cache.Stats().CorruptErrors).", storeLabel, cl)
	c.invalid = prometheus.NewDesc("hoard_invalidations_total",
		"Keys deleted after unsafe methods (Cache.Stats().Invalidations).", storeLabel, cl)
	c.breaker = prometheus.NewDesc("hoard_breaker_state",
		"State of the circuit breaker around the store: 1 for the current state, 0 for the others (Cache.Stats().Breaker.State).",
		[]string{"store", "state"}, cl)
	c.breakerOpens = prometheus.NewDesc("hoard_breaker_opens_total",
		"Times the circuit breaker around the store opened (Cache.Stats().Breaker.Opens).", storeLabel, cl)

	for _, oc := range core.Outcomes() {
		c.counter(reqKey{oc, http.MethodGet, false}) // exported from the start, at zero
	}
	return c
}

// counter returns the request counter of k, created on first use.
func (c *Collector) counter(k reqKey) prometheus.Counter {
	if v, ok := c.reqs.Load(k); ok {
		return v.(prometheus.Counter)
	}
	v, _ := c.reqs.LoadOrStore(k, c.requests.WithLabelValues(k.outcome.String(), k.method, strconv.FormatBool(k.background)))
	return v.(prometheus.Counter)
}

type opKey struct{ op, errType string }

// observer returns the duration histogram of k, created on first use.
func (c *Collector) observer(k opKey) prometheus.Observer {
	if v, ok := c.ops.Load(k); ok {
		return v.(prometheus.Observer)
	}
	v, _ := c.ops.LoadOrStore(k, c.duration.WithLabelValues(k.op, c.store, k.errType))
	return v.(prometheus.Observer)
}

func mergeLabels(a, b prometheus.Labels) prometheus.Labels {
	out := prometheus.Labels{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// Observe implements core.Observer.
func (c *Collector) Observe(_ context.Context, ev *core.Event) {
	c.counter(reqKey{ev.Outcome, ev.MethodName(), ev.Background}).Inc()
	if ev.BytesFromCache > 0 {
		c.served.Add(float64(ev.BytesFromCache))
	}
	for _, op := range ev.StoreOps {
		c.observer(opKey{op.Op, op.ErrorType()}).Observe(op.Duration.Seconds())
	}
}

// Watch makes the collector report c's Stats counters (one cache per
// Collector; a later call replaces the earlier cache).
func (c *Collector) Watch(cache *core.Cache) {
	c.mu.Lock()
	c.cache = cache
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.requests.Describe(ch)
	c.duration.Describe(ch)
	c.served.Describe(ch)
	ch <- c.storeErr
	ch <- c.corrupt
	ch <- c.invalid
	ch <- c.breaker
	ch <- c.breakerOpens
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.requests.Collect(ch)
	c.duration.Collect(ch)
	c.served.Collect(ch)
	c.mu.Lock()
	cache := c.cache
	c.mu.Unlock()
	if cache == nil {
		return
	}
	s := cache.Stats()
	ch <- prometheus.MustNewConstMetric(c.storeErr, prometheus.CounterValue, float64(s.StoreErrors), c.store)
	ch <- prometheus.MustNewConstMetric(c.corrupt, prometheus.CounterValue, float64(s.CorruptErrors), c.store)
	ch <- prometheus.MustNewConstMetric(c.invalid, prometheus.CounterValue, float64(s.Invalidations), c.store)
	for _, st := range breakerStates {
		v := 0.0
		if s.Breaker.State == st {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.breaker, prometheus.GaugeValue, v, c.store, st.String())
	}
	ch <- prometheus.MustNewConstMetric(c.breakerOpens, prometheus.CounterValue, float64(s.Breaker.Opens), c.store)
}

// breakerStates are the values of hoard_breaker_state's state label.
var breakerStates = []core.BreakerState{core.BreakerClosed, core.BreakerOpen, core.BreakerHalfOpen}
