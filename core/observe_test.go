package core_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// recorder is an Observer that keeps a copy of every event.
type recorder struct {
	mu     sync.Mutex
	events []core.Event
}

func (r *recorder) Observe(_ context.Context, ev *core.Event) {
	cp := *ev
	cp.StoreOps = slices.Clone(ev.StoreOps)
	r.mu.Lock()
	r.events = append(r.events, cp)
	r.mu.Unlock()
}

// take returns the events recorded since the last call.
func (r *recorder) take() []core.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

func opNames(ev core.Event) string {
	var names []string
	for _, op := range ev.StoreOps {
		s := op.Op
		if op.Err != nil {
			s += "!"
		}
		if op.Duration < 0 {
			s += "?"
		}
		names = append(names, s)
	}
	return strings.Join(names, ",")
}

// obsOrigin answers with a body of n bytes and the given Cache-Control; it
// answers 304 to a conditional request.
func obsOrigin(n int, cc string) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		h := http.Header{"Cache-Control": {cc}, "Etag": {`"v1"`}}
		if req.Header.Get("If-None-Match") == `"v1"` {
			return &http.Response{StatusCode: http.StatusNotModified, Header: h, Body: http.NoBody, Request: req}, nil
		}
		h.Set("Content-Length", strconv.Itoa(n))
		return &http.Response{
			StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
			Body: io.NopCloser(strings.NewReader(strings.Repeat("x", n))), ContentLength: int64(n), Request: req,
		}, nil
	}
}

func doRead(t *testing.T, c *core.Cache, method, url string, send func(*http.Request) (*http.Response, error), opts ...func(context.Context) context.Context) (int, error) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	ctx := req.Context()
	for _, o := range opts {
		ctx = o(ctx)
	}
	req = req.WithContext(ctx)
	resp, err := c.Do(req, send)
	if err != nil {
		return 0, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return len(b), nil
}

// Every path through Do emits exactly one event, with the outcome its
// Cache-Status says, the store calls it made and the bytes it served from the
// store.
func TestObserverOutcomes(t *testing.T) {
	type step struct {
		method  string
		path    string
		opts    []func(context.Context) context.Context
		want    core.Outcome
		ops     string
		bytes   int64
		cc      string
		advance time.Duration
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"miss then hit", []step{
			{path: "/a", want: core.OutcomeStored, ops: "get,set", cc: "max-age=60"},
			{path: "/a", want: core.OutcomeHit, ops: "get", bytes: 100, cc: "max-age=60"},
			{method: http.MethodHead, path: "/a", want: core.OutcomeHit, ops: "get", bytes: 0, cc: "max-age=60"},
		}},
		{"not storable", []step{
			{path: "/n", want: core.OutcomeMiss, ops: "get", cc: "no-store"},
		}},
		{"bypass", []step{
			{method: http.MethodPost, path: "/p", want: core.OutcomeBypass, ops: "delete,delete", cc: "max-age=60"}, // §4.4 invalidation
			{path: "/p", opts: []func(context.Context) context.Context{core.Disable}, want: core.OutcomeBypass, cc: "max-age=60"},
		}},
		{"revalidated", []step{
			{path: "/r", want: core.OutcomeStored, ops: "get,set", cc: "max-age=1"},
			{path: "/r", want: core.OutcomeRevalidated, ops: "get,set", bytes: 100, cc: "max-age=1", advance: 5 * time.Second},
		}},
		{"refresh stores", []step{
			{path: "/f", want: core.OutcomeStored, ops: "get,set", cc: "max-age=60"},
			{path: "/f", opts: []func(context.Context) context.Context{core.ForceRefresh}, want: core.OutcomeStored, ops: "get,set", cc: "max-age=60"},
		}},
		{"only-if-cached", []step{
			{path: "/o", opts: []func(context.Context) context.Context{core.OnlyIfCached}, want: core.OutcomeMiss, ops: "get", cc: "max-age=60"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := memstore.New(nil)
			now := time.Now() // memstore expires entries by the real clock
			rec := &recorder{}
			c, err := core.New(st, core.WithObserver(rec), core.WithClock(func() time.Time { return now }))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i, s := range tt.steps {
				now = now.Add(s.advance)
				m := s.method
				if m == "" {
					m = http.MethodGet
				}
				if _, err := doRead(t, c, m, "https://example.com"+s.path, obsOrigin(100, s.cc), s.opts...); err != nil {
					t.Fatal(err)
				}
				evs := rec.take()
				if len(evs) != 1 {
					t.Fatalf("step %d: %d events, want 1", i, len(evs))
				}
				ev := evs[0]
				if ev.Outcome != s.want || opNames(ev) != s.ops || ev.BytesFromCache != s.bytes || ev.Method != m {
					t.Errorf("step %d: outcome %v ops %q bytes %d method %s, want %v %q %d %s",
						i, ev.Outcome, opNames(ev), ev.BytesFromCache, ev.Method, s.want, s.ops, s.bytes, m)
				}
				if ev.Outcome != core.OutcomeBypass && ev.Key == "" {
					t.Errorf("step %d: no key", i)
				}
				if ev.Status != http.StatusOK && !(ev.Status == http.StatusGatewayTimeout && s.path == "/o") {
					t.Errorf("step %d: status %d", i, ev.Status)
				}
			}
		})
	}
}

// A stale-while-revalidate hit is reported at once as stale; the refresh in
// the background reports its own event, marked Background, when it ends.
func TestObserverBackgroundRefresh(t *testing.T) {
	st, _ := memstore.New(nil)
	now := time.Now() // memstore expires entries by the real clock
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	rec := &recorder{}
	c, err := core.New(st, core.WithObserver(rec), core.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := obsOrigin(10, "max-age=1, stale-while-revalidate=60")
	doRead(t, c, http.MethodGet, "https://example.com/s", send)
	mu.Lock()
	now = now.Add(5 * time.Second)
	mu.Unlock()
	doRead(t, c, http.MethodGet, "https://example.com/s", send)
	c.Wait()
	evs := rec.take()
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(evs), evs)
	}
	// The background refresh runs beside the caller's read of the stale
	// body, so its event may come first: they are told apart by Background.
	caller, bg := evs[1], evs[2]
	if caller.Background {
		caller, bg = bg, caller
	}
	if caller.Outcome != core.OutcomeStale || caller.Background || caller.BytesFromCache != 10 {
		t.Errorf("caller's event: %+v", caller)
	}
	if !bg.Background || bg.Outcome != core.OutcomeRevalidated || bg.BytesFromCache != 0 || opNames(bg) != "set" || bg.Key != caller.Key {
		t.Errorf("background event: %+v (ops %q)", bg, opNames(bg))
	}
}

// Streamed bodies: a miss streamed into the store is reported when its body
// ends, as stored once committed; a streamed hit when its body is closed,
// with the bytes read; a body closed early is a miss (nothing stored).
func TestObserverStreamedBodies(t *testing.T) {
	st, err := filestore.New(t.TempDir(), &filestore.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	c, err := core.New(st, core.WithObserver(rec), core.WithStreamThreshold(1<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 64 << 10
	send := obsOrigin(n, "max-age=60")
	get := func(path string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, "https://example.com"+path, nil)
		resp, err := c.Do(req, send)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	resp := get("/big")
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("event before the streamed body ended: %+v", evs)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	evs := rec.take()
	if len(evs) != 1 || evs[0].Outcome != core.OutcomeStored || opNames(evs[0]) != "get,create_stream,commit_stream,set" {
		t.Fatalf("streamed miss: %+v (ops %q)", evs, opNames(evs[0]))
	}

	// A hit read in part, then closed: the bytes read.
	resp = get("/big")
	buf := make([]byte, 1000)
	got, _ := io.ReadFull(resp.Body, buf)
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("event before the streamed hit was closed: %+v", evs)
	}
	resp.Body.Close()
	resp.Body.Close()
	evs = rec.take()
	if len(evs) != 1 || evs[0].Outcome != core.OutcomeHit || evs[0].BytesFromCache != int64(got) || opNames(evs[0]) != "get,open_stream" {
		t.Fatalf("streamed hit: %+v (ops %q), read %d", evs, opNames(evs[0]), got)
	}

	// A hit read to the end (io.Copy uses WriteTo): all of it.
	resp = get("/big")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if evs = rec.take(); len(evs) != 1 || evs[0].BytesFromCache != n {
		t.Fatalf("streamed hit read whole: %+v", evs)
	}

	// A miss whose body is closed before the end: the stream is aborted.
	resp = get("/other")
	resp.Body.Read(buf)
	resp.Body.Close()
	if evs = rec.take(); len(evs) != 1 || evs[0].Outcome != core.OutcomeMiss || opNames(evs[0]) != "get,create_stream,abort_stream" {
		t.Fatalf("abandoned streamed miss: %+v (ops %q)", evs, opNames(evs[0]))
	}
}

// failingStore fails every Get with an error that is not a miss.
type failingStore struct{ *memstore.Store }

var errStoreDown = errors.New("store down")

func (failingStore) Get(context.Context, string) ([]byte, error) { return nil, errStoreDown }

// A store error is in the event (the request fails open as a miss), and
// an origin error ends the request as a miss carrying it.
func TestObserverErrors(t *testing.T) {
	m, _ := memstore.New(nil)
	rec := &recorder{}
	c, err := core.New(failingStore{m}, core.WithObserver(rec), core.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	doRead(t, c, http.MethodGet, "https://example.com/e", obsOrigin(5, "max-age=60"))
	evs := rec.take()
	if len(evs) != 1 || opNames(evs[0]) != "get!,set" || !errors.Is(evs[0].StoreOps[0].Err, errStoreDown) || evs[0].Outcome != core.OutcomeStored {
		t.Fatalf("store error: %+v", evs)
	}
	boom := errors.New("connection refused")
	_, err = doRead(t, c, http.MethodGet, "https://example.com/x", func(*http.Request) (*http.Response, error) { return nil, boom })
	evs = rec.take()
	if !errors.Is(err, boom) || len(evs) != 1 || !errors.Is(evs[0].Err, boom) || evs[0].Outcome != core.OutcomeMiss || evs[0].Status != 0 {
		t.Fatalf("origin error: %v %+v", err, evs)
	}
}

// Identical concurrent misses: the leader's event carries the store write,
// each waiter served from it reports collapsed.
func TestObserverCollapsed(t *testing.T) {
	st, _ := memstore.New(nil)
	rec := &recorder{}
	c, err := core.New(st, core.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 4
	release := make(chan struct{})
	send := func(req *http.Request) (*http.Response, error) {
		<-release
		return obsOrigin(10, "max-age=60")(req)
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doRead(t, c, http.MethodGet, "https://example.com/c", send)
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Collapsed < n-1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	count := map[core.Outcome]int{}
	for _, ev := range rec.take() {
		count[ev.Outcome]++
	}
	if count[core.OutcomeStored] != 1 || count[core.OutcomeCollapsed] != n-1 {
		t.Fatalf("outcomes %v, want 1 stored and %d collapsed", count, n-1)
	}
}

func TestOutcomeString(t *testing.T) {
	var names []string
	for _, o := range core.Outcomes() {
		names = append(names, o.String())
	}
	if got := strings.Join(names, " "); got != "hit stale revalidated miss bypass collapsed stored" {
		t.Errorf("names %q", got)
	}
	if core.Outcome(99).String() != "unknown" {
		t.Error("unknown outcome")
	}
}

// ExampleWithObserver counts the outcomes of three requests.
func ExampleWithObserver() {
	store, err := memstore.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	counts := map[core.Outcome]int{}
	cache, err := core.New(store, core.WithObserver(core.ObserverFunc(func(_ context.Context, ev *core.Event) {
		mu.Lock()
		counts[ev.Outcome]++
		mu.Unlock()
		fmt.Printf("%s %s %d bytes from cache, %d store calls\n", ev.Method, ev.Outcome, ev.BytesFromCache, len(ev.StoreOps))
	})))
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	calls := 0
	send := origin(&calls)
	for range 2 {
		req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/items", nil)
		read(cache.Do(req, send))
	}
	req, _ := http.NewRequest(http.MethodPost, "https://api.example.com/items", nil)
	read(cache.Do(req, send))
	fmt.Println(counts[core.OutcomeStored], counts[core.OutcomeHit], counts[core.OutcomeBypass])
	// Output:
	// GET stored 0 bytes from cache, 2 store calls
	// GET hit 10 bytes from cache, 1 store calls
	// POST bypass 0 bytes from cache, 2 store calls
	// 1 1 1
}

func TestStoreOpErrorType(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("x: %w", core.ErrCorrupt), "corrupt"},
		{context.DeadlineExceeded, "timeout"},
		{fmt.Errorf("get: %w", context.Canceled), "canceled"},
		{core.ErrClosed, "closed"},
		{errStoreDown, "_OTHER"},
	}
	for _, tt := range tests {
		if got := (core.StoreOp{Err: tt.err}).ErrorType(); got != tt.want {
			t.Errorf("ErrorType(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestEventMethodName(t *testing.T) {
	for m, want := range map[string]string{"GET": "GET", "PATCH": "PATCH", "PURGE": "_OTHER", "get": "_OTHER"} {
		if got := (&core.Event{Method: m}).MethodName(); got != want {
			t.Errorf("MethodName(%q) = %q, want %q", m, got, want)
		}
	}
	if n := len(core.MethodNames()); n != 10 {
		t.Errorf("%d method names", n)
	}
}
