package conformance

// requests-cache's session settings, each as a core option, with a scenario
// that fails when the setting has no effect.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Settings/ExpireAfter", testSettingsExpireAfter},
		{"Settings/ExpireAfterNeverExpire", testSettingsExpireAfterNeverExpire},
		{"Settings/ExpireAfterImmediately", testSettingsExpireImmediately},
		{"Settings/ExpireAfterDoNotCache", testSettingsExpireAfterDoNotCache},
		{"Settings/URLExpireAfter", testSettingsURLExpireAfter},
		{"Settings/CacheControlOff", testSettingsCacheControlOff},
		{"Settings/AllowableCodes", testSettingsAllowableCodes},
		{"Settings/AllowableMethods", testSettingsAllowableMethods},
		{"Settings/AlwaysRevalidate", testSettingsAlwaysRevalidate},
		{"Settings/IgnoredParametersDefault", testSettingsIgnoredDefault},
		{"Settings/IgnoredParametersCustom", testSettingsIgnoredCustom},
		{"Settings/MatchHeaders", testSettingsMatchHeaders},
		{"Settings/MatchAllHeaders", testSettingsMatchAllHeaders},
		{"Settings/Filter", testSettingsFilter},
		{"Settings/KeyFunc", testSettingsKeyFunc},
		{"Settings/ReadOnly", testSettingsReadOnly},
		{"Settings/Disabled", testSettingsDisabled},
	})
}

// h4Plain is an origin handler with no freshness information and no
// validator: without an expire-after setting such a response is not stored.
func h4Plain(w http.ResponseWriter, r *http.Request, n int) {
	fmt.Fprintf(w, "v%d", n)
}

func testSettingsExpireAfter(t *testing.T, s *suite) {
	e := s.newEnv(t, core.WithExpireAfter(60*time.Second))
	o := e.newOrigin(h4Plain)
	t0 := e.clock.Now()
	first := e.get(o.URL + "/a")
	e.expect(first, 200, "v1", false)
	if !first.Info.Stored {
		t.Errorf("Stored = false, want true: WithExpireAfter gives a lifetime to a response without one")
	}
	if want := t0.Add(60 * time.Second); !first.Info.Expires.Equal(want) {
		t.Errorf("Info.Expires = %v, want %v", first.Info.Expires, want)
	}
	e.clock.Advance(59 * time.Second)
	e.expect(e.get(o.URL+"/a"), 200, "v1", true)
	e.clock.Advance(2 * time.Second)
	e.expect(e.get(o.URL+"/a"), 200, "v2", false)
	e.expectHits(o, 2)
}

func testSettingsExpireAfterNeverExpire(t *testing.T, s *suite) {
	e := s.newEnv(t, core.WithExpireAfter(core.NeverExpire))
	o := e.newOrigin(h4Plain)
	first := e.get(o.URL + "/a")
	if !first.Info.Stored || !first.Info.Expires.IsZero() {
		t.Errorf("Stored = %v, Expires = %v; want stored with zero Expires (never)", first.Info.Stored, first.Info.Expires)
	}
	e.clock.Advance(24 * 365 * time.Hour)
	e.expect(e.get(o.URL+"/a"), 200, "v1", true)
	e.expectHits(o, 1)
}

func testSettingsExpireImmediately(t *testing.T, s *suite) {
	e := s.newEnv(t, core.WithExpireAfter(core.ExpireImmediately))
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path == "/etag" {
			if r.Header.Get("If-None-Match") == `"e"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", `"e"`)
		}
		fmt.Fprintf(w, "v%d", n)
	})
	t.Run("NoValidatorNotStored", func(t *testing.T) {
		r := e.get(o.URL + "/nv")
		if r.Info.Stored {
			t.Errorf("Stored = true, want false: ExpireImmediately stores only responses with a validator")
		}
		r2 := e.get(o.URL + "/nv")
		if r2.Info.FromCache || o.hitsFor("/nv") != 2 {
			t.Errorf("second request FromCache = %v, origin hits = %d; want a miss, 2", r2.Info.FromCache, o.hitsFor("/nv"))
		}
	})
	t.Run("ValidatorRevalidatedEachUse", func(t *testing.T) {
		r := e.get(o.URL + "/etag")
		if !r.Info.Stored {
			t.Errorf("Stored = false, want true (it has an ETag)")
		}
		body := r.Body
		for i := 2; i <= 3; i++ {
			r = e.get(o.URL + "/etag")
			e.expect(r, 200, body, true)
			if !r.Info.Revalidated {
				t.Errorf("use %d: Revalidated = false, want true (Cache-Status %q)", i, r.Header.Get("Cache-Status"))
			}
			if got := o.hitsFor("/etag"); got != i {
				t.Errorf("use %d: origin hits = %d, want %d (revalidated every use)", i, got, i)
			}
			if inm := o.lastRequest().Header.Get("If-None-Match"); inm != `"e"` {
				t.Errorf("use %d: If-None-Match = %q, want %q", i, inm, `"e"`)
			}
		}
	})
}

func testSettingsExpireAfterDoNotCache(t *testing.T, s *suite) {
	var cs *countingStore
	e := s.newEnvStore(t, func(st core.Store) core.Store { cs = &countingStore{Store: st}; return cs },
		core.WithExpireAfter(core.DoNotCache))
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"e"`)
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a"), 200, "v1", false)
	r := e.get(o.URL + "/a")
	e.expect(r, 200, "v2", false)
	h4Status(t, r, "hoard; fwd=bypass")
	if g, st := cs.gets.Load(), cs.sets.Load(); g != 0 || st != 0 {
		t.Errorf("store gets = %d, sets = %d; want 0, 0 (DoNotCache neither reads nor writes)", g, st)
	}
}

// h4OriginFirst starts an origin before the env exists (for options that
// need its address); attach it to the env's clock with o.clock = e.clock
// before the first request.
func h4OriginFirst(t *testing.T, h handlerFunc) *origin {
	tmp := &env{t: t, clock: NewClock()}
	return tmp.newOrigin(h)
}

func testSettingsURLExpireAfter(t *testing.T, s *suite) {
	handler := func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Query().Get("cc") != "" {
			w.Header().Set("Cache-Control", r.URL.Query().Get("cc"))
		}
		fmt.Fprintf(w, "%s-%d", r.URL.Path, n)
	}
	t.Run("FirstMatchWins", func(t *testing.T) {
		// Both patterns match /a/b/c; the first added (10s) wins over the
		// more specific second one (100s).
		e := s.newEnv(t, core.WithURLExpireAfter("*/a/*", 10*time.Second), core.WithURLExpireAfter("*/a/b", 100*time.Second))
		o := e.newOrigin(handler)
		t0 := e.clock.Now()
		r := e.get(o.URL + "/a/b/c")
		if want := t0.Add(10 * time.Second); !r.Info.Expires.Equal(want) {
			t.Errorf("Info.Expires = %v, want %v (first pattern: 10s)", r.Info.Expires, want)
		}
		e.clock.Advance(5 * time.Second)
		e.expect(e.get(o.URL+"/a/b/c"), 200, "/a/b/c-1", true)
		e.clock.Advance(6 * time.Second)
		e.expect(e.get(o.URL+"/a/b/c"), 200, "/a/b/c-2", false)
	})
	t.Run("SchemeIgnored", func(t *testing.T) {
		// An https:// pattern matches the http:// URL: the scheme is ignored.
		o := h4OriginFirst(t, handler)
		e := s.newEnv(t, core.WithURLExpireAfter("https://"+h4Host(o)+"/x", time.Minute))
		o.clock = e.clock
		e.expect(e.get(o.URL+"/x"), 200, "/x-1", false)
		e.expect(e.get(o.URL+"/x"), 200, "/x-1", true)
		// Without a matching rule such a response is not stored.
		e.expect(e.get(o.URL+"/y"), 200, "/y-2", false)
		e.expect(e.get(o.URL+"/y"), 200, "/y-3", false)
	})
	t.Run("Prefix", func(t *testing.T) {
		// No trailing star, still a prefix match: everything below /api.
		o := h4OriginFirst(t, handler)
		e := s.newEnv(t, core.WithURLExpireAfter(h4Host(o)+"/api", time.Minute))
		o.clock = e.clock
		for _, p := range []string{"/api", "/api/v1/items?x=1", "/api/v2/deep/er"} {
			before := o.hits()
			r1 := e.get(o.URL + p)
			r2 := e.get(o.URL + p)
			if r1.Info.FromCache || !r2.Info.FromCache || o.hits()-before != 1 {
				t.Errorf("%s: FromCache %v then %v, origin requests %d; want a miss then a hit, 1", p, r1.Info.FromCache, r2.Info.FromCache, o.hits()-before)
			}
		}
		before := o.hits()
		e.get(o.URL + "/other/api")
		e.get(o.URL + "/other/api")
		if got := o.hits() - before; got != 2 {
			t.Errorf("/other/api: origin requests = %d, want 2 (the pattern is anchored at the start)", got)
		}
	})
	t.Run("AllowlistWithDoNotCache", func(t *testing.T) {
		o := h4OriginFirst(t, handler)
		var cs *countingStore
		e := s.newEnvStore(t, func(st core.Store) core.Store { cs = &countingStore{Store: st}; return cs },
			core.WithURLExpireAfter(h4Host(o)+"/allowed", time.Minute),
			core.WithURLExpireAfter("*", core.DoNotCache))
		o.clock = e.clock
		e.expect(e.get(o.URL+"/allowed/1"), 200, "/allowed/1-1", false)
		e.expect(e.get(o.URL+"/allowed/1"), 200, "/allowed/1-1", true)
		gets, sets := cs.gets.Load(), cs.sets.Load()
		r := e.get(o.URL + "/other?cc=max-age%3D60")
		e.expect(r, 200, "/other-2", false)
		h4Status(t, r, "hoard; fwd=bypass")
		e.expect(e.get(o.URL+"/other?cc=max-age%3D60"), 200, "/other-3", false)
		if g, st := cs.gets.Load()-gets, cs.sets.Load()-sets; g != 0 || st != 0 {
			t.Errorf("store gets = %d, sets = %d for a URL under DoNotCache; want 0, 0", g, st)
		}
	})
}

func testSettingsCacheControlOff(t *testing.T, s *suite) {
	handler := func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", r.URL.Query().Get("cc"))
		fmt.Fprintf(w, "v%d", n)
	}
	t.Run("NoStoreIgnoredNeverExpire", func(t *testing.T) {
		e := s.newEnv(t, core.WithCacheControl(false))
		o := e.newOrigin(handler)
		u := o.URL + "/a?cc=no-store,max-age=1"
		r := e.get(u)
		if !r.Info.Stored || !r.Info.Expires.IsZero() {
			t.Errorf("Stored = %v, Expires = %v; want stored, never expiring (no-store and max-age ignored)", r.Info.Stored, r.Info.Expires)
		}
		e.clock.Advance(1000 * time.Hour)
		e.expect(e.get(u), 200, "v1", true)
	})
	t.Run("ExpireAfterInsteadOfMaxAge", func(t *testing.T) {
		e := s.newEnv(t, core.WithCacheControl(false), core.WithExpireAfter(60*time.Second))
		o := e.newOrigin(handler)
		u := o.URL + "/b?cc=max-age=1"
		e.get(u)
		e.clock.Advance(30 * time.Second)
		e.expect(e.get(u), 200, "v1", true)
		e.clock.Advance(31 * time.Second)
		e.expect(e.get(u), 200, "v2", false)
	})
	t.Run("OnHonoursNoStore", func(t *testing.T) {
		// The control: with cache-control on (default) the same response is not stored.
		e := s.newEnv(t)
		o := e.newOrigin(handler)
		u := o.URL + "/a?cc=no-store,max-age=1"
		e.get(u)
		e.expect(e.get(u), 200, "v2", false)
	})
}

func testSettingsAllowableCodes(t *testing.T, s *suite) {
	handler := func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "nf%d", n)
	}
	t.Run("DefaultFollowsTheOrigin", func(t *testing.T) {
		// Unset, the origin's explicit freshness stores any status (RFC
		// 9111 §3); see Statuses/ for the whole rule.
		e := s.newEnv(t)
		o := e.newOrigin(handler)
		e.expect(e.get(o.URL+"/nf"), 404, "nf1", false)
		e.expect(e.get(o.URL+"/nf"), 404, "nf1", true)
	})
	t.Run("ExplicitRestricts", func(t *testing.T) {
		e := s.newEnv(t, core.WithAllowableCodes(200))
		o := e.newOrigin(handler)
		e.expect(e.get(o.URL+"/nf"), 404, "nf1", false)
		e.expect(e.get(o.URL+"/nf"), 404, "nf2", false)
	})
	t.Run("With404", func(t *testing.T) {
		e := s.newEnv(t, core.WithAllowableCodes(200, 404))
		o := e.newOrigin(handler)
		e.expect(e.get(o.URL+"/nf"), 404, "nf1", false)
		e.expect(e.get(o.URL+"/nf"), 404, "nf1", true)
		e.expectHits(o, 1)
	})
	t.Run("Without200", func(t *testing.T) {
		e := s.newEnv(t, core.WithAllowableCodes(404))
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			fmt.Fprintf(w, "v%d", n)
		})
		e.expect(e.get(o.URL+"/ok"), 200, "v1", false)
		e.expect(e.get(o.URL+"/ok"), 200, "v2", false)
	})
}

func testSettingsAllowableMethods(t *testing.T, s *suite) {
	handler := func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "%s%d", r.Method, n)
	}
	t.Run("DefaultPOSTNotCached", func(t *testing.T) {
		e := s.newEnv(t)
		o := e.newOrigin(handler)
		e.expect(e.must(e.req(h4Ctx(t), "POST", o.URL+"/p", "a")), 200, "POST1", false)
		r := e.must(e.req(h4Ctx(t), "POST", o.URL+"/p", "a"))
		e.expect(r, 200, "POST2", false)
		h4Status(t, r, "hoard; fwd=method")
	})
	t.Run("GETAndPOST", func(t *testing.T) {
		e := s.newEnv(t, core.WithAllowableMethods("GET", "POST"))
		o := e.newOrigin(handler)
		e.expect(e.must(e.req(h4Ctx(t), "POST", o.URL+"/p", "a")), 200, "POST1", false)
		e.expect(e.must(e.req(h4Ctx(t), "POST", o.URL+"/p", "a")), 200, "POST1", true)
		e.expect(e.must(e.req(h4Ctx(t), "POST", o.URL+"/p", "b")), 200, "POST2", false)
		e.expect(e.must(e.req(h4Ctx(t), "POST", o.URL+"/p", "b")), 200, "POST2", true)
		e.expect(e.must(e.req(h4Ctx(t), "POST", o.URL+"/p", "a")), 200, "POST1", true)
		e.expectHits(o, 2)
	})
	t.Run("GETRemoved", func(t *testing.T) {
		e := s.newEnv(t, core.WithAllowableMethods("POST"))
		o := e.newOrigin(handler)
		e.get(o.URL + "/g")
		r := e.get(o.URL + "/g")
		e.expect(r, 200, "GET2", false)
		h4Status(t, r, "hoard; fwd=method")
	})
}

func testSettingsAlwaysRevalidate(t *testing.T, s *suite) {
	e := s.newEnv(t, core.WithAlwaysRevalidate())
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.URL.Path == "/etag" {
			if r.Header.Get("If-None-Match") == `"e"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", `"e"`)
		}
		fmt.Fprintf(w, "v%d", n)
	})
	t.Run("WithValidator", func(t *testing.T) {
		e.expect(e.get(o.URL+"/etag"), 200, "v1", false)
		r := e.get(o.URL + "/etag")
		e.expect(r, 200, "v1", true)
		if !r.Info.Revalidated || o.hitsFor("/etag") != 2 {
			t.Errorf("fresh entry: Revalidated = %v, origin hits = %d; want true, 2 (always revalidate)", r.Info.Revalidated, o.hitsFor("/etag"))
		}
		h4Status(t, r, "hoard; fwd=request; fwd-status=304")
	})
	t.Run("WithoutValidator", func(t *testing.T) {
		first := e.get(o.URL + "/nv")
		r := e.get(o.URL + "/nv")
		e.expect(r, 200, first.Body, true)
		if o.hitsFor("/nv") != 1 {
			t.Errorf("origin hits = %d, want 1: no validator, no revalidation", o.hitsFor("/nv"))
		}
	})
}

func testSettingsIgnoredDefault(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	})
	first := e.get(o.URL + "/s?q=1&api_key=SECRETA")
	e.expect(first, 200, "v1", false)
	e.expect(e.get(o.URL+"/s?api_key=SECRETB&q=1"), 200, "v1", true)
	if got := o.lastRequest().URL.Query().Get("api_key"); got != "SECRETA" {
		t.Errorf("origin saw api_key = %q, want %q (only the key drops it)", got, "SECRETA")
	}
	// A different non-ignored parameter still matters.
	e.expect(e.get(o.URL+"/s?q=2&api_key=SECRETA"), 200, "v2", false)
	ents := h4Entries(t, e)
	if h4CanList(e) && len(ents) != 2 {
		t.Errorf("Entries yielded %d, want 2", len(ents))
	}
	for _, en := range ents {
		if strings.Contains(en.URL, "SECRET") || strings.Contains(en.Key, "SECRET") {
			t.Errorf("stored entry URL %q key %q contains the secret", en.URL, en.Key)
		}
		if !strings.Contains(en.URL, "/s") || !strings.Contains(en.URL, "q=") {
			t.Errorf("stored entry URL %q, want the normalised URL of /s with q", en.URL)
		}
	}
}

func testSettingsIgnoredCustom(t *testing.T, s *suite) {
	e := s.newEnv(t, core.WithIgnoredParameters("token"))
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/t?token=1"), 200, "v1", false)
	e.expect(e.get(o.URL+"/t?token=2"), 200, "v1", true)
	// The list replaces the defaults: api_key is part of the key again.
	e.expect(e.get(o.URL+"/k?api_key=1"), 200, "v2", false)
	e.expect(e.get(o.URL+"/k?api_key=2"), 200, "v3", false)
	e.expect(e.get(o.URL+"/k?api_key=1"), 200, "v2", true)
}

func testSettingsMatchHeaders(t *testing.T, s *suite) {
	handler := func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "%s-%d", r.Header.Get("Accept-Language"), n)
	}
	t.Run("Matched", func(t *testing.T) {
		e := s.newEnv(t, core.WithMatchHeaders("accept-language"))
		o := e.newOrigin(handler)
		e.expect(e.get(o.URL+"/m", "Accept-Language: en"), 200, "en-1", false)
		e.expect(e.get(o.URL+"/m", "Accept-Language: fr"), 200, "fr-2", false)
		e.expect(e.get(o.URL+"/m", "Accept-Language: en"), 200, "en-1", true)
		e.expect(e.get(o.URL+"/m", "Accept-Language: fr"), 200, "fr-2", true)
		e.expect(e.get(o.URL+"/m", "X-Other: 1", "Accept-Language: en"), 200, "en-1", true)
		e.expectHits(o, 2)
	})
	t.Run("NotMatchedControl", func(t *testing.T) {
		e := s.newEnv(t)
		o := e.newOrigin(handler)
		e.get(o.URL+"/m", "Accept-Language: en")
		e.expect(e.get(o.URL+"/m", "Accept-Language: fr"), 200, "en-1", true)
	})
}

func testSettingsMatchAllHeaders(t *testing.T, s *suite) {
	e := s.newEnv(t, core.WithMatchAllHeaders())
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "%s-%d", r.Header.Get("X-Foo"), n)
	})
	e.expect(e.get(o.URL+"/m", "X-Foo: 1"), 200, "1-1", false)
	e.expect(e.get(o.URL+"/m", "X-Foo: 2"), 200, "2-2", false)
	e.expect(e.get(o.URL+"/m", "X-Foo: 1"), 200, "1-1", true)
	e.expect(e.get(o.URL+"/m", "X-Foo: 1", "X-Bar: b"), 200, "1-3", false)
	// Ignored parameters are not matched: a different Authorization still hits.
	e.expect(e.get(o.URL+"/a", "X-Foo: 1", "Authorization: Bearer one"), 200, "1-4", false)
	e.expect(e.get(o.URL+"/a", "X-Foo: 1", "Authorization: Bearer two"), 200, "1-4", true)
}

func testSettingsFilter(t *testing.T, s *suite) {
	var reject atomic.Bool
	e := s.newEnv(t, core.WithFilter(func(r *http.Response) bool {
		return r.Header.Get("X-Cacheable") != "no" && !reject.Load()
	}))
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.URL.Path == "/rej" {
			w.Header().Set("X-Cacheable", "no")
		}
		fmt.Fprintf(w, "v%d", n)
	})
	t.Run("RejectedNotStored", func(t *testing.T) {
		r := e.get(o.URL + "/rej")
		if r.Info.Stored {
			t.Errorf("Stored = true, want false (filter rejects)")
		}
		r = e.get(o.URL + "/rej")
		if r.Info.FromCache || o.hitsFor("/rej") != 2 {
			t.Errorf("FromCache = %v, origin hits = %d; want false, 2", r.Info.FromCache, o.hitsFor("/rej"))
		}
	})
	t.Run("StoredThenRejectedNotServed", func(t *testing.T) {
		first := e.get(o.URL + "/ok")
		e.expect(e.get(o.URL+"/ok"), 200, first.Body, true)
		reject.Store(true)
		defer reject.Store(false)
		r := e.get(o.URL + "/ok")
		if r.Info.FromCache || o.hitsFor("/ok") != 2 {
			t.Errorf("after the filter turned: FromCache = %v, origin hits = %d; want false, 2", r.Info.FromCache, o.hitsFor("/ok"))
		}
		if ok, err := e.cache.Contains(h4Ctx(t), e.req(h4Ctx(t), http.MethodGet, o.URL+"/ok", "")); err != nil || ok {
			t.Errorf("Contains after rejection = %v, %v; want false, nil (the rejected entry is deleted)", ok, err)
		}
	})
}

func testSettingsKeyFunc(t *testing.T, s *suite) {
	var calls atomic.Int64
	e := s.newEnv(t, core.WithKeyFunc(func(req *http.Request, def string) string {
		calls.Add(1)
		if def == "" {
			t.Errorf("key function got an empty default key")
		}
		return "custom:" + req.Method + ":" + req.URL.Path // ignores the query
	}))
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/k?x=1"), 200, "v1", false)
	e.expect(e.get(o.URL+"/k?x=2"), 200, "v1", true)
	e.expect(e.get(o.URL+"/other?x=1"), 200, "v2", false)
	if calls.Load() == 0 {
		t.Errorf("key function never called")
	}
}

func testSettingsReadOnly(t *testing.T, s *suite) {
	writer := s.newEnv(t)
	o := writer.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Header.Get("If-None-Match") == `"e"` {
			w.Header().Set("Cache-Control", "max-age=60")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"e"`)
		fmt.Fprintf(w, "v%d", n)
	})
	writer.expect(writer.get(o.URL+"/a"), 200, "v1", false)

	cs := &countingStore{Store: writer.store}
	ro, err := core.New(cs, core.WithClock(writer.clock.Now), core.WithReadOnly(), semanticsTimeout())
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	t.Cleanup(ro.Wait)
	re := &env{t: t, clock: writer.clock, store: cs, cache: ro, do: s.harness.Doer(ro)}

	re.expect(re.get(o.URL+"/a"), 200, "v1", true)
	h4Hits(t, o, 1, "read-only hit")
	r := re.get(o.URL + "/b")
	if r.Info.Stored {
		t.Errorf("read-only miss: Stored = true, want false")
	}
	re.expect(re.get(o.URL+"/b"), 200, "v3", false)
	// A revalidation (304) updates nothing either.
	writer.clock.Advance(120 * time.Second)
	r = re.get(o.URL + "/a")
	re.expect(r, 200, "v1", true)
	if !r.Info.Revalidated {
		t.Errorf("stale entry through the read-only cache: Revalidated = false, want true")
	}
	re.get(o.URL + "/a")
	h4Hits(t, o, 5, "after two stale uses (each revalidated, nothing written)")
	if n := cs.sets.Load(); n != 0 {
		t.Errorf("read-only cache store sets = %d, want 0", n)
	}
	if n := cs.deletes.Load(); n != 0 {
		t.Errorf("read-only cache store deletes = %d, want 0", n)
	}
}

func testSettingsDisabled(t *testing.T, s *suite) {
	var cs *countingStore
	e := s.newEnvStore(t, func(st core.Store) core.Store { cs = &countingStore{Store: st}; return cs }, core.WithDisabled())
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/d"), 200, "v1", false)
	r := e.get(o.URL + "/d")
	e.expect(r, 200, "v2", false)
	h4Status(t, r, "hoard; fwd=bypass")
	// Even only-if-cached is forwarded: the cache is off.
	r = e.getCtx(core.OnlyIfCached(context.Background()), o.URL+"/d")
	e.expect(r, 200, "v3", false)
	if g, st := cs.gets.Load(), cs.sets.Load(); g != 0 || st != 0 {
		t.Errorf("store gets = %d, sets = %d; want 0, 0", g, st)
	}
}
