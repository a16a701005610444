package core

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// outageStore wraps mapStore: while down its calls fail (or, when hang is
// set, block until their context ends); it counts Gets and Sets.
type outageStore struct {
	*mapStore
	down, hang atomic.Bool
	gets, sets atomic.Int64
}

var errOutage = errors.New("outage")

func (s *outageStore) fail(ctx context.Context) error {
	if s.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return errOutage
}

func (s *outageStore) Get(ctx context.Context, k string) ([]byte, error) {
	s.gets.Add(1)
	if s.down.Load() {
		return nil, s.fail(ctx)
	}
	return s.mapStore.Get(ctx, k)
}

func (s *outageStore) Set(ctx context.Context, k string, v []byte, m Meta) error {
	s.sets.Add(1)
	if s.down.Load() {
		return s.fail(ctx)
	}
	return s.mapStore.Set(ctx, k, v, m)
}

// lineCounter is a slog handler counting records by message.
type lineCounter struct {
	mu    sync.Mutex
	n     map[string]int
	attrs map[string]int64 // the last "suppressed" attribute per message
}

func (h *lineCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *lineCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[r.Message]++
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed" {
			h.attrs[r.Message] = a.Value.Int64()
		}
		return true
	})
	return nil
}
func (h *lineCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *lineCounter) WithGroup(string) slog.Handler      { return h }
func (h *lineCounter) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

func outageOrigin(t *testing.T) *httptest.Server {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("body of " + r.URL.Path))
	}))
	t.Cleanup(o.Close)
	return o
}

func outageGet(t *testing.T, c *Cache, url string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := c.Do(req, http.DefaultTransport.RoundTrip)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp
}

// TestOutageLogging: during an outage the store-error lines are bounded per
// interval, each breaker transition is logged once, and the line that says
// the store is back reports the lines suppressed.
func TestOutageLogging(t *testing.T) {
	st := &outageStore{mapStore: newMapStore()}
	h := &lineCounter{n: map[string]int{}, attrs: map[string]int64{}}
	c, err := New(st, WithLogger(slog.New(h)), WithBreaker(BreakerSettings{Failures: 50, Backoff: 10 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	o := outageOrigin(t)
	st.down.Store(true)
	for i := 0; i < 200; i++ {
		outageGet(t, c, o.URL+"/x")
	}
	const warn = "hoard: store error; request fails open"
	if n := h.count(warn); n != logBurst {
		t.Errorf("%d store-error lines for 200 failing requests, want %d (the rate limit)", n, logBurst)
	}
	bs := c.Stats().Breaker
	if n := h.count("hoard: store circuit breaker open; requests skip the store"); n != int(bs.Opens) || n < 1 {
		t.Errorf("%d breaker-open lines, want one per opening (%d)", n, bs.Opens)
	}
	st.down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Breaker.State != BreakerClosed && time.Now().Before(deadline) {
		outageGet(t, c, o.URL+"/x")
		time.Sleep(2 * time.Millisecond)
	}
	const closed = "hoard: store circuit breaker closed; the store answers again"
	if n := h.count(closed); n != 1 {
		t.Fatalf("%d breaker-closed lines, want 1 (state %+v)", n, c.Stats().Breaker)
	}
	s := c.Stats()
	if n := h.attrs[closed]; n != s.StoreErrors-logBurst {
		t.Errorf("the breaker-closed line reports %d suppressed lines, want %d", n, s.StoreErrors-logBurst)
	}
	if n := h.count("hoard: store circuit breaker half-open; probing the store"); n != int(s.Breaker.Probes) {
		t.Errorf("%d half-open lines, want one per probe (%d)", n, s.Breaker.Probes)
	}
}

// TestTimedOutReadSkipsWrite: a read that ran out of the store timeout is
// not followed by a write in the same request; a read that failed at once
// is.
func TestTimedOutReadSkipsWrite(t *testing.T) {
	for _, hang := range []bool{false, true} {
		st := &outageStore{mapStore: newMapStore()}
		c, err := New(st, WithStoreTimeout(20*time.Millisecond), WithBreaker(BreakerSettings{Disabled: true}))
		if err != nil {
			t.Fatal(err)
		}
		st.down.Store(true)
		st.hang.Store(hang)
		o := outageOrigin(t)
		start := time.Now()
		resp := outageGet(t, c, o.URL+"/y")
		d := time.Since(start)
		want := int64(1)
		if hang {
			want = 0
			if d > time.Second {
				t.Errorf("a request over a hanging store took %v, want about the 20ms timeout", d)
			}
		}
		if n := st.sets.Load(); n != want {
			t.Errorf("hang=%v: %d Sets after the read failed, want %d", hang, n, want)
		}
		if cs := resp.Header.Get("Cache-Status"); cs != "hoard; fwd=miss" {
			t.Errorf("hang=%v: Cache-Status %q, want %q", hang, cs, "hoard; fwd=miss")
		}
	}
}

// TestStoreTimeoutResolution: WithStoreTimeout wins, then the store's
// TimeoutHinter, then DefaultStoreTimeout.
func TestStoreTimeoutResolution(t *testing.T) {
	tests := []struct {
		name  string
		store Store
		opts  []Option
		want  time.Duration
	}{
		{"default", newMapStore(), nil, DefaultStoreTimeout},
		{"hint", hintStore{newMapStore(), 0}, nil, 0},
		{"hint 2s", hintStore{newMapStore(), 2 * time.Second}, nil, 2 * time.Second},
		{"option over hint", hintStore{newMapStore(), 0}, []Option{WithStoreTimeout(time.Second)}, time.Second},
		{"option zero", newMapStore(), []Option{WithStoreTimeout(0)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.store, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if c.timeout != tt.want {
				t.Errorf("timeout = %v, want %v", c.timeout, tt.want)
			}
		})
	}
	if _, err := New(newMapStore(), WithBreaker(BreakerSettings{Failures: -1})); err == nil || !strings.Contains(err.Error(), "WithBreaker") {
		t.Errorf("WithBreaker with negative Failures: %v, want an error", err)
	}
}

type hintStore struct {
	*mapStore
	d time.Duration
}

func (s hintStore) StoreTimeout() time.Duration { return s.d }
