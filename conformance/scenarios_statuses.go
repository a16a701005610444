package conformance

// RFC 9111 §3 and §4.2.2 with the default allowable codes: the origin's
// explicit freshness or public stores any final status the cache
// understands, heuristics apply to the heuristically cacheable statuses,
// and lifetimes the user configures apply to the allowable codes (200)
// only.

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Statuses/ExplicitFreshnessAnyStatus", testStatusesExplicit},
		{"Statuses/Heuristic", testStatusesHeuristic},
		{"Statuses/ConfiguredLifetimesAllowableOnly", testStatusesConfigured},
		{"Statuses/NeverStored", testStatusesNeverStored},
		{"Statuses/ExplicitCodesRestrict", testStatusesExplicitCodes},
	})
}

// statusOrigin answers every request with status and the given headers
// (EXPIRES+1h is replaced by an Expires an hour ahead, LM-100h by a
// Last-Modified 100 hours back), and a body "<status>-v<n>" when the status
// allows one.
func statusOrigin(e *env, status int, hdr ...string) *origin {
	return e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		for i := 0; i+1 < len(hdr); i += 2 {
			v := hdr[i+1]
			switch v {
			case "EXPIRES+1h":
				v = semHTTPTime(e.clock.Now().Add(time.Hour))
			case "LM-100h":
				v = semHTTPTime(e.clock.Now().Add(-100 * time.Hour))
			}
			w.Header().Set(hdr[i], v)
		}
		w.WriteHeader(status)
		if status != http.StatusNoContent && status != http.StatusNotModified {
			fmt.Fprintf(w, "%d-v%d", status, n)
		}
	})
}

// bodyFor is what statusOrigin sends for its n-th response.
func bodyFor(status, n int) string {
	if status == http.StatusNoContent {
		return ""
	}
	return fmt.Sprintf("%d-v%d", status, n)
}

func testStatusesExplicit(t *testing.T, s *suite) {
	for _, status := range []int{201, 202, 203, 204, 300, 301, 302, 303, 307, 308, 400, 403, 404, 405, 409, 410, 414, 429, 451, 500, 501, 502, 503, 504} {
		for _, hdr := range [][]string{
			{"Cache-Control", "max-age=60"},
			{"Expires", "EXPIRES+1h"},
			{"Cache-Control", "public", "Last-Modified", "LM-100h"},
		} {
			t.Run(fmt.Sprintf("%d %s", status, hdr[1]), func(t *testing.T) {
				e := s.newEnv(t)
				o := statusOrigin(e, status, hdr...)
				e.expect(e.get(o.URL+"/a"), status, bodyFor(status, 1), false)
				e.clock.Advance(30 * time.Second)
				e.expect(e.get(o.URL+"/a"), status, bodyFor(status, 1), true)
				e.expectHits(o, 1)
			})
		}
	}
	t.Run("s-maxage stores in a shared cache only", func(t *testing.T) {
		for _, shared := range []bool{false, true} {
			var opts []core.Option
			if shared {
				opts = append(opts, core.WithShared())
			}
			e := s.newEnv(t, opts...)
			o := statusOrigin(e, 500, "Cache-Control", "s-maxage=60")
			e.get(o.URL + "/a")
			if res := e.get(o.URL + "/a"); res.Info.FromCache != shared {
				t.Errorf("shared %v: a 500 with s-maxage=60 from cache %v, want %v", shared, res.Info.FromCache, shared)
			}
		}
	})
	t.Run("401 and 407 answer credentials the key does not hold", func(t *testing.T) {
		for _, status := range []int{401, 407} {
			e := s.newEnv(t)
			o := statusOrigin(e, status, "Cache-Control", "max-age=60, public")
			e.get(o.URL + "/a")
			e.expect(e.get(o.URL+"/a"), status, bodyFor(status, 2), false)
			// Listed explicitly, they are stored.
			e = s.newEnv(t, core.WithAllowableCodes(200, status))
			o = statusOrigin(e, status, "Cache-Control", "max-age=60")
			e.get(o.URL + "/a")
			e.expect(e.get(o.URL+"/a"), status, bodyFor(status, 1), true)
		}
	})
	t.Run("a status the cache does not understand", func(t *testing.T) {
		e := s.newEnv(t)
		o := statusOrigin(e, 299, "Cache-Control", "max-age=60")
		e.get(o.URL + "/a")
		e.expect(e.get(o.URL+"/a"), 299, "299-v2", false)
	})
	t.Run("public with a value is not public", func(t *testing.T) {
		e := s.newEnv(t)
		o := statusOrigin(e, 500, "Cache-Control", `public="yes"`, "Last-Modified", "LM-100h")
		e.get(o.URL + "/a")
		e.expect(e.get(o.URL+"/a"), 500, "500-v2", false)
	})
}

func testStatusesHeuristic(t *testing.T, s *suite) {
	// §4.2.2: with Last-Modified 100 h back, 10 h of heuristic freshness for
	// the heuristically cacheable statuses (RFC 9110 §15.1), none for
	// others.
	heuristic := map[int]bool{200: true, 203: true, 204: true, 300: true, 301: true, 308: true, 404: true, 405: true, 410: true, 414: true, 501: true}
	for _, status := range []int{200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501, 201, 302, 307, 400, 403, 500, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := s.newEnv(t)
			o := statusOrigin(e, status, "Last-Modified", "LM-100h")
			e.get(o.URL + "/a")
			e.clock.Advance(time.Hour)
			res := e.get(o.URL + "/a")
			if res.Info.FromCache != heuristic[status] {
				t.Errorf("an hour later: FromCache = %v, want %v (Cache-Status %q)", res.Info.FromCache, heuristic[status], res.Header.Get("Cache-Status"))
			}
		})
	}
}

func testStatusesConfigured(t *testing.T, s *suite) {
	// Lifetimes the user sets without the origin's word apply to the
	// allowable codes (200 by default) only: a transient 500 or 404 is not
	// kept for the hour WithExpireAfter gives a 200.
	configs := []struct {
		name string
		opts []core.Option
		ctx  bool // use ExpireAfter(ctx, time.Hour)
	}{
		{"WithExpireAfter", []core.Option{core.WithExpireAfter(time.Hour)}, false},
		{"WithExpireAfter NeverExpire", []core.Option{core.WithExpireAfter(core.NeverExpire)}, false},
		{"WithURLExpireAfter", []core.Option{core.WithURLExpireAfter("*", time.Hour)}, false},
		{"ExpireAfter(ctx)", nil, true},
		{"WithCacheControl(false)", []core.Option{core.WithCacheControl(false)}, false},
	}
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			for _, tc := range []struct {
				status int
				cached bool
			}{{200, true}, {404, false}, {500, false}, {503, false}, {301, false}} {
				t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
					e := s.newEnv(t, cfg.opts...)
					o := statusOrigin(e, tc.status, "ETag", `"e1"`)
					get := func() *result {
						if cfg.ctx {
							return e.getCtx(core.ExpireAfter(h4Ctx(t), time.Hour), o.URL+"/a")
						}
						return e.get(o.URL + "/a")
					}
					get()
					e.clock.Advance(10 * time.Minute)
					res := get()
					if hit := res.Info.FromCache && !res.Info.Revalidated; hit != tc.cached {
						t.Errorf("10 minutes later: a fresh hit %v, want %v (Cache-Status %q)", hit, tc.cached, res.Header.Get("Cache-Status"))
					}
				})
			}
		})
	}
	t.Run("the origin's lifetime still counts", func(t *testing.T) {
		// A 404 with max-age=60 gets its 60 s, not the user's hour.
		e := s.newEnv(t, core.WithExpireAfter(time.Hour))
		o := statusOrigin(e, 404, "Cache-Control", "max-age=60")
		e.get(o.URL + "/a")
		e.clock.Advance(30 * time.Second)
		e.expect(e.get(o.URL+"/a"), 404, "404-v1", true)
		e.clock.Advance(31 * time.Second)
		e.expect(e.get(o.URL+"/a"), 404, "404-v2", false)
	})
}

func testStatusesNeverStored(t *testing.T, s *suite) {
	// 206 and 416 answer a Range, 304 and 412 preconditions, none of which
	// is part of the key: stored, they would answer requests that did not
	// ask for them. They pass through, whatever the settings.
	for _, opts := range [][]core.Option{nil, {core.WithAllowableCodes(200, 206, 304, 412, 416)}, {core.WithCacheControl(false), core.WithAllowableCodes(200, 206, 412, 416)}} {
		for _, status := range []int{206, 412, 416} {
			t.Run(fmt.Sprintf("%d with %d options", status, len(opts)), func(t *testing.T) {
				e := s.newEnv(t, opts...)
				o := statusOrigin(e, status, "Cache-Control", "max-age=60", "Content-Range", "bytes 0-3/10")
				res := e.get(o.URL + "/a")
				if res.Status != status || res.Info.Stored {
					t.Errorf("got %d stored %v, want %d passed through unstored (Cache-Status %q)", res.Status, res.Info.Stored, status, res.Header.Get("Cache-Status"))
				}
				e.expect(e.get(o.URL+"/a"), status, bodyFor(status, 2), false)
			})
		}
	}
}

func testStatusesExplicitCodes(t *testing.T, s *suite) {
	// An explicit WithAllowableCodes restricts every response, whatever its
	// freshness information.
	e := s.newEnv(t, core.WithAllowableCodes(200, 410))
	for _, tc := range []struct {
		status int
		cached bool
	}{{200, true}, {410, true}, {404, false}, {500, false}} {
		o := statusOrigin(e, tc.status, "Cache-Control", "max-age=60")
		e.get(o.URL + "/a")
		if res := e.get(o.URL + "/a"); res.Info.FromCache != tc.cached {
			t.Errorf("%d with max-age=60: FromCache = %v, want %v", tc.status, res.Info.FromCache, tc.cached)
		}
	}
}
