package core_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
)

// closeWatch is a filestore that records every call the cache makes after it
// was closed: once Close has been called, nothing may touch the store.
// (Aborting a stream writer made before Close releases it and is allowed;
// readers opened before Close are the caller's.)
type closeWatch struct {
	*filestore.Store
	closed atomic.Bool
	mu     sync.Mutex
	late   []string
}

func newCloseWatch(t *testing.T) *closeWatch {
	t.Helper()
	st, err := filestore.New(t.TempDir(), &filestore.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return &closeWatch{Store: st}
}

func (s *closeWatch) note(op, key string) {
	if s.closed.Load() {
		s.mu.Lock()
		s.late = append(s.late, op+" "+key)
		s.mu.Unlock()
	}
}

func (s *closeWatch) lateCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.late...)
}

func (s *closeWatch) Get(ctx context.Context, key string) ([]byte, error) {
	s.note("get", key)
	return s.Store.Get(ctx, key)
}

func (s *closeWatch) Set(ctx context.Context, key string, v []byte, m core.Meta) error {
	s.note("set", key)
	return s.Store.Set(ctx, key, v, m)
}

func (s *closeWatch) Delete(ctx context.Context, key string) error {
	s.note("delete", key)
	return s.Store.Delete(ctx, key)
}

func (s *closeWatch) List(ctx context.Context) iter.Seq2[core.Listed, error] {
	s.note("list", "")
	return s.Store.List(ctx)
}

func (s *closeWatch) Clear(ctx context.Context) error {
	s.note("clear", "")
	return s.Store.Clear(ctx)
}

func (s *closeWatch) CreateStream(ctx context.Context, key string, m core.Meta) (core.StreamWriter, error) {
	s.note("create stream", key)
	w, err := s.Store.CreateStream(ctx, key, m)
	if err != nil {
		return nil, err
	}
	return &watchedWriter{StreamWriter: w, s: s, key: key}, nil
}

func (s *closeWatch) OpenStream(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	s.note("open stream", key)
	return s.Store.OpenStream(ctx, key)
}

func (s *closeWatch) Close() error {
	s.closed.Store(true)
	return s.Store.Close()
}

type watchedWriter struct {
	core.StreamWriter
	s   *closeWatch
	key string
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.s.note("stream write", w.key)
	return w.StreamWriter.Write(p)
}

func (w *watchedWriter) Commit() error {
	w.s.note("stream commit", w.key)
	return w.StreamWriter.Commit()
}

// slowOrigin answers the first request for each path at once with a
// response that is stale after a second and may be refreshed in the
// background for 100 s; later requests wait until their context is done or
// release is closed (a slow origin), then answer the same way.
type slowOrigin struct {
	mu      sync.Mutex
	seen    map[string]int
	calls   atomic.Int64
	release chan struct{}
	once    sync.Once
	body    string
}

// releaseAll lets every request waiting at the origin, and every later one,
// be answered.
func (o *slowOrigin) releaseAll() { o.once.Do(func() { close(o.release) }) }

func newSlowOrigin(body string) *slowOrigin {
	return &slowOrigin{seen: map[string]int{}, release: make(chan struct{}), body: body}
}

func (o *slowOrigin) send(req *http.Request) (*http.Response, error) {
	o.calls.Add(1)
	o.mu.Lock()
	o.seen[req.URL.Path]++
	n := o.seen[req.URL.Path]
	o.mu.Unlock()
	if n > 1 {
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-o.release:
		}
	}
	return rvResp(req, 200, http.Header{
		"Cache-Control": {"max-age=1, stale-while-revalidate=100"},
		"Etag":          {fmt.Sprintf(`"%d"`, n)},
	}, o.body), nil
}

// Close cancels the background stale-while-revalidate refreshes in flight,
// waits for them, starts no new one, and afterwards nothing touches the
// store; Do still answers, by passing the request through, and says so.
func TestCloseStopsBackgroundRefreshes(t *testing.T) {
	clk := newRVClock()
	st := newCloseWatch(t)
	c, err := core.New(st, core.WithClock(clk.Now), core.WithBackgroundTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	o := newSlowOrigin("v")
	defer o.releaseAll()
	const urls = 4
	for i := range urls {
		rvDo(t, c, rvGet(t, context.Background(), "GET", fmt.Sprintf("http://example.test/%d", i), nil), o.send)
	}
	clk.Advance(10 * time.Second)
	for i := range urls {
		resp, _ := rvDo(t, c, rvGet(t, context.Background(), "GET", fmt.Sprintf("http://example.test/%d", i), nil), o.send)
		if !core.InfoOf(resp).Stale {
			t.Fatalf("request %d: Cache-Status %q, want a stale-while-revalidate hit", i, resp.Header.Get("Cache-Status"))
		}
	}
	// Every refresh is at the (slow) origin.
	for deadline := time.Now().Add(5 * time.Second); o.calls.Load() < 2*urls; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("origin calls = %d, want %d", o.calls.Load(), 2*urls)
		}
	}

	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %v: it waited for the refreshes instead of cancelling them", took)
	}
	c.Wait() // returns at once: nothing is running

	// After Close, Do passes requests through and says so.
	before := o.calls.Load()
	resp, body := rvDo(t, c, rvGet(t, context.Background(), "GET", "http://example.test/new", nil), o.send)
	if body != "v" || resp.StatusCode != 200 {
		t.Errorf("after Close: %d %q, want the origin's 200 %q", resp.StatusCode, body, "v")
	}
	if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "fwd=bypass") || !strings.Contains(cs, "detail=closed") {
		t.Errorf("after Close: Cache-Status %q, want fwd=bypass; detail=closed", cs)
	}
	if info := core.InfoOf(resp); info.FromCache || info.Stored {
		t.Errorf("after Close: Info %+v, want neither FromCache nor Stored", info)
	}
	if got := o.calls.Load() - before; got != 1 {
		t.Errorf("after Close: origin calls = %d, want 1", got)
	}
	if late := st.lateCalls(); len(late) > 0 {
		t.Errorf("store calls after Close: %q", late)
	}
}

// Do, hooks and management calls racing with Close are safe (-race), the
// refreshes they start are stopped, and once Close has returned nothing
// touches the store, including bodies still being read into it.
func TestCloseConcurrentWithDo(t *testing.T) {
	for round := range 5 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			clk := newRVClock()
			st := newCloseWatch(t)
			c, err := core.New(st, core.WithClock(clk.Now), core.WithStreamThreshold(16))
			if err != nil {
				t.Fatal(err)
			}
			o := newSlowOrigin(strings.Repeat("b", 1<<10)) // streamed: above the threshold
			defer o.releaseAll()
			const urls = 8
			url := func(i int) string { return fmt.Sprintf("http://example.test/%d", i%urls) }
			for i := range urls {
				rvDo(t, c, rvGet(t, context.Background(), "GET", url(i), nil), o.send)
			}
			clk.Advance(10 * time.Second)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			var closed atomic.Bool
			var held []*http.Response
			var heldMu sync.Mutex
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; !closed.Load() || i < 4*urls; i++ {
						req := rvGet(t, ctx, "GET", url(g*urls+i), nil)
						if i%3 == 2 {
							req = rvGet(t, ctx, "GET", url(i)+"/miss"+fmt.Sprint(g, i), nil)
						}
						resp, err := c.Do(req, o.send)
						if err != nil {
							continue
						}
						if i%5 == 4 {
							heldMu.Lock()
							held = append(held, resp) // read after Close
							heldMu.Unlock()
							continue
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if i > 64*urls {
							return
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !closed.Load() {
					c.Contains(ctx, rvGet(t, ctx, "GET", url(1), nil))
					for range c.Entries(ctx) {
					}
				}
			}()
			time.Sleep(time.Duration(round) * 2 * time.Millisecond)
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			closed.Store(true)
			o.releaseAll() // requests passed through after Close are answered
			wg.Wait()
			for _, resp := range held {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if late := st.lateCalls(); len(late) > 0 {
				t.Errorf("store calls after Close: %q", late)
			}
		})
	}
}

// After Close every hook and management call has a defined answer and
// touches nothing: Lookup reports Bypass, Store and Revalidate pass the
// origin's answer through, management calls fail with ErrClosed, Close again
// returns nil.
func TestAfterClose(t *testing.T) {
	clk := newRVClock()
	st := newCloseWatch(t)
	c, err := core.New(st, core.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	o := newSlowOrigin("v")
	o.releaseAll()
	const url = "http://example.test/a"
	rvDo(t, c, rvGet(t, context.Background(), "GET", url, nil), o.send)
	clk.Advance(10 * time.Second)
	stale, err := c.Lookup(context.Background(), rvGet(t, context.Background(), "GET", url, nil))
	if err != nil || stale.State != core.StaleWhileRevalidate {
		t.Fatalf("Lookup before Close: %v, %v", stale, err)
	}
	stale.Response.Body.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := func() *http.Request { return rvGet(t, ctx, "GET", url, nil) }
	origin := func() *http.Response { r, _ := o.send(req()); return r }
	passed := func(t *testing.T, resp *http.Response) {
		t.Helper()
		if resp == nil {
			t.Fatal("nil response")
		}
		if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "detail=closed") {
			t.Errorf("Cache-Status %q, want detail=closed", cs)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != "v" {
			t.Errorf("body %q, want the origin's %q", b, "v")
		}
		resp.Body.Close()
	}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"Lookup", func(t *testing.T) {
			lr, err := c.Lookup(ctx, req())
			if err != nil || lr.State != core.Bypass || lr.Response != nil || lr.Request == nil {
				t.Errorf("Lookup = %+v, %v; want Bypass with the request to send", lr, err)
			}
		}},
		{"Store", func(t *testing.T) {
			lr, err := c.Lookup(ctx, req())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Store(ctx, &lr, origin(), nil)
			if err != nil {
				t.Fatal(err)
			}
			passed(t, resp)
		}},
		{"Revalidate", func(t *testing.T) {
			resp, err := c.Revalidate(ctx, &stale, origin(), nil)
			if err != nil {
				t.Fatal(err)
			}
			passed(t, resp)
		}},
		{"Revalidate error", func(t *testing.T) {
			boom := errors.New("boom")
			if resp, err := c.Revalidate(ctx, &stale, nil, boom); resp != nil || !errors.Is(err, boom) {
				t.Errorf("Revalidate = %v, %v; want the transport error", resp, err)
			}
		}},
		{"Do", func(t *testing.T) {
			resp, err := c.Do(req(), o.send)
			if err != nil {
				t.Fatal(err)
			}
			passed(t, resp)
		}},
		{"Delete", func(t *testing.T) {
			if err := c.Delete(ctx, req()); !errors.Is(err, core.ErrClosed) {
				t.Errorf("Delete = %v, want ErrClosed", err)
			}
		}},
		{"DeleteURL", func(t *testing.T) {
			if err := c.DeleteURL(ctx, url); !errors.Is(err, core.ErrClosed) {
				t.Errorf("DeleteURL = %v, want ErrClosed", err)
			}
		}},
		{"Contains", func(t *testing.T) {
			if ok, err := c.Contains(ctx, req()); ok || !errors.Is(err, core.ErrClosed) {
				t.Errorf("Contains = %v, %v; want false, ErrClosed", ok, err)
			}
		}},
		{"Clear", func(t *testing.T) {
			if err := c.Clear(ctx); !errors.Is(err, core.ErrClosed) {
				t.Errorf("Clear = %v, want ErrClosed", err)
			}
		}},
		{"Entries", func(t *testing.T) {
			n := 0
			for e, err := range c.Entries(ctx) {
				n++
				if e != nil || !errors.Is(err, core.ErrClosed) {
					t.Errorf("Entries yielded %v, %v; want one ErrClosed", e, err)
				}
			}
			if n != 1 {
				t.Errorf("Entries yielded %d items, want 1", n)
			}
		}},
		{"DeleteExpired", func(t *testing.T) {
			if n, err := c.DeleteExpired(ctx); n != 0 || !errors.Is(err, core.ErrClosed) {
				t.Errorf("DeleteExpired = %d, %v; want 0, ErrClosed", n, err)
			}
		}},
		{"DeleteOlderThan", func(t *testing.T) {
			if n, err := c.DeleteOlderThan(ctx, time.Second); n != 0 || !errors.Is(err, core.ErrClosed) {
				t.Errorf("DeleteOlderThan = %d, %v; want 0, ErrClosed", n, err)
			}
		}},
		{"ResetExpiration", func(t *testing.T) {
			if n, err := c.ResetExpiration(ctx, time.Hour); n != 0 || !errors.Is(err, core.ErrClosed) {
				t.Errorf("ResetExpiration = %d, %v; want 0, ErrClosed", n, err)
			}
		}},
		{"Close again", func(t *testing.T) {
			if err := c.Close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
	if late := st.lateCalls(); len(late) > 0 {
		t.Errorf("store calls after Close: %q", late)
	}
}

// Wait may be called while requests start background refreshes (-race).
func TestWaitConcurrentWithRefreshes(t *testing.T) {
	clk := newRVClock()
	c := rvNew(t, nil, core.WithClock(clk.Now))
	o := newSlowOrigin("v")
	o.releaseAll()
	const urls = 16
	url := func(i int) string { return fmt.Sprintf("http://example.test/%d", i) }
	for i := range urls {
		rvDo(t, c, rvGet(t, context.Background(), "GET", url(i), nil), o.send)
	}
	clk.Advance(10 * time.Second)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				c.Wait()
			}
		}
	}()
	for round := range 20 {
		for i := range urls {
			rvDo(t, c, rvGet(t, context.Background(), "GET", url(i), nil), o.send)
		}
		c.Wait()
		clk.Advance(2 * time.Second) // stale again for the next round
		_ = round
	}
	close(stop)
	wg.Wait()
	if bg := c.Stats().Background; bg < urls {
		t.Errorf("Stats().Background = %d, want at least %d refreshes", bg, urls)
	}
}
