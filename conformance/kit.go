package conformance

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// scenario is one HTTP caching behaviour checked through an adapter.
type scenario struct {
	name string
	run  func(t *testing.T, s *suite)
}

// scenarios lists every scenario; each file of scenarios contributes a slice.
func scenarios() []scenario {
	var all []scenario
	for _, group := range scenarioGroups {
		all = append(all, group...)
	}
	return all
}

// scenarioGroups is appended to by the init functions of the scenario files.
var scenarioGroups [][]scenario

// suite is what a scenario works with: the harness, a store maker and a clock.
type suite struct {
	harness  AdapterHarness
	newStore func(ctx context.Context) (core.Store, error)
}

// Clock is an injectable clock. It starts a minute ahead of the wall clock,
// on a whole second, and only moves forward: deletion times the core derives
// from it are then never in the past for stores whose TTLs follow the wall
// clock, even for entries with a lifetime of a second.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock a minute ahead of the wall clock, on a whole second.
func NewClock() *Clock { return &Clock{t: time.Now().Truncate(time.Second).Add(time.Minute)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one scenario's world: a clock, a cache over a fresh store, the
// adapter's Doer over it.
type env struct {
	t     *testing.T
	clock *Clock
	store core.Store
	cache *core.Cache
	do    Doer
}

// newEnv builds a cache over a fresh store with the suite's clock and opts,
// wrapped by the adapter under test.
func (s *suite) newEnv(t *testing.T, opts ...core.Option) *env {
	t.Helper()
	return s.newEnvStore(t, nil, opts...)
}

// newEnvStore is newEnv with the store wrapped by wrap (when non-nil), for
// scenarios that count or break store operations.
func (s *suite) newEnvStore(t *testing.T, wrap func(core.Store) core.Store, opts ...core.Option) *env {
	t.Helper()
	mk := s.newStore
	if mk == nil {
		if sm, ok := s.harness.(StoreMaker); ok {
			mk = sm.MakeStore
		} else {
			mk = memStore
		}
	}
	st, err := mk(t.Context())
	if err != nil {
		t.Fatalf("making store: %v", err)
	}
	if wrap != nil {
		st = wrap(st)
	}
	clock := NewClock()
	all := append([]core.Option{core.WithClock(clock.Now), semanticsTimeout()}, opts...)
	c, err := core.New(st, all...)
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	t.Cleanup(func() {
		c.Wait()
		if cl, ok := unwrapStore(st).(io.Closer); ok {
			_ = cl.Close()
		}
	})
	return &env{t: t, clock: clock, store: st, cache: c, do: s.harness.Doer(c)}
}

// origin is an httptest server that counts requests and stamps every
// response with a Date from the scenario clock (unless the handler set one).
type origin struct {
	*httptest.Server
	clock *Clock
	n     atomic.Int64
	mu    sync.Mutex
	paths map[string]int
	reqs  []*http.Request // copies of received requests (headers only)
	down  atomic.Bool
}

// handlerFunc serves the n-th (1-based) request to the origin.
type handlerFunc func(w http.ResponseWriter, r *http.Request, n int)

// newOrigin starts an origin whose handler is h.
func (e *env) newOrigin(h handlerFunc) *origin {
	o := &origin{clock: e.clock, paths: map[string]int{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.down.Load() {
			hangUp(w)
			return
		}
		n := int(o.n.Add(1))
		o.mu.Lock()
		o.paths[r.URL.Path]++
		rc := r.Clone(context.Background())
		rc.Body = nil
		o.reqs = append(o.reqs, rc)
		o.mu.Unlock()
		if w.Header().Get("Date") == "" {
			w.Header().Set("Date", o.clock.Now().UTC().Format(http.TimeFormat))
		}
		h(w, r, n)
	}))
	// The cache's background refreshes end before the port is freed: one
	// sent later could reach another test's origin on the same port. (An
	// origin made before its env's cache is closed after that env's own
	// cleanup has waited.)
	e.t.Cleanup(func() {
		if e.cache != nil {
			e.cache.Wait()
		}
		o.Close()
	})
	return o
}

// Down makes the origin unreachable for the rest of the scenario: every
// request gets its connection closed without an answer, a transport error.
// The listener stays open until the scenario ends. Closing the server
// instead would free its port for another test process's origin while this
// scenario's client still sends to it, and each would count the other's
// requests (seen in CI: a scenario answered by another's origin).
func (o *origin) Down() {
	o.down.Store(true)
	o.CloseClientConnections()
}

// hangUp closes the connection of w's request without writing a response.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("conformance: the origin's ResponseWriter cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		conn.Close()
	}
}

// hits is the number of requests the origin received.
func (o *origin) hits() int { return int(o.n.Load()) }

// hitsFor is the number of requests the origin received for path.
func (o *origin) hitsFor(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.paths[path]
}

// lastRequest is the last request the origin received (headers only).
func (o *origin) lastRequest() *http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.reqs) == 0 {
		return nil
	}
	return o.reqs[len(o.reqs)-1]
}

// result is a response read to the end.
type result struct {
	Status int
	Header http.Header
	Body   string
	Info   core.Info
	// ContentLength is the response's ContentLength as the adapter gave it.
	ContentLength int64
}

// req builds a request; hdr is "Name: value" pairs.
func (e *env) req(ctx context.Context, method, url, body string, hdr ...string) *http.Request {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		e.t.Fatalf("NewRequest: %v", err)
	}
	for _, h := range hdr {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			e.t.Fatalf("bad header %q", h)
		}
		r.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return r
}

// send performs r through the adapter and reads the whole response.
func (e *env) send(r *http.Request) (*result, error) {
	resp, err := e.do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &result{Status: resp.StatusCode, Header: resp.Header, Body: string(b), Info: core.InfoOf(resp), ContentLength: resp.ContentLength}, nil
}

// get performs a GET (with optional headers) and fails the test on error.
func (e *env) get(url string, hdr ...string) *result {
	e.t.Helper()
	return e.must(e.req(e.t.Context(), http.MethodGet, url, "", hdr...))
}

// getCtx is get with a context carrying per-request options.
func (e *env) getCtx(ctx context.Context, url string, hdr ...string) *result {
	e.t.Helper()
	return e.must(e.req(ctx, http.MethodGet, url, "", hdr...))
}

// must sends r and fails the test on a transport error.
func (e *env) must(r *http.Request) *result {
	e.t.Helper()
	res, err := e.send(r)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	return res
}

// expect checks a result's status, body and whether it came from the cache.
func (e *env) expect(res *result, status int, body string, fromCache bool) {
	e.t.Helper()
	if res.Status != status {
		e.t.Errorf("status = %d, want %d", res.Status, status)
	}
	if res.Body != body {
		e.t.Errorf("body = %q, want %q", res.Body, body)
	}
	if res.Info.FromCache != fromCache {
		e.t.Errorf("FromCache = %v, want %v (Cache-Status %q)", res.Info.FromCache, fromCache, res.Header.Get("Cache-Status"))
	}
}

// expectHits checks the origin's request count.
func (e *env) expectHits(o *origin, want int) {
	e.t.Helper()
	if got := o.hits(); got != want {
		e.t.Errorf("origin hits = %d, want %d", got, want)
	}
}

// countingStore wraps a store and counts operations (to prove, for example,
// that a fresh hit performs no write).
type countingStore struct {
	core.Store
	gets, sets, deletes atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, key)
}

func (s *countingStore) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	s.sets.Add(1)
	return s.Store.Set(ctx, key, value, meta)
}

func (s *countingStore) Delete(ctx context.Context, key string) error {
	s.deletes.Add(1)
	return s.Store.Delete(ctx, key)
}

func unwrapStore(s core.Store) core.Store {
	for {
		u, ok := s.(interface{ Unwrap() core.Store })
		if !ok {
			return s
		}
		s = u.Unwrap()
	}
}

// Unwrap returns the wrapped store.
func (s *countingStore) Unwrap() core.Store { return s.Store }

// semanticsTimeout is the store timeout of the suite's caches. The suite
// checks semantics, not a store's speed: a shared server on a loaded
// machine may take longer than core.DefaultStoreTimeout, and a timed-out
// write would read as a wrong miss. Scenarios about timeouts set their own
// (a later option wins).
func semanticsTimeout() core.Option { return core.WithStoreTimeout(30 * time.Second) }
