package conformance

// Peer bug 5: concurrent identical requests collapse into one origin request,
// and fresh hits write nothing.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Concurrency/CollapsedColdMisses", testConcurrencyCollapsedMisses},
		{"Concurrency/CollapsedRevalidation", testConcurrencyCollapsedRevalidation},
		{"Concurrency/FreshHitNoStoreWrite", testConcurrencyFreshHitNoWrite},
		{"Concurrency/WaitersIndependentOfLeaderReading", testConcurrencyWaitersIndependentOfLeader},
	})
}

// semConcurrentGets sends n identical GETs at once and returns their results
// (read to the end, each by its own goroutine).
func (e *env) semConcurrentGets(n int, url string) []*result {
	e.t.Helper()
	results := make([]*result, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = e.send(e.req(e.t.Context(), http.MethodGet, url, ""))
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			e.t.Errorf("request %d: %v", i, err)
		}
	}
	return results
}

func testConcurrencyCollapsedMisses(t *testing.T, s *suite) {
	const n = 20
	payload := strings.Repeat("0123456789abcdef", 64<<10/16) // 64 KiB
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, k int) {
		// Hold the first request until the other 19 wait for it, bounded.
		// (Not until all 20 are counted as misses: a request is counted in
		// Lookup and joins the flight only after, so on a loaded machine one
		// could still be between the two when the leader finishes, and go
		// on alone.)
		semWaitFor(3*time.Second, func() bool { return e.cache.Stats().Collapsed >= n-1 })
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d:%s", k, payload)
	})
	results := e.semConcurrentGets(n, o.URL+"/a")
	collapsed := 0
	for i, res := range results {
		if res == nil {
			continue
		}
		if res.Status != 200 || res.Body != "v1:"+payload {
			t.Errorf("request %d: status %d, body of %d bytes (prefix %.8q), want 200 and the complete %d-byte body of v1",
				i, res.Status, len(res.Body), res.Body, len(payload)+3)
		}
		if res.Info.Collapsed {
			collapsed++
			e.semExpectCS(res, "fwd=miss", "collapsed")
		}
	}
	e.expectHits(o, 1)
	if collapsed != n-1 {
		t.Errorf("responses with Info.Collapsed = %d, want %d", collapsed, n-1)
	}
	if got := e.cache.Stats().Collapsed; got != n-1 {
		t.Errorf("Stats().Collapsed = %d, want %d", got, n-1)
	}
	e.expect(e.get(o.URL+"/a"), 200, "v1:"+payload, true)
	e.expectHits(o, 1)
}

func testConcurrencyCollapsedRevalidation(t *testing.T, s *suite) {
	const n = 20
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, k int) {
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"e1"`)
		if strings.Contains(r.Header.Get("If-None-Match"), `"e1"`) {
			// No counter moves before a revalidation is joined: hold the
			// leader until the waiters are counted (after it finishes) or
			// for the bounded 3 s that lets all 19 join.
			semWaitFor(3*time.Second, func() bool { return e.cache.Stats().Collapsed >= n-1 })
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprintf(w, "v%d", k)
	})
	e.expect(e.get(o.URL+"/a"), 200, "v1", false)
	e.clock.Advance(20 * time.Second)
	for i, res := range e.semConcurrentGets(n, o.URL+"/a") {
		if res == nil {
			continue
		}
		if res.Status != 200 || res.Body != "v1" || !res.Info.FromCache {
			t.Errorf("request %d: got %d %q FromCache %v, want 200 %q from the cache (Cache-Status %q)", i, res.Status, res.Body, res.Info.FromCache, "v1", res.Header.Get("Cache-Status"))
		}
	}
	e.expectHits(o, 2)
	if got := e.cache.Stats().Revalidations; got != 1 {
		t.Errorf("Stats().Revalidations = %d, want 1", got)
	}
}

func testConcurrencyFreshHitNoWrite(t *testing.T, s *suite) {
	// sandrolain rewrote the entry on every fresh hit.
	var cs *countingStore
	e := s.newEnvStore(t, func(st core.Store) core.Store { cs = &countingStore{Store: st}; return cs })
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"e1"`)
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a"), 200, "v1", false)
	if got := cs.sets.Load(); got != 1 {
		t.Errorf("store sets after the first miss = %d, want 1", got)
	}
	for i := 0; i < 9; i++ {
		e.clock.Advance(time.Second)
		e.expect(e.get(o.URL+"/a"), 200, "v1", true)
	}
	e.expectHits(o, 1)
	if got := cs.sets.Load(); got != 1 {
		t.Errorf("store sets after 1 miss and 9 fresh hits = %d, want 1", got)
	}
	if got := cs.deletes.Load(); got != 0 {
		t.Errorf("store deletes = %d, want 0", got)
	}
	st := e.cache.Stats()
	if st.Hits != 9 || st.Stores != 1 || st.Misses != 1 {
		t.Errorf("Stats() = {Hits:%d Stores:%d Misses:%d}, want {Hits:9 Stores:1 Misses:1}", st.Hits, st.Stores, st.Misses)
	}
}

// testConcurrencyWaitersIndependentOfLeader: requests collapsed onto an
// identical one in flight never depend on how its caller reads the body. The
// leader here never reads its body, or reads one byte and stalls, until every
// waiter is done; with a store that streams the body (filestore, with a
// stream threshold below the body size) the waiters go to the origin on their
// own after the collapse wait, with a buffering store (memstore) they share
// the entry at once. Either way each gets the whole body within the bound.
// The leader is sent through the cache directly (so that it surely does not
// read: resty and req read every body), the waiters through the adapter.
func testConcurrencyWaitersIndependentOfLeader(t *testing.T, s *suite) {
	const n = 6
	payload := strings.Repeat("0123456789abcdef", 64<<10/16) // 64 KiB
	for _, tc := range []struct {
		name  string
		reads int // bytes the leader reads before it stalls; -1: all, at once
		wait  time.Duration
		// oneHit: the waiters must share the leader's response.
		oneHit bool
	}{
		{name: "leader never reads", reads: 0, wait: 200 * time.Millisecond},
		{name: "leader reads 1 byte and stalls", reads: 1, wait: 200 * time.Millisecond},
		// A leader that reads its streamed body at once still shares it.
		{name: "leader reads at once", reads: -1, wait: 10 * time.Second, oneHit: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// bound is what a waiter may take: the collapse wait plus its own
			// origin request on a loopback, with room for a loaded machine. A
			// waiter that depends on the leader's reading never returns.
			bound := tc.wait + 4*time.Second
			e := s.newEnv(t, core.WithStreamThreshold(1<<10), core.WithCollapseWait(tc.wait))
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, k int) {
				if k == 1 {
					// Answer the leader once every waiter has joined it.
					semWaitFor(3*time.Second, func() bool { return e.cache.Stats().Collapsed >= n-1 })
				}
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
				io.WriteString(w, payload)
			})
			url := o.URL + "/big"
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)

			type leaderResult struct {
				resp *http.Response
				err  error
			}
			leader := make(chan leaderResult, 1)
			go func() {
				resp, err := e.cache.Do(e.req(t.Context(), http.MethodGet, url, ""), tr.RoundTrip)
				leader <- leaderResult{resp, err}
			}()
			if !semWaitFor(3*time.Second, func() bool { return o.hits() >= 1 }) {
				t.Fatal("the leader's request did not reach the origin")
			}

			var wg sync.WaitGroup
			for i := range n - 1 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(t.Context(), bound)
					defer cancel()
					start := time.Now()
					res, err := e.send(e.req(ctx, http.MethodGet, url, ""))
					took := time.Since(start)
					switch {
					case err != nil:
						t.Errorf("waiter %d: %v after %v (it depends on the leader reading its body)", i, err, took.Round(time.Millisecond))
					case res.Status != 200 || res.Body != payload:
						t.Errorf("waiter %d: status %d, %d-byte body, want 200 and the complete %d-byte body", i, res.Status, len(res.Body), len(payload))
					case took > bound:
						t.Errorf("waiter %d took %v, want at most %v", i, took, bound)
					}
				}()
			}

			lr := <-leader
			if lr.err != nil {
				t.Fatalf("leader: %v", lr.err)
			}
			var got []byte
			if tc.reads != 0 {
				var r io.Reader = lr.resp.Body // to EOF, which commits a streamed body
				if tc.reads > 0 {
					r = io.LimitReader(r, int64(tc.reads))
				}
				b, err := io.ReadAll(r)
				if err != nil {
					t.Fatalf("leader's body: %v", err)
				}
				got = b
			}
			wg.Wait() // the leader holds its body until every waiter is done
			if tc.reads != 0 {
				rest, err := io.ReadAll(lr.resp.Body)
				if got = append(got, rest...); err != nil || string(got) != payload {
					t.Errorf("leader's body: %d bytes, error %v; want the complete %d-byte body", len(got), err, len(payload))
				}
			}
			lr.resp.Body.Close()

			switch hits := o.hits(); {
			case tc.oneHit && hits != 1:
				t.Errorf("origin hits = %d, want 1 (the waiters share the leader's response)", hits)
			case hits > n:
				t.Errorf("origin hits = %d, want at most %d (one per request)", hits, n)
			}
			// Whatever was stored is the complete body.
			if res := e.get(url); res.Status != 200 || res.Body != payload {
				t.Errorf("afterwards: status %d, %d-byte body, want 200 and the complete body", res.Status, len(res.Body))
			}
		})
	}
}
