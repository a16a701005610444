package core_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// leaseServer stands for a shared store server (Redis, PostgreSQL) in the
// core's unit tests of WithLeaseWait: one keyspace and one lease table that
// several Caches (several "processes") reach through their own store values
// (views). The stores' own leases are checked against the real servers by
// the conformance clause "Lease" and conformance.RunCrossProcessCoalescing.
type leaseServer struct {
	data core.Store

	mu     sync.Mutex
	leases map[string]leaseHold
	next   int
	subs   map[*leaseView]func(core.Invalidation)
	// failLease makes every Lease fail.
	failLease bool
	leased    atomic.Int64 // successful Lease calls
	released  atomic.Int64 // Release calls that ended a lease
}

type leaseHold struct {
	token   string
	expires time.Time
}

func newLeaseServer(t *testing.T) *leaseServer {
	t.Helper()
	ms, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &leaseServer{data: ms, leases: map[string]leaseHold{}, subs: map[*leaseView]func(core.Invalidation){}}
}

// leaseView is one process's store value: the shared data, leases, and
// (when notify) invalidations of the writes other views make.
type leaseView struct {
	core.Store
	srv *leaseServer
}

// notifyingView is a leaseView that also implements core.Invalidator.
type notifyingView struct{ *leaseView }

func (s *leaseServer) view(notify bool) core.Store {
	v := &leaseView{Store: s.data, srv: s}
	if notify {
		return notifyingView{v}
	}
	return v
}

func (v *leaseView) Lease(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	s := v.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failLease {
		return "", false, errors.New("leaseServer: lease refused (test)")
	}
	if h, ok := s.leases[key]; ok && time.Now().Before(h.expires) {
		return "", false, nil
	}
	s.next++
	tok := strconv.Itoa(s.next)
	s.leases[key] = leaseHold{token: tok, expires: time.Now().Add(ttl)}
	s.leased.Add(1)
	return tok, true, nil
}

func (v *leaseView) Release(ctx context.Context, key, token string) error {
	s := v.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.leases[key]; ok && h.token == token {
		delete(s.leases, key)
		s.released.Add(1)
	}
	return nil
}

// held reports whether a live lease is held on key.
func (s *leaseServer) held(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.leases[key]
	return ok && time.Now().Before(h.expires)
}

func (s *leaseServer) subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

func (v notifyingView) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	err := v.Store.Set(ctx, key, value, meta)
	if err == nil {
		v.publish(key)
	}
	return err
}

func (v notifyingView) Delete(ctx context.Context, key string) error {
	err := v.Store.Delete(ctx, key)
	if err == nil {
		v.publish(key)
	}
	return err
}

// publish tells the other views' subscribers that key changed.
func (v notifyingView) publish(key string) {
	s := v.srv
	s.mu.Lock()
	var fns []func(core.Invalidation)
	for w, fn := range s.subs {
		if w != v.leaseView {
			fns = append(fns, fn)
		}
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(core.Invalidation{Kind: core.InvalidateKey, Key: key})
	}
}

func (v notifyingView) Subscribe(ctx context.Context, fn func(core.Invalidation)) (func(), error) {
	s := v.srv
	s.mu.Lock()
	s.subs[v.leaseView] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.subs, v.leaseView)
		s.mu.Unlock()
	}, nil
}

// leaseOrigin answers after delay with a body naming the request number, and
// counts its requests.
func leaseOrigin(t *testing.T, delay time.Duration, cacheControl string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		time.Sleep(delay)
		w.Header().Set("Cache-Control", cacheControl)
		fmt.Fprintf(w, "answer %d", i)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func newLeaseCache(t *testing.T, st core.Store, opts ...core.Option) *core.Cache {
	t.Helper()
	c, err := core.New(st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends a GET for url through c, returning the body and the time taken.
func leaseGet(ctx context.Context, c *core.Cache, url string) (string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	start := time.Now()
	resp, err := c.Do(req, http.DefaultTransport.RoundTrip)
	if err != nil {
		return "", time.Since(start), err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b), time.Since(start), err
}

func TestWithLeaseWaitValidates(t *testing.T) {
	st, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		d  time.Duration
		ok bool
	}{
		{-time.Second, false},
		{0, false},
		{500 * time.Microsecond, false},
		{time.Millisecond, true},
		{5 * time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.d.String(), func(t *testing.T) {
			c, err := core.New(st, core.WithLeaseWait(tc.d))
			if tc.ok != (err == nil) {
				t.Fatalf("New(WithLeaseWait(%v)) error = %v; want ok %v", tc.d, err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "WithLeaseWait") {
				t.Errorf("error %q does not name the option", err)
			}
			if c != nil {
				c.Close()
			}
		})
	}
}

// Several Caches over one leasing store (as many processes over one Redis)
// send one origin request for a cold URL that all of them ask for at once,
// whether the waiters poll or are woken by the store's notifications; every
// caller gets the one answer.
func TestLeaseCoalescesAcrossCaches(t *testing.T) {
	const caches, perCache = 4, 10
	for _, notify := range []bool{false, true} {
		t.Run(fmt.Sprintf("notify=%v", notify), func(t *testing.T) {
			srv := newLeaseServer(t)
			origin, hits := leaseOrigin(t, 100*time.Millisecond, "max-age=60")
			var cs []*core.Cache
			for range caches {
				cs = append(cs, newLeaseCache(t, srv.view(notify), core.WithLeaseWait(5*time.Second)))
			}
			var wg sync.WaitGroup
			errs := make(chan error, caches*perCache)
			for _, c := range cs {
				for range perCache {
					wg.Add(1)
					go func() {
						defer wg.Done()
						body, _, err := leaseGet(t.Context(), c, origin.URL+"/cold")
						if err == nil && body != "answer 1" {
							err = fmt.Errorf("body %q, want %q", body, "answer 1")
						}
						if err != nil {
							errs <- err
						}
					}()
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if got := hits.Load(); got != 1 {
				t.Errorf("origin requests = %d, want 1", got)
			}
			if n := srv.leased.Load(); n < 1 {
				t.Errorf("leases taken = %d, want at least 1", n)
			}
			key := lookupKey(t, cs[0], origin.URL+"/cold")
			if srv.held(key) {
				t.Errorf("the lease on %q is still held after every request ended", key)
			}
		})
	}
}

// lookupKey is the store key of url's GET.
func lookupKey(t *testing.T, c *core.Cache, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	lr, err := c.Lookup(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	return lr.Key
}

// A holder that crashed (its lease taken and never released) delays a
// request by the WithLeaseWait bound and no more; the request then goes to
// the origin alone. A request context with a deadline waits at most half of
// what remains of it, so that it still has time for the origin.
func TestLeaseCrashedHolderBoundsTheWait(t *testing.T) {
	const origDelay = 50 * time.Millisecond
	tests := []struct {
		name      string
		leaseWait time.Duration
		ctxTO     time.Duration // 0: no deadline
		wantWait  time.Duration // the bound the wait must reach and not pass
	}{
		{"bound is WithLeaseWait", 200 * time.Millisecond, 0, 200 * time.Millisecond},
		{"bound is half the deadline", 10 * time.Second, 600 * time.Millisecond, 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newLeaseServer(t)
			origin, hits := leaseOrigin(t, origDelay, "max-age=60")
			c := newLeaseCache(t, srv.view(true), core.WithLeaseWait(tc.leaseWait))
			url := origin.URL + "/crashed"
			key := lookupKey(t, c, url)
			// The crashed process's lease: another view, never released.
			if _, ok, err := srv.view(false).(core.Leaser).Lease(t.Context(), key, time.Minute); !ok || err != nil {
				t.Fatalf("taking the crashed holder's lease: ok %v, error %v", ok, err)
			}
			ctx := t.Context()
			if tc.ctxTO > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTO)
				defer cancel()
			}
			body, took, err := leaseGet(ctx, c, url)
			if err != nil {
				t.Fatalf("request failed after %v: %v", took, err)
			}
			if body != "answer 1" || hits.Load() != 1 {
				t.Errorf("body %q after %d origin requests; want the origin's answer 1", body, hits.Load())
			}
			// The wait is cut at the bound (poll jitter lets it end a
			// little early; scheduling on a loaded machine, late). The
			// lease lives a minute: a figure near the bound shows the cut.
			if min, max := tc.wantWait-15*time.Millisecond, tc.wantWait+origDelay+400*time.Millisecond; took < min || took > max {
				t.Errorf("request took %v; want the wait bound %v plus the origin's %v (between %v and %v)", took, tc.wantWait, origDelay, min, max)
			}
		})
	}
}

// A request whose context ends while it waits for another process's entry
// returns the context's error at once.
func TestLeaseWaitHonoursCancel(t *testing.T) {
	srv := newLeaseServer(t)
	origin, hits := leaseOrigin(t, 0, "max-age=60")
	c := newLeaseCache(t, srv.view(false), core.WithLeaseWait(10*time.Second))
	url := origin.URL + "/cancel"
	if _, ok, _ := srv.view(false).(core.Leaser).Lease(t.Context(), lookupKey(t, c, url), time.Minute); !ok {
		t.Fatal("could not take the other holder's lease")
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, took, err := leaseGet(ctx, c, url)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v; want context.Canceled", err)
	}
	if took > time.Second {
		t.Errorf("cancelled request returned after %v", took)
	}
	if hits.Load() != 0 {
		t.Errorf("origin requests = %d, want 0", hits.Load())
	}
}

// A holder whose response is not stored (no-store) releases its lease, and
// the waiters go to the origin as soon as they notice, long before the
// bound.
func TestLeaseReleasedWithoutEntryEndsTheWait(t *testing.T) {
	srv := newLeaseServer(t)
	origin, hits := leaseOrigin(t, 100*time.Millisecond, "no-store")
	a := newLeaseCache(t, srv.view(false), core.WithLeaseWait(10*time.Second))
	b := newLeaseCache(t, srv.view(false), core.WithLeaseWait(10*time.Second))
	url := origin.URL + "/nostore"
	done := make(chan error, 1)
	go func() {
		_, _, err := leaseGet(t.Context(), a, url)
		done <- err
	}()
	// b starts once a holds the lease.
	key := lookupKey(t, a, url)
	for deadline := time.Now().Add(5 * time.Second); !srv.held(key); {
		if time.Now().After(deadline) {
			t.Fatal("the first request never took the lease")
		}
		time.Sleep(time.Millisecond)
	}
	_, took, err := leaseGet(t.Context(), b, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took > 2*time.Second {
		t.Errorf("the waiter took %v; it should go to the origin once the holder released (≈100 ms)", took)
	}
	if hits.Load() != 2 {
		t.Errorf("origin requests = %d, want 2 (nothing to share)", hits.Load())
	}
}

// A store whose Lease fails makes the request fail open: it goes to the
// origin, and the error is counted as a store error.
func TestLeaseErrorFailsOpen(t *testing.T) {
	srv := newLeaseServer(t)
	srv.failLease = true
	origin, hits := leaseOrigin(t, 0, "max-age=60")
	c := newLeaseCache(t, srv.view(false), core.WithLeaseWait(time.Second))
	body, _, err := leaseGet(t.Context(), c, origin.URL+"/fail")
	if err != nil || body != "answer 1" {
		t.Fatalf("body %q, error %v; want the origin's answer", body, err)
	}
	if hits.Load() != 1 {
		t.Errorf("origin requests = %d, want 1", hits.Load())
	}
	if n := c.Stats().StoreErrors; n != 1 {
		t.Errorf("StoreErrors = %d, want 1 (the failed lease)", n)
	}
}

// unleasable is a store that implements core.Leaser but cannot lease here
// (as stores/tiered over an L2 without leases): Lease says
// core.ErrNotSupported.
type unleasable struct {
	core.Store
	leases, releases atomic.Int64
}

func (s *unleasable) Lease(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	s.leases.Add(1)
	return "", false, fmt.Errorf("unleasable: %w", core.ErrNotSupported)
}

func (s *unleasable) Release(ctx context.Context, key, token string) error {
	s.releases.Add(1)
	return fmt.Errorf("unleasable: %w", core.ErrNotSupported)
}

// A Leaser whose Lease says core.ErrNotSupported turns the Cache's leases
// off: the request goes to the origin, no store error is counted or logged
// above debug, and no later miss asks the store for a lease again.
func TestLeaseNotSupportedTurnsLeasesOff(t *testing.T) {
	ms, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	st := &unleasable{Store: ms}
	var logged strings.Builder
	logger := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelInfo}))
	origin, hits := leaseOrigin(t, 0, "max-age=60")
	c := newLeaseCache(t, st, core.WithLeaseWait(time.Second), core.WithLogger(logger))
	for i := range 5 {
		url := fmt.Sprintf("%s/unleasable/%d", origin.URL, i)
		body, _, err := leaseGet(t.Context(), c, url)
		if want := fmt.Sprintf("answer %d", i+1); err != nil || body != want {
			t.Fatalf("GET %s: body %q, error %v; want %q", url, body, err, want)
		}
	}
	if n := hits.Load(); n != 5 {
		t.Errorf("origin requests = %d, want 5 (one per cold URL)", n)
	}
	if n := st.leases.Load(); n != 1 {
		t.Errorf("Lease calls = %d, want 1 (the first answer turns leases off)", n)
	}
	if n := st.releases.Load(); n != 0 {
		t.Errorf("Release calls = %d, want 0 (no lease was taken)", n)
	}
	if n := c.Stats().StoreErrors; n != 0 {
		t.Errorf("StoreErrors = %d, want 0 (ErrNotSupported is not a failure)", n)
	}
	if logged.Len() != 0 {
		t.Errorf("logged at info or above:\n%s", logged.String())
	}
}

// The lease of a body streamed into the store is released when the stream
// is committed (the caller read the body), not before: until then another
// process waits for the entry rather than asking the origin.
func TestLeaseHeldUntilStreamCommits(t *testing.T) {
	srv := newLeaseServer(t)
	fs, err := filestore.New(t.TempDir(), &filestore.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv.data = fs
	type streaming struct {
		*leaseView
		core.Streamer
	}
	view := streaming{srv.view(false).(*leaseView), fs}
	payload := strings.Repeat("x", 64<<10)
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
		io.WriteString(w, payload)
	}))
	t.Cleanup(origin.Close)
	c := newLeaseCache(t, view, core.WithLeaseWait(5*time.Second), core.WithStreamThreshold(1<<10))
	url := origin.URL + "/stream"
	key := lookupKey(t, c, url)
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := c.Do(req, http.DefaultTransport.RoundTrip)
	if err != nil {
		t.Fatal(err)
	}
	if !srv.held(key) {
		t.Error("the lease was released before the streamed body was read")
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(b) != len(payload) {
		t.Fatalf("read %d bytes, error %v", len(b), err)
	}
	if srv.held(key) {
		t.Error("the lease is still held after the stream was committed")
	}
	other := newLeaseCache(t, streaming{srv.view(false).(*leaseView), fs}, core.WithLeaseWait(5*time.Second))
	if body, _, err := leaseGet(t.Context(), other, url); err != nil || body != payload {
		t.Fatalf("second process: %d bytes, error %v", len(body), err)
	}
	if hits.Load() != 1 {
		t.Errorf("origin requests = %d, want 1", hits.Load())
	}
}

// The Cache's subscription to the store's invalidations (made by the first
// wait) ends with Close.
func TestLeaseSubscriptionEndsWithClose(t *testing.T) {
	srv := newLeaseServer(t)
	origin, _ := leaseOrigin(t, 0, "max-age=60")
	c, err := core.New(srv.view(true), core.WithLeaseWait(150*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	url := origin.URL + "/sub"
	if _, ok, _ := srv.view(false).(core.Leaser).Lease(t.Context(), lookupKey(t, c, url), time.Minute); !ok {
		t.Fatal("could not take the other holder's lease")
	}
	if _, _, err := leaseGet(t.Context(), c, url); err != nil {
		t.Fatal(err)
	}
	if n := srv.subscribers(); n != 1 {
		t.Errorf("subscriptions after a wait = %d, want 1", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := srv.subscribers(); n != 0 {
		t.Errorf("subscriptions after Close = %d, want 0", n)
	}
}

// Two Caches over one store that can lease (standing for two processes over
// one Redis or PostgreSQL) ask the origin once for a URL that both want at
// the same moment.
func ExampleWithLeaseWait() {
	shared := newExampleLeaseStore()
	var originRequests atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		originRequests.Add(1)
		time.Sleep(50 * time.Millisecond)
		w.Header().Set("Cache-Control", "max-age=300")
		io.WriteString(w, "hello")
	}))
	defer origin.Close()

	var wg sync.WaitGroup
	for range 2 { // two "processes"
		c, err := core.New(shared.view(false), core.WithLeaseWait(2*time.Second))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodGet, origin.URL+"/report", nil)
				if resp, err := c.Do(req, http.DefaultTransport.RoundTrip); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
	}
	wg.Wait()
	fmt.Println("origin requests:", originRequests.Load())

	_, err := core.New(shared.view(false), core.WithLeaseWait(0))
	fmt.Println(err)
	// Output:
	// origin requests: 1
	// core: WithLeaseWait: 0s is below the minimum of 1ms (leave the option out to turn leases off)
}

// newExampleLeaseStore is newLeaseServer for the example.
func newExampleLeaseStore() *leaseServer {
	ms, _ := memstore.New(nil)
	return &leaseServer{data: ms, leases: map[string]leaseHold{}, subs: map[*leaseView]func(core.Invalidation){}}
}

// A waiter whose variant of a Vary response is not the one the holder
// fetched stops waiting once the holder's entry (and variant index) is
// stored, and asks the origin for its own.
func TestLeaseOtherVariantEndsTheWait(t *testing.T) {
	srv := newLeaseServer(t)
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(100 * time.Millisecond)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "X-Lang")
		io.WriteString(w, "lang "+r.Header.Get("X-Lang"))
	}))
	t.Cleanup(origin.Close)
	a := newLeaseCache(t, srv.view(false), core.WithLeaseWait(10*time.Second))
	b := newLeaseCache(t, srv.view(false), core.WithLeaseWait(10*time.Second))
	url := origin.URL + "/vary"
	get := func(c *core.Cache, lang string) (string, time.Duration, error) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		req.Header.Set("X-Lang", lang)
		start := time.Now()
		resp, err := c.Do(req, http.DefaultTransport.RoundTrip)
		if err != nil {
			return "", 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(body), time.Since(start), err
	}
	done := make(chan error, 1)
	go func() {
		body, _, err := get(a, "en")
		if err == nil && body != "lang en" {
			err = fmt.Errorf("holder's body %q", body)
		}
		done <- err
	}()
	key := lookupKey(t, a, url)
	for deadline := time.Now().Add(5 * time.Second); !srv.held(key); {
		if time.Now().After(deadline) {
			t.Fatal("the first request never took the lease")
		}
		time.Sleep(time.Millisecond)
	}
	body, took, err := get(b, "fr")
	if err != nil || body != "lang fr" {
		t.Fatalf("waiter: body %q, error %v; want its own variant", body, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took > 2*time.Second {
		t.Errorf("the waiter took %v; it should go to the origin once the other variant was stored", took)
	}
	if hits.Load() != 2 {
		t.Errorf("origin requests = %d, want 2 (one per variant)", hits.Load())
	}
}

// Through the hooks: the leader of a miss's flight gets its response from
// Join when another process holds the lease and stores the entry, and a
// leader that fetches holds the lease until Store has stored the response.
func TestLeaseThroughTheHooks(t *testing.T) {
	srv := newLeaseServer(t)
	origin, hits := leaseOrigin(t, 0, "max-age=60")
	a := newLeaseCache(t, srv.view(true), core.WithLeaseWait(5*time.Second))
	b := newLeaseCache(t, srv.view(true), core.WithLeaseWait(5*time.Second))
	url := origin.URL + "/hooks"
	ctx := t.Context()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)

	// a leads and takes the lease: Join returns nil, nil.
	la, err := a.Lookup(ctx, req)
	if err != nil || la.State != core.Miss {
		t.Fatalf("a: Lookup = %v, %v; want a miss", la.State, err)
	}
	if resp, err := a.Join(ctx, &la); resp != nil || err != nil {
		t.Fatalf("a: Join = %v, %v; want nil, nil (lead)", resp, err)
	}
	if !srv.held(la.Key) {
		t.Fatal("a leads but holds no lease")
	}
	// b, in another process, waits in Join until a stores.
	type joined struct {
		resp *http.Response
		err  error
	}
	got := make(chan joined, 1)
	go func() {
		lb, err := b.Lookup(ctx, req)
		if err != nil {
			got <- joined{nil, err}
			return
		}
		resp, err := b.Join(ctx, &lb)
		got <- joined{resp, err}
	}()
	resp, err := http.DefaultTransport.RoundTrip(la.Request)
	resp, err = a.Store(ctx, &la, resp, err)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if srv.held(la.Key) {
		t.Error("the lease is still held after Store")
	}
	select {
	case j := <-got:
		if j.err != nil || j.resp == nil {
			t.Fatalf("b: Join = %v, %v; want the response a stored", j.resp, j.err)
		}
		bb, _ := io.ReadAll(j.resp.Body)
		j.resp.Body.Close()
		if string(bb) != string(body) || !core.InfoOf(j.resp).FromCache {
			t.Errorf("b: body %q (from cache %v), want %q from the store", bb, core.InfoOf(j.resp).FromCache, body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b's Join did not return")
	}
	if hits.Load() != 1 {
		t.Errorf("origin requests = %d, want 1", hits.Load())
	}
}
