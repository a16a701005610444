package core_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// reviewClock is a race-free settable clock.
type reviewClock struct{ ns atomic.Int64 }

func newReviewClock() *reviewClock {
	c := new(reviewClock)
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *reviewClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *reviewClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// reviewStore wraps streamStore: it can fail or hold value writes, and counts
// the stream readers opened and closed.
type reviewStore struct {
	*streamStore
	failSet atomic.Bool
	// hold, when set, makes the next Set wait: entered is closed when it
	// starts, and it proceeds when release is closed.
	mu      sync.Mutex
	entered chan struct{}
	release chan struct{}

	opened, closed atomic.Int64
}

func (s *reviewStore) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	if s.failSet.Load() {
		return errors.New("review: transient store failure")
	}
	s.mu.Lock()
	entered, release := s.entered, s.release
	s.entered, s.release = nil, nil
	s.mu.Unlock()
	if entered != nil {
		close(entered)
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}
	return s.streamStore.Set(ctx, key, value, meta)
}

func (s *reviewStore) holdNextSet() (entered, release chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entered, s.release = make(chan struct{}), make(chan struct{})
	return s.entered, s.release
}

type countedReader struct {
	io.ReadCloser
	s    *reviewStore
	once sync.Once
}

func (r *countedReader) Close() error {
	r.once.Do(func() { r.s.closed.Add(1) })
	return r.ReadCloser.Close()
}

func (s *reviewStore) OpenStream(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	rc, n, err := s.streamStore.OpenStream(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	s.opened.Add(1)
	return &countedReader{ReadCloser: rc, s: s}, n, nil
}

func newReviewStore(t *testing.T) *reviewStore {
	return &reviewStore{streamStore: newStreamStore(t)}
}

const reviewSize = 2 << 20 // above the default 1 MiB stream threshold

// versionOrigin answers with a body of reviewSize bytes of the letter of the
// current version, and that letter as its ETag.
func versionOrigin(version *atomic.Value, calls *atomic.Int64) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		v := version.Load().(string)
		if inm := r.Header.Get("If-None-Match"); inm == `"`+v+`"` {
			return &http.Response{StatusCode: 304, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Cache-Control": {"max-age=60"}, "Etag": {`"` + v + `"`}}, Body: http.NoBody, Request: r}, nil
		}
		return &http.Response{
			StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Cache-Control": {"max-age=60, stale-while-revalidate=600"}, "Etag": {`"` + v + `"`},
				"Content-Length": {"2097152"}},
			Body:          io.NopCloser(strings.NewReader(strings.Repeat(v, reviewSize))),
			ContentLength: reviewSize, Request: r,
		}, nil
	}
}

// readConsistent reads resp and reports whether its body is made of the
// letter its ETag names, and the body's first letter.
func readConsistent(t *testing.T, resp *http.Response) (ok bool, first string) {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	etag := strings.Trim(resp.Header.Get("Etag"), `"`)
	if len(b) == 0 {
		return false, ""
	}
	return bytes.Equal(b, bytes.Repeat([]byte(etag), len(b))) && int64(len(b)) == resp.ContentLength, string(b[:1])
}

// TestRegressionStreamedValueWriteFailureMixesEntries: the core commits a new
// stream, then writes the value that describes it. When that value write
// fails (a transient store error, or the process dying in between), the old
// value stays and now describes the new stream: every later hit serves the
// old headers (ETag "A") with the new body ("B...").
func TestRegressionStreamedValueWriteFailureMixesEntries(t *testing.T) {
	st := newReviewStore(t)
	clk := newReviewClock()
	c, err := core.New(st, core.WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var version atomic.Value
	version.Store("A")
	var calls atomic.Int64
	send := versionOrigin(&version, &calls)
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/doc", nil)

	resp, err := c.Do(req, send)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := readConsistent(t, resp); !ok {
		t.Fatal("first response inconsistent")
	}

	// A forced refresh fetches version B; its value write fails.
	version.Store("B")
	st.failSet.Store(true)
	resp, err = c.Do(req.WithContext(core.ForceRefresh(context.Background())), send)
	if err != nil {
		t.Fatal(err)
	}
	readConsistent(t, resp)
	st.failSet.Store(false)

	resp, err = c.Do(req, send)
	if err != nil {
		t.Fatal(err)
	}
	fromCache := core.InfoOf(resp).FromCache
	if ok, first := readConsistent(t, resp); !ok {
		t.Errorf("hit (FromCache=%v) serves ETag %s with a body of %q: headers of one response, body of another",
			fromCache, resp.Header.Get("Etag"), first)
	}
}

// TestRegressionStreamedReaderBetweenCommitAndValue: a reader whose lookup falls
// between a writer's stream Commit and its value Set reads the old value and
// opens the new stream.
func TestRegressionStreamedReaderBetweenCommitAndValue(t *testing.T) {
	st := newReviewStore(t)
	clk := newReviewClock()
	c, err := core.New(st, core.WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var version atomic.Value
	version.Store("A")
	var calls atomic.Int64
	send := versionOrigin(&version, &calls)
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/doc", nil)

	resp, err := c.Do(req, send)
	if err != nil {
		t.Fatal(err)
	}
	readConsistent(t, resp)

	version.Store("B")
	entered, release := st.holdNextSet()
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := c.Do(req.WithContext(core.ForceRefresh(context.Background())), send)
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body) // the EOF commits the stream, then writes the value
		resp.Body.Close()
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("writer never reached its value write")
	}
	resp, err = c.Do(req, send) // a plain reader in the window
	close(release)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if ok, first := readConsistent(t, resp); !ok {
		t.Errorf("reader got ETag %s, Content-Length %d, body %q...: mixed entries",
			resp.Header.Get("Etag"), resp.ContentLength, first)
	}
}

// TestRegressionStoreHookLeaksStream: for a stale streamed entry (state
// Revalidate) Lookup must not leave the entry's stream open, whether its
// result goes to Store or to Revalidate.
func TestRegressionStoreHookLeaksStream(t *testing.T) {
	st := newReviewStore(t)
	clk := newReviewClock()
	c, err := core.New(st, core.WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var version atomic.Value
	version.Store("A")
	var calls atomic.Int64
	send := versionOrigin(&version, &calls)
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/doc", nil)
	resp, err := c.Do(req, send)
	if err != nil {
		t.Fatal(err)
	}
	readConsistent(t, resp)
	clk.advance(time.Hour) // stale beyond the stale-while-revalidate window: Revalidate

	version.Store("B")
	t.Run("Store", func(t *testing.T) {
		before := st.opened.Load() - st.closed.Load()
		lr, err := c.Lookup(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		origin, _ := send(lr.Request)
		out, err := c.Store(context.Background(), &lr, origin, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, out.Body)
		out.Body.Close()
		if open := st.opened.Load() - st.closed.Load() - before; open != 0 {
			t.Errorf("%d stream reader(s) left open by Cache.Store", open)
		}
	})
	clk.advance(time.Hour)
	version.Store("C")
	t.Run("Lookup+Revalidate", func(t *testing.T) {
		before := st.opened.Load() - st.closed.Load()
		lr, err := c.Lookup(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if lr.State != core.Revalidate {
			t.Fatalf("state %v, want revalidate", lr.State)
		}
		origin, err := send(lr.Request)
		out, err := c.Revalidate(context.Background(), &lr, origin, err)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, out.Body)
		out.Body.Close()
		if open := st.opened.Load() - st.closed.Load() - before; open != 0 {
			t.Errorf("%d stream reader(s) left open by Lookup + Revalidate (200)", open)
		}
	})
}

// TestRegressionBackgroundRefreshDropsStreamedBody: a stale-while-revalidate
// refresh that gets a new large body drains only 4 KiB of the teed response
// and closes it, so the new body is never committed: the stale entry stays,
// and every later stale hit refetches (and discards) the body again.
func TestRegressionBackgroundRefreshDropsStreamedBody(t *testing.T) {
	st := newReviewStore(t)
	clk := newReviewClock()
	c, err := core.New(st, core.WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	var version atomic.Value
	version.Store("A")
	var calls atomic.Int64
	send := versionOrigin(&version, &calls)
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/doc", nil)
	resp, err := c.Do(req, send)
	if err != nil {
		t.Fatal(err)
	}
	readConsistent(t, resp)
	clk.advance(2 * time.Minute) // stale, within stale-while-revalidate=600
	version.Store("B")
	resp, err = c.Do(req, send)
	if err != nil {
		t.Fatal(err)
	}
	if !core.InfoOf(resp).Stale {
		t.Fatalf("want a stale-while-revalidate hit, got %q", resp.Header.Get("Cache-Status"))
	}
	readConsistent(t, resp)
	c.Wait() // for the background refresh (Close would cancel it)
	c.Close()
	if n := st.commits.Load(); n != 2 {
		t.Errorf("stream commits = %d (aborts %d), want 2: the background refresh's 200 was not stored",
			n, st.aborts.Load())
	}
}

// teeSrc is an origin body that, like net/http's, may be closed while it
// is read.
type teeSrc struct {
	mu     sync.Mutex
	r      *strings.Reader
	closed bool
}

func (s *teeSrc) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errors.New("read on closed body")
	}
	return s.r.Read(p)
}

func (s *teeSrc) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// TestRegressionTeeBodyConcurrentClose: closing a response body from another
// goroutine while it is read (what net/http bodies allow, and what
// cancellation helpers do) races on the tee's state, and can call both
// Commit and Abort.
func TestRegressionTeeBodyConcurrentClose(t *testing.T) {
	st := newReviewStore(t)
	c, err := core.New(st)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 20 {
		send := func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header:        http.Header{"Cache-Control": {"max-age=60"}},
				Body:          &teeSrc{r: strings.NewReader(strings.Repeat("x", reviewSize))},
				ContentLength: reviewSize, Request: r}, nil
		}
		req, _ := http.NewRequest(http.MethodGet, "http://example.test/c"+string(rune('a'+i)), nil)
		resp, err := c.Do(req.WithContext(core.ForceRefresh(context.Background())), send)
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); <-start; io.Copy(io.Discard, resp.Body) }()
		go func() { defer wg.Done(); <-start; resp.Body.Close() }()
		close(start)
		wg.Wait()
	}
	if got := st.commits.Load() + st.aborts.Load(); got > 20 {
		t.Errorf("%d Commit+Abort calls for 20 streams", got)
	}
}
