package conformance

// RFC 9111 §4.3.2 and RFC 9110 §13: the caller's own conditional requests
// answered from the cache, the 304 built from a stored response (RFC 9110
// §15.4.5), the preconditions only an origin can evaluate; and §4.3.4: which
// 304 freshens which stored response.

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Conditional/NotModifiedFromCacheFields", testConditionalFields},
		{"Conditional/IfNoneMatch", testConditionalIfNoneMatch},
		{"Conditional/IfModifiedSince", testConditionalIfModifiedSince},
		{"Conditional/OnlyStored200", testConditionalOnly200},
		{"Conditional/OriginOnlyPreconditions", testConditionalOriginOnly},
		{"Conditional/StaleServedWithinMaxStale", testConditionalMaxStale},
		{"Conditional/FreshenSelection", testConditionalFreshenSelection},
	})
}

// conditionalOrigin serves max-age=600 with ETag "e1", a Last-Modified an
// hour before the scenario's start and more fields, and counts requests.
func conditionalOrigin(e *env, lm time.Time) *origin {
	return e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		h := w.Header()
		h.Set("Cache-Control", "max-age=600")
		h.Set("ETag", `"e1"`)
		h.Set("Last-Modified", semHTTPTime(lm))
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Language", "en")
		h.Set("Content-Location", "/a.txt")
		h.Set("Expires", semHTTPTime(e.clock.Now().Add(600*time.Second)))
		h.Set("Vary", "Accept-Encoding")
		h.Set("X-Custom", "c")
		fmt.Fprintf(w, "v%d", n)
	})
}

func testConditionalFields(t *testing.T, s *suite) {
	// RFC 9110 §15.4.5: the 304 carries the fields a 200 would for
	// Cache-Control, Content-Location, Date, ETag, Expires and Vary (and
	// Last-Modified, which guides the caller's cache), no representation
	// metadata beyond that, and no content.
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			e := s.newEnv(t)
			lm := e.clock.Now().Add(-time.Hour)
			o := conditionalOrigin(e, lm)
			full := e.get(o.URL + "/a")
			e.clock.Advance(10 * time.Second)
			res := e.must(e.req(t.Context(), method, o.URL+"/a", "", `If-None-Match: "e1"`))
			e.expect(res, http.StatusNotModified, "", true)
			e.expectHits(o, 1)
			for _, k := range []string{"Cache-Control", "Content-Location", "Date", "Etag", "Expires", "Vary", "Last-Modified"} {
				if got, want := res.Header.Values(k), full.Header.Values(k); !slices.Equal(got, want) {
					t.Errorf("304 %s = %q, want the stored %q", k, got, want)
				}
			}
			for _, k := range []string{"Content-Type", "Content-Language", "Content-Length", "X-Custom"} {
				if v, ok := res.Header[k]; ok {
					t.Errorf("304 carries %s %q", k, v)
				}
			}
			e.semExpectAge(res, 10)
			e.semExpectCS(res, "hit")
			if res.ContentLength > 0 {
				t.Errorf("304 ContentLength = %d, want no content", res.ContentLength)
			}
			// The stored response is intact for the next caller.
			next := e.get(o.URL + "/a")
			e.expect(next, 200, "v1", true)
			if next.Header.Get("X-Custom") != "c" || next.Header.Get("Content-Type") == "" {
				t.Errorf("the stored response lost fields after a 304 was built from it: %v", next.Header)
			}
		})
	}
}

func testConditionalIfNoneMatch(t *testing.T, s *suite) {
	// RFC 9110 §13.1.2 (weak comparison, lists, "*") and §13.2.2 (If-None-Match
	// takes precedence over If-Modified-Since).
	cases := []struct {
		name   string
		etag   string // of the stored response
		hdr    []string
		status int
	}{
		{"same strong tag", `"e1"`, []string{`If-None-Match: "e1"`}, 304},
		{"weak request tag, strong stored", `"e1"`, []string{`If-None-Match: W/"e1"`}, 304},
		{"strong request tag, weak stored", `W/"e1"`, []string{`If-None-Match: "e1"`}, 304},
		{"weak both", `W/"e1"`, []string{`If-None-Match: W/"e1"`}, 304},
		{"other tag", `"e1"`, []string{`If-None-Match: "e2"`}, 200},
		{"in a list", `"e1"`, []string{`If-None-Match: "a", "b", "e1"`}, 304},
		{"in a second field line", `"e1"`, []string{`If-None-Match: "a"`, `If-None-Match: "e1"`}, 304},
		{"list without it", `"e1"`, []string{`If-None-Match: "a", "b"`}, 200},
		{"a comma inside a tag", `"e1,x"`, []string{`If-None-Match: "e1,x"`}, 304},
		{"part of a tag with a comma", `"e1,x"`, []string{`If-None-Match: "e1"`}, 200},
		{"star", `"e1"`, []string{`If-None-Match: *`}, 304},
		{"star without a stored tag", ``, []string{`If-None-Match: *`}, 304},
		{"a tag without a stored tag", ``, []string{`If-None-Match: "e1"`}, 200},
		{"unquoted tag is invalid", `"e1"`, []string{`If-None-Match: e1`}, 200},
		{"lower-case weak prefix is invalid", `"e1"`, []string{`If-None-Match: w/"e1"`}, 200},
		{"not matching wins over a matching If-Modified-Since", `"e1"`, []string{`If-None-Match: "e2"`, "If-Modified-Since: NOW"}, 200},
		{"matching wins over a failing If-Modified-Since", `"e1"`, []string{`If-None-Match: "e1"`, "If-Modified-Since: LONG-AGO"}, 304},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			lm := e.clock.Now().Add(-time.Hour)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=600")
				if tc.etag != "" {
					w.Header().Set("ETag", tc.etag)
				}
				w.Header().Set("Last-Modified", semHTTPTime(lm))
				fmt.Fprintf(w, "v%d", n)
			})
			e.get(o.URL + "/a")
			hdr := make([]string, len(tc.hdr))
			for i, h := range tc.hdr {
				h = strings.Replace(h, "NOW", semHTTPTime(e.clock.Now()), 1)
				hdr[i] = strings.Replace(h, "LONG-AGO", semHTTPTime(lm.Add(-24*time.Hour)), 1)
			}
			res := e.get(o.URL+"/a", hdr...)
			body := "v1"
			if tc.status == 304 {
				body = ""
			}
			e.expect(res, tc.status, body, true)
			e.expectHits(o, 1)
		})
	}
}

func testConditionalIfModifiedSince(t *testing.T, s *suite) {
	// RFC 9110 §13.1.3 and RFC 9111 §4.3.2: against the stored
	// Last-Modified, or without one its Date; ignored when not exactly one
	// valid HTTP-date.
	cases := []struct {
		name   string
		lm     bool // the stored response has Last-Modified (an hour back)
		ims    []string
		status int
	}{
		{"equal to Last-Modified", true, []string{"LM"}, 304},
		{"after Last-Modified", true, []string{"LM+1s"}, 304},
		{"before Last-Modified", true, []string{"LM-1s"}, 200},
		{"against Date without Last-Modified", false, []string{"DATE"}, 304},
		{"before Date without Last-Modified", false, []string{"LM"}, 200},
		{"two field lines are ignored", true, []string{"LM", "LM"}, 200},
		{"not an HTTP-date is ignored", true, []string{"yesterday"}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			start := e.clock.Now()
			lm := start.Add(-time.Hour)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=600")
				if tc.lm {
					w.Header().Set("Last-Modified", semHTTPTime(lm))
				}
				fmt.Fprintf(w, "v%d", n)
			})
			e.get(o.URL + "/a")
			e.clock.Advance(time.Minute)
			var hdr []string
			for _, v := range tc.ims {
				switch v {
				case "LM":
					v = semHTTPTime(lm)
				case "LM+1s":
					v = semHTTPTime(lm.Add(time.Second))
				case "LM-1s":
					v = semHTTPTime(lm.Add(-time.Second))
				case "DATE":
					v = semHTTPTime(start)
				}
				hdr = append(hdr, "If-Modified-Since: "+v)
			}
			res := e.get(o.URL+"/a", hdr...)
			body := "v1"
			if tc.status == 304 {
				body = ""
			}
			e.expect(res, tc.status, body, true)
			e.expectHits(o, 1)
		})
	}
}

func testConditionalOnly200(t *testing.T, s *suite) {
	// §4.3.2 evaluates preconditions against a stored 200; for another
	// stored status the origin would ignore them too (RFC 9110 §13.2.1), so
	// the stored response is served as it is.
	for _, status := range []int{404, 410, 301} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("ETag", `"e1"`)
				w.WriteHeader(status)
				fmt.Fprintf(w, "v%d", n)
			})
			e.get(o.URL + "/a")
			for _, h := range []string{`If-None-Match: "e1"`, `If-None-Match: *`, "If-Modified-Since: " + semHTTPTime(e.clock.Now())} {
				e.expect(e.get(o.URL+"/a", h), status, "v1", true)
			}
			e.expectHits(o, 1)
		})
	}
}

func testConditionalOriginOnly(t *testing.T, s *suite) {
	// If-Match and If-Unmodified-Since only apply to an origin (§4.3.2): the
	// request goes there as it is, even with a fresh stored response, and
	// its 412 answers the caller without being stored.
	for _, h := range []string{`If-Match: "other"`, "If-Unmodified-Since: LONG-AGO"} {
		t.Run(strings.SplitN(h, ":", 2)[0], func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("ETag", `"e1"`)
				w.Header().Set("Last-Modified", semHTTPTime(e.clock.Now().Add(-time.Hour)))
				if r.Header.Get("If-Match") != "" || r.Header.Get("If-Unmodified-Since") != "" {
					w.WriteHeader(http.StatusPreconditionFailed)
					return
				}
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			hdr := strings.Replace(h, "LONG-AGO", semHTTPTime(e.clock.Now().Add(-24*time.Hour)), 1)
			res := e.get(o.URL+"/a", hdr)
			if res.Status != http.StatusPreconditionFailed || res.Info.FromCache {
				t.Errorf("got %d FromCache %v, want the origin's 412", res.Status, res.Info.FromCache)
			}
			e.expectHits(o, 2)
			e.expect(e.get(o.URL+"/a"), 200, "v1", true)
			e.expectHits(o, 2)
			// With only-if-cached the origin may not be asked, and the
			// cache cannot evaluate the precondition: 504.
			res = e.get(o.URL+"/a", hdr, "Cache-Control: only-if-cached")
			if res.Status != http.StatusGatewayTimeout {
				t.Errorf("only-if-cached with %s: status %d, want 504", hdr, res.Status)
			}
			e.expectHits(o, 2)
		})
	}
}

func testConditionalMaxStale(t *testing.T, s *suite) {
	// A stale response the request accepts (max-stale) is one the cache may
	// use, so its conditional is evaluated against it too.
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"e1"`)
		fmt.Fprintf(w, "v%d", n)
	})
	e.get(o.URL + "/a")
	e.clock.Advance(time.Minute)
	res := e.get(o.URL+"/a", "Cache-Control: max-stale=3600", `If-None-Match: "e1"`)
	e.expect(res, http.StatusNotModified, "", true)
	e.semExpectCS(res, "hit", "detail=stale")
	e.expectHits(o, 1)
}

func testConditionalFreshenSelection(t *testing.T, s *suite) {
	// §4.3.4 for the cache's own revalidation of a stale response with
	// ETag "e1" and a Last-Modified: the 304 freshens it when a strong
	// validator in it is "e1", or weak validators correspond and none
	// contradicts, or it has no validator at all (the request named this one
	// response; see notModifiedSelects); otherwise the cache fetches the
	// response again without validators. The freshened response takes the
	// 304's fields, a weaker or new ETag included.
	cases := []struct {
		name      string
		stored    []string
		answer    []string
		freshened bool
		etag      string // the freshened response's ETag
	}{
		{"same strong tag", []string{`ETag: "e1"`}, []string{`ETag: "e1"`}, true, `"e1"`},
		{"no validator", []string{`ETag: "e1"`}, nil, true, `"e1"`},
		{"weak form of the stored strong tag", []string{`ETag: "e1"`}, []string{`ETag: W/"e1"`}, true, `W/"e1"`},
		{"same Last-Modified, a weak tag where none was stored", []string{"Last-Modified: LM"}, []string{"Last-Modified: LM", `ETag: W/"n1"`}, true, `W/"n1"`},
		{"same Last-Modified in another HTTP-date format", []string{"Last-Modified: LM"}, []string{"Last-Modified: LM-ASCTIME"}, true, ""},
		{"other strong tag", []string{`ETag: "e1"`}, []string{`ETag: "e2"`}, false, ""},
		{"strong tag where none was stored", []string{"Last-Modified: LM"}, []string{"Last-Modified: LM", `ETag: "n1"`}, false, ""},
		{"other weak tag", []string{`ETag: W/"e1"`}, []string{`ETag: W/"e2"`}, false, ""},
		{"weak tag matches, Last-Modified contradicts", []string{`ETag: W/"e1"`, "Last-Modified: LM"}, []string{`ETag: W/"e1"`, "Last-Modified: LM-1h"}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			lm := e.clock.Now().Add(-time.Hour)
			val := func(v string) string {
				switch v {
				case "LM":
					return semHTTPTime(lm)
				case "LM-1h":
					return semHTTPTime(lm.Add(-time.Hour))
				case "LM-ASCTIME":
					return lm.UTC().Format("Mon Jan _2 15:04:05 2006")
				}
				return v
			}
			set := func(w http.ResponseWriter, fields []string) {
				for _, f := range fields {
					k, v, _ := strings.Cut(f, ":")
					w.Header().Set(k, val(strings.TrimSpace(v)))
				}
			}
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				conditional := r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != ""
				switch {
				case n == 2 && conditional:
					w.Header().Set("Cache-Control", "max-age=600")
					w.Header().Set("X-Updated", "by the 304")
					set(w, tc.answer)
					w.WriteHeader(http.StatusNotModified)
				default:
					w.Header().Set("Cache-Control", "max-age=10")
					set(w, tc.stored)
					fmt.Fprintf(w, "v%d", n)
				}
			})
			e.get(o.URL + "/a")
			e.clock.Advance(time.Minute)
			res := e.get(o.URL + "/a")
			if !tc.freshened {
				// Fetched again without validators: a new full response.
				e.expect(res, 200, "v3", false)
				e.expectHits(o, 3)
				if lr := o.lastRequest(); lr.Header.Get("If-None-Match") != "" || lr.Header.Get("If-Modified-Since") != "" {
					t.Errorf("the second fetch was conditional: %v", lr.Header)
				}
				return
			}
			e.expect(res, 200, "v1", true)
			e.semExpectInfo(res, true, false, true)
			if res.Header.Get("X-Updated") != "by the 304" {
				t.Errorf("X-Updated = %q, want the 304's", res.Header.Get("X-Updated"))
			}
			if got := res.Header.Get("ETag"); got != tc.etag {
				t.Errorf("ETag after the 304 = %q, want %q", got, tc.etag)
			}
			e.clock.Advance(5 * time.Minute)
			e.expect(e.get(o.URL+"/a"), 200, "v1", true)
			e.expectHits(o, 2)
		})
	}
}
