package conformance

// RFC 9211 Cache-Status values and InfoOf.

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"CacheStatus/Values", testStatusValues},
		{"CacheStatus/StaleIfError", testStatusStaleIfError},
		{"CacheStatus/Collapsed", testStatusCollapsed},
		{"CacheStatus/OriginMemberKept", testStatusOriginMemberKept},
		{"CacheStatus/InfoKeyAndTimes", testStatusInfoKeyAndTimes},
		{"CacheStatus/InfoFromHeader", testStatusInfoFromHeader},
	})
}

func testStatusValues(t *testing.T, s *suite) {
	type step struct {
		name string
		run  func(t *testing.T, e *env, o *origin) *result
		want string
		info core.Info // flags checked (Key, Created, Expires ignored)
	}
	get := func(path string, kv ...string) func(t *testing.T, e *env, o *origin) *result {
		return func(t *testing.T, e *env, o *origin) *result { return e.get(h4Q(o, path, kv...)) }
	}
	cases := []struct {
		name  string
		opts  []core.Option
		setup func(t *testing.T, e *env, o *origin)
		step  step
	}{
		{"MissStored", nil, nil,
			step{run: get("/a", "cc", "max-age=60"), want: "hoard; fwd=miss; stored", info: core.Info{Stored: true}}},
		{"MissNotStored", nil, nil,
			step{run: get("/a"), want: "hoard; fwd=miss"}},
		{"FreshHit", nil, func(t *testing.T, e *env, o *origin) { e.get(h4Q(o, "/a", "cc", "max-age=60")) },
			step{run: get("/a", "cc", "max-age=60"), want: "hoard; hit", info: core.Info{FromCache: true}}},
		{"StaleMaxStale", nil, func(t *testing.T, e *env, o *origin) {
			e.get(h4Q(o, "/a", "cc", "max-age=10"))
			e.clock.Advance(20 * time.Second)
		}, step{run: func(t *testing.T, e *env, o *origin) *result {
			return e.get(h4Q(o, "/a", "cc", "max-age=10"), "Cache-Control: max-stale=60")
		}, want: "hoard; hit; detail=stale", info: core.Info{FromCache: true, Stale: true}}},
		{"StaleWhileRevalidate", nil, func(t *testing.T, e *env, o *origin) {
			e.get(h4Q(o, "/a", "cc", "max-age=10, stale-while-revalidate=60"))
			e.clock.Advance(20 * time.Second)
		}, step{run: get("/a", "cc", "max-age=10, stale-while-revalidate=60"),
			want: "hoard; hit; detail=stale-while-revalidate", info: core.Info{FromCache: true, Stale: true}}},
		{"RevalidatedStale", nil, func(t *testing.T, e *env, o *origin) {
			e.get(h4Q(o, "/a", "cc", "max-age=10", "etag", "1"))
			e.clock.Advance(20 * time.Second)
		}, step{run: get("/a", "cc", "max-age=10", "etag", "1"),
			want: "hoard; fwd=stale; fwd-status=304", info: core.Info{FromCache: true, Revalidated: true}}},
		{"RevalidatedRefresh", nil, func(t *testing.T, e *env, o *origin) { e.get(h4Q(o, "/a", "cc", "max-age=60", "etag", "1")) },
			step{run: func(t *testing.T, e *env, o *origin) *result {
				return e.getCtx(core.Refresh(h4Ctx(t)), h4Q(o, "/a", "cc", "max-age=60", "etag", "1"))
			}, want: "hoard; fwd=request; fwd-status=304", info: core.Info{FromCache: true, Revalidated: true}}},
		{"RevalidatedRequestNoCache", nil, func(t *testing.T, e *env, o *origin) { e.get(h4Q(o, "/a", "cc", "max-age=60", "etag", "1")) },
			step{run: func(t *testing.T, e *env, o *origin) *result {
				return e.get(h4Q(o, "/a", "cc", "max-age=60", "etag", "1"), "Cache-Control: no-cache")
			}, want: "hoard; fwd=request; fwd-status=304", info: core.Info{FromCache: true, Revalidated: true}}},
		{"RevalidatedAlways", []core.Option{core.WithAlwaysRevalidate()}, func(t *testing.T, e *env, o *origin) { e.get(h4Q(o, "/a", "cc", "max-age=60", "etag", "1")) },
			step{run: get("/a", "cc", "max-age=60", "etag", "1"),
				want: "hoard; fwd=request; fwd-status=304", info: core.Info{FromCache: true, Revalidated: true}}},
		{"VaryMiss", nil, func(t *testing.T, e *env, o *origin) {
			e.get(h4Q(o, "/a", "cc", "max-age=60", "vary", "Accept-Language"), "Accept-Language: en")
		}, step{run: func(t *testing.T, e *env, o *origin) *result {
			return e.get(h4Q(o, "/a", "cc", "max-age=60", "vary", "Accept-Language"), "Accept-Language: fr")
		}, want: "hoard; fwd=vary-miss; stored", info: core.Info{Stored: true}}},
		{"BypassDisable", nil, nil, step{run: func(t *testing.T, e *env, o *origin) *result {
			return e.getCtx(core.Disable(h4Ctx(t)), h4Q(o, "/a", "cc", "max-age=60"))
		}, want: "hoard; fwd=bypass"}},
		{"BypassDisabledSetting", []core.Option{core.WithDisabled()}, nil,
			step{run: get("/a", "cc", "max-age=60"), want: "hoard; fwd=bypass"}},
		{"BypassDoNotCache", nil, nil, step{run: func(t *testing.T, e *env, o *origin) *result {
			return e.getCtx(core.ExpireAfter(h4Ctx(t), core.DoNotCache), h4Q(o, "/a", "cc", "max-age=60"))
		}, want: "hoard; fwd=bypass"}},
		{"ForceRefreshStored", nil, func(t *testing.T, e *env, o *origin) { e.get(h4Q(o, "/a", "cc", "max-age=60")) },
			step{run: func(t *testing.T, e *env, o *origin) *result {
				return e.getCtx(core.ForceRefresh(h4Ctx(t)), h4Q(o, "/a", "cc", "max-age=60"))
			}, want: "hoard; fwd=request; stored", info: core.Info{Stored: true}}},
		{"Method", nil, nil, step{run: func(t *testing.T, e *env, o *origin) *result {
			return e.must(e.req(h4Ctx(t), http.MethodPost, h4Q(o, "/a", "cc", "max-age=60"), "x"))
		}, want: "hoard; fwd=method"}},
		{"OnlyIfCached504", nil, nil, step{run: func(t *testing.T, e *env, o *origin) *result {
			return e.getCtx(core.OnlyIfCached(h4Ctx(t)), h4Q(o, "/a", "cc", "max-age=60"))
		}, want: "hoard; detail=only-if-cached", info: core.Info{Synthetic: true}}},
		{"OnlyIfCachedHeader504", nil, nil, step{run: func(t *testing.T, e *env, o *origin) *result {
			return e.get(h4Q(o, "/a", "cc", "max-age=60"), "Cache-Control: only-if-cached")
		}, want: "hoard; detail=only-if-cached", info: core.Info{Synthetic: true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := s.newEnv(t, c.opts...)
			o, _ := h4FlexOrigin(e)
			if c.setup != nil {
				c.setup(t, e, o)
			}
			r := c.step.run(t, e, o)
			h4Status(t, r, c.step.want)
			got := r.Info
			flags := func(in core.Info) string {
				return fmt.Sprintf("FromCache=%v Revalidated=%v Stale=%v Synthetic=%v Stored=%v Collapsed=%v",
					in.FromCache, in.Revalidated, in.Stale, in.Synthetic, in.Stored, in.Collapsed)
			}
			if flags(got) != flags(c.step.info) {
				t.Errorf("Info flags = %s, want %s", flags(got), flags(c.step.info))
			}
			if c.step.info.Synthetic && r.Status != http.StatusGatewayTimeout {
				t.Errorf("status = %d, want 504", r.Status)
			}
			if got.FromCache && !got.Synthetic && r.Header.Get("Age") == "" {
				t.Errorf("response served from the store has no Age header")
			}
			e.cache.Wait()
		})
	}
}

func testStatusStaleIfError(t *testing.T, s *suite) {
	t.Run("Origin503", func(t *testing.T) {
		e := s.newEnv(t, core.WithStaleIfError(time.Hour))
		o, down := h4FlexOrigin(e)
		u := h4Q(o, "/sie", "cc", "max-age=10")
		e.get(u)
		e.clock.Advance(20 * time.Second)
		down.Store(true)
		r := e.get(u)
		e.expect(r, 200, "v1", true)
		if !r.Info.Stale {
			t.Errorf("Stale = false, want true")
		}
		h4Status(t, r, "hoard; fwd=stale; detail=stale-if-error; fwd-status=503")
	})
	t.Run("TransportError", func(t *testing.T) {
		e := s.newEnv(t, core.WithStaleIfError(time.Hour))
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/sie", "cc", "max-age=10")
		e.get(u)
		e.clock.Advance(20 * time.Second)
		o.Down()
		r := e.get(u)
		e.expect(r, 200, "v1", true)
		if !r.Info.Stale {
			t.Errorf("Stale = false, want true")
		}
		h4Status(t, r, "hoard; fwd=stale; detail=stale-if-error")
	})
}

func testStatusCollapsed(t *testing.T, s *suite) {
	e := s.newEnv(t)
	arrived := make(chan struct{}, 16)
	const followers = 4
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		arrived <- struct{}{}
		// Hold the first response until every follower waits for it
		// (Stats counts a waiter when it starts waiting), so that a slow
		// machine does not turn the followers into requests of their own;
		// bounded: the test never waits forever.
		for deadline := time.Now().Add(10 * time.Second); e.cache.Stats().Collapsed < followers && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	})
	type out struct {
		r   *result
		err error
	}
	results := make(chan out, followers+1)
	send := func() {
		r, err := e.send(e.req(h4Ctx(t), http.MethodGet, o.URL+"/c", ""))
		results <- out{r, err}
	}
	go send()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatalf("first request never reached the origin")
	}
	var wg sync.WaitGroup
	for range followers {
		wg.Add(1)
		go func() { defer wg.Done(); send() }()
	}
	wg.Wait()
	collapsed := 0
	for range followers + 1 {
		var x out
		select {
		case x = <-results:
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for responses")
		}
		if x.err != nil {
			t.Errorf("request failed: %v", x.err)
			continue
		}
		if x.r.Body != "v1" {
			t.Errorf("body = %q, want %q", x.r.Body, "v1")
		}
		switch st := h4Ours(t, x.r.Header); st {
		case "hoard; fwd=miss; stored":
		case "hoard; fwd=miss; collapsed":
			collapsed++
			if !x.r.Info.Collapsed {
				t.Errorf("Cache-Status %q but Info.Collapsed = false", st)
			}
		case "hoard; hit":
		default:
			t.Errorf("Cache-Status = %q, want the leader's miss, a collapsed miss or a hit", st)
		}
	}
	if collapsed == 0 {
		t.Errorf("no response had Cache-Status %q, want at least one", "hoard; fwd=miss; collapsed")
	}
	e.expectHits(o, 1)
}

func testStatusOriginMemberKept(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Cache-Status", `upstream; hit; ttl=30, "edge.example"; fwd=uri-miss`)
		fmt.Fprintf(w, "v%d", n)
	})
	for i, want := range []string{"hoard; fwd=miss; stored", "hoard; hit"} {
		r := e.get(o.URL + "/cs")
		ms := h4Members(r.Header)
		if len(ms) != 3 {
			t.Errorf("request %d: Cache-Status members %q, want 3 (two from the origin, then ours)", i+1, ms)
			continue
		}
		if ms[0] != "upstream; hit; ttl=30" || ms[1] != `"edge.example"; fwd=uri-miss` {
			t.Errorf("request %d: origin members %q, want them kept in order", i+1, ms[:2])
		}
		h4Status(t, r, want)
	}
}

func testStatusInfoKeyAndTimes(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o, _ := h4FlexOrigin(e)
	u := h4Q(o, "/k", "cc", "max-age=60", "etag", "1")
	t0 := e.clock.Now()
	miss := e.get(u)
	if miss.Info.Key == "" {
		t.Fatalf("miss: Info.Key is empty")
	}
	if !miss.Info.Created.Equal(t0) || !miss.Info.Expires.Equal(t0.Add(60*time.Second)) {
		t.Errorf("miss: Created %v Expires %v, want %v and %v", miss.Info.Created, miss.Info.Expires, t0, t0.Add(60*time.Second))
	}
	for _, adv := range []time.Duration{10 * time.Second, 25 * time.Second} {
		e.clock.Advance(adv)
		hit := e.get(u)
		if hit.Info.Key != miss.Info.Key {
			t.Errorf("hit Key %q, want the miss's %q", hit.Info.Key, miss.Info.Key)
		}
		if !hit.Info.Created.Equal(t0) || !hit.Info.Expires.Equal(t0.Add(60*time.Second)) {
			t.Errorf("hit: Created %v Expires %v, want %v and %v", hit.Info.Created, hit.Info.Expires, t0, t0.Add(60*time.Second))
		}
		wantAge := int(e.clock.Now().Sub(t0) / time.Second)
		if got := hit.Header.Get("Age"); got != strconv.Itoa(wantAge) {
			t.Errorf("hit Age = %q, want %q", got, strconv.Itoa(wantAge))
		}
	}
	// After a 304 the entry keeps Created and gets a new Expires.
	e.clock.Advance(60 * time.Second)
	t1 := e.clock.Now()
	rv := e.get(u)
	if !rv.Info.Revalidated {
		t.Fatalf("expected a revalidation, got Cache-Status %q", rv.Header.Get("Cache-Status"))
	}
	if rv.Info.Key != miss.Info.Key || !rv.Info.Created.Equal(t0) || !rv.Info.Expires.Equal(t1.Add(60*time.Second)) {
		t.Errorf("revalidated: Key %q Created %v Expires %v, want %q %v %v", rv.Info.Key, rv.Info.Created, rv.Info.Expires, miss.Info.Key, t0, t1.Add(60*time.Second))
	}
	// A different URL has a different key.
	if other := e.get(h4Q(o, "/k2", "cc", "max-age=60")); other.Info.Key == miss.Info.Key {
		t.Errorf("different URLs share key %q", other.Info.Key)
	}
}

// testStatusInfoFromHeader: InfoOf falls back to the Cache-Status field when
// the response's Request was replaced on the way.
func testStatusInfoFromHeader(t *testing.T, s *suite) {
	for _, c := range []struct {
		field string
		want  core.Info
	}{
		{"hoard; hit", core.Info{FromCache: true}},
		{"hoard; hit; detail=stale", core.Info{FromCache: true, Stale: true}},
		{"hoard; fwd=stale; detail=stale-if-error; fwd-status=503", core.Info{FromCache: true, Stale: true}},
		{"hoard; fwd=stale; fwd-status=304", core.Info{FromCache: true, Revalidated: true}},
		{"hoard; fwd=miss; stored", core.Info{Stored: true}},
		{"hoard; fwd=miss; collapsed", core.Info{Collapsed: true}},
		{"hoard; detail=only-if-cached", core.Info{Synthetic: true}},
		{"other; hit, hoard; fwd=miss", core.Info{}},
	} {
		resp := &http.Response{Header: http.Header{"Cache-Status": {c.field}}, Body: http.NoBody}
		if got := core.InfoOf(resp); got != c.want {
			t.Errorf("InfoOf(Cache-Status %q) = %+v, want %+v", c.field, got, c.want)
		}
	}
}
