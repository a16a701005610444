package conformance

// The two precedence tables of core/doc.go, row by row. Each scenario shows
// that its row applies, and wins over rows below it that would also apply.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Lifetime/Row1_DoNotCache", testLifetimeRow1},
		{"Lifetime/Row2_RequestExpireAfter", testLifetimeRow2},
		{"Lifetime/Row3_URLExpireAfter", testLifetimeRow3},
		{"Lifetime/Row4_ResponseCacheControl", testLifetimeRow4},
		{"Lifetime/Row5_ExpireAfter", testLifetimeRow5},
		{"Lifetime/Row6_Heuristic", testLifetimeRow6},
		{"Lifetime/Row7_NeverExpire", testLifetimeRow7},
		{"Lifetime/Row8_NotStored", testLifetimeRow8},
		{"Use/Row1_Disabled", testUseRow1},
		{"Use/Row2_MethodNotAllowable", testUseRow2},
		{"Use/Row3_ForceRefresh", testUseRow3},
		{"Use/Row4_Miss", testUseRow4},
		{"Use/Row5_Revalidate", testUseRow5},
		{"Use/Row6_FreshHit", testUseRow6},
		{"Use/Row7_MustRevalidate", testUseRow7},
		{"Use/Row8_MaxStale", testUseRow8},
		{"Use/Row9_StaleWhileRevalidate", testUseRow9},
		{"Use/Row10_OnlyIfCachedStale", testUseRow10},
		{"Use/Row11_Stale", testUseRow11},
	})
}

// h4FlexOrigin is an origin configured by the query: cc= sets Cache-Control,
// etag=1 adds ETag "e" (answering a matching If-None-Match with 304),
// lm=<seconds> sets Last-Modified that long before now, exp=<seconds> sets
// Expires that long after now, vary= sets Vary. While *down is true it
// answers 503. The body is "v<n>".
func h4FlexOrigin(e *env) (*origin, *atomic.Bool) {
	down := new(atomic.Bool)
	clock := e.clock
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "down")
			return
		}
		q := r.URL.Query()
		if cc := q.Get("cc"); cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		if v := q.Get("vary"); v != "" {
			w.Header().Set("Vary", v)
		}
		var secs int
		if lm := q.Get("lm"); lm != "" {
			fmt.Sscanf(lm, "%d", &secs)
			w.Header().Set("Last-Modified", clock.Now().Add(-time.Duration(secs)*time.Second).UTC().Format(http.TimeFormat))
		}
		if ex := q.Get("exp"); ex != "" {
			fmt.Sscanf(ex, "%d", &secs)
			w.Header().Set("Expires", clock.Now().Add(time.Duration(secs)*time.Second).UTC().Format(http.TimeFormat))
		}
		if q.Get("etag") != "" {
			w.Header().Set("ETag", `"e"`)
			if r.Header.Get("If-None-Match") == `"e"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		fmt.Fprintf(w, "v%d", n)
	})
	return o, down
}

// h4Q builds a URL on o with path and query parameters given as pairs.
func h4Q(o *origin, path string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	if len(v) == 0 {
		return o.URL + path
	}
	return o.URL + path + "?" + v.Encode()
}

// h4Expires checks Info.Expires against t0+d (d < 0: zero, never).
func h4Expires(t *testing.T, r *result, t0 time.Time, d time.Duration) {
	t.Helper()
	if !r.Info.Stored {
		t.Errorf("Stored = false, want true (Cache-Status %q)", r.Header.Get("Cache-Status"))
	}
	if d < 0 {
		if !r.Info.Expires.IsZero() {
			t.Errorf("Info.Expires = %v, want zero (never expires)", r.Info.Expires)
		}
		return
	}
	if want := t0.Add(d); !r.Info.Expires.Equal(want) {
		t.Errorf("Info.Expires = %v, want %v (lifetime %v)", r.Info.Expires, want, d)
	}
}

func h4Counting(s *suite, t *testing.T, opts ...core.Option) (*env, *countingStore) {
	var cs *countingStore
	e := s.newEnvStore(t, func(st core.Store) core.Store { cs = &countingStore{Store: st}; return cs }, opts...)
	return e, cs
}

// ------------------------------------------------------------ lifetime table

func testLifetimeRow1(t *testing.T, s *suite) {
	t.Run("PerRequestOverEverything", func(t *testing.T) {
		e, cs := h4Counting(s, t, core.WithExpireAfter(time.Minute))
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/a", "cc", "max-age=60", "lm", "10000")
		// A stored entry exists; DoNotCache on the request neither reads nor writes.
		e.get(u)
		g, st := cs.gets.Load(), cs.sets.Load()
		r := e.getCtx(core.ExpireAfter(h4Ctx(t), core.DoNotCache), u)
		e.expect(r, 200, "v2", false)
		h4Status(t, r, "hoard; fwd=bypass")
		h4NoLeak(t, o.lastRequest())
		if cs.gets.Load() != g || cs.sets.Load() != st {
			t.Errorf("store gets +%d, sets +%d; want 0, 0", cs.gets.Load()-g, cs.sets.Load()-st)
		}
		e.expect(e.get(u), 200, "v1", true)
	})
	t.Run("URLRuleOverResponseAndSetting", func(t *testing.T) {
		e := s.newEnv(t, core.WithExpireAfter(time.Minute), core.WithURLExpireAfter("*/nocache", core.DoNotCache))
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/nocache/x", "cc", "max-age=60", "etag", "1")
		e.get(u)
		r := e.get(u)
		e.expect(r, 200, "v2", false)
		h4Status(t, r, "hoard; fwd=bypass")
	})
	t.Run("SettingOverResponse", func(t *testing.T) {
		e := s.newEnv(t, core.WithExpireAfter(core.DoNotCache))
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/a", "cc", "max-age=60, immutable", "lm", "10000")
		e.get(u)
		r := e.get(u)
		e.expect(r, 200, "v2", false)
		h4Status(t, r, "hoard; fwd=bypass")
	})
	t.Run("PerRequestOverURLRule", func(t *testing.T) {
		e := s.newEnv(t, core.WithURLExpireAfter("*", time.Hour))
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/a")
		r := e.getCtx(core.ExpireAfter(h4Ctx(t), core.DoNotCache), u)
		if r.Info.Stored {
			t.Errorf("Stored = true, want false (request DoNotCache)")
		}
		e.expect(e.get(u), 200, "v2", false)
	})
}

func testLifetimeRow2(t *testing.T, s *suite) {
	e := s.newEnv(t, core.WithExpireAfter(100*time.Second), core.WithURLExpireAfter("*/r2", 100*time.Second))
	o, _ := h4FlexOrigin(e)
	u := h4Q(o, "/r2", "cc", "max-age=100")
	t0 := e.clock.Now()
	r := e.getCtx(core.ExpireAfter(h4Ctx(t), 10*time.Second), u)
	h4Expires(t, r, t0, 10*time.Second)
	h4NoLeak(t, o.lastRequest())
	e.clock.Advance(5 * time.Second)
	e.expect(e.get(u), 200, "v1", true)
	e.clock.Advance(6 * time.Second)
	e.expect(e.get(u), 200, "v2", false)
}

func testLifetimeRow3(t *testing.T, s *suite) {
	e := s.newEnv(t, core.WithExpireAfter(100*time.Second), core.WithURLExpireAfter("*/r3", 10*time.Second))
	o, _ := h4FlexOrigin(e)
	u := h4Q(o, "/r3", "cc", "max-age=100", "lm", "100000")
	t0 := e.clock.Now()
	h4Expires(t, e.get(u), t0, 10*time.Second)
	e.clock.Advance(5 * time.Second)
	e.expect(e.get(u), 200, "v1", true)
	e.clock.Advance(6 * time.Second)
	e.expect(e.get(u), 200, "v2", false)
	// A URL without a rule keeps the response's lifetime.
	t1 := e.clock.Now()
	h4Expires(t, e.get(h4Q(o, "/other", "cc", "max-age=100")), t1, 100*time.Second)
}

func testLifetimeRow4(t *testing.T, s *suite) {
	for _, c := range []struct {
		name string
		kv   []string
		want time.Duration
	}{
		{"MaxAgeOverExpireAfter", []string{"cc", "max-age=10"}, 10 * time.Second},
		{"ExpiresOverExpireAfter", []string{"exp", "10"}, 10 * time.Second},
		{"MaxAgeOverHeuristic", []string{"cc", "max-age=10", "lm", "864000"}, 10 * time.Second},
		{"MaxAgeOverExpires", []string{"cc", "max-age=10", "exp", "1000"}, 10 * time.Second},
		{"ImmutableWithoutMaxAgeForever", []string{"cc", "immutable"}, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := s.newEnv(t, core.WithExpireAfter(100*time.Second))
			o, _ := h4FlexOrigin(e)
			u := h4Q(o, "/r4", c.kv...)
			t0 := e.clock.Now()
			h4Expires(t, e.get(u), t0, c.want)
			if c.want < 0 {
				e.clock.Advance(1000 * time.Hour)
				e.expect(e.get(u), 200, "v1", true)
				return
			}
			e.clock.Advance(c.want + time.Second)
			e.expect(e.get(u), 200, "v2", false)
		})
	}
}

func testLifetimeRow5(t *testing.T, s *suite) {
	// Last-Modified ten days ago would give 24h of heuristic freshness;
	// WithExpireAfter(10s) wins over it.
	e := s.newEnv(t, core.WithExpireAfter(10*time.Second))
	o, _ := h4FlexOrigin(e)
	u := h4Q(o, "/r5", "lm", "864000")
	t0 := e.clock.Now()
	h4Expires(t, e.get(u), t0, 10*time.Second)
	e.clock.Advance(11 * time.Second)
	e.expect(e.get(u), 200, "v2", false)
}

func testLifetimeRow6(t *testing.T, s *suite) {
	t.Run("TenPercent", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/r6", "lm", "1000") // 10% of 1000s = 100s
		t0 := e.clock.Now()
		h4Expires(t, e.get(u), t0, 100*time.Second)
		e.clock.Advance(90 * time.Second)
		e.expect(e.get(u), 200, "v1", true)
		e.clock.Advance(11 * time.Second)
		e.expect(e.get(u), 200, "v2", false)
	})
	t.Run("Cap", func(t *testing.T) {
		e := s.newEnv(t, core.WithHeuristicCap(50*time.Second))
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/r6", "lm", "1000")
		t0 := e.clock.Now()
		h4Expires(t, e.get(u), t0, 50*time.Second)
	})
	t.Run("DefaultCap24h", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/r6", "lm", fmt.Sprint(100*24*3600)) // 10% = 10 days, capped
		t0 := e.clock.Now()
		h4Expires(t, e.get(u), t0, 24*time.Hour)
	})
}

func testLifetimeRow7(t *testing.T, s *suite) {
	e := s.newEnv(t, core.WithCacheControl(false))
	o, _ := h4FlexOrigin(e)
	for _, u := range []string{h4Q(o, "/r7a", "cc", "max-age=10", "lm", "1000"), h4Q(o, "/r7b")} {
		t0 := e.clock.Now()
		first := e.get(u)
		h4Expires(t, first, t0, -1)
		e.clock.Advance(1000 * time.Hour)
		e.expect(e.get(u), 200, first.Body, true)
	}
	e.expectHits(o, 2)
}

func testLifetimeRow8(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o, _ := h4FlexOrigin(e)
	u := h4Q(o, "/r8")
	r := e.get(u)
	if r.Info.Stored {
		t.Errorf("Stored = true, want false: no usable lifetime")
	}
	h4Status(t, r, "hoard; fwd=miss")
	e.expect(e.get(u), 200, "v2", false)
	// ExpireImmediately without a validator is not stored either.
	e2 := s.newEnv(t, core.WithExpireAfter(core.ExpireImmediately))
	o2, _ := h4FlexOrigin(e2)
	if r := e2.get(h4Q(o2, "/r8")); r.Info.Stored {
		t.Errorf("ExpireImmediately without validator: Stored = true, want false")
	}
}

// ----------------------------------------------------------------- use table

func testUseRow1(t *testing.T, s *suite) {
	t.Run("DisableOverFreshHit", func(t *testing.T) {
		e, cs := h4Counting(s, t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/a", "cc", "max-age=60")
		e.get(u)
		g := cs.gets.Load()
		r := e.getCtx(core.Disable(h4Ctx(t)), u)
		e.expect(r, 200, "v2", false)
		h4Status(t, r, "hoard; fwd=bypass")
		if cs.gets.Load() != g {
			t.Errorf("store gets +%d, want 0 (nothing read)", cs.gets.Load()-g)
		}
	})
	t.Run("DisableOverForceRefresh", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/a", "cc", "max-age=60")
		e.get(u)
		r := e.getCtx(core.ForceRefresh(core.Disable(h4Ctx(t))), u)
		h4Status(t, r, "hoard; fwd=bypass")
		e.expect(e.get(u), 200, "v1", true) // not replaced
	})
	t.Run("DisableOverOnlyIfCached", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		r := e.getCtx(core.OnlyIfCached(core.Disable(h4Ctx(t))), h4Q(o, "/miss", "cc", "max-age=60"))
		e.expect(r, 200, "v1", false)
		h4Status(t, r, "hoard; fwd=bypass")
	})
	t.Run("DisableOverMethod", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		r := e.must(e.req(core.Disable(h4Ctx(t)), http.MethodPost, h4Q(o, "/p"), "x"))
		h4Status(t, r, "hoard; fwd=bypass")
	})
	t.Run("WithDisabledOverOnlyIfCached", func(t *testing.T) {
		e := s.newEnv(t, core.WithDisabled())
		o, _ := h4FlexOrigin(e)
		r := e.getCtx(core.OnlyIfCached(h4Ctx(t)), h4Q(o, "/m", "cc", "max-age=60"))
		e.expect(r, 200, "v1", false)
	})
	t.Run("DoNotCacheOverOnlyIfCached", func(t *testing.T) {
		e := s.newEnv(t, core.WithExpireAfter(core.DoNotCache))
		o, _ := h4FlexOrigin(e)
		r := e.getCtx(core.OnlyIfCached(h4Ctx(t)), h4Q(o, "/m", "cc", "max-age=60"))
		e.expect(r, 200, "v1", false)
		h4Status(t, r, "hoard; fwd=bypass")
	})
}

func testUseRow2(t *testing.T, s *suite) {
	t.Run("OverForceRefresh", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/p", "cc", "max-age=60")
		r := e.must(e.req(core.ForceRefresh(h4Ctx(t)), http.MethodPost, u, "x"))
		h4Status(t, r, "hoard; fwd=method")
		if r.Info.Stored {
			t.Errorf("POST with ForceRefresh: Stored = true, want false")
		}
		r = e.must(e.req(h4Ctx(t), http.MethodPost, u, "x"))
		e.expect(r, 200, "v2", false)
	})
	t.Run("OverOnlyIfCached", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		r := e.must(e.req(core.OnlyIfCached(h4Ctx(t)), http.MethodPost, h4Q(o, "/p"), "x"))
		e.expect(r, 200, "v1", false)
		h4Status(t, r, "hoard; fwd=method")
	})
	t.Run("UnsafeStillInvalidates", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/i", "cc", "max-age=60")
		e.get(u)
		e.expect(e.get(u), 200, "v1", true)
		r := e.must(e.req(h4Ctx(t), http.MethodPost, u, "x"))
		h4Status(t, r, "hoard; fwd=method")
		e.expect(e.get(u), 200, "v3", false)
	})
	t.Run("NotAllowedGET", func(t *testing.T) {
		e := s.newEnv(t, core.WithAllowableMethods("HEAD"))
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/g", "cc", "max-age=60")
		r := e.getCtx(core.ForceRefresh(h4Ctx(t)), u)
		h4Status(t, r, "hoard; fwd=method")
		e.expect(e.get(u), 200, "v2", false)
	})
}

func testUseRow3(t *testing.T, s *suite) {
	t.Run("OverFreshHit", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/f", "cc", "max-age=60", "etag", "1")
		e.get(u)
		r := e.getCtx(core.ForceRefresh(h4Ctx(t)), u)
		e.expect(r, 200, "v2", false)
		if inm := o.lastRequest().Header.Get("If-None-Match"); inm != "" {
			t.Errorf("If-None-Match = %q, want none", inm)
		}
		h4Status(t, r, "hoard; fwd=request; stored")
		e.expect(e.get(u), 200, "v2", true)
	})
	t.Run("OverRefresh", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/f", "cc", "max-age=60", "etag", "1")
		e.get(u)
		r := e.getCtx(core.Refresh(core.ForceRefresh(h4Ctx(t))), u)
		e.expect(r, 200, "v2", false)
		if inm := o.lastRequest().Header.Get("If-None-Match"); inm != "" {
			t.Errorf("If-None-Match = %q, want none (force refresh is unconditional)", inm)
		}
	})
	t.Run("OverOnlyIfCachedMiss", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/f", "cc", "max-age=60")
		r := e.getCtx(core.OnlyIfCached(core.ForceRefresh(h4Ctx(t))), u)
		e.expect(r, 200, "v1", false)
		h4Status(t, r, "hoard; fwd=request; stored")
		e.expect(e.get(u), 200, "v1", true)
	})
}

func testUseRow4(t *testing.T, s *suite) {
	t.Run("NothingStored", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		r := e.get(h4Q(o, "/m", "cc", "max-age=60"))
		e.expect(r, 200, "v1", false)
		h4Status(t, r, "hoard; fwd=miss; stored")
	})
	t.Run("OverRefresh", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		r := e.getCtx(core.Refresh(h4Ctx(t)), h4Q(o, "/m", "cc", "max-age=60"))
		e.expect(r, 200, "v1", false)
		h4Status(t, r, "hoard; fwd=miss; stored")
		if n := e.cache.Stats().Revalidations; n != 0 {
			t.Errorf("Stats().Revalidations = %d, want 0", n)
		}
	})
	t.Run("VaryMismatch", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/v", "cc", "max-age=60", "vary", "Accept-Language")
		e.get(u, "Accept-Language: en")
		r := e.get(u, "Accept-Language: fr")
		e.expect(r, 200, "v2", false)
		h4Status(t, r, "hoard; fwd=vary-miss; stored")
		r = e.getCtx(core.OnlyIfCached(h4Ctx(t)), u, "Accept-Language: de")
		if r.Status != http.StatusGatewayTimeout || !r.Info.Synthetic {
			t.Errorf("Vary mismatch under only-if-cached: status %d Synthetic %v, want 504 true", r.Status, r.Info.Synthetic)
		}
		e.expectHits(o, 2)
	})
	t.Run("FilterRejects", func(t *testing.T) {
		var reject atomic.Bool
		e := s.newEnv(t, core.WithFilter(func(*http.Response) bool { return !reject.Load() }))
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/m", "cc", "max-age=60")
		e.get(u)
		reject.Store(true)
		r := e.get(u)
		e.expect(r, 200, "v2", false)
		reject.Store(false)
		r = e.getCtx(core.OnlyIfCached(h4Ctx(t)), u)
		if r.Status != http.StatusGatewayTimeout {
			t.Errorf("rejected entry under only-if-cached: status %d, want 504 (it was deleted)", r.Status)
		}
	})
	t.Run("OnlyIfCachedOverRefresh", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		r := e.getCtx(core.Refresh(core.OnlyIfCached(h4Ctx(t))), h4Q(o, "/m", "cc", "max-age=60"))
		if r.Status != http.StatusGatewayTimeout || !r.Info.Synthetic || r.Info.FromCache {
			t.Errorf("status %d Info %+v, want 504 Synthetic, not FromCache", r.Status, r.Info)
		}
		h4Status(t, r, "hoard; detail=only-if-cached")
		e.expectHits(o, 0)
	})
}

func testUseRow5(t *testing.T, s *suite) {
	type trig struct {
		name   string
		opts   []core.Option
		ctx    func(context.Context) context.Context
		hdr    []string
		cc     string
		status string // exact Cache-Status, when the table fixes it
	}
	trigs := []trig{
		{name: "Refresh", ctx: core.Refresh, status: "hoard; fwd=request; fwd-status=304"},
		{name: "RequestNoCache", hdr: []string{"Cache-Control: no-cache"}, status: "hoard; fwd=request; fwd-status=304"},
		{name: "PragmaNoCache", hdr: []string{"Pragma: no-cache"}},
		{name: "RequestMaxAge0", hdr: []string{"Cache-Control: max-age=0"}},
		{name: "ExpireAfterZero", ctx: func(c context.Context) context.Context { return core.ExpireAfter(c, 0) }},
		{name: "EntryNoCache", cc: "max-age=60, no-cache"},
		{name: "AlwaysRevalidate", opts: []core.Option{core.WithAlwaysRevalidate()}, status: "hoard; fwd=request; fwd-status=304"},
	}
	for _, tr := range trigs {
		t.Run(tr.name, func(t *testing.T) {
			e := s.newEnv(t, tr.opts...)
			o, _ := h4FlexOrigin(e)
			cc := "max-age=60"
			if tr.cc != "" {
				cc = tr.cc
			}
			u := h4Q(o, "/r", "cc", cc, "etag", "1")
			e.get(u)
			e.clock.Advance(5 * time.Second) // fresh
			ctx := h4Ctx(t)
			if tr.ctx != nil {
				ctx = tr.ctx(ctx)
			}
			// Under OnlyIfCached the trigger serves the entry as stored.
			r := e.getCtx(core.OnlyIfCached(ctx), u, tr.hdr...)
			e.expect(r, 200, "v1", true)
			h4Hits(t, o, 1, tr.name+" with OnlyIfCached")
			r = e.getCtx(ctx, u, tr.hdr...)
			h4Hits(t, o, 2, "fresh entry with "+tr.name)
			e.expect(r, 200, "v1", true)
			if !r.Info.Revalidated {
				t.Errorf("Revalidated = false, want true (Cache-Status %q)", r.Header.Get("Cache-Status"))
			}
			if inm := o.lastRequest().Header.Get("If-None-Match"); inm != `"e"` {
				t.Errorf("If-None-Match = %q, want %q", inm, `"e"`)
			}
			if tr.status != "" {
				h4Status(t, r, tr.status)
			}
			if tr.ctx != nil {
				h4NoLeak(t, o.lastRequest())
			}
		})
	}
	t.Run("NoValidatorFullRequest", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/r", "cc", "max-age=60")
		e.get(u)
		r := e.getCtx(core.Refresh(h4Ctx(t)), u)
		e.expect(r, 200, "v2", false)
	})
	t.Run("AlwaysRevalidateNotWhileFreshImmutable", func(t *testing.T) {
		e := s.newEnv(t, core.WithAlwaysRevalidate())
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/r", "cc", "max-age=60, immutable", "etag", "1")
		e.get(u)
		e.expect(e.get(u), 200, "v1", true)
		e.expectHits(o, 1)
	})
	t.Run("AlwaysRevalidateNeedsValidator", func(t *testing.T) {
		e := s.newEnv(t, core.WithAlwaysRevalidate())
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/r", "cc", "max-age=60")
		e.get(u)
		e.expect(e.get(u), 200, "v1", true)
		e.expectHits(o, 1)
	})
}

func testUseRow6(t *testing.T, s *suite) {
	t.Run("HitNoStoreWrite", func(t *testing.T) {
		e, cs := h4Counting(s, t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/h", "cc", "max-age=60")
		e.get(u)
		sets := cs.sets.Load()
		hits := e.cache.Stats().Hits
		r := e.get(u)
		e.expect(r, 200, "v1", true)
		h4Status(t, r, "hoard; hit")
		if cs.sets.Load() != sets {
			t.Errorf("store sets +%d on a fresh hit, want 0", cs.sets.Load()-sets)
		}
		if got := e.cache.Stats().Hits - hits; got != 1 {
			t.Errorf("Stats().Hits +%d, want 1", got)
		}
	})
	for _, c := range []struct {
		name   string
		age    time.Duration
		ctx    func(context.Context) context.Context
		hdr    string
		cc     string
		wantOK bool
	}{
		{"RequestMaxAgeWithin", 20 * time.Second, nil, "Cache-Control: max-age=30", "", true},
		{"RequestMaxAgeExceeded", 40 * time.Second, nil, "Cache-Control: max-age=30", "", false},
		{"ExpireAfterCtxWithin", 20 * time.Second, func(c context.Context) context.Context { return core.ExpireAfter(c, 30*time.Second) }, "", "", true},
		{"ExpireAfterCtxExceeded", 40 * time.Second, func(c context.Context) context.Context { return core.ExpireAfter(c, 30*time.Second) }, "", "", false},
		{"MinFreshSatisfied", 20 * time.Second, nil, "Cache-Control: min-fresh=30", "", true},
		{"MinFreshNotSatisfied", 20 * time.Second, nil, "Cache-Control: min-fresh=50", "", false},
		{"FreshMustRevalidateIsHit", 20 * time.Second, nil, "", "max-age=60, must-revalidate", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := s.newEnv(t)
			o, _ := h4FlexOrigin(e)
			cc := "max-age=60"
			if c.cc != "" {
				cc = c.cc
			}
			u := h4Q(o, "/h", "cc", cc)
			e.get(u)
			e.clock.Advance(c.age)
			ctx := h4Ctx(t)
			if c.ctx != nil {
				ctx = c.ctx(ctx)
			}
			var hdr []string
			if c.hdr != "" {
				hdr = append(hdr, c.hdr)
			}
			r := e.getCtx(ctx, u, hdr...)
			if c.wantOK {
				e.expect(r, 200, "v1", true)
				e.expectHits(o, 1)
				h4Status(t, r, "hoard; hit")
			} else {
				e.expect(r, 200, "v2", false)
				e.expectHits(o, 2)
			}
		})
	}
}

func testUseRow7(t *testing.T, s *suite) {
	t.Run("OverMaxStale", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/mr", "cc", "max-age=10, must-revalidate", "etag", "1")
		e.get(u)
		e.clock.Advance(20 * time.Second)
		r := e.get(u, "Cache-Control: max-stale=1000")
		h4Hits(t, o, 2, "stale must-revalidate under max-stale")
		if r.Info.Stale {
			t.Errorf("Stale = true, want false (must-revalidate)")
		}
		if !r.Info.Revalidated {
			t.Errorf("Revalidated = false, want true")
		}
	})
	t.Run("OverStaleWhileRevalidate", func(t *testing.T) {
		e := s.newEnv(t, core.WithStaleWhileRevalidate(time.Hour))
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/mr", "cc", "max-age=10, must-revalidate, stale-while-revalidate=1000")
		e.get(u)
		e.clock.Advance(20 * time.Second)
		r := e.get(u)
		h4Hits(t, o, 2, "stale must-revalidate within stale-while-revalidate (synchronous)")
		e.expect(r, 200, "v2", false)
	})
	t.Run("NeverStaleOnError", func(t *testing.T) {
		e := s.newEnv(t, core.WithStaleIfError(core.Forever))
		o, down := h4FlexOrigin(e)
		u := h4Q(o, "/mr", "cc", "max-age=10, must-revalidate, stale-if-error=1000", "etag", "1")
		e.get(u)
		e.clock.Advance(20 * time.Second)
		down.Store(true)
		r := e.get(u, "Cache-Control: max-stale=1000")
		if r.Status != http.StatusServiceUnavailable || r.Info.FromCache {
			t.Errorf("status %d FromCache %v, want the 503 from the origin", r.Status, r.Info.FromCache)
		}
	})
}

func testUseRow8(t *testing.T, s *suite) {
	t.Run("OverStaleWhileRevalidate", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/ms", "cc", "max-age=10, stale-while-revalidate=1000")
		e.get(u)
		e.clock.Advance(20 * time.Second)
		r := e.get(u, "Cache-Control: max-stale=60")
		e.expect(r, 200, "v1", true)
		if !r.Info.Stale {
			t.Errorf("Stale = false, want true")
		}
		h4Status(t, r, "hoard; hit; detail=stale")
		e.cache.Wait()
		e.expectHits(o, 1)
		if n := e.cache.Stats().Background; n != 0 {
			t.Errorf("Stats().Background = %d, want 0 (max-stale serves without a refresh)", n)
		}
	})
	t.Run("BeyondMaxStale", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/ms", "cc", "max-age=10")
		e.get(u)
		e.clock.Advance(100 * time.Second)
		e.expect(e.get(u, "Cache-Control: max-stale=60"), 200, "v2", false)
	})
}

func testUseRow9(t *testing.T, s *suite) {
	for _, c := range []struct {
		name string
		opts []core.Option
		cc   string
	}{
		{"Setting", []core.Option{core.WithStaleWhileRevalidate(time.Minute)}, "max-age=10"},
		{"ResponseDirective", nil, "max-age=10, stale-while-revalidate=60"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := s.newEnv(t, c.opts...)
			o, _ := h4FlexOrigin(e)
			u := h4Q(o, "/swr", "cc", c.cc)
			e.get(u)
			e.clock.Advance(20 * time.Second)
			r := e.get(u)
			e.expect(r, 200, "v1", true)
			if !r.Info.Stale {
				t.Errorf("Stale = false, want true")
			}
			h4Status(t, r, "hoard; hit; detail=stale-while-revalidate")
			e.cache.Wait()
			e.expectHits(o, 2)
			e.expect(e.get(u), 200, "v2", true)
			// Beyond the window: synchronous revalidation (row 11).
			e.clock.Advance(200 * time.Second)
			e.expect(e.get(u), 200, "v3", false)
		})
	}
}

func testUseRow10(t *testing.T, s *suite) {
	t.Run("WithinStaleIfError", func(t *testing.T) {
		e := s.newEnv(t, core.WithStaleIfError(time.Hour))
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/oc", "cc", "max-age=10", "etag", "1")
		e.get(u)
		e.clock.Advance(20 * time.Second)
		r := e.getCtx(core.OnlyIfCached(h4Ctx(t)), u)
		e.expect(r, 200, "v1", true)
		if !r.Info.Stale {
			t.Errorf("Stale = false, want true")
		}
		e.expectHits(o, 1)
	})
	t.Run("OutsideStaleIfError", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/oc", "cc", "max-age=10", "etag", "1")
		e.get(u)
		e.clock.Advance(20 * time.Second)
		r := e.getCtx(core.OnlyIfCached(h4Ctx(t)), u)
		if r.Status != http.StatusGatewayTimeout || !r.Info.Synthetic {
			t.Errorf("status %d Synthetic %v, want 504 true", r.Status, r.Info.Synthetic)
		}
		h4Status(t, r, "hoard; detail=only-if-cached")
		e.expectHits(o, 1)
	})
}

func testUseRow11(t *testing.T, s *suite) {
	t.Run("Conditional304", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/st", "cc", "max-age=10", "etag", "1")
		e.get(u)
		e.clock.Advance(20 * time.Second)
		r := e.get(u)
		e.expect(r, 200, "v1", true)
		if !r.Info.Revalidated || r.Info.Stale {
			t.Errorf("Revalidated %v Stale %v, want true false", r.Info.Revalidated, r.Info.Stale)
		}
		if inm := o.lastRequest().Header.Get("If-None-Match"); inm != `"e"` {
			t.Errorf("If-None-Match = %q, want %q", inm, `"e"`)
		}
		h4Status(t, r, "hoard; fwd=stale; fwd-status=304")
	})
	t.Run("NoValidator", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/st", "cc", "max-age=10")
		e.get(u)
		e.clock.Advance(20 * time.Second)
		r := e.get(u)
		e.expect(r, 200, "v2", false)
		e.expect(e.get(u), 200, "v2", true)
	})
}
