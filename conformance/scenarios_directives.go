package conformance

// RFC 9111 §5.2: Cache-Control parsing (case, argument forms, invalid
// values, duplicates) and the field-qualified forms of no-cache and private
// (§5.2.2.4, §5.2.2.7, §3.1).

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Directives/Forms", testDirectivesForms},
		{"Directives/InvalidDeltaIsStale", testDirectivesInvalidDelta},
		{"Directives/ConflictsMostRestrictive", testDirectivesConflicts},
		{"Directives/QualifiedNoCache", testDirectivesQualifiedNoCache},
		{"Directives/QualifiedPrivate", testDirectivesQualifiedPrivate},
		{"Directives/QualifiedListNamingVary", testDirectivesQualifiedVary},
	})
}

func testDirectivesForms(t *testing.T, s *suite) {
	// §5.2: names are case-insensitive; arguments in token or quoted-string
	// form; optional white space around list members; several field lines.
	for _, lines := range [][]string{
		{"max-age=60"},
		{"MAX-AGE=60"},
		{"Max-Age=60"},
		{`max-age="60"`},
		{"  max-age=60\t,  "},
		{", ,max-age=60,,"},
		{"x-unknown=1", "max-age=60", `x-other="a, max-age=0"`},
	} {
		t.Run(strings.Join(lines, " | "), func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header()["Cache-Control"] = lines
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(30 * time.Second)
			e.expect(e.get(o.URL+"/a"), 200, "v1", true)
			e.clock.Advance(31 * time.Second)
			e.expect(e.get(o.URL+"/a"), 200, "v2", false)
		})
	}
}

func testDirectivesInvalidDelta(t *testing.T, s *suite) {
	// §1.2.2 and §4.2.1: a max-age that is not a non-negative integer is
	// invalid freshness information, and the response is stale: without a
	// validator it is not stored, and neither Expires nor the Last-Modified
	// heuristic makes it fresh.
	for _, cc := range []string{"max-age=abc", "max-age=-60", "max-age=60.5", "max-age=", "max-age", "max-age=+60", "max-age=6 0"} {
		t.Run(cc, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", cc)
				w.Header().Set("Expires", semHTTPTime(e.clock.Now().Add(time.Hour)))
				w.Header().Set("Last-Modified", semHTTPTime(e.clock.Now().Add(-100*time.Hour)))
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.expect(e.get(o.URL+"/a"), 200, "v2", false)
		})
	}
	t.Run("overflow is 2^31 seconds", func(t *testing.T) {
		e := s.newEnv(t)
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=99999999999999999999")
			fmt.Fprintf(w, "v%d", n)
		})
		e.expect(e.get(o.URL+"/a"), 200, "v1", false)
		e.clock.Advance(10 * 365 * 24 * time.Hour)
		e.expect(e.get(o.URL+"/a"), 200, "v1", true)
	})
}

func testDirectivesConflicts(t *testing.T, s *suite) {
	// §4.2.1: when directives conflict the most restrictive one is honoured.
	cases := []struct {
		name   string
		lines  []string
		stored bool
		fresh  bool // at 30 s
	}{
		{"max-age and no-store", []string{"max-age=60, no-store"}, false, false},
		{"no-store on a second line", []string{"max-age=60", "no-store"}, false, false},
		{"max-age and no-cache", []string{"max-age=60", "no-cache"}, true, false},
		{"qualified and unqualified no-cache", []string{`no-cache="X-A", max-age=60, no-cache`}, true, false},
		{"conflicting max-age", []string{"max-age=60", "max-age=120"}, true, false},
		{"no-store with an argument is still no-store", []string{"max-age=60, no-store=1"}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header()["Cache-Control"] = tc.lines
				w.Header().Set("ETag", `"e1"`) // stored when allowed, even stale
				fmt.Fprintf(w, "v%d", n)
			})
			res := e.get(o.URL + "/a")
			if res.Info.Stored != tc.stored {
				t.Errorf("stored = %v, want %v (Cache-Status %q)", res.Info.Stored, tc.stored, res.Header.Get("Cache-Status"))
			}
			e.clock.Advance(30 * time.Second)
			res = e.get(o.URL + "/a")
			if hit := res.Info.FromCache && !res.Info.Revalidated; hit != tc.fresh {
				t.Errorf("at 30 s: a fresh hit %v, want %v (Cache-Status %q)", hit, tc.fresh, res.Header.Get("Cache-Status"))
			}
		})
	}
}

// qualifiedOrigin serves max-age=60 with the given Cache-Control addition
// and three extra fields, Set-Cookie, X-Secret and X-Other.
func qualifiedOrigin(e *env, cc string) *origin {
	return e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60, "+cc)
		w.Header().Set("Set-Cookie", fmt.Sprintf("session=%d", n))
		w.Header().Set("X-Secret", "s3cret")
		w.Header().Set("X-Other", "kept")
		fmt.Fprintf(w, "v%d", n)
	})
}

// expectStoredWithout checks that no stored entry holds the named fields.
func expectStoredWithout(t *testing.T, e *env, names ...string) {
	t.Helper()
	for _, en := range h4Entries(t, e) {
		for _, n := range names {
			if v := en.Header.Values(n); len(v) > 0 {
				t.Errorf("stored entry %s holds %s: %q", en.URL, n, v)
			}
		}
	}
}

func testDirectivesQualifiedNoCache(t *testing.T, s *suite) {
	// §5.2.2.4 and §3.1: no-cache="Set-Cookie, X-Secret" lets the response
	// be stored and reused without validation, without the listed fields
	// (which are never stored), in private and shared caches alike.
	for _, mode := range []struct {
		name string
		opts []core.Option
	}{{"private", nil}, {"shared", []core.Option{core.WithShared()}}} {
		t.Run(mode.name, func(t *testing.T) {
			for _, cc := range []string{`no-cache="Set-Cookie, X-Secret"`, `NO-CACHE="set-cookie,x-secret"`, `no-cache=Set-Cookie, no-cache=X-Secret`} {
				t.Run(cc, func(t *testing.T) {
					if strings.Count(cc, "no-cache=") > 1 {
						// Two different lists: the unqualified form
						// (most restrictive), revalidated on every use.
						e := s.newEnv(t, mode.opts...)
						o := qualifiedOrigin(e, cc)
						e.get(o.URL + "/a")
						res := e.get(o.URL + "/a")
						if res.Info.FromCache && !res.Info.Revalidated {
							t.Errorf("two different no-cache lists served without validation (Cache-Status %q)", res.Header.Get("Cache-Status"))
						}
						return
					}
					e := s.newEnv(t, mode.opts...)
					o := qualifiedOrigin(e, cc)
					miss := e.get(o.URL + "/a")
					if miss.Header.Get("Set-Cookie") != "session=1" || miss.Header.Get("X-Secret") == "" {
						t.Errorf("the origin's own response lost its fields: %v", miss.Header)
					}
					if !miss.Info.Stored {
						t.Fatalf("not stored (Cache-Status %q)", miss.Header.Get("Cache-Status"))
					}
					res := e.get(o.URL + "/a")
					e.expect(res, 200, "v1", true)
					e.semExpectInfo(res, true, false, false)
					for _, f := range []string{"Set-Cookie", "X-Secret"} {
						if v := res.Header.Values(f); len(v) > 0 {
							t.Errorf("hit carries %s %q, which no-cache lists", f, v)
						}
					}
					if res.Header.Get("X-Other") != "kept" {
						t.Errorf("hit lost X-Other (not listed): %v", res.Header)
					}
					e.expectHits(o, 1)
					expectStoredWithout(t, e, "Set-Cookie", "X-Secret")
				})
			}
		})
	}
}

func testDirectivesQualifiedPrivate(t *testing.T, s *suite) {
	// §5.2.2.7: private="Set-Cookie" keeps Set-Cookie out of a shared cache,
	// which stores the rest; a private cache stores it all. The unqualified
	// form keeps the whole response out of a shared cache.
	cases := []struct {
		name       string
		opts       []core.Option
		cc         string
		stored     bool
		withCookie bool
	}{
		{"private cache keeps the field", nil, `private="Set-Cookie"`, true, true},
		{"shared cache drops the field", []core.Option{core.WithShared()}, `private="Set-Cookie"`, true, false},
		{"shared cache, token form", []core.Option{core.WithShared()}, `Private=set-cookie`, true, false},
		{"shared cache, unqualified", []core.Option{core.WithShared()}, `private`, false, false},
		{"shared cache, empty list is unqualified", []core.Option{core.WithShared()}, `private=""`, false, false},
		{"shared cache, qualified and unqualified", []core.Option{core.WithShared()}, `private="Set-Cookie", private`, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, tc.opts...)
			o := qualifiedOrigin(e, tc.cc)
			if res := e.get(o.URL + "/a"); res.Info.Stored != tc.stored {
				t.Fatalf("stored = %v, want %v (Cache-Status %q)", res.Info.Stored, tc.stored, res.Header.Get("Cache-Status"))
			}
			if !tc.stored {
				e.expect(e.get(o.URL+"/a"), 200, "v2", false)
				return
			}
			res := e.get(o.URL + "/a")
			e.expect(res, 200, "v1", true)
			if got := res.Header.Get("Set-Cookie") != ""; got != tc.withCookie {
				t.Errorf("hit carries Set-Cookie %v, want %v", got, tc.withCookie)
			}
			if res.Header.Get("X-Secret") == "" || res.Header.Get("X-Other") == "" {
				t.Errorf("hit lost a field private does not list: %v", res.Header)
			}
			if !tc.withCookie {
				expectStoredWithout(t, e, "Set-Cookie")
			}
		})
	}
}

func testDirectivesQualifiedVary(t *testing.T, s *suite) {
	// A list naming a field the stored response depends on (here Vary, which
	// selects it) cannot be honoured by dropping the field: the directive
	// counts as unqualified. no-cache="Vary" then means revalidate on every
	// use, and in a shared cache private="Vary" means not stored.
	t.Run("no-cache", func(t *testing.T) {
		e := s.newEnv(t)
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", `max-age=60, no-cache="Vary"`)
			w.Header().Set("Vary", "Accept-Language")
			w.Header().Set("ETag", `"e1"`)
			if r.Header.Get("If-None-Match") == `"e1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			fmt.Fprintf(w, "%s-v%d", r.Header.Get("Accept-Language"), n)
		})
		e.expect(e.get(o.URL+"/a", "Accept-Language: en"), 200, "en-v1", false)
		res := e.get(o.URL+"/a", "Accept-Language: en")
		e.expect(res, 200, "en-v1", true)
		e.semExpectInfo(res, true, false, true)
		if res.Header.Get("Vary") != "Accept-Language" {
			t.Errorf("Vary = %q, want it kept", res.Header.Get("Vary"))
		}
		e.expect(e.get(o.URL+"/a", "Accept-Language: fr"), 200, "fr-v3", false)
	})
	t.Run("private in a shared cache", func(t *testing.T) {
		e := s.newEnv(t, core.WithShared())
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", `max-age=60, private="vary"`)
			w.Header().Set("Vary", "Accept-Language")
			fmt.Fprintf(w, "v%d", n)
		})
		if res := e.get(o.URL+"/a", "Accept-Language: en"); res.Info.Stored {
			t.Errorf("stored in a shared cache (Cache-Status %q)", res.Header.Get("Cache-Status"))
		}
	})
}
