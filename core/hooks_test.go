package core_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// TestHooksAdapter runs every adapter scenario, over memstore and over
// filestore, through an adapter built from the public hooks alone
// (conformance.HooksHarness, which never calls Do): the hooks have Do's
// semantics.
func TestHooksAdapter(t *testing.T) {
	conformance.RunAdapterTests(t, func(context.Context, *testing.T) (conformance.AdapterHarness, error) {
		return conformance.HooksHarness{}, nil
	})
}

// readCounter is a store that counts its reads.
type readCounter struct {
	core.Store
	reads atomic.Int64
}

func (s *readCounter) Get(ctx context.Context, key string) ([]byte, error) {
	s.reads.Add(1)
	return s.Store.Get(ctx, key)
}

func newReadCounter(t *testing.T) *readCounter {
	t.Helper()
	m, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &readCounter{Store: m}
}

// hookBody reads and closes resp's body.
func hookBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// Store and Revalidate finish a request with what Lookup found: after
// Lookup, no path reads the store again.
func TestHooksNoStoreReadAfterLookup(t *testing.T) {
	const url = "http://example.test/r"
	stored := http.Header{"Cache-Control": {"max-age=10"}, "Etag": {`"v1"`}}
	tests := []struct {
		name   string
		seed   bool          // store a response first
		age    time.Duration // advance the clock by this after seeding
		method string
		answer func(req *http.Request) *http.Response
		err    error // the transport error instead of an answer
		state  core.State
		want   string // the body the caller gets
	}{
		{"miss", false, 0, http.MethodGet, func(r *http.Request) *http.Response {
			return rvResp(r, 200, http.Header{"Cache-Control": {"max-age=10"}}, "new")
		}, nil, core.Miss, "new"},
		{"revalidate 304", true, 20 * time.Second, http.MethodGet, func(r *http.Request) *http.Response {
			return rvResp(r, http.StatusNotModified, http.Header{"Etag": {`"v1"`}}, "")
		}, nil, core.Revalidate, "old"},
		{"revalidate 200", true, 20 * time.Second, http.MethodGet, func(r *http.Request) *http.Response {
			return rvResp(r, 200, http.Header{"Cache-Control": {"max-age=10"}, "Etag": {`"v2"`}}, "new")
		}, nil, core.Revalidate, "new"},
		{"revalidate stale-if-error", true, 20 * time.Second, http.MethodGet, nil, errors.New("down"), core.Revalidate, "old"},
		{"bypass unsafe method", true, 0, http.MethodDelete, func(r *http.Request) *http.Response {
			return rvResp(r, 204, nil, "")
		}, nil, core.Bypass, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newReadCounter(t)
			clk := newRVClock()
			c := rvNew(t, st, core.WithClock(clk.Now), core.WithStaleIfError(time.Hour))
			ctx := context.Background()
			if tt.seed {
				rvDo(t, c, rvGet(t, ctx, http.MethodGet, url, nil), func(r *http.Request) (*http.Response, error) {
					return rvResp(r, 200, stored.Clone(), "old"), nil
				})
				clk.Advance(tt.age)
			}
			lr, err := c.Lookup(ctx, rvGet(t, ctx, tt.method, url, nil))
			if err != nil || lr.State != tt.state {
				t.Fatalf("Lookup: %v, %v; want %v", lr.State, err, tt.state)
			}
			before := st.reads.Load()
			var resp *http.Response
			if tt.answer != nil {
				resp = tt.answer(lr.Request)
			}
			if tt.state == core.Revalidate {
				resp, err = c.Revalidate(ctx, &lr, resp, tt.err)
			} else {
				resp, err = c.Store(ctx, &lr, resp, tt.err)
			}
			if err != nil {
				t.Fatalf("hook: %v", err)
			}
			if b := hookBody(t, resp); b != tt.want {
				t.Errorf("body %q, want %q", b, tt.want)
			}
			if n := st.reads.Load() - before; n != 0 {
				t.Errorf("%d store reads after Lookup, want 0", n)
			}
		})
	}
}

// Lookup counts hits and misses, so an adapter built on the hooks gets the
// same Stats as Do.
func TestHooksLookupCountsStats(t *testing.T) {
	c := rvNew(t, nil)
	ctx := context.Background()
	const url = "http://example.test/s"
	lr, err := c.Lookup(ctx, rvGet(t, ctx, http.MethodGet, url, nil))
	if err != nil || lr.State != core.Miss {
		t.Fatalf("Lookup: %v, %v; want a miss", lr.State, err)
	}
	resp, err := c.Store(ctx, &lr, rvResp(lr.Request, 200, http.Header{"Cache-Control": {"max-age=60"}}, "v"), nil)
	if err != nil {
		t.Fatal(err)
	}
	hookBody(t, resp)
	lr, err = c.Lookup(ctx, rvGet(t, ctx, http.MethodGet, url, nil))
	if err != nil || lr.State != core.Hit {
		t.Fatalf("Lookup: %v, %v; want a hit", lr.State, err)
	}
	hookBody(t, lr.Response)
	if s := c.Stats(); s.Hits != 1 || s.Misses != 1 || s.Stores != 1 {
		t.Errorf("Stats: hits %d, misses %d, stores %d; want 1, 1, 1", s.Hits, s.Misses, s.Stores)
	}
}

// Join collapses identical misses: the leader sends, and the waiter is
// answered from what the leader's Store stored, without a send of its own.
func TestHooksJoin(t *testing.T) {
	c := rvNew(t, nil)
	ctx := context.Background()
	const url = "http://example.test/j"
	leader, err := c.Lookup(ctx, rvGet(t, ctx, http.MethodGet, url, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := c.Join(ctx, &leader); resp != nil || err != nil {
		t.Fatalf("leader's Join = %v, %v; want nil, nil", resp, err)
	}
	follower, err := c.Lookup(ctx, rvGet(t, ctx, http.MethodGet, url, nil))
	if err != nil || follower.State != core.Miss {
		t.Fatalf("follower's Lookup: %v, %v; want a miss", follower.State, err)
	}
	joined := make(chan *http.Response, 1)
	go func() {
		resp, err := c.Join(ctx, &follower)
		if err != nil {
			t.Errorf("follower's Join: %v", err)
		}
		joined <- resp
	}()
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Collapsed == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // until the follower waits
	}
	resp, err := c.Store(ctx, &leader, rvResp(leader.Request, 200, http.Header{"Cache-Control": {"max-age=60"}}, "shared"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := hookBody(t, resp); b != "shared" {
		t.Errorf("leader's body %q, want %q", b, "shared")
	}
	fr := <-joined
	if fr == nil {
		t.Fatal("follower's Join = nil: not answered from the leader's response")
	}
	if b := hookBody(t, fr); b != "shared" {
		t.Errorf("follower's body %q, want %q", b, "shared")
	}
	if in := core.InfoOf(fr); !in.Collapsed {
		t.Errorf("follower's Info %+v, want Collapsed", in)
	}
}

// Store applies RFC 9111 §4.4: a non-error response to an unsafe method
// invalidates the stored responses of its target URI and of a same-origin
// Location.
func TestHooksStoreInvalidates(t *testing.T) {
	c := rvNew(t, nil)
	ctx := context.Background()
	for _, u := range []string{"http://example.test/a", "http://example.test/b"} {
		rvDo(t, c, rvGet(t, ctx, http.MethodGet, u, nil), func(r *http.Request) (*http.Response, error) {
			return rvResp(r, 200, http.Header{"Cache-Control": {"max-age=60"}}, "v"), nil
		})
	}
	post, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.test/a", strings.NewReader("x"))
	lr, err := c.Lookup(ctx, post)
	if err != nil || lr.State != core.Bypass {
		t.Fatalf("Lookup(POST): %v, %v; want a bypass", lr.State, err)
	}
	resp, err := c.Store(ctx, &lr, rvResp(lr.Request, 201, http.Header{"Location": {"/b"}}, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	hookBody(t, resp)
	for _, u := range []string{"http://example.test/a", "http://example.test/b"} {
		ok, err := c.Contains(ctx, rvGet(t, ctx, http.MethodGet, u, nil))
		if err != nil || ok {
			t.Errorf("after the POST, Contains(%s) = %v, %v; want false (invalidated)", u, ok, err)
		}
	}
	// The GET and the HEAD key of each URL.
	if s := c.Stats(); s.Invalidations != 4 {
		t.Errorf("Stats.Invalidations = %d, want 4", s.Invalidations)
	}
}

// A 304 that does not select the stored response makes Revalidate return
// ErrResend with the LookupResult turned into a Miss whose Request has no
// validators; its answer goes to Store.
func TestHooksErrResend(t *testing.T) {
	clk := newRVClock()
	c := rvNew(t, nil, core.WithClock(clk.Now))
	ctx := context.Background()
	const url = "http://example.test/e"
	rvDo(t, c, rvGet(t, ctx, http.MethodGet, url, nil), func(r *http.Request) (*http.Response, error) {
		return rvResp(r, 200, http.Header{"Cache-Control": {"max-age=10"}, "Etag": {`"v1"`}}, "old"), nil
	})
	clk.Advance(20 * time.Second)
	lr, err := c.Lookup(ctx, rvGet(t, ctx, http.MethodGet, url, nil))
	if err != nil || lr.State != core.Revalidate || lr.Request.Header.Get("If-None-Match") != `"v1"` {
		t.Fatalf("Lookup: %v, %v; want a conditional Revalidate", lr.State, err)
	}
	_, err = c.Revalidate(ctx, &lr, rvResp(lr.Request, http.StatusNotModified, http.Header{"Etag": {`"v2"`}}, ""), nil)
	if !errors.Is(err, core.ErrResend) {
		t.Fatalf("Revalidate with a 304 for another representation: %v, want ErrResend", err)
	}
	if lr.State != core.Miss || lr.Request.Header.Get("If-None-Match") != "" {
		t.Fatalf("after ErrResend: state %v, If-None-Match %q; want a Miss without validators", lr.State, lr.Request.Header.Get("If-None-Match"))
	}
	resp, err := c.Store(ctx, &lr, rvResp(lr.Request, 200, http.Header{"Cache-Control": {"max-age=10"}, "Etag": {`"v2"`}}, "new"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := hookBody(t, resp); b != "new" {
		t.Errorf("body %q, want %q", b, "new")
	}
	lr, err = c.Lookup(ctx, rvGet(t, ctx, http.MethodGet, url, nil))
	if err != nil || lr.State != core.Hit {
		t.Fatalf("Lookup after the resend: %v, %v; want a hit", lr.State, err)
	}
	if b := hookBody(t, lr.Response); b != "new" {
		t.Errorf("stored body %q, want %q", b, "new")
	}
}

// Forward's String is the Cache-Status fwd value (RFC 9211 §2.2).
func TestForwardString(t *testing.T) {
	tests := []struct {
		f    core.Forward
		want string
	}{
		{core.ForwardNone, ""},
		{core.ForwardBypass, "bypass"},
		{core.ForwardMethod, "method"},
		{core.ForwardMiss, "miss"},
		{core.ForwardVaryMiss, "vary-miss"},
		{core.ForwardStale, "stale"},
		{core.ForwardRequest, "request"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("Forward(%d).String() = %q, want %q", int(tt.f), got, tt.want)
		}
	}
}
