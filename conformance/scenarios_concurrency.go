package conformance

// Peer bug 5: concurrent identical requests collapse into one origin request,
// and fresh hits write nothing.

import (
	"fmt"
	"net/http"
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
		// Hold the first request until all 20 have been counted as misses
		// (counted as they join the request in flight), bounded.
		semWaitFor(3*time.Second, func() bool { st := e.cache.Stats(); return st.Misses >= n || st.Collapsed >= n-1 })
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
