package conformance

// Regressions for bugs peer libraries shipped (reference/peers.md §6). Other
// peer bugs are covered by topic scenarios: upstream Age (Age/OriginAgeHeader),
// request max-age (Directives/RequestMaxAge), stale-if-error keyed on the
// wrong response (StaleIfError/Matrix), SWR on the caller's context
// (StaleWhileRevalidate/CancelledCallerContext), no coalescing
// (Concurrency/*), write amplification (Concurrency/FreshHitNoStoreWrite).

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Peers/304MergeFreshensWithoutFramingHeaders", testPeers304Merge},
		{"Peers/MaxAgeZeroIsNotAbsent", testPeersMaxAgeZero},
		{"Peers/MissingDateStillFresh", testPeersMissingDate},
		{"Peers/CaseInsensitiveDirectives", testPeersCaseInsensitive},
		{"Peers/GETAfterPOSTGoesToOrigin", testPeersGETAfterPOST},
	})
}

func testPeers304Merge(t *testing.T, s *suite) {
	// Peer bug 1: (a) a 304 must freshen the entry, (b) its Content-Length
	// must not be copied, (c) a caller without conditionals never sees a 304.
	e := s.newEnv(t)
	const body = "hello world"
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Cache-Control", "max-age=10")
			w.Header().Set("ETag", `"e1"`)
			fmt.Fprint(w, body)
			return
		}
		if !strings.Contains(r.Header.Get("If-None-Match"), `"e1"`) {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, "expected a conditional request")
			return
		}
		semRaw(w, "HTTP/1.1 304 Not Modified",
			"Date: "+semHTTPTime(e.clock.Now()),
			`ETag: "e1"`,
			"Cache-Control: max-age=100",
			"Content-Length: 3")
	})
	checkBody := func(step string, res *result) {
		t.Helper()
		if res.Status != 200 {
			t.Errorf("%s: status = %d, want 200 (the caller sent no conditional header)", step, res.Status)
		}
		if res.Body != body {
			t.Errorf("%s: body = %q, want %q", step, res.Body, body)
		}
		if cl := res.Header.Get("Content-Length"); cl != "" && cl != fmt.Sprint(len(body)) {
			t.Errorf("%s: Content-Length = %q, want %d or none (never the 304's)", step, cl, len(body))
		}
	}
	e.expect(e.get(o.URL+"/a"), 200, body, false)

	e.clock.Advance(20 * time.Second)
	res := e.get(o.URL + "/a")
	checkBody("revalidated", res)
	e.semExpectInfo(res, true, false, true)
	e.semExpectCS(res, "fwd=stale", "fwd-status=304")
	e.semExpectAge(res, 0)
	e.expectHits(o, 2)

	e.clock.Advance(50 * time.Second) // within the 304's max-age=100
	res = e.get(o.URL + "/a")
	checkBody("after the 304", res)
	e.semExpectInfo(res, true, false, false)
	e.semExpectCS(res, "hit")
	e.semExpectAge(res, 50)
	e.expectHits(o, 2)

	// A revalidation the caller asked for while fresh (request no-cache)
	// answered 304 is still a 200 with the stored body.
	res = e.get(o.URL+"/a", "Cache-Control: no-cache")
	checkBody("request no-cache", res)
	e.semExpectInfo(res, true, false, true)
	e.semExpectCS(res, "fwd=request", "fwd-status=304")
	e.expectHits(o, 3)

	e.clock.Advance(101 * time.Second) // stale again
	res = e.get(o.URL + "/a")
	checkBody("second expiry", res)
	e.semExpectInfo(res, true, false, true)
	e.expectHits(o, 4)
}

func testPeersMaxAgeZero(t *testing.T, s *suite) {
	// bartventer treated max-age=0 as absent and fell back to the heuristic.
	for _, cc := range []string{"max-age=0", "public, max-age=0", "max-age=0, stale-if-error=0"} {
		t.Run(cc, func(t *testing.T) {
			e := s.newEnv(t)
			lm := semHTTPTime(e.clock.Now().Add(-10 * 24 * time.Hour))
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", cc)
				w.Header().Set("Last-Modified", lm)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(time.Second)
			e.expect(e.get(o.URL+"/a"), 200, "v2", false)
			e.expectHits(o, 2)
		})
	}
}

func testPeersMissingDate(t *testing.T, s *suite) {
	// gregjones never considered a response without Date fresh.
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header()["Date"] = nil // suppress the server's Date
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a"), 200, "v1", false)
	e.clock.Advance(30 * time.Second)
	res := e.get(o.URL + "/a")
	e.expect(res, 200, "v1", true)
	e.semExpectAge(res, 30)
	e.clock.Advance(31 * time.Second)
	e.expect(e.get(o.URL+"/a"), 200, "v2", false)
	e.expectHits(o, 2)
}

func testPeersCaseInsensitive(t *testing.T, s *suite) {
	cases := []struct {
		name   string
		respCC string
		reqHdr []string
		adv    time.Duration
		hit    bool
		stale  bool
	}{
		{"MAX-AGE", "MAX-AGE=60", nil, 30 * time.Second, true, false},
		{"Max-Age", "Max-Age=60", nil, 30 * time.Second, true, false},
		{"MAX-AGE expires", "MAX-AGE=60", nil, 61 * time.Second, false, false},
		{"NO-STORE", "NO-STORE, max-age=60", nil, time.Second, false, false},
		{"PRIVATE in a private cache", "PRIVATE, MAX-AGE=60", nil, time.Second, true, false},
		{"request MAX-STALE", "max-age=10", []string{"Cache-Control: MAX-STALE=100"}, 30 * time.Second, true, true},
		{"request NO-CACHE", "max-age=60", []string{"Cache-Control: NO-CACHE"}, time.Second, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", tc.respCC)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(tc.adv)
			res := e.get(o.URL+"/a", tc.reqHdr...)
			if tc.hit {
				e.expect(res, 200, "v1", true)
				if res.Info.Stale != tc.stale {
					t.Errorf("Info.Stale = %v, want %v", res.Info.Stale, tc.stale)
				}
				e.expectHits(o, 1)
			} else {
				e.expect(res, 200, "v2", false)
				e.expectHits(o, 2)
			}
		})
	}
}

func testPeersGETAfterPOST(t *testing.T, s *suite) {
	// gregjones keyed POST apart from GET, so GET → POST → GET served the
	// old GET; and gregjones#50 served a POST response to a GET.
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, "post-v%d", n)
			return
		}
		fmt.Fprintf(w, "get-v%d", n)
	})
	e.expect(e.get(o.URL+"/a"), 200, "get-v1", false)
	e.expect(e.get(o.URL+"/a"), 200, "get-v1", true)
	res := e.must(e.req(t.Context(), http.MethodPost, o.URL+"/a", "x=1"))
	e.expect(res, 201, "post-v2", false)
	e.expect(e.get(o.URL+"/a"), 200, "get-v3", false)
	e.expect(e.get(o.URL+"/a"), 200, "get-v3", true)
	e.expectHits(o, 3)
	if inv := e.cache.Stats().Invalidations; inv < 1 {
		t.Errorf("Stats().Invalidations = %d, want at least 1", inv)
	}
}
