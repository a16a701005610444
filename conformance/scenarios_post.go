package conformance

// RFC 9110 §9.3.3 and RFC 9111 §4: a response to POST with explicit
// freshness and a Content-Location equal to the target URI can answer a
// later GET or HEAD of that URI; never a POST.

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
		{"POST/ContentLocationAnswersGET", testPOSTAnswersGET},
		{"POST/NotReusedOtherwise", testPOSTNotReused},
	})
}

// postOrigin answers POST with status, the given Cache-Control and
// Content-Location (CL=TARGET is the request's own path and query), and a
// body "post-v<n>"; GET with max-age=60 and "get-v<n>".
func postOrigin(e *env, status int, cc, cl string) *origin {
	return e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method == http.MethodPost {
			if cc != "" {
				w.Header().Set("Cache-Control", cc)
			}
			switch cl {
			case "":
			case "TARGET":
				w.Header().Set("Content-Location", r.URL.RequestURI())
			case "ABSOLUTE":
				w.Header().Set("Content-Location", "HTTP://"+strings.ToUpper(r.Host)+r.URL.RequestURI())
			default:
				w.Header().Set("Content-Location", cl)
			}
			w.Header().Set("X-From", "post")
			w.WriteHeader(status)
			fmt.Fprintf(w, "post-v%d", n)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "get-v%d", n)
	})
}

func testPOSTAnswersGET(t *testing.T, s *suite) {
	// Content-Location as the request's own path, as an absolute URI
	// (scheme and host case do not matter, RFC 3986 §6.2.2), and relative.
	for _, cl := range []string{"TARGET", "ABSOLUTE", "a?x=1"} {
		t.Run(cl, func(t *testing.T) {
			e := s.newEnv(t)
			o := postOrigin(e, http.StatusOK, "max-age=60", cl)
			u := o.URL + "/a?x=1"
			e.expect(e.get(u), 200, "get-v1", false)
			e.expect(e.get(u), 200, "get-v1", true)
			res := e.must(e.req(t.Context(), http.MethodPost, u, "x=1"))
			e.expect(res, 200, "post-v2", false)
			e.semExpectCS(res, "fwd=method", "stored")
			if !res.Info.Stored {
				t.Errorf("Info.Stored = false on the POST whose response was stored")
			}
			e.clock.Advance(30 * time.Second)
			get := e.get(u)
			e.expect(get, 200, "post-v2", true)
			if get.Header.Get("X-From") != "post" {
				t.Errorf("GET served a response without the POST's fields: %v", get.Header)
			}
			e.expect(e.must(e.req(t.Context(), http.MethodHead, u, "")), 200, "", true)
			e.expectHits(o, 2)
			// A POST is never answered from the cache.
			if res := e.must(e.req(t.Context(), http.MethodPost, u, "x=1")); res.Info.FromCache {
				t.Errorf("a POST was answered from the cache")
			}
			e.expectHits(o, 3)
			e.clock.Advance(61 * time.Second)
			e.expect(e.get(u), 200, "get-v4", false)
		})
	}
}

func testPOSTNotReused(t *testing.T, s *suite) {
	cases := []struct {
		name   string
		opts   []core.Option
		status int
		cc, cl string
	}{
		{"no explicit freshness", nil, 200, "", "TARGET"},
		{"public is not explicit freshness", nil, 200, "public", "TARGET"},
		{"no Content-Location", nil, 200, "max-age=60", ""},
		{"another Content-Location", nil, 200, "max-age=60", "/b"},
		{"another query", nil, 200, "max-age=60", "/a?x=2"},
		{"another origin", nil, 200, "max-age=60", "http://other.example/a?x=1"},
		{"201", nil, 201, "max-age=60", "TARGET"},
		{"no-store", nil, 200, "max-age=60, no-store", "TARGET"},
		{"private in a shared cache", []core.Option{core.WithShared()}, 200, "max-age=60, private", "TARGET"},
		{"Cache-Control not honoured", []core.Option{core.WithCacheControl(false)}, 200, "max-age=60", "TARGET"},
		{"read-only", []core.Option{core.WithReadOnly()}, 200, "max-age=60", "TARGET"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, tc.opts...)
			o := postOrigin(e, tc.status, tc.cc, tc.cl)
			u := o.URL + "/a?x=1"
			res := e.must(e.req(t.Context(), http.MethodPost, u, "x=1"))
			if res.Info.Stored {
				t.Errorf("the POST's response was stored (Cache-Status %q)", res.Header.Get("Cache-Status"))
			}
			got := e.get(u)
			if got.Info.FromCache {
				t.Errorf("GET answered from the cache with %q", got.Body)
			}
			if got.Body != "get-v2" {
				t.Errorf("GET body %q, want the origin's get-v2", got.Body)
			}
		})
	}
}
