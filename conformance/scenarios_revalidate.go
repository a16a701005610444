package conformance

// RFC 9111 §4.3: validation (conditional requests, 304 merge, replacement by
// a full response), conditional requests answered from the cache, and HEAD
// (§4.3.5).

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Revalidate/LastModifiedSendsIfModifiedSince", testRevalidateLastModified},
		{"Revalidate/CallerConditionalOnFreshEntry", testRevalidateCallerConditional},
		{"Revalidate/CallerConditionalOnStaleEntry", testRevalidateCallerConditionalStale},
		{"Revalidate/FullResponseReplacesEntry", testRevalidateFullReplace},
		{"HEAD/ServedFromStoredGET", testHEADFromGET},
		{"HEAD/FreshensOrInvalidatesGET", testHEADFreshens},
	})
}

func testRevalidateLastModified(t *testing.T, s *suite) {
	e := s.newEnv(t)
	lm := semHTTPTime(e.clock.Now().Add(-time.Hour))
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("Last-Modified", lm)
		if r.Header.Get("If-Modified-Since") == lm {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a"), 200, "v1", false)
	e.clock.Advance(20 * time.Second)
	res := e.get(o.URL + "/a")
	e.expect(res, 200, "v1", true)
	e.semExpectInfo(res, true, false, true)
	e.semExpectCS(res, "fwd=stale", "fwd-status=304")
	e.semExpectAge(res, 0)
	e.expectHits(o, 2)
	lr := o.lastRequest()
	if got := lr.Header.Get("If-Modified-Since"); got != lm {
		t.Errorf("If-Modified-Since sent to origin = %q, want %q", got, lm)
	}
	if got := lr.Header.Get("If-None-Match"); got != "" {
		t.Errorf("If-None-Match sent to origin = %q, want none (no ETag stored)", got)
	}
	// The 304 refreshed the entry: fresh again for 10 s.
	e.clock.Advance(5 * time.Second)
	e.expect(e.get(o.URL+"/a"), 200, "v1", true)
	e.expectHits(o, 2)
}

func testRevalidateCallerConditional(t *testing.T, s *suite) {
	// §4.3.2: a cache with a fresh stored response evaluates the caller's own
	// conditional request itself.
	cases := []struct {
		name   string
		hdr    func(lm, earlier string) []string
		status int
	}{
		{"If-None-Match matches", func(lm, _ string) []string { return []string{`If-None-Match: "e1"`} }, 304},
		{"If-None-Match in a list", func(lm, _ string) []string { return []string{`If-None-Match: "x", "e1"`} }, 304},
		{"If-None-Match star", func(lm, _ string) []string { return []string{`If-None-Match: *`} }, 304},
		{"If-None-Match differs", func(lm, _ string) []string { return []string{`If-None-Match: "other"`} }, 200},
		{"If-Modified-Since equals Last-Modified", func(lm, _ string) []string { return []string{"If-Modified-Since: " + lm} }, 304},
		{"If-Modified-Since before Last-Modified", func(_, earlier string) []string { return []string{"If-Modified-Since: " + earlier} }, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			lm := semHTTPTime(e.clock.Now().Add(-time.Hour))
			earlier := semHTTPTime(e.clock.Now().Add(-2 * time.Hour))
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("ETag", `"e1"`)
				w.Header().Set("Last-Modified", lm)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			res := e.get(o.URL+"/a", tc.hdr(lm, earlier)...)
			body := "v1"
			if tc.status == 304 {
				body = ""
				if got := res.Header.Get("ETag"); got != `"e1"` {
					t.Errorf("ETag on the 304 = %q, want %q", got, `"e1"`)
				}
			}
			e.expect(res, tc.status, body, true)
			e.expectHits(o, 1)
		})
	}
}

// testRevalidateCallerConditionalStale: the caller's own conditional request
// meets a stale stored response. The caller's request is forwarded as it is
// (its validators, so that the answer is for what it asked), and when the
// origin answers 304 the 304 reaches the caller and, if it selects the
// stored response by RFC 9111 §4.3.4 (a strong validator that is the stored
// one; otherwise weak validators that correspond to it; otherwise no
// validator on either side), freshens it with the 304's header fields
// (§3.2): the next unconditional request is a fresh hit, sent nowhere. A
// 304 that selects another representation leaves the stored response as it
// was, and a full response replaces it (§4.3.3).
func testRevalidateCallerConditionalStale(t *testing.T, s *suite) {
	lmTime := time.Now().Add(-time.Hour)
	lm, other := semHTTPTime(lmTime), semHTTPTime(lmTime.Add(-time.Hour))
	cases := []struct {
		name string
		// stored are the validators of the stored response; caller the
		// conditional header of the caller's request; answer those of the
		// origin's 304 (nil: the origin sends a full 200 "v2" instead).
		stored, caller, answer []string
		freshened              bool
	}{
		{name: "strong ETag of the stored response", stored: []string{`ETag: "e1"`}, caller: []string{`If-None-Match: "e1"`}, answer: []string{`ETag: "e1"`}, freshened: true},
		{name: "weak ETag of the stored response", stored: []string{`ETag: W/"e1"`}, caller: []string{`If-None-Match: W/"e1"`}, answer: []string{`ETag: W/"e1"`}, freshened: true},
		{name: "Last-Modified of the stored response", stored: []string{"Last-Modified: " + lm}, caller: []string{"If-Modified-Since: " + lm}, answer: []string{"Last-Modified: " + lm}, freshened: true},
		{name: "no validator on either side", stored: nil, caller: []string{"If-Modified-Since: " + lm}, answer: []string{}, freshened: true},
		{name: "strong ETag of another representation", stored: []string{`ETag: "e1"`}, caller: []string{`If-None-Match: "e2"`}, answer: []string{`ETag: "e2"`}},
		{name: "strong ETag against a weak stored one", stored: []string{`ETag: W/"e1"`}, caller: []string{`If-None-Match: W/"e1"`}, answer: []string{`ETag: "e1"`}},
		{name: "other Last-Modified", stored: []string{"Last-Modified: " + lm}, caller: []string{"If-Modified-Since: " + other}, answer: []string{"Last-Modified: " + other}},
		{name: "no validator on the 304, one stored", stored: []string{`ETag: "e1"`}, caller: []string{"If-Modified-Since: " + lm}, answer: []string{}},
		{name: "full response", stored: []string{`ETag: "e1"`}, caller: []string{`If-None-Match: "e1"`}, answer: nil},
	}
	set := func(w http.ResponseWriter, fields []string) {
		for _, f := range fields {
			k, v, _ := strings.Cut(f, ":")
			w.Header().Set(k, strings.TrimSpace(v))
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				switch {
				case n == 1:
					w.Header().Set("Cache-Control", "max-age=10")
					set(w, tc.stored)
					fmt.Fprint(w, "v1")
				case n == 2 && tc.answer != nil:
					w.Header().Set("Cache-Control", "max-age=60")
					w.Header().Set("X-Updated", "by the 304")
					set(w, tc.answer)
					w.WriteHeader(http.StatusNotModified)
				default:
					w.Header().Set("Cache-Control", "max-age=60")
					fmt.Fprintf(w, "v%d", n)
				}
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(20 * time.Second) // stale

			res := e.get(o.URL+"/a", tc.caller...)
			h4Hits(t, o, 2, "the caller's conditional request")
			k, v, _ := strings.Cut(tc.caller[0], ":")
			if got := o.lastRequest().Header.Get(k); got != strings.TrimSpace(v) {
				t.Errorf("%s sent to the origin = %q, want the caller's %q", k, got, strings.TrimSpace(v))
			}
			if tc.answer == nil {
				e.expect(res, 200, "v2", false)
				if !res.Info.Stored {
					t.Errorf("the full response was not stored (Cache-Status %q)", res.Header.Get("Cache-Status"))
				}
				e.expect(e.get(o.URL+"/a"), 200, "v2", true)
				h4Hits(t, o, 2, "after the full response")
				return
			}
			if res.Status != http.StatusNotModified || res.Body != "" {
				t.Errorf("caller got %d %q, want the origin's 304", res.Status, res.Body)
			}
			e.semExpectCS(res, "fwd=stale")
			if params, _ := semCacheStatus(res.Header); (params["fwd-status"] == "304") != tc.freshened {
				t.Errorf("Cache-Status %q: fwd-status=304 present %v, want %v (it says the stored response was freshened)", res.Header.Get("Cache-Status"), !tc.freshened, tc.freshened)
			}
			if res.Info.Revalidated != tc.freshened {
				t.Errorf("Info.Revalidated = %v, want %v", res.Info.Revalidated, tc.freshened)
			}

			next := e.get(o.URL + "/a")
			if tc.freshened {
				// Fresh for 60 s from the 304, with its header fields.
				e.expect(next, 200, "v1", true)
				h4Hits(t, o, 2, "the next unconditional request")
				if got := next.Header.Get("X-Updated"); got != "by the 304" {
					t.Errorf("X-Updated on the freshened response = %q, want the 304's", got)
				}
				return
			}
			// Still stale: the next request goes to the origin again.
			if o.hits() != 3 {
				t.Errorf("origin hits after the next unconditional request = %d, want 3 (the stored response was not freshened)", o.hits())
			}
			if next.Header.Get("X-Updated") != "" {
				t.Errorf("the 304's header fields reached the stored response: X-Updated %q", next.Header.Get("X-Updated"))
			}
		})
	}
}

func testRevalidateFullReplace(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		etag, cc := `"e1"`, "max-age=10"
		if n > 1 {
			etag, cc = `"e2"`, "max-age=60"
		}
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("ETag", etag)
		if strings.Contains(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a"), 200, "v1", false)
	e.clock.Advance(20 * time.Second)
	res := e.get(o.URL + "/a")
	e.expect(res, 200, "v2", false)
	if !res.Info.Stored {
		t.Errorf("Info.Stored = false, want true: a 200 answering a revalidation replaces the entry")
	}
	if got := o.lastRequest().Header.Get("If-None-Match"); got != `"e1"` {
		t.Errorf("If-None-Match sent to origin = %q, want %q", got, `"e1"`)
	}
	e.clock.Advance(30 * time.Second)
	e.expect(e.get(o.URL+"/a"), 200, "v2", true)
	e.expectHits(o, 2)
	e.clock.Advance(40 * time.Second) // 70 s after the replacement: stale
	res = e.get(o.URL + "/a")
	e.expect(res, 200, "v2", true)
	e.semExpectInfo(res, true, false, true)
	if got := o.lastRequest().Header.Get("If-None-Match"); got != `"e2"` {
		t.Errorf("If-None-Match sent to origin = %q, want %q (the replacement's validator)", got, `"e2"`)
	}
	e.expectHits(o, 3)
}

func testHEADFromGET(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"e1"`)
		w.Header().Set("X-Custom", fmt.Sprintf("c%d", n))
		fmt.Fprintf(w, "hello-v%d", n)
	})
	e.expect(e.get(o.URL+"/a"), 200, "hello-v1", false)
	res := e.must(e.req(t.Context(), http.MethodHead, o.URL+"/a", ""))
	e.expect(res, 200, "", true)
	if got := res.Header.Get("X-Custom"); got != "c1" {
		t.Errorf("X-Custom on HEAD = %q, want %q (the stored GET's header)", got, "c1")
	}
	if got := res.Header.Get("ETag"); got != `"e1"` {
		t.Errorf("ETag on HEAD = %q, want %q", got, `"e1"`)
	}
	e.semExpectAge(res, 0)
	e.expectHits(o, 1)
}

func testHEADFreshens(t *testing.T, s *suite) {
	// §4.3.5: a 200 to a HEAD whose validators match the stored GET response
	// updates its header fields (here making it fresh again); differing
	// validators make the stored GET response stale.
	cases := []struct {
		name     string
		headETag string
		fresh    bool
	}{
		{"matching ETag freshens", `"e1"`, true},
		{"differing ETag invalidates", `"e2"`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				if r.Method == http.MethodHead {
					w.Header().Set("Cache-Control", "max-age=100")
					w.Header().Set("ETag", tc.headETag)
					w.Header().Set("X-Meta", "new")
					return
				}
				w.Header().Set("Cache-Control", "max-age=10")
				w.Header().Set("ETag", `"e1"`)
				w.Header().Set("X-Meta", "old")
				fmt.Fprintf(w, "body-v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "body-v1", false)
			e.clock.Advance(20 * time.Second)
			res := e.must(e.req(t.Context(), http.MethodHead, o.URL+"/a", ""))
			if res.Status != 200 || res.Body != "" {
				t.Errorf("HEAD: got %d %q, want 200 with an empty body", res.Status, res.Body)
			}
			e.expectHits(o, 2)
			e.clock.Advance(5 * time.Second)
			res = e.get(o.URL + "/a")
			if tc.fresh {
				e.expect(res, 200, "body-v1", true)
				if got := res.Header.Get("X-Meta"); got != "new" {
					t.Errorf("X-Meta = %q, want %q (freshened by the HEAD response)", got, "new")
				}
				e.expectHits(o, 2)
			} else {
				e.expect(res, 200, "body-v3", false)
				e.expectHits(o, 3)
			}
		})
	}
}
