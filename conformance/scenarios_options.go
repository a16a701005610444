package conformance

// Per-request options (core.ExpireAfter, OnlyIfCached, Refresh, ForceRefresh,
// Disable) travel in the request context and never reach the origin.

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Options/ExpireAfterSetsLifetime", testOptionsExpireAfterLifetime},
		{"Options/ExpireAfterBoundsAge", testOptionsExpireAfterBoundsAge},
		{"Options/OnlyIfCached", testOptionsOnlyIfCached},
		{"Options/Refresh", testOptionsRefresh},
		{"Options/ForceRefresh", testOptionsForceRefresh},
		{"Options/Disable", testOptionsDisable},
	})
}

// h4ETagOrigin serves Cache-Control cc (when non-empty) with ETag "e<n>" and
// body "v<n>", answering If-None-Match for the current ETag with 304.
func h4ETagOrigin(e *env, cc string, etag bool) *origin {
	var mu sync.Mutex
	var cur string
	return e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		defer mu.Unlock()
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		if etag && cur != "" && r.Header.Get("If-None-Match") == cur {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if etag {
			cur = fmt.Sprintf(`"e%d"`, n)
			w.Header().Set("ETag", cur)
		}
		fmt.Fprintf(w, "v%d", n)
	})
}

func testOptionsExpireAfterLifetime(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(h4Plain) // no freshness information: normally not stored
	t0 := e.clock.Now()
	r := e.getCtx(core.ExpireAfter(h4Ctx(t), 30*time.Second), o.URL+"/a")
	e.expect(r, 200, "v1", false)
	if !r.Info.Stored {
		t.Errorf("Stored = false, want true: ExpireAfter(ctx) gives the response a lifetime")
	}
	if want := t0.Add(30 * time.Second); !r.Info.Expires.Equal(want) {
		t.Errorf("Info.Expires = %v, want %v", r.Info.Expires, want)
	}
	h4NoLeak(t, o.lastRequest())
	e.clock.Advance(20 * time.Second)
	e.expect(e.get(o.URL+"/a"), 200, "v1", true)
	e.clock.Advance(11 * time.Second)
	e.expect(e.get(o.URL+"/a"), 200, "v2", false)
	// Without the option the same response is not stored.
	e.expect(e.get(o.URL+"/a"), 200, "v3", false)
}

func testOptionsExpireAfterBoundsAge(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprintf(w, "v%d", n)
	})
	e.get(o.URL + "/b")
	e.clock.Advance(20 * time.Second)
	e.expect(e.getCtx(core.ExpireAfter(h4Ctx(t), 30*time.Second), o.URL+"/b"), 200, "v1", true)
	e.clock.Advance(20 * time.Second) // age 40 > 30
	e.expect(e.getCtx(core.ExpireAfter(h4Ctx(t), 30*time.Second), o.URL+"/b"), 200, "v2", false)
	h4NoLeak(t, o.lastRequest())
	// That response was stored with the request's 30s lifetime.
	e.clock.Advance(31 * time.Second)
	e.expect(e.get(o.URL+"/b"), 200, "v3", false)
	// NeverExpire imposes no bound on the age of a fresh response.
	e.clock.Advance(500 * time.Second) // age 500 of max-age=600
	e.expect(e.getCtx(core.ExpireAfter(h4Ctx(t), core.NeverExpire), o.URL+"/b"), 200, "v3", true)
	e.expect(e.getCtx(core.ExpireAfter(h4Ctx(t), 400*time.Second), o.URL+"/b"), 200, "v4", false)
	e.expectHits(o, 4)
}

func testOptionsOnlyIfCached(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	})
	r := e.getCtx(core.OnlyIfCached(h4Ctx(t)), o.URL+"/o")
	if r.Status != http.StatusGatewayTimeout {
		t.Errorf("status = %d, want 504", r.Status)
	}
	if !r.Info.Synthetic || r.Info.FromCache {
		t.Errorf("Info = %+v, want Synthetic and not FromCache (no stored response)", r.Info)
	}
	h4Status(t, r, "hoard; detail=only-if-cached")
	h4Hits(t, o, 0, "only-if-cached miss")
	e.get(o.URL + "/o")
	h4NoLeak(t, o.lastRequest())
	r = e.getCtx(core.OnlyIfCached(h4Ctx(t)), o.URL+"/o")
	e.expect(r, 200, "v1", true)
	if r.Info.Synthetic {
		t.Errorf("hit under only-if-cached: Synthetic = true, want false")
	}
	e.expectHits(o, 1)
}

func testOptionsRefresh(t *testing.T, s *suite) {
	t.Run("WithValidator", func(t *testing.T) {
		e := s.newEnv(t)
		o := h4ETagOrigin(e, "max-age=60", true)
		e.get(o.URL + "/r")
		r := e.getCtx(core.Refresh(h4Ctx(t)), o.URL+"/r")
		h4Hits(t, o, 2, "refresh of a fresh entry")
		e.expect(r, 200, "v1", true)
		if !r.Info.Revalidated {
			t.Errorf("Revalidated = false, want true")
		}
		last := o.lastRequest()
		if got := last.Header.Get("If-None-Match"); got != `"e1"` {
			t.Errorf("If-None-Match = %q, want %q", got, `"e1"`)
		}
		h4NoLeak(t, last)
		h4Status(t, r, "hoard; fwd=request; fwd-status=304")
	})
	t.Run("WithoutValidator", func(t *testing.T) {
		e := s.newEnv(t)
		o := h4ETagOrigin(e, "max-age=60", false)
		e.get(o.URL + "/r")
		r := e.getCtx(core.Refresh(h4Ctx(t)), o.URL+"/r")
		h4Hits(t, o, 2, "refresh without a validator")
		e.expect(r, 200, "v2", false)
		last := o.lastRequest()
		if last.Header.Get("If-None-Match") != "" || last.Header.Get("If-Modified-Since") != "" {
			t.Errorf("conditional headers sent without a validator: %v", last.Header)
		}
		h4NoLeak(t, last)
		e.expect(e.get(o.URL+"/r"), 200, "v2", true)
	})
}

func testOptionsForceRefresh(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := h4ETagOrigin(e, "max-age=60", true)
	e.get(o.URL + "/f")
	r := e.getCtx(core.ForceRefresh(h4Ctx(t)), o.URL+"/f")
	h4Hits(t, o, 2, "force refresh")
	last := o.lastRequest()
	if got := last.Header.Get("If-None-Match"); got != "" {
		t.Errorf("If-None-Match = %q, want none (unconditional)", got)
	}
	h4NoLeak(t, last)
	e.expect(r, 200, "v2", false)
	if !r.Info.Stored {
		t.Errorf("Stored = false, want true")
	}
	h4Status(t, r, "hoard; fwd=request; stored")
	e.expect(e.get(o.URL+"/f"), 200, "v2", true)
	e.expectHits(o, 2)
}

func testOptionsDisable(t *testing.T, s *suite) {
	var cs *countingStore
	e := s.newEnvStore(t, func(st core.Store) core.Store { cs = &countingStore{Store: st}; return cs })
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	})
	t.Run("DoesNotRead", func(t *testing.T) {
		e.get(o.URL + "/d")
		g, st := cs.gets.Load(), cs.sets.Load()
		r := e.getCtx(core.Disable(h4Ctx(t)), o.URL+"/d")
		e.expect(r, 200, "v2", false)
		h4Status(t, r, "hoard; fwd=bypass")
		h4NoLeak(t, o.lastRequest())
		if cs.gets.Load() != g || cs.sets.Load() != st {
			t.Errorf("store gets +%d, sets +%d during a disabled request; want 0, 0", cs.gets.Load()-g, cs.sets.Load()-st)
		}
		// The stored v1 was not replaced.
		e.expect(e.get(o.URL+"/d"), 200, "v1", true)
	})
	t.Run("DoesNotWrite", func(t *testing.T) {
		r := e.getCtx(core.Disable(h4Ctx(t)), o.URL+"/n")
		if r.Info.Stored {
			t.Errorf("Stored = true, want false")
		}
		before := o.hitsFor("/n")
		want := fmt.Sprintf("v%d", o.hits()+1)
		e.expect(e.get(o.URL+"/n"), 200, want, false)
		if o.hitsFor("/n") != before+1 {
			t.Errorf("plain request after a disabled one did not reach the origin")
		}
	})
}
