// Package otelhoard reports what a hoard cache does as OpenTelemetry metrics
// and as span attributes and events on the caller's span. It depends on the
// OpenTelemetry API only (otel, otel/metric, otel/trace): the application
// chooses the SDK and the exporters. It is a module of its own.
//
//	obs, err := otelhoard.New(&otelhoard.Options{StoreName: "redis"})
//	cache, err := core.New(store, core.WithObserver(obs))
//	reg, err := obs.Watch(cache) // the counters read from cache.Stats()
//
// # Names
//
// OpenTelemetry has no semantic conventions for HTTP caches yet. The names
// follow the general naming rules (a "hoard." namespace, dot-separated,
// snake_case words, units in UCUM and not in the name, no "_total") and
// reuse the conventions' attributes where one fits (http.request.method,
// error.type):
//
//	| instrument                | kind                  | unit      | attributes |
//	|---------------------------|-----------------------|-----------|------------|
//	| hoard.requests            | counter               | {request} | hoard.cache_status, http.request.method, hoard.background |
//	| hoard.store.duration      | histogram             | s         | hoard.store.operation, hoard.store.name, error.type (on failure) |
//	| hoard.served_from_cache   | counter               | By        | hoard.store.name |
//	| hoard.store.errors        | observable counter    | {error}   | hoard.store.name |
//	| hoard.corrupt_entries     | observable counter    | {entry}   | hoard.store.name |
//	| hoard.invalidations       | observable counter    | {entry}   | hoard.store.name |
//
// hoard.cache_status is the outcome in Cache-Status (RFC 9211) terms: hit,
// stale, revalidated, miss, bypass, collapsed, stored (core.Outcome).
// hoard.store.errors counts what Cache.Stats counts (failed store calls on
// which the cache failed open, the management calls' included); the
// failures of the store calls made for requests are in hoard.store.duration
// too, with their error.type (core.StoreOp.ErrorType).
//
// On the caller's span (trace.SpanFromContext of the request's context),
// when it is recording, the observer sets hoard.cache_status and adds an
// event "hoard.cache" with hoard.cache_status, hoard.served_from_cache (bytes)
// and hoard.store.calls; each failed store call adds an event
// "hoard.store.error" with hoard.store.operation, error.type and
// exception.message. Background refreshes (core.Event.Background) are
// counted in hoard.requests with hoard.background=true and touch no span.
package otelhoard

import (
	"context"
	"errors"
	"sync"

	"github.com/hoardhttp/hoard/core"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the meter.
const ScopeName = "github.com/hoardhttp/hoard/observe/otelhoard"

// Attribute keys.
const (
	AttrCacheStatus    = attribute.Key("hoard.cache_status")
	AttrBackground     = attribute.Key("hoard.background")
	AttrStoreOperation = attribute.Key("hoard.store.operation")
	AttrStoreName      = attribute.Key("hoard.store.name")
	AttrServed         = attribute.Key("hoard.served_from_cache")
	AttrStoreCalls     = attribute.Key("hoard.store.calls")
	AttrMethod         = attribute.Key("http.request.method")
	AttrErrorType      = attribute.Key("error.type")
	AttrExceptionMsg   = attribute.Key("exception.message")
	// AttrBreakerState is the state of hoard.breaker.state's series:
	// closed, open or half-open (core.BreakerState).
	AttrBreakerState = attribute.Key("hoard.breaker.state")
)

// DurationBuckets are the bucket boundaries of hoard.store.duration, in
// seconds: from 10 µs (a memory store) to 10 s (a store timing out).
var DurationBuckets = []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Options configure an Observer; nil means the defaults.
type Options struct {
	// MeterProvider provides the meter; nil: otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// StoreName is the hoard.store.name attribute (for example "redis");
	// default "default". Give each cache of a process its own.
	StoreName string
	// NoSpans, when true, leaves the caller's span alone.
	NoSpans bool
}

// Observer is a core.Observer that records OpenTelemetry metrics and span
// events. It is safe for concurrent use.
type Observer struct {
	meter    metric.Meter
	store    attribute.KeyValue
	spans    bool
	requests metric.Int64Counter
	duration metric.Float64Histogram
	served   metric.Int64Counter
	storeErr metric.Int64ObservableCounter
	breaker  metric.Int64ObservableGauge
	opens    metric.Int64ObservableCounter
	corrupt  metric.Int64ObservableCounter
	invalid  metric.Int64ObservableCounter

	// Option slices, not options: a variadic call with a slice of its own
	// allocates nothing.
	reqSets   map[reqKey][]metric.AddOption
	opSets    map[string][]metric.RecordOption
	storeOnly []metric.AddOption
	storeObs  []metric.ObserveOption
	stateObs  []breakerObs
	errSets   sync.Map // opErrKey -> []metric.RecordOption
}

type reqKey struct {
	outcome    core.Outcome
	method     string
	background bool
}

type opErrKey struct{ op, errType string }

// New returns an Observer whose instruments come from opts.MeterProvider.
func New(opts *Options) (*Observer, error) {
	if opts == nil {
		opts = &Options{}
	}
	mp := opts.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	name := opts.StoreName
	if name == "" {
		name = "default"
	}
	o := &Observer{meter: mp.Meter(ScopeName), store: AttrStoreName.String(name), spans: !opts.NoSpans}
	var err error
	if o.requests, err = o.meter.Int64Counter("hoard.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Requests through the cache, by outcome (Cache-Status).")); err != nil {
		return nil, err
	}
	if o.duration, err = o.meter.Float64Histogram("hoard.store.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the store calls made for requests."),
		metric.WithExplicitBucketBoundaries(DurationBuckets...)); err != nil {
		return nil, err
	}
	if o.served, err = o.meter.Int64Counter("hoard.served_from_cache", metric.WithUnit("By"),
		metric.WithDescription("Response body bytes served from the store.")); err != nil {
		return nil, err
	}
	if o.storeErr, err = o.meter.Int64ObservableCounter("hoard.store.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Failed store calls on which the cache failed open (Cache.Stats().StoreErrors).")); err != nil {
		return nil, err
	}
	if o.corrupt, err = o.meter.Int64ObservableCounter("hoard.corrupt_entries", metric.WithUnit("{entry}"),
		metric.WithDescription("Corrupt entries found and deleted (Cache.Stats().CorruptErrors).")); err != nil {
		return nil, err
	}
	if o.invalid, err = o.meter.Int64ObservableCounter("hoard.invalidations", metric.WithUnit("{entry}"),
		metric.WithDescription("Keys deleted after unsafe methods (Cache.Stats().Invalidations).")); err != nil {
		return nil, err
	}
	if o.breaker, err = o.meter.Int64ObservableGauge("hoard.breaker.state", metric.WithUnit("{state}"),
		metric.WithDescription("State of the circuit breaker around the store: 1 for the current state, 0 for the others (Cache.Stats().Breaker.State).")); err != nil {
		return nil, err
	}
	if o.opens, err = o.meter.Int64ObservableCounter("hoard.breaker.opens", metric.WithUnit("{open}"),
		metric.WithDescription("Times the circuit breaker around the store opened (Cache.Stats().Breaker.Opens).")); err != nil {
		return nil, err
	}
	for _, st := range []core.BreakerState{core.BreakerClosed, core.BreakerOpen, core.BreakerHalfOpen} {
		o.stateObs = append(o.stateObs, breakerObs{st, []metric.ObserveOption{metric.WithAttributeSet(
			attribute.NewSet(o.store, AttrBreakerState.String(st.String())))}})
	}
	// The attribute sets of the hot path are built once: recording a
	// measurement then allocates nothing of ours.
	o.reqSets = make(map[reqKey][]metric.AddOption)
	for _, oc := range core.Outcomes() {
		for _, m := range core.MethodNames() {
			for _, bg := range []bool{false, true} {
				o.reqSets[reqKey{oc, m, bg}] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
					AttrCacheStatus.String(oc.String()), AttrMethod.String(m), AttrBackground.Bool(bg)))}
			}
		}
	}
	o.opSets = make(map[string][]metric.RecordOption)
	for _, op := range core.StoreOps() {
		o.opSets[op] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(AttrStoreOperation.String(op), o.store))}
	}
	storeSet := metric.WithAttributeSet(attribute.NewSet(o.store))
	o.storeOnly, o.storeObs = []metric.AddOption{storeSet}, []metric.ObserveOption{storeSet}
	return o, nil
}

// Observe implements core.Observer.
func (o *Observer) Observe(ctx context.Context, ev *core.Event) {
	o.requests.Add(ctx, 1, o.reqSets[reqKey{ev.Outcome, ev.MethodName(), ev.Background}]...)
	if ev.BytesFromCache > 0 {
		o.served.Add(ctx, ev.BytesFromCache, o.storeOnly...)
	}
	for _, op := range ev.StoreOps {
		o.duration.Record(ctx, op.Duration.Seconds(), o.opOptions(op)...)
	}
	if !o.spans || ev.Background {
		return
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	status := AttrCacheStatus.String(ev.Outcome.String())
	span.SetAttributes(status)
	span.AddEvent("hoard.cache", trace.WithAttributes(status,
		AttrServed.Int64(ev.BytesFromCache), AttrStoreCalls.Int(len(ev.StoreOps)), o.store))
	for _, op := range ev.StoreOps {
		if op.Err != nil {
			span.AddEvent("hoard.store.error", trace.WithAttributes(AttrStoreOperation.String(op.Op),
				AttrErrorType.String(op.ErrorType()), AttrExceptionMsg.String(op.Err.Error()), o.store))
		}
	}
}

func (o *Observer) opOptions(op core.StoreOp) []metric.RecordOption {
	if op.Err == nil {
		if opt, ok := o.opSets[op.Op]; ok {
			return opt
		}
	}
	k := opErrKey{op.Op, op.ErrorType()}
	if opt, ok := o.errSets.Load(k); ok {
		return opt.([]metric.RecordOption)
	}
	attrs := []attribute.KeyValue{AttrStoreOperation.String(op.Op), o.store}
	if k.errType != "" {
		attrs = append(attrs, AttrErrorType.String(k.errType))
	}
	opt, _ := o.errSets.LoadOrStore(k, []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))})
	return opt.([]metric.RecordOption)
}

// Watch registers the observable counters read from c.Stats() at each
// collection, with this Observer's hoard.store.name. Unregister the
// returned registration when c is closed.
func (o *Observer) Watch(c *core.Cache) (metric.Registration, error) {
	if c == nil {
		return nil, errors.New("otelhoard: Watch: nil cache")
	}
	return o.meter.RegisterCallback(func(_ context.Context, m metric.Observer) error {
		s := c.Stats()
		m.ObserveInt64(o.storeErr, s.StoreErrors, o.storeObs...)
		m.ObserveInt64(o.corrupt, s.CorruptErrors, o.storeObs...)
		m.ObserveInt64(o.invalid, s.Invalidations, o.storeObs...)
		for _, b := range o.stateObs {
			v := int64(0)
			if s.Breaker.State == b.state {
				v = 1
			}
			m.ObserveInt64(o.breaker, v, b.opts...)
		}
		m.ObserveInt64(o.opens, s.Breaker.Opens, o.storeObs...)
		return nil
	}, o.storeErr, o.corrupt, o.invalid, o.breaker, o.opens)
}

// breakerObs is the attribute set of one breaker state's series.
type breakerObs struct {
	state core.BreakerState
	opts  []metric.ObserveOption
}
