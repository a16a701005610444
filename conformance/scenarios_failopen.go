package conformance

// Store failures fail open: the request goes to the origin, the error is
// counted; slow stores are bounded by WithStoreTimeout; corrupt entries are
// a miss that is deleted and rewritten.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"FailOpen/StoreErrors", testFailOpenStoreErrors},
		{"FailOpen/StoreTimeout", testFailOpenStoreTimeout},
		{"FailOpen/CorruptEntry", testFailOpenCorrupt},
		{"FailOpen/UnknownVersion", testFailOpenUnknownVersion},
		{"FailOpen/Breaker", testFailOpenBreaker},
	})
}

var errH4Broken = errors.New("h4: store is broken")

// h4BrokenStore fails every operation.
type h4BrokenStore struct{ core.Store }

func (h4BrokenStore) Get(context.Context, string) ([]byte, error) { return nil, errH4Broken }
func (h4BrokenStore) Set(context.Context, string, []byte, core.Meta) error {
	return errH4Broken
}
func (h4BrokenStore) Delete(context.Context, string) error { return errH4Broken }
func (s h4BrokenStore) Unwrap() core.Store                 { return s.Store }

// h4SlowStore's Get blocks until its context is done.
type h4SlowStore struct{ core.Store }

func (h4SlowStore) Get(ctx context.Context, _ string) ([]byte, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(30 * time.Second): // a bound so a broken core cannot hang the suite
		return nil, errors.New("h4: slow store gave up")
	}
}
func (s h4SlowStore) Unwrap() core.Store { return s.Store }

func testFailOpenStoreErrors(t *testing.T, s *suite) {
	e := s.newEnvStore(t, func(st core.Store) core.Store { return h4BrokenStore{st} },
		core.WithAllowableMethods("GET", "HEAD", "POST"))
	o, _ := h4FlexOrigin(e)
	u := h4Q(o, "/a", "cc", "max-age=60", "etag", "1")
	for i := 1; i <= 3; i++ {
		r, err := e.send(e.req(h4Ctx(t), http.MethodGet, u, ""))
		if err != nil {
			t.Fatalf("GET %d: error %v, want the origin's response", i, err)
		}
		e.expect(r, 200, fmt.Sprintf("v%d", i), false)
	}
	// An unsafe request (whose invalidation deletes fail) and a POST that
	// would be stored still succeed.
	r, err := e.send(e.req(h4Ctx(t), http.MethodPost, u, "x"))
	if err != nil || r.Status != 200 {
		t.Fatalf("POST: %v, want 200 from the origin", err)
	}
	r, err = e.send(e.req(h4Ctx(t), http.MethodPut, u, "y"))
	if err != nil || r.Status != 200 {
		t.Fatalf("PUT: %v, want 200 from the origin", err)
	}
	// Per-request options too.
	if r, err := e.send(e.req(core.Refresh(h4Ctx(t)), http.MethodGet, u, "")); err != nil || r.Status != 200 {
		t.Fatalf("GET with Refresh: %v, want 200", err)
	}
	r, err = e.send(e.req(core.OnlyIfCached(h4Ctx(t)), http.MethodGet, u, ""))
	if err != nil || r.Status != http.StatusGatewayTimeout {
		t.Errorf("only-if-cached over a broken store: %v, status %v; want the synthetic 504", err, r)
	}
	if n := e.cache.Stats().StoreErrors; n < 3 {
		t.Errorf("Stats().StoreErrors = %d, want at least 3", n)
	}
	h4Hits(t, o, 6, "every request reached the origin")
}

func testFailOpenStoreTimeout(t *testing.T, s *suite) {
	e := s.newEnvStore(t, func(st core.Store) core.Store { return h4SlowStore{st} },
		core.WithStoreTimeout(50*time.Millisecond))
	o, _ := h4FlexOrigin(e)
	u := h4Q(o, "/slow", "cc", "max-age=60")
	start := time.Now()
	for i := 1; i <= 2; i++ {
		r, err := e.send(e.req(h4Ctx(t), http.MethodGet, u, ""))
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		e.expect(r, 200, fmt.Sprintf("v%d", i), false)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("two requests over a store whose Get hangs took %v, want well under 5s (WithStoreTimeout 50ms)", d)
	}
	if n := e.cache.Stats().StoreErrors; n < 2 {
		t.Errorf("Stats().StoreErrors = %d, want at least 2 (the timed-out Gets)", n)
	}
}

func testFailOpenCorrupt(t *testing.T, s *suite) {
	h4CorruptCase(t, s, func(orig []byte) []byte { return []byte("this is not an entry") })
}

func testFailOpenUnknownVersion(t *testing.T, s *suite) {
	h4CorruptCase(t, s, func(orig []byte) []byte {
		b := append([]byte(nil), orig...)
		b[0] = 0xFE // no codec version starts like this
		return b
	})
}

func h4CorruptCase(t *testing.T, s *suite, mangle func([]byte) []byte) {
	e := s.newEnv(t)
	o, _ := h4FlexOrigin(e)
	u := h4Q(o, "/c", "cc", "max-age=60")
	first := e.get(u)
	key := first.Info.Key
	if key == "" {
		t.Fatalf("Info.Key is empty; cannot find the entry to corrupt")
	}
	ctx := h4Ctx(t)
	orig, err := e.store.Get(ctx, key)
	if err != nil || len(orig) == 0 {
		t.Fatalf("store.Get(%q) = %d bytes, %v; want the stored entry", key, len(orig), err)
	}
	bad := mangle(orig)
	if err := e.store.Set(ctx, key, bad, core.Meta{Expires: time.Now().Add(time.Hour), Created: e.clock.Now(), Method: "GET", Status: 200, Size: int64(len(bad))}); err != nil {
		t.Fatalf("store.Set: %v", err)
	}
	r, err := e.send(e.req(ctx, http.MethodGet, u, ""))
	if err != nil {
		t.Fatalf("GET over a corrupt entry: %v, want a miss", err)
	}
	e.expect(r, 200, "v2", false)
	if n := e.cache.Stats().CorruptErrors; n != 1 {
		t.Errorf("Stats().CorruptErrors = %d, want 1", n)
	}
	if !r.Info.Stored {
		t.Errorf("Stored = false, want the entry rewritten")
	}
	now, err := e.store.Get(ctx, key)
	if err != nil || string(now) == string(bad) {
		t.Errorf("after the miss the key holds the corrupt bytes still (err %v)", err)
	}
	e.expect(e.get(u), 200, "v2", true)
	e.expectHits(o, 2)
}

// h4OutageStore fails every call while down, and counts the calls that
// reached it.
type h4OutageStore struct {
	core.Store
	down  *atomic.Bool
	calls *atomic.Int64
}

func (s h4OutageStore) Get(ctx context.Context, k string) ([]byte, error) {
	s.calls.Add(1)
	if s.down.Load() {
		return nil, errH4Broken
	}
	return s.Store.Get(ctx, k)
}

func (s h4OutageStore) Set(ctx context.Context, k string, v []byte, m core.Meta) error {
	s.calls.Add(1)
	if s.down.Load() {
		return errH4Broken
	}
	return s.Store.Set(ctx, k, v, m)
}

func (s h4OutageStore) Delete(ctx context.Context, k string) error {
	s.calls.Add(1)
	if s.down.Load() {
		return errH4Broken
	}
	return s.Store.Delete(ctx, k)
}

func (s h4OutageStore) Unwrap() core.Store { return s.Store }

// testFailOpenBreaker: a run of store failures opens the circuit breaker;
// requests are then answered by the origin without touching the store
// (Cache-Status "fwd=bypass; detail=store-unavailable"); once the store
// answers again a background probe closes the breaker and responses are
// stored and served again.
func testFailOpenBreaker(t *testing.T, s *suite) {
	down, calls := new(atomic.Bool), new(atomic.Int64)
	e := s.newEnvStore(t, func(st core.Store) core.Store { return h4OutageStore{st, down, calls} },
		// The backoff outlasts the failing misses below even on a loaded
		// machine: with 20 ms, a probe ran (and failed, reopening) before
		// the checks, and Opens was 2.
		core.WithBreaker(core.BreakerSettings{Failures: 3, Backoff: 300 * time.Millisecond, MaxBackoff: 600 * time.Millisecond}))
	o, _ := h4FlexOrigin(e)
	down.Store(true)
	for i := 0; i < 3; i++ { // a miss costs a Get and a Set: 6 failures
		e.expect(e.get(h4Q(o, fmt.Sprintf("/b%d", i), "cc", "max-age=60")), 200, fmt.Sprintf("v%d", i+1), false)
	}
	st := e.cache.Stats().Breaker
	if st.State != core.BreakerOpen || st.Opens != 1 {
		t.Fatalf("after 3 failing misses Stats().Breaker = %+v, want open, opened once", st)
	}
	before := calls.Load()
	r := e.get(h4Q(o, "/b9", "cc", "max-age=60"))
	e.expect(r, 200, "v4", false)
	if got := calls.Load(); got != before {
		t.Errorf("a request with the breaker open made %d store calls, want 0", got-before)
	}
	if cs := r.Header.Get("Cache-Status"); cs != "hoard; fwd=bypass; detail=store-unavailable" {
		t.Errorf("Cache-Status with the breaker open = %q, want %q", cs, "hoard; fwd=bypass; detail=store-unavailable")
	}
	if n := e.cache.Stats().Breaker.ShortCircuited; n < 1 {
		t.Errorf("Stats().Breaker.ShortCircuited = %d, want at least 1", n)
	}
	// The store comes back: requests keep arriving (each one may start the
	// probe once the backoff has passed) until the breaker closes.
	down.Store(false)
	u := h4Q(o, "/back", "cc", "max-age=60")
	deadline := time.Now().Add(5 * time.Second)
	for e.cache.Stats().Breaker.State != core.BreakerClosed {
		if time.Now().After(deadline) {
			t.Fatalf("the breaker did not close within 5s of the store's recovery: %+v", e.cache.Stats().Breaker)
		}
		e.get(u)
		time.Sleep(5 * time.Millisecond)
	}
	if st := e.cache.Stats().Breaker; st.Probes < 1 {
		t.Errorf("Stats().Breaker.Probes = %d after recovery, want at least 1", st.Probes)
	}
	u = h4Q(o, "/stored", "cc", "max-age=60")
	e.get(u)
	e.expect(e.get(u), 200, e.get(u).Body, true)
}
