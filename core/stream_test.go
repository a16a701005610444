package core_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// streamStore is memstore plus an in-memory core.Streamer, enough to check
// the core's streaming logic without a disk.
type streamStore struct {
	*memstore.Store
	mu      sync.Mutex
	streams map[string][]byte
	commits atomic.Int64
	aborts  atomic.Int64
}

func newStreamStore(t *testing.T) *streamStore {
	t.Helper()
	m, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &streamStore{Store: m, streams: map[string][]byte{}}
}

type memStreamWriter struct {
	s   *streamStore
	key string
	buf bytes.Buffer
}

func (w *memStreamWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }
func (w *memStreamWriter) Commit() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.s.streams[w.key] = bytes.Clone(w.buf.Bytes())
	w.s.commits.Add(1)
	return nil
}
func (w *memStreamWriter) Abort() error { w.s.aborts.Add(1); return nil }

func (s *streamStore) CreateStream(ctx context.Context, key string, meta core.Meta) (core.StreamWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &memStreamWriter{s: s, key: key}, nil
}

func (s *streamStore) OpenStream(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.streams[key]
	if !ok {
		return nil, 0, core.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

func (s *streamStore) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	delete(s.streams, key)
	s.mu.Unlock()
	return s.Store.Delete(ctx, key)
}

// bigOrigin answers with size bytes of a pattern; cl < 0 sends no
// Content-Length; cut > 0 stops after cut bytes with an error.
func bigOrigin(calls *atomic.Int64, size int, cl int64, cut int) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		calls.Add(1)
		var body io.Reader = strings.NewReader(strings.Repeat("0123456789abcdef", size/16))
		if cut > 0 {
			body = io.MultiReader(io.LimitReader(body, int64(cut)), errReader{})
		}
		return &http.Response{
			StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Cache-Control": {"max-age=60"}, "Etag": {`"big"`}},
			Body:          io.NopCloser(body),
			ContentLength: cl, Request: req,
		}, nil
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestStreamingBodies(t *testing.T) {
	const size = 4 << 20
	tests := []struct {
		name       string
		cl         int64
		cut        int
		readAll    bool
		opts       []core.Option
		wantStored bool
	}{
		{name: "known length", cl: size, readAll: true, wantStored: true},
		{name: "unknown length", cl: -1, readAll: true, wantStored: true},
		{name: "truncated body is not stored", cl: size, cut: size / 2, readAll: true},
		{name: "caller stops reading early", cl: size, readAll: false},
		{name: "larger than the stream maximum", cl: -1, readAll: true, opts: []core.Option{core.WithMaxStreamSize(size / 2)}},
		{name: "declared larger than the maximum", cl: size, readAll: true, opts: []core.Option{core.WithMaxStreamSize(size / 2)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStreamStore(t)
			c, err := core.New(st, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var calls atomic.Int64
			send := bigOrigin(&calls, size, tc.cl, tc.cut)
			req, _ := http.NewRequest(http.MethodGet, "http://example.test/big", nil)
			resp, err := c.Do(req, send)
			if err != nil {
				t.Fatal(err)
			}
			if tc.readAll {
				n, err := io.Copy(io.Discard, resp.Body)
				if tc.cut > 0 {
					if err == nil {
						t.Errorf("truncated body read without error (%d bytes)", n)
					}
				} else if err != nil || n != size {
					t.Errorf("read %d bytes, %v; want %d, nil", n, err, size)
				}
			} else {
				io.CopyN(io.Discard, resp.Body, 1000)
			}
			resp.Body.Close()

			resp2, err := c.Do(req, send)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp2.Body)
			resp2.Body.Close()
			info := core.InfoOf(resp2)
			if info.FromCache != tc.wantStored {
				t.Errorf("second request FromCache = %v, want %v (Cache-Status %q; commits %d, aborts %d)",
					info.FromCache, tc.wantStored, resp2.Header.Get("Cache-Status"), st.commits.Load(), st.aborts.Load())
			}
			if tc.cut == 0 && (err != nil || len(b) != size) {
				t.Errorf("second body: %d bytes, %v; want %d", len(b), err, size)
			}
			if tc.wantStored && resp2.ContentLength != size {
				t.Errorf("hit ContentLength = %d, want %d", resp2.ContentLength, size)
			}
			if want := map[bool]int64{true: 1, false: 2}[tc.wantStored]; calls.Load() != want {
				t.Errorf("origin calls = %d, want %d", calls.Load(), want)
			}
		})
	}
}

// TestStreamingCollapsedWaiters checks that requests waiting for a leader
// whose body streams into the store are served from the committed stream.
func TestStreamingCollapsedWaiters(t *testing.T) {
	const size, n = 2 << 20, 8
	st := newStreamStore(t)
	// The waiters wait for the leader's stream however slowly a loaded
	// machine writes it, not the default collapse wait (1 s), after which
	// each would go to the origin on its own.
	c, err := core.New(st, core.WithCollapseWait(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var calls atomic.Int64
	release := make(chan struct{})
	inner := bigOrigin(&calls, size, size, 0)
	send := func(r *http.Request) (*http.Response, error) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		return inner(r)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, "http://example.test/big", nil)
			resp, err := c.Do(req, send)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			m, err := io.Copy(io.Discard, resp.Body)
			if err != nil || m != size {
				errs <- fmt.Errorf("read %d, %v", m, err)
			}
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); c.Stats().Collapsed < n-1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if calls.Load() != 1 {
		t.Errorf("origin calls = %d, want 1", calls.Load())
	}
}

// TestStreamedEntryRevalidated checks that a 304 freshens a streamed entry
// and the body is still served from its stream.
func TestStreamedEntryRevalidated(t *testing.T) {
	const size = 2 << 20
	st := newStreamStore(t)
	now := time.Now()
	clock := func() time.Time { return now }
	c, err := core.New(st, core.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var calls atomic.Int64
	full := bigOrigin(&calls, size, size, 0)
	send := func(r *http.Request) (*http.Response, error) {
		if r.Header.Get("If-None-Match") == `"big"` {
			calls.Add(1)
			return &http.Response{StatusCode: 304, Header: http.Header{"Cache-Control": {"max-age=60"}, "Etag": {`"big"`}}, Body: http.NoBody, Request: r}, nil
		}
		return full(r)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/big", nil)
	for i, want := range []string{"miss", "revalidated", "hit"} {
		resp, err := c.Do(req, send)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(b) != size {
			t.Fatalf("request %d: %d bytes, %v", i, len(b), err)
		}
		info := core.InfoOf(resp)
		got := map[bool]string{true: "hit", false: "miss"}[info.FromCache]
		if info.Revalidated {
			got = "revalidated"
		}
		if got != want {
			t.Errorf("request %d: %s, want %s (Cache-Status %q)", i, got, want, resp.Header.Get("Cache-Status"))
		}
		if i == 0 {
			now = now.Add(2 * time.Minute)
		}
	}
	if calls.Load() != 2 {
		t.Errorf("origin calls = %d, want 2", calls.Load())
	}
}

// TestUnknownLengthSmallBodyNotStreamed checks that a body of unknown length
// that turns out to be below the stream threshold is stored whole, not as a
// stream (one store write instead of a stream round trip).
func TestUnknownLengthSmallBodyNotStreamed(t *testing.T) {
	st := newStreamStore(t)
	c, err := core.New(st)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var calls atomic.Int64
	send := bigOrigin(&calls, 4096, -1, 0)
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/small", nil)
	for i := range 2 {
		resp, err := c.Do(req, send)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(b) != 4096 {
			t.Fatalf("request %d: %d bytes, %v", i, len(b), err)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("origin calls = %d, want 1", calls.Load())
	}
	if n := st.commits.Load(); n != 0 {
		t.Errorf("stream commits = %d, want 0 (the body fits below the threshold)", n)
	}
}
