package core

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Outcome is what the cache did for one request, in the vocabulary of its
// Cache-Status field (RFC 9211). Observers receive it in Event.Outcome.
type Outcome uint8

// Outcomes, one per request. When several apply, the first in this list
// that does is reported: a collapsed waiter served a revalidated response is
// OutcomeCollapsed, a stale-if-error answer is OutcomeStale.
const (
	// OutcomeMiss: the request went to the origin (nothing usable stored,
	// or a response that was not stored); also the synthetic 504 of
	// only-if-cached, which nothing stored could answer, and a request that
	// failed.
	OutcomeMiss Outcome = iota
	// OutcomeHit: a fresh stored response was served.
	OutcomeHit
	// OutcomeStale: a stale stored response was served
	// (stale-while-revalidate, stale-if-error, max-stale).
	OutcomeStale
	// OutcomeRevalidated: the origin answered 304 and the stored response
	// was served, updated (RFC 9111 §4.3.4).
	OutcomeRevalidated
	// OutcomeBypass: the cache was not used (disabled, a method it does not
	// cache, do-not-cache, a keyed body too large, the cache closed).
	OutcomeBypass
	// OutcomeCollapsed: the request waited for an identical one in flight
	// and was served what that one got.
	OutcomeCollapsed
	// OutcomeStored: the origin's response was written to the store (a miss
	// or a revalidation answered with a full response).
	OutcomeStored
)

var outcomeNames = [...]string{"miss", "hit", "stale", "revalidated", "bypass", "collapsed", "stored"}

// String returns the outcome's name: "hit", "stale", "revalidated", "miss",
// "bypass", "collapsed" or "stored".
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Outcomes lists every Outcome, for observers that pre-register one series
// per value.
func Outcomes() []Outcome {
	return []Outcome{OutcomeHit, OutcomeStale, OutcomeRevalidated, OutcomeMiss, OutcomeBypass, OutcomeCollapsed, OutcomeStored}
}

// Store operation names used in StoreOp.Op.
const (
	OpGet          = "get"
	OpSet          = "set"
	OpDelete       = "delete"
	OpOpenStream   = "open_stream"
	OpCreateStream = "create_stream"
	OpCommitStream = "commit_stream"
	OpAbortStream  = "abort_stream"
)

// StoreOps lists the store operation names an Event may carry.
func StoreOps() []string {
	return []string{OpGet, OpSet, OpDelete, OpOpenStream, OpCreateStream, OpCommitStream, OpAbortStream}
}

// StoreOp is one store call made for a request.
type StoreOp struct {
	Op       string        // one of the Op* names
	Duration time.Duration // wall time of the call
	// Err is the store's error; nil for success and for a miss
	// (ErrNotFound). An error the store reports as ErrCorrupt is kept.
	Err error
}

// Event is what an Observer receives once per request. The Event and its
// StoreOps slice belong to the cache: an observer must not keep them after
// Observe returns (copy what it needs).
type Event struct {
	Outcome Outcome
	// Key is the store key of the response (of the entry found, or of the
	// one a miss writes); empty for a bypass.
	Key    string
	Method string
	// Status is the status code of the response returned; 0 when Do
	// returned an error.
	Status int
	// Background is true for a stale-while-revalidate refresh the cache ran
	// on its own (see WithObserver); false for a caller's request.
	Background bool
	// BytesFromCache counts the body bytes served from the store: the whole
	// stored body for a hit held in memory, the bytes actually read for a
	// streamed one; 0 for responses from the origin.
	BytesFromCache int64
	// StoreOps are the store calls made for the request, in order.
	StoreOps []StoreOp
	// Err is the error Do returned, if any.
	Err error
}

// Observer receives one Event per request that goes through Cache.Do. It is
// called from the goroutine that finished the request, concurrently for
// concurrent requests, and must be safe for that; it should return quickly
// (it runs on the request's path). See WithObserver for when it is called.
type Observer interface {
	Observe(ctx context.Context, ev *Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, ev *Event)

// Observe calls f(ctx, ev).
func (f ObserverFunc) Observe(ctx context.Context, ev *Event) { f(ctx, ev) }

// WithObserver installs o: Do calls it exactly once per request, with the
// request's context and an Event describing the outcome. Given more than
// once, every observer is called, in order; a nil o is ignored.
//
// When the event is emitted:
//   - at the end of Do, for every response whose body is held in memory and
//     for errors;
//   - for a hit whose body is streamed from the store, when that body ends
//     (EOF or a read error) or is closed, whichever is first, so that
//     BytesFromCache counts what was read;
//   - for an origin response streamed into the store, when its body ends or
//     is closed, once the stream is committed (OutcomeStored) or given up
//     (OutcomeMiss), with the commit's store operations;
//   - a collapsed waiter gets its own event (OutcomeCollapsed when it was
//     served the leader's response, its own outcome when it sent its own
//     request); the leader's event carries the store operations;
//   - a background stale-while-revalidate refresh emits one event of its
//     own, Background true, on the refresh's detached context, when the
//     refresh ends; the caller's request was already reported as
//     OutcomeStale.
//
// The hooks (Lookup, Join, Store, Revalidate) used directly emit no event
// (RevalidateInBackground emits its refresh's, as above): an
// adapter built on them observes what it orchestrates itself.
func WithObserver(o Observer) Option {
	return optionFunc(func(c *config) error {
		if o != nil {
			c.observers = append(c.observers, o)
		}
		return nil
	})
}

// observed is the per-request record of an observed request: it is also the
// context the request's store calls run on, so that they find it (one
// allocation for both).
type observed struct {
	context.Context
	c   *Cache
	mu  sync.Mutex // guards ev.StoreOps after the request returned
	ev  Event
	ops [2]StoreOp // room for a miss's get and set without another allocation
	act State
	// mark, when set, is a clock reading taken just before the next store
	// call, which uses it as its start instead of reading the clock again.
	// It is set and used by the lookup, on the request's goroutine.
	mark    time.Time
	done    atomic.Bool
	resp    *http.Response // the response returned, for an event emitted later
	bodyOff atomic.Int64   // bytes read from a streamed hit (a Close may race a Read)
}

// streamed counts n bytes read from a streamed hit and emits the event when
// the body has ended (err set).
func (o *observed) streamed(n int64, err error) {
	o.bodyOff.Add(n)
	if err != nil {
		o.finish(o.resp, false)
	}
}

type observedKey struct{}

// Value returns o for observedKey, and the parent's values otherwise.
func (o *observed) Value(key any) any {
	if _, ok := key.(observedKey); ok {
		return o
	}
	return o.Context.Value(key)
}

func (c *Cache) newObserved(ctx context.Context, background bool) *observed {
	o := &observed{Context: ctx, c: c}
	o.ev.StoreOps = o.ops[:0]
	o.ev.Background = background
	return o
}

// observedFrom returns the record of the observed request ctx belongs to,
// nil when no observer is installed.
func (c *Cache) observedFrom(ctx context.Context) *observed {
	if c.cfg.observers == nil {
		return nil
	}
	o, _ := ctx.Value(observedKey{}).(*observed)
	return o
}

// opStart returns the start time of a store call for ctx's request; zero
// when the request is not observed.
func (c *Cache) opStart(ctx context.Context) (*observed, time.Time) {
	o := c.observedFrom(ctx)
	if o == nil {
		return nil, time.Time{}
	}
	t := o.mark
	o.mark = time.Time{}
	if t.IsZero() {
		t = time.Now()
	}
	return o, t
}

// opDone records a store call started at start.
func (o *observed) opDone(op string, start time.Time, err error) {
	if o == nil || op == "" {
		return
	}
	d := time.Since(start)
	if errors.Is(err, ErrNotFound) {
		err = nil
	}
	o.mu.Lock()
	if !o.done.Load() {
		o.ev.StoreOps = append(o.ev.StoreOps, StoreOp{Op: op, Duration: d, Err: err})
	}
	o.mu.Unlock()
}

// markClock lets the next store call of ctx's request start at now, a
// reading of the real clock the lookup just took.
func (c *Cache) markClock(ctx context.Context, now time.Time) {
	if o := c.observedFrom(ctx); o != nil && !c.cfg.clockSet {
		o.mark = now
	}
}

// result takes what Do (or a background refresh) produced and emits the
// event now, or when the body ends for a streamed body.
func (o *observed) result(resp *http.Response, err error) {
	o.ev.Err, o.resp = err, resp
	if resp != nil {
		switch b := resp.Body.(type) {
		case *body:
			if b.stream != nil {
				b.stream = &observedStream{rc: b.stream, obs: o}
				return
			}
		case *teeBody:
			b.obs = o
			return
		}
	}
	o.finish(resp, false)
}

// finish fills the event from resp and emits it, once.
func (o *observed) finish(resp *http.Response, stored bool) {
	if o.done.Swap(true) {
		return
	}
	ev := &o.ev
	if resp != nil {
		ev.Status = resp.StatusCode
		in := InfoOf(resp)
		if in.Key != "" {
			ev.Key = in.Key
		}
		switch {
		case o.act == Bypass:
			ev.Outcome = OutcomeBypass
		case in.Collapsed:
			ev.Outcome = OutcomeCollapsed
		case in.Revalidated:
			ev.Outcome = OutcomeRevalidated
		case in.FromCache && in.Stale:
			ev.Outcome = OutcomeStale
		case in.FromCache:
			ev.Outcome = OutcomeHit
		case in.Stored || stored:
			ev.Outcome = OutcomeStored
		default:
			ev.Outcome = OutcomeMiss
		}
		if b, ok := resp.Body.(*body); ok && in.FromCache && !ev.Background { // a refresh serves no one
			if b.stream != nil {
				ev.BytesFromCache = o.bodyOff.Load()
			} else {
				ev.BytesFromCache = int64(len(b.data))
			}
		}
	}
	// A store call of a streamed body may have been recorded on another
	// goroutine (a read racing a Close): taking the lock makes it visible,
	// and none is recorded once done is set.
	o.mu.Lock()
	o.mu.Unlock()
	for _, ob := range o.c.cfg.observers {
		ob.Observe(o.Context, ev)
	}
}

// observedDo is Do with an observer installed.
func (c *Cache) observedDo(req *http.Request, send http.RoundTripper) (*http.Response, error) {
	o := c.newObserved(req.Context(), false)
	o.ev.Method = req.Method
	if o.ev.Method == "" {
		o.ev.Method = http.MethodGet
	}
	resp, err := c.do(o, req, send, o)
	o.result(resp, err)
	return resp, err
}

// lookedUp records what the lookup decided, for the event.
func (o *observed) lookedUp(lr *LookupResult) {
	if o == nil {
		return
	}
	o.act, o.ev.Key = lr.State, lr.Key
}

// ErrorType classifies op.Err for metrics, with few values: "" (no error),
// "corrupt", "timeout" (the per-operation or the caller's deadline),
// "canceled", "closed", and "_OTHER" for anything else (the fallback value
// OpenTelemetry's error.type attribute uses).
func (op StoreOp) ErrorType() string {
	switch err := op.Err; {
	case err == nil:
		return ""
	case errors.Is(err, ErrCorrupt):
		return "corrupt"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrClosed):
		return "closed"
	}
	return "_OTHER"
}

// ErrorTypes lists the values ErrorType returns for an error.
func ErrorTypes() []string { return []string{"corrupt", "timeout", "canceled", "closed", "_OTHER"} }

// knownMethods are the methods MethodName keeps.
var knownMethods = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace}

// MethodName returns the event's method when it is one of RFC 9110's (and
// PATCH), and "_OTHER" otherwise: a label of bounded cardinality, as
// OpenTelemetry's http.request.method attribute asks.
func (ev *Event) MethodName() string {
	for _, k := range knownMethods {
		if k == ev.Method {
			return k
		}
	}
	return "_OTHER"
}

// MethodNames lists the values MethodName returns.
func MethodNames() []string {
	return append(knownMethods[:len(knownMethods):len(knownMethods)], "_OTHER")
}
