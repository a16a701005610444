package conformance

// RFC 9111 §4.4: invalidation after a non-error response to an unsafe method
// (peer bug 2: every key dimension, Location and Content-Location).

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Invalidate/UnsafeMethods", testInvalidateUnsafeMethods},
		{"Invalidate/ErrorResponsesInvalidateNothing", testInvalidateErrorStatus},
		{"Invalidate/LocationAndContentLocation", testInvalidateLocation},
		{"Invalidate/EveryVariant", testInvalidateVariants},
		{"Invalidate/MatchedHeaderPartitions", testInvalidateMatchHeaders},
		{"Invalidate/HEADEntry", testInvalidateHEAD},
		{"Invalidate/NormalisedTargetURI", testInvalidateNormalised},
	})
}

// semInvalidationOrigin serves GETs (and HEADs) with max-age=3600 and a body
// "<path>-v<n>", and answers every other method with status.
func (e *env) semInvalidationOrigin(status int, extra func(w http.ResponseWriter, r *http.Request)) *origin {
	return e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if extra != nil {
				extra(w, r)
			}
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprintf(w, "%s-v%d", r.URL.Path, n)
	})
}

func testInvalidateUnsafeMethods(t *testing.T, s *suite) {
	cases := []struct {
		method string
		status int
	}{
		{http.MethodPost, http.StatusCreated},
		{http.MethodPost, http.StatusOK},
		{http.MethodPut, http.StatusOK},
		{http.MethodDelete, http.StatusNoContent},
		{http.MethodPatch, http.StatusOK},
		{"PURGEX", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %d", tc.method, tc.status), func(t *testing.T) {
			e := s.newEnv(t)
			o := e.semInvalidationOrigin(tc.status, nil)
			e.expect(e.get(o.URL+"/a"), 200, "/a-v1", false)
			e.expect(e.get(o.URL+"/a"), 200, "/a-v1", true)
			res := e.must(e.req(t.Context(), tc.method, o.URL+"/a", `{"x":1}`))
			if res.Status != tc.status {
				t.Errorf("%s: status = %d, want %d", tc.method, res.Status, tc.status)
			}
			e.expect(e.get(o.URL+"/a"), 200, "/a-v3", false)
			e.expect(e.get(o.URL+"/a"), 200, "/a-v3", true)
			e.expectHits(o, 3)
		})
	}
}

func testInvalidateErrorStatus(t *testing.T, s *suite) {
	for _, status := range []int{400, 404, 409, 500, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := s.newEnv(t)
			o := e.semInvalidationOrigin(status, nil)
			e.expect(e.get(o.URL+"/a"), 200, "/a-v1", false)
			res := e.must(e.req(t.Context(), http.MethodPost, o.URL+"/a", "x=1"))
			if res.Status != status {
				t.Errorf("POST: status = %d, want %d", res.Status, status)
			}
			e.expect(e.get(o.URL+"/a"), 200, "/a-v1", true)
			e.expectHits(o, 2)
		})
	}
}

func testInvalidateLocation(t *testing.T, s *suite) {
	e := s.newEnv(t)
	b := e.semInvalidationOrigin(http.StatusOK, nil)
	a := e.semInvalidationOrigin(http.StatusCreated, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/target": // same origin: relative Location, absolute Content-Location
			w.Header().Set("Location", "/loc")
			w.Header().Set("Content-Location", "http://"+r.Host+"/cloc")
		case "/target2": // another origin (other port)
			w.Header().Set("Location", b.URL+"/x")
			w.Header().Set("Content-Location", b.URL+"/y")
		}
	})
	urls := []string{a.URL + "/target", a.URL + "/loc", a.URL + "/cloc", a.URL + "/other", b.URL + "/x", b.URL + "/y"}
	for _, u := range urls {
		e.get(u)
	}
	for _, u := range urls {
		if res := e.get(u); !res.Info.FromCache {
			t.Fatalf("GET %s not stored (Cache-Status %q); the scenario needs it cached", u, res.Header.Get("Cache-Status"))
		}
	}
	if res := e.must(e.req(t.Context(), http.MethodPost, a.URL+"/target", "x=1")); res.Status != 201 {
		t.Fatalf("POST /target: status = %d, want 201", res.Status)
	}
	for _, tc := range []struct {
		url       string
		fromCache bool
	}{
		{a.URL + "/target", false}, {a.URL + "/loc", false}, {a.URL + "/cloc", false}, {a.URL + "/other", true},
	} {
		if res := e.get(tc.url); res.Info.FromCache != tc.fromCache {
			t.Errorf("GET %s after POST /target: FromCache = %v, want %v", tc.url, res.Info.FromCache, tc.fromCache)
		}
	}
	if res := e.must(e.req(t.Context(), http.MethodPost, a.URL+"/target2", "x=1")); res.Status != 201 {
		t.Fatalf("POST /target2: status = %d, want 201", res.Status)
	}
	for _, u := range []string{b.URL + "/x", b.URL + "/y"} {
		if res := e.get(u); !res.Info.FromCache {
			t.Errorf("GET %s after POST /target2: FromCache = false, want true (cross-origin Location/Content-Location are not invalidated)", u)
		}
	}
}

func testInvalidateVariants(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "%s-v%d", r.Header.Get("Accept-Language"), n)
	})
	e.expect(e.get(o.URL+"/a", "Accept-Language: en"), 200, "en-v1", false)
	e.expect(e.get(o.URL+"/a", "Accept-Language: fr"), 200, "fr-v2", false)
	e.expect(e.get(o.URL+"/a", "Accept-Language: en"), 200, "en-v1", true)
	e.expect(e.get(o.URL+"/a", "Accept-Language: fr"), 200, "fr-v2", true)
	e.must(e.req(t.Context(), http.MethodPost, o.URL+"/a", "x=1"))
	e.expect(e.get(o.URL+"/a", "Accept-Language: en"), 200, "en-v4", false)
	e.expect(e.get(o.URL+"/a", "Accept-Language: fr"), 200, "fr-v5", false)
	e.expectHits(o, 5)
}

func testInvalidateMatchHeaders(t *testing.T, s *suite) {
	e := s.newEnv(t, core.WithMatchHeaders("X-Tenant"))
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprintf(w, "%s-v%d", r.Header.Get("X-Tenant"), n)
	})
	e.expect(e.get(o.URL+"/a", "X-Tenant: a"), 200, "a-v1", false)
	e.expect(e.get(o.URL+"/a", "X-Tenant: b"), 200, "b-v2", false)
	e.expect(e.get(o.URL+"/a", "X-Tenant: a"), 200, "a-v1", true)
	e.expect(e.get(o.URL+"/a", "X-Tenant: b"), 200, "b-v2", true)
	e.must(e.req(t.Context(), http.MethodPost, o.URL+"/a", "x=1")) // carries no X-Tenant
	e.expect(e.get(o.URL+"/a", "X-Tenant: a"), 200, "a-v4", false)
	e.expect(e.get(o.URL+"/a", "X-Tenant: b"), 200, "b-v5", false)
	e.expectHits(o, 5)
}

func testInvalidateHEAD(t *testing.T, s *suite) {
	e := s.newEnv(t)
	var heads, gets atomic.Int64
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.Method {
		case http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			return
		case http.MethodHead:
			heads.Add(1)
		case http.MethodGet:
			gets.Add(1)
		}
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprintf(w, "v%d", n)
	})
	head := func() *result { return e.must(e.req(t.Context(), http.MethodHead, o.URL+"/a", "")) }
	if res := head(); res.Info.FromCache {
		t.Errorf("first HEAD: FromCache = true, want false")
	}
	if res := head(); !res.Info.FromCache {
		t.Errorf("second HEAD: FromCache = false, want true (HEAD responses are stored by default)")
	}
	e.expect(e.get(o.URL+"/a"), 200, "v2", false)
	e.get(o.URL + "/a")
	if h, g := heads.Load(), gets.Load(); h != 1 || g != 1 {
		t.Fatalf("before POST: origin saw %d HEAD and %d GET, want 1 and 1", h, g)
	}
	e.must(e.req(t.Context(), http.MethodPost, o.URL+"/a", "x=1"))
	if res := head(); res.Info.FromCache {
		t.Errorf("HEAD after POST: FromCache = true, want false (the HEAD entry is invalidated)")
	}
	if res := e.get(o.URL + "/a"); res.Info.FromCache {
		t.Errorf("GET after POST: FromCache = true, want false")
	}
	if h, g := heads.Load(), gets.Load(); h != 2 || g != 2 {
		t.Errorf("after POST: origin saw %d HEAD and %d GET, want 2 and 2", h, g)
	}
}

func testInvalidateNormalised(t *testing.T, s *suite) {
	// The unsafe request reaches the entry whatever the spelling of its URL:
	// query order and an ignored credential parameter do not matter.
	e := s.newEnv(t)
	o := e.semInvalidationOrigin(http.StatusOK, nil)
	e.expect(e.get(o.URL+"/a?b=2&a=1"), 200, "/a-v1", false)
	e.expect(e.get(o.URL+"/a?a=1&b=2"), 200, "/a-v1", true)
	e.must(e.req(t.Context(), http.MethodPut, o.URL+"/a?a=1&api_key=secret&b=2", "x=1"))
	e.expect(e.get(o.URL+"/a?b=2&a=1"), 200, "/a-v3", false)
	e.expectHits(o, 3)
}
