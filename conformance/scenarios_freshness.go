package conformance

// RFC 9111 §4.2 freshness and §4.2.3 age scenarios, plus the helpers (prefixed
// sem) shared by the RFC-semantics scenario files.

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Freshness/MaxAge", testFreshnessMaxAge},
		{"Freshness/SMaxAge", testFreshnessSMaxAge},
		{"Freshness/ExpiresMinusDate", testFreshnessExpires},
		{"Freshness/InvalidExpires", testFreshnessInvalidExpires},
		{"Freshness/MaxAgeBeatsExpires", testFreshnessMaxAgeBeatsExpires},
		{"Freshness/Heuristic", testFreshnessHeuristic},
		{"Freshness/ConflictingMaxAgeIsStale", testFreshnessDuplicateMaxAge},
		{"Age/OriginAgeHeader", testAgeOriginHeader},
		{"Age/ApparentAge", testAgeApparent},
		{"Age/ResidentTime", testAgeResident},
		{"Age/OnEveryCachedResponse", testAgeOnEveryCachedResponse},
	})
}

// ---- helpers shared by the scenarios_*.go files of this author (prefix sem) ----

// semHTTPTime formats t as an HTTP date.
func semHTTPTime(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// semCacheStatus returns the parameters of the last member of the
// Cache-Status field and whether that member is hoard's.
func semCacheStatus(h http.Header) (map[string]string, bool) {
	var last string
	for _, line := range h.Values("Cache-Status") {
		for _, m := range strings.Split(line, ",") {
			if strings.TrimSpace(m) != "" {
				last = m
			}
		}
	}
	parts := strings.Split(last, ";")
	if strings.TrimSpace(parts[0]) != core.CacheStatusName {
		return nil, false
	}
	params := map[string]string{}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return params, true
}

// semExpectCS checks that hoard's Cache-Status member is the last one and has
// every given parameter ("hit", "fwd=miss", "detail=stale", ...).
func (e *env) semExpectCS(res *result, want ...string) {
	e.t.Helper()
	params, ok := semCacheStatus(res.Header)
	if !ok {
		e.t.Errorf("Cache-Status = %q, want a last member %q with %v", res.Header.Values("Cache-Status"), core.CacheStatusName, want)
		return
	}
	for _, w := range want {
		k, v, _ := strings.Cut(w, "=")
		got, has := params[k]
		if !has || got != v {
			e.t.Errorf("Cache-Status = %q: got %s=%q (present %v), want %s", res.Header.Values("Cache-Status"), k, got, has, w)
		}
	}
}

// semExpectNoCS checks that hoard's Cache-Status member lacks the given
// parameter names.
func (e *env) semExpectNoCS(res *result, names ...string) {
	e.t.Helper()
	params, ok := semCacheStatus(res.Header)
	if !ok {
		return
	}
	for _, n := range names {
		if _, has := params[n]; has {
			e.t.Errorf("Cache-Status = %q: got parameter %q, want it absent", res.Header.Values("Cache-Status"), n)
		}
	}
}

// semExpectAge checks the Age header of a response served from the store;
// want < 0 only requires a valid Age header.
func (e *env) semExpectAge(res *result, want int) {
	e.t.Helper()
	v := res.Header.Get("Age")
	if v == "" {
		e.t.Errorf("Age header missing on a cached response (Cache-Status %q), want %d", res.Header.Get("Cache-Status"), want)
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		e.t.Errorf("Age = %q, want a non-negative integer", v)
		return
	}
	if want >= 0 && n != want {
		e.t.Errorf("Age = %d, want %d", n, want)
	}
}

// semExpectInfo checks the flags of a result's Info.
func (e *env) semExpectInfo(res *result, fromCache, stale, revalidated bool) {
	e.t.Helper()
	in := res.Info
	if in.FromCache != fromCache || in.Stale != stale || in.Revalidated != revalidated {
		e.t.Errorf("Info{FromCache:%v Stale:%v Revalidated:%v}, want {FromCache:%v Stale:%v Revalidated:%v} (Cache-Status %q)",
			in.FromCache, in.Stale, in.Revalidated, fromCache, stale, revalidated, res.Header.Get("Cache-Status"))
	}
}

// semRaw writes a raw HTTP/1.1 response on the hijacked connection, so that
// the origin can send what net/http's server would correct (for example a
// Content-Length on a 304). The connection is closed afterwards.
func semRaw(w http.ResponseWriter, statusLine string, hdr ...string) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(fmt.Sprintf("hijack: %v", err))
	}
	defer conn.Close()
	semWriteRaw(buf, statusLine, hdr)
}

func semWriteRaw(buf *bufio.ReadWriter, statusLine string, hdr []string) {
	buf.WriteString(statusLine + "\r\n")
	for _, h := range hdr {
		buf.WriteString(h + "\r\n")
	}
	buf.WriteString("Connection: close\r\n\r\n")
	_ = buf.Flush()
}

// semWaitFor polls cond until it holds or timeout passes (used only to line
// up concurrent requests, never to wait for expiry).
func semWaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
	return true
}

// ---- scenarios ----

func testFreshnessMaxAge(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	})
	res := e.get(o.URL + "/a")
	e.expect(res, 200, "v1", false)
	e.semExpectCS(res, "fwd=miss", "stored")
	if !res.Info.Stored {
		t.Errorf("Info.Stored = false, want true on the first response")
	}
	res = e.get(o.URL + "/a")
	e.expect(res, 200, "v1", true)
	e.semExpectCS(res, "hit")
	e.clock.Advance(59 * time.Second)
	e.expect(e.get(o.URL+"/a"), 200, "v1", true)
	e.clock.Advance(2 * time.Second)
	e.expect(e.get(o.URL+"/a"), 200, "v2", false)
	e.expectHits(o, 2)
}

func testFreshnessSMaxAge(t *testing.T, s *suite) {
	cases := []struct {
		name   string
		opts   []core.Option
		at50   bool // fresh 50 s after storing
		at101  bool // fresh 101 s after storing
		header string
	}{
		{"private cache ignores s-maxage", nil, false, false, "max-age=10, s-maxage=100"},
		{"shared cache uses s-maxage", []core.Option{core.WithShared()}, true, false, "max-age=10, s-maxage=100"},
		{"shared cache s-maxage shorter than max-age", []core.Option{core.WithShared()}, false, false, "max-age=1000, s-maxage=20"},
		{"private cache max-age longer than s-maxage", nil, true, true, "max-age=1000, s-maxage=20"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, tc.opts...)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", tc.header)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(50 * time.Second)
			res := e.get(o.URL + "/a")
			if res.Info.FromCache != tc.at50 {
				t.Errorf("at 50s: FromCache = %v, want %v (Cache-Control %q)", res.Info.FromCache, tc.at50, tc.header)
			}
			if tc.at50 {
				e.clock.Advance(51 * time.Second)
				res = e.get(o.URL + "/a")
				if res.Info.FromCache != tc.at101 {
					t.Errorf("at 101s: FromCache = %v, want %v (Cache-Control %q)", res.Info.FromCache, tc.at101, tc.header)
				}
			}
		})
	}
}

func testFreshnessExpires(t *testing.T, s *suite) {
	cases := []struct {
		name      string
		dateSkew  time.Duration // origin Date relative to the clock
		lifetime  time.Duration // Expires - Date
		freshAt   time.Duration
		staleAt   time.Duration
		wantAgeAt int // Age on the hit at freshAt
	}{
		{"Expires 100s after Date", 0, 100 * time.Second, 99 * time.Second, 101 * time.Second, 99},
		// The origin's clock is 1000 s ahead: the lifetime is Expires − Date
		// (100 s), not Expires − now (1100 s); the apparent age is clamped to 0.
		{"origin clock ahead", 1000 * time.Second, 100 * time.Second, 50 * time.Second, 101 * time.Second, 50},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			start := e.clock.Now()
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				date := start.Add(tc.dateSkew)
				w.Header().Set("Date", semHTTPTime(date))
				w.Header().Set("Expires", semHTTPTime(date.Add(tc.lifetime)))
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(tc.freshAt)
			res := e.get(o.URL + "/a")
			e.expect(res, 200, "v1", true)
			e.semExpectAge(res, tc.wantAgeAt)
			e.clock.Advance(tc.staleAt - tc.freshAt)
			e.expect(e.get(o.URL+"/a"), 200, "v2", false)
			e.expectHits(o, 2)
		})
	}
}

func testFreshnessInvalidExpires(t *testing.T, s *suite) {
	// An invalid Expires means "already expired" (RFC 9111 §5.3), so neither
	// a stored lifetime nor the Last-Modified heuristic may make it fresh.
	for _, exp := range []string{"0", "garbage", "-1", ""} {
		t.Run(fmt.Sprintf("Expires=%q", exp), func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header()["Expires"] = []string{exp}
				w.Header().Set("Last-Modified", semHTTPTime(e.clock.Now().Add(-10*24*time.Hour)))
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(time.Second)
			e.expect(e.get(o.URL+"/a"), 200, "v2", false)
			e.expectHits(o, 2)
		})
	}
	t.Run("Expires in the past", func(t *testing.T) {
		e := s.newEnv(t)
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Expires", semHTTPTime(e.clock.Now().Add(-time.Hour)))
			w.Header().Set("Last-Modified", semHTTPTime(e.clock.Now().Add(-10*24*time.Hour)))
			fmt.Fprintf(w, "v%d", n)
		})
		e.expect(e.get(o.URL+"/a"), 200, "v1", false)
		e.expect(e.get(o.URL+"/a"), 200, "v2", false)
		e.expectHits(o, 2)
	})
}

func testFreshnessMaxAgeBeatsExpires(t *testing.T, s *suite) {
	cases := []struct {
		name      string
		maxAge    int
		expiresIn time.Duration
		check     time.Duration
		fresh     bool
	}{
		{"max-age=100 with Expires in the past", 100, -time.Hour, 50 * time.Second, true},
		{"max-age=10 with Expires an hour ahead", 10, time.Hour, 20 * time.Second, false},
		{"max-age=0 with Expires an hour ahead", 0, time.Hour, time.Second, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", tc.maxAge))
				w.Header().Set("Expires", semHTTPTime(e.clock.Now().Add(tc.expiresIn)))
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(tc.check)
			if tc.fresh {
				e.expect(e.get(o.URL+"/a"), 200, "v1", true)
				e.expectHits(o, 1)
			} else {
				e.expect(e.get(o.URL+"/a"), 200, "v2", false)
				e.expectHits(o, 2)
			}
		})
	}
}

func testFreshnessHeuristic(t *testing.T, s *suite) {
	cases := []struct {
		name     string
		status   int
		lmAgo    time.Duration // Date − Last-Modified
		freshAt  time.Duration // still fresh at (0: never fresh)
		staleAt  time.Duration
		cacheble bool
	}{
		{"200 gets 10% of 1000s", 200, 1000 * time.Second, 99 * time.Second, 101 * time.Second, true},
		{"404 is heuristically cacheable", 404, 1000 * time.Second, 99 * time.Second, 101 * time.Second, true},
		{"299 is not heuristically cacheable", 299, 1000 * time.Second, 0, time.Second, false},
		{"cap at 24h", 200, 100 * 24 * time.Hour, 23 * time.Hour, 25 * time.Hour, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, core.WithAllowableCodes(200, 404, 299))
			lm := semHTTPTime(e.clock.Now().Add(-tc.lmAgo))
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Last-Modified", lm)
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), tc.status, "v1", false)
			if tc.freshAt > 0 {
				e.clock.Advance(tc.freshAt)
				e.expect(e.get(o.URL+"/a"), tc.status, "v1", true)
				e.expectHits(o, 1)
			}
			e.clock.Advance(tc.staleAt - tc.freshAt)
			// The origin ignores If-Modified-Since: a stale entry yields the new body.
			e.expect(e.get(o.URL+"/a"), tc.status, "v2", false)
			e.expectHits(o, 2)
		})
	}
}

// testFreshnessDuplicateMaxAge: RFC 9111 §4.2.1 lets a cache use the first
// of several max-age directives or consider the response stale; hoard takes
// the second, the restrictive reading, whatever their order. Equal
// duplicates are one directive.
func testFreshnessDuplicateMaxAge(t *testing.T, s *suite) {
	cases := []struct {
		name  string
		lines []string
		fresh bool // at 30 s
	}{
		{"same line 60 then 10", []string{"max-age=60, max-age=10"}, false},
		{"same line 10 then 60", []string{"max-age=10, max-age=60"}, false},
		{"two lines 60 then 10", []string{"max-age=60", "max-age=10"}, false},
		{"two lines 10 then 60", []string{"max-age=10", "max-age=60"}, false},
		{"equal values", []string{"max-age=60, MAX-AGE=60", `max-age="60"`}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header()["Cache-Control"] = tc.lines
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(30 * time.Second)
			if tc.fresh {
				e.expect(e.get(o.URL+"/a"), 200, "v1", true)
			} else {
				e.expect(e.get(o.URL+"/a"), 200, "v2", false)
			}
		})
	}
}

func testAgeOriginHeader(t *testing.T, s *suite) {
	// max-age=60 with Age: 50 leaves 10 s of freshness.
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Age", "50")
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a"), 200, "v1", false)
	res := e.get(o.URL + "/a")
	e.expect(res, 200, "v1", true)
	e.semExpectAge(res, 50)
	e.clock.Advance(9 * time.Second)
	res = e.get(o.URL + "/a")
	e.expect(res, 200, "v1", true)
	e.semExpectAge(res, 59)
	e.clock.Advance(2 * time.Second)
	e.expect(e.get(o.URL+"/a"), 200, "v2", false)
	e.expectHits(o, 2)
}

func testAgeApparent(t *testing.T, s *suite) {
	// A Date 50 s before the response was received counts as 50 s of age.
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Date", semHTTPTime(e.clock.Now().Add(-50*time.Second)))
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a"), 200, "v1", false)
	res := e.get(o.URL + "/a")
	e.expect(res, 200, "v1", true)
	e.semExpectAge(res, 50)
	e.clock.Advance(11 * time.Second)
	e.expect(e.get(o.URL+"/a"), 200, "v2", false)
	e.expectHits(o, 2)
}

func testAgeResident(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a"), 200, "v1", false)
	steps := []struct {
		advance time.Duration
		age     int
	}{{0, 0}, {10 * time.Second, 10}, {100 * time.Second, 110}, {time.Hour - 111*time.Second, 3599}}
	for _, st := range steps {
		e.clock.Advance(st.advance)
		res := e.get(o.URL + "/a")
		e.expect(res, 200, "v1", true)
		e.semExpectAge(res, st.age)
	}
	e.expectHits(o, 1)
}

func testAgeOnEveryCachedResponse(t *testing.T, s *suite) {
	// Fresh hit, revalidated (304), stale under max-stale, stale-if-error:
	// each is served from the store and carries Age.
	e := s.newEnv(t, core.WithStaleIfError(time.Hour))
	var fail atomic.Bool
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"e1"`)
		if r.Header.Get("If-None-Match") == `"e1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a"), 200, "v1", false)

	e.clock.Advance(5 * time.Second)
	res := e.get(o.URL + "/a")
	e.expect(res, 200, "v1", true)
	e.semExpectAge(res, 5)

	e.clock.Advance(10 * time.Second) // age 15: stale
	res = e.get(o.URL+"/a", "Cache-Control: max-stale=100")
	e.expect(res, 200, "v1", true)
	e.semExpectInfo(res, true, true, false)
	e.semExpectAge(res, 15)

	res = e.get(o.URL + "/a") // revalidated by a 304 with a new Date
	e.expect(res, 200, "v1", true)
	e.semExpectInfo(res, true, false, true)
	e.semExpectAge(res, 0)

	e.clock.Advance(30 * time.Second)
	fail.Store(true)
	res = e.get(o.URL + "/a")
	e.expect(res, 200, "v1", true)
	e.semExpectInfo(res, true, true, false)
	e.semExpectAge(res, 30)
}

// ---- RFC 9111 §5.2 directives and §3.5 (shared caches) ----

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Directives/ResponseNoStore", testDirectivesResponseNoStore},
		{"Directives/ResponseNoCache", testDirectivesResponseNoCache},
		{"Directives/Private", testDirectivesPrivate},
		{"Directives/MustRevalidateNeverStale", testDirectivesMustRevalidate},
		{"Directives/ProxyRevalidate", testDirectivesProxyRevalidate},
		{"Directives/ImmutableUnderAlwaysRevalidate", testDirectivesImmutable},
		{"Directives/MustUnderstand", testDirectivesMustUnderstand},
		{"Directives/RequestMaxAge", testDirectivesRequestMaxAge},
		{"Directives/RequestMinFresh", testDirectivesRequestMinFresh},
		{"Directives/RequestMaxStale", testDirectivesRequestMaxStale},
		{"Directives/RequestNoCache", testDirectivesRequestNoCache},
		{"Directives/RequestNoStore", testDirectivesRequestNoStore},
		{"Directives/RequestOnlyIfCached", testDirectivesOnlyIfCached},
		{"Shared/Authorization", testSharedAuthorization},
	})
}

// semValidatingOrigin answers 304 to a request whose If-None-Match names etag,
// otherwise 200 "v<n>"; both carry cc and etag.
func (e *env) semValidatingOrigin(cc, etag string) *origin {
	return e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("ETag", etag)
		if strings.Contains(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprintf(w, "v%d", n)
	})
}

func testDirectivesResponseNoStore(t *testing.T, s *suite) {
	for _, cc := range []string{"no-store, max-age=60", "max-age=60, no-store", "public, max-age=60, no-store"} {
		t.Run(cc, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", cc)
				fmt.Fprintf(w, "v%d", n)
			})
			res := e.get(o.URL + "/a")
			e.expect(res, 200, "v1", false)
			if res.Info.Stored {
				t.Errorf("Info.Stored = true, want false for %q", cc)
			}
			e.semExpectNoCS(res, "stored")
			e.expect(e.get(o.URL+"/a"), 200, "v2", false)
			e.expectHits(o, 2)
		})
	}
}

func testDirectivesResponseNoCache(t *testing.T, s *suite) {
	// Stored, but revalidated on every use; a 304 serves the stored body.
	e := s.newEnv(t)
	o := e.semValidatingOrigin("no-cache, max-age=60", `"e1"`)
	res := e.get(o.URL + "/a")
	e.expect(res, 200, "v1", false)
	if !res.Info.Stored {
		t.Errorf("Info.Stored = false, want true (no-cache responses are stored)")
	}
	for i := 2; i <= 3; i++ {
		res = e.get(o.URL + "/a")
		e.expect(res, 200, "v1", true)
		e.semExpectInfo(res, true, false, true)
		e.semExpectCS(res, "fwd=request", "fwd-status=304")
		e.expectHits(o, i)
		if got := o.lastRequest().Header.Get("If-None-Match"); got != `"e1"` {
			t.Errorf("If-None-Match sent to origin = %q, want %q", got, `"e1"`)
		}
	}
}

func testDirectivesPrivate(t *testing.T, s *suite) {
	cases := []struct {
		name   string
		opts   []core.Option
		stored bool
	}{
		{"private cache stores private", nil, true},
		{"shared cache does not store private", []core.Option{core.WithShared()}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, tc.opts...)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "private, max-age=60")
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			if tc.stored {
				e.expect(e.get(o.URL+"/a"), 200, "v1", true)
				e.expectHits(o, 1)
			} else {
				e.expect(e.get(o.URL+"/a"), 200, "v2", false)
				e.expectHits(o, 2)
			}
		})
	}
}

func testDirectivesMustRevalidate(t *testing.T, s *suite) {
	t.Run("request max-stale", func(t *testing.T) {
		e := s.newEnv(t)
		o := e.semValidatingOrigin("max-age=10, must-revalidate", `"e1"`)
		e.expect(e.get(o.URL+"/a"), 200, "v1", false)
		e.clock.Advance(20 * time.Second)
		res := e.get(o.URL+"/a", "Cache-Control: max-stale=1000")
		e.expect(res, 200, "v1", true)
		e.semExpectInfo(res, true, false, true) // revalidated, not served stale
		e.expectHits(o, 2)
	})
	t.Run("WithStaleIfError and a 503", func(t *testing.T) {
		e := s.newEnv(t, core.WithStaleIfError(time.Hour))
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			if n > 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, "down")
				return
			}
			w.Header().Set("Cache-Control", "max-age=10, must-revalidate")
			fmt.Fprintf(w, "v%d", n)
		})
		e.expect(e.get(o.URL+"/a"), 200, "v1", false)
		e.clock.Advance(20 * time.Second)
		res := e.get(o.URL + "/a")
		e.expect(res, 503, "down", false)
		if res.Info.Stale {
			t.Errorf("Info.Stale = true, want false: must-revalidate forbids serving stale")
		}
	})
	t.Run("response stale-if-error and a transport error", func(t *testing.T) {
		e := s.newEnv(t)
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=10, must-revalidate, stale-if-error=3600")
			fmt.Fprintf(w, "v%d", n)
		})
		e.expect(e.get(o.URL+"/a"), 200, "v1", false)
		o.Down()
		e.clock.Advance(20 * time.Second)
		res, err := e.send(e.req(t.Context(), http.MethodGet, o.URL+"/a", ""))
		if err == nil {
			t.Errorf("got status %d body %q (Cache-Status %q), want the transport error: must-revalidate forbids stale-if-error",
				res.Status, res.Body, res.Header.Get("Cache-Status"))
		}
	})
	t.Run("only-if-cached", func(t *testing.T) {
		// §5.2.2.2: a cache that cannot reach the origin must answer an error (504), not the stale response.
		e := s.newEnv(t, core.WithStaleIfError(time.Hour))
		o := e.semValidatingOrigin("max-age=10, must-revalidate", `"e1"`)
		e.expect(e.get(o.URL+"/a"), 200, "v1", false)
		e.clock.Advance(20 * time.Second)
		res := e.getCtx(core.OnlyIfCached(t.Context()), o.URL+"/a")
		if res.Status != http.StatusGatewayTimeout {
			t.Errorf("status = %d, want 504 (stale must-revalidate response under only-if-cached)", res.Status)
		}
		e.expectHits(o, 1)
	})
}

func testDirectivesProxyRevalidate(t *testing.T, s *suite) {
	cases := []struct {
		name       string
		opts       []core.Option
		servedStal bool
	}{
		{"private cache ignores proxy-revalidate", nil, true},
		{"shared cache treats it as must-revalidate", []core.Option{core.WithShared()}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, tc.opts...)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=10, proxy-revalidate")
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(20 * time.Second)
			res := e.get(o.URL+"/a", "Cache-Control: max-stale=1000")
			if tc.servedStal {
				e.expect(res, 200, "v1", true)
				e.semExpectInfo(res, true, true, false)
				e.semExpectCS(res, "hit", "detail=stale")
				e.expectHits(o, 1)
			} else {
				e.expect(res, 200, "v2", false)
				e.expectHits(o, 2)
			}
		})
	}
}

func testDirectivesImmutable(t *testing.T, s *suite) {
	cases := []struct {
		name        string
		cc          string
		revalidated bool
	}{
		{"immutable fresh response not revalidated", "max-age=60, immutable", false},
		{"mutable fresh response revalidated", "max-age=60", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, core.WithAlwaysRevalidate())
			o := e.semValidatingOrigin(tc.cc, `"e1"`)
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(10 * time.Second)
			res := e.get(o.URL + "/a")
			e.expect(res, 200, "v1", true)
			if tc.revalidated {
				e.semExpectInfo(res, true, false, true)
				e.semExpectCS(res, "fwd=request", "fwd-status=304")
				e.expectHits(o, 2)
			} else {
				e.semExpectInfo(res, true, false, false)
				e.semExpectCS(res, "hit")
				e.expectHits(o, 1)
			}
		})
	}
}

func testDirectivesMustUnderstand(t *testing.T, s *suite) {
	cases := []struct {
		name   string
		status int
		cc     string
		stored bool
	}{
		{"known status overrides no-store", 200, "must-understand, no-store, max-age=60", true},
		{"unknown status keeps no-store", 299, "must-understand, no-store, max-age=60", false},
		{"no-store alone", 200, "no-store, max-age=60", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, core.WithAllowableCodes(200, 299))
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", tc.cc)
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), tc.status, "v1", false)
			if tc.stored {
				e.expect(e.get(o.URL+"/a"), tc.status, "v1", true)
				e.expectHits(o, 1)
			} else {
				e.expect(e.get(o.URL+"/a"), tc.status, "v2", false)
				e.expectHits(o, 2)
			}
		})
	}
}

func testDirectivesRequestMaxAge(t *testing.T, s *suite) {
	cases := []struct {
		name      string
		respCC    string
		advance   time.Duration
		reqCC     string
		fromCache bool
	}{
		// cache-tests ccreq-magreaterage: a larger request max-age does not
		// extend the response's own lifetime.
		{"request max-age does not extend lifetime", "max-age=60", 120 * time.Second, "max-age=3600", false},
		{"age above request max-age", "max-age=3600", 30 * time.Second, "max-age=10", false},
		{"age below request max-age", "max-age=3600", 30 * time.Second, "max-age=60", true},
		{"request max-age=0", "max-age=3600", time.Second, "max-age=0", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", tc.respCC)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(tc.advance)
			if tc.fromCache {
				e.expect(e.get(o.URL+"/a", "Cache-Control: "+tc.reqCC), 200, "v1", true)
				e.expectHits(o, 1)
			} else {
				e.expect(e.get(o.URL+"/a", "Cache-Control: "+tc.reqCC), 200, "v2", false)
				e.expectHits(o, 2)
			}
		})
	}
}

func testDirectivesRequestMinFresh(t *testing.T, s *suite) {
	cases := []struct {
		reqCC     string
		fromCache bool
	}{
		{"min-fresh=60", false}, // 50 s of freshness left
		{"min-fresh=40", true},
	}
	for _, tc := range cases {
		t.Run(tc.reqCC, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=100")
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(50 * time.Second)
			if tc.fromCache {
				e.expect(e.get(o.URL+"/a", "Cache-Control: "+tc.reqCC), 200, "v1", true)
				e.expectHits(o, 1)
			} else {
				e.expect(e.get(o.URL+"/a", "Cache-Control: "+tc.reqCC), 200, "v2", false)
				e.expectHits(o, 2)
			}
		})
	}
}

func testDirectivesRequestMaxStale(t *testing.T, s *suite) {
	// max-age=10, requested at age 30: 20 s stale.
	cases := []struct {
		name  string
		hdr   []string
		stale bool
	}{
		{"bare max-stale", []string{"Cache-Control: max-stale"}, true},
		{"max-stale=30", []string{"Cache-Control: max-stale=30"}, true},
		{"max-stale=5", []string{"Cache-Control: max-stale=5"}, false},
		{"no max-stale", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=10")
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(30 * time.Second)
			res := e.get(o.URL+"/a", tc.hdr...)
			if tc.stale {
				e.expect(res, 200, "v1", true)
				e.semExpectInfo(res, true, true, false)
				e.semExpectCS(res, "hit", "detail=stale")
				e.semExpectAge(res, 30)
				e.expectHits(o, 1)
			} else {
				e.expect(res, 200, "v2", false)
				e.expectHits(o, 2)
			}
		})
	}
}

func testDirectivesRequestNoCache(t *testing.T, s *suite) {
	cases := []struct {
		name        string
		hdr         []string
		revalidated bool
	}{
		{"Cache-Control: no-cache", []string{"Cache-Control: no-cache"}, true},
		{"Pragma: no-cache", []string{"Pragma: no-cache"}, true},
		// §5.4: Pragma is ignored when the request has Cache-Control.
		{"Pragma ignored beside Cache-Control", []string{"Pragma: no-cache", "Cache-Control: max-stale=10"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.semValidatingOrigin("max-age=60", `"e1"`)
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			res := e.get(o.URL+"/a", tc.hdr...)
			e.expect(res, 200, "v1", true)
			if !tc.revalidated {
				e.semExpectInfo(res, true, false, false)
				e.expectHits(o, 1)
				return
			}
			e.semExpectInfo(res, true, false, true)
			e.semExpectCS(res, "fwd=request", "fwd-status=304")
			e.expectHits(o, 2)
			if got := o.lastRequest().Header.Get("If-None-Match"); got != `"e1"` {
				t.Errorf("If-None-Match sent to origin = %q, want %q", got, `"e1"`)
			}
		})
	}
}

func testDirectivesRequestNoStore(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	})
	res := e.get(o.URL+"/a", "Cache-Control: no-store")
	e.expect(res, 200, "v1", false)
	if res.Info.Stored {
		t.Errorf("Info.Stored = true, want false for a request with no-store")
	}
	e.expect(e.get(o.URL+"/a"), 200, "v2", false) // nothing was stored
	// A stored response may still answer a no-store request, and that
	// request neither replaces nor removes it.
	e.expect(e.get(o.URL+"/a", "Cache-Control: no-store"), 200, "v2", true)
	e.expect(e.get(o.URL+"/a"), 200, "v2", true)
	e.expectHits(o, 2)
}

func testDirectivesOnlyIfCached(t *testing.T, s *suite) {
	ways := []struct {
		name string
		get  func(e *env, url string) *result
	}{
		{"request header", func(e *env, url string) *result { return e.get(url, "Cache-Control: only-if-cached") }},
		{"core.OnlyIfCached", func(e *env, url string) *result { return e.getCtx(core.OnlyIfCached(e.t.Context()), url) }},
	}
	for _, way := range ways {
		t.Run(way.name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=60")
				fmt.Fprintf(w, "v%d", n)
			})
			res := way.get(e, o.URL+"/a")
			if res.Status != http.StatusGatewayTimeout {
				t.Errorf("cold: status = %d, want 504", res.Status)
			}
			if !res.Info.Synthetic || res.Info.FromCache {
				t.Errorf("cold: Info{Synthetic:%v FromCache:%v}, want Synthetic and not FromCache (no stored response)", res.Info.Synthetic, res.Info.FromCache)
			}
			e.semExpectCS(res, "detail=only-if-cached")
			e.expectHits(o, 0)

			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.expect(way.get(e, o.URL+"/a"), 200, "v1", true)
			e.expectHits(o, 1)

			e.clock.Advance(61 * time.Second) // stale, no stale-if-error window
			res = way.get(e, o.URL+"/a")
			if res.Status != http.StatusGatewayTimeout {
				t.Errorf("stale: status = %d, want 504", res.Status)
			}
			e.expectHits(o, 1)
		})
	}
	t.Run("stale within stale-if-error", func(t *testing.T) {
		e := s.newEnv(t, core.WithStaleIfError(time.Hour))
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			fmt.Fprintf(w, "v%d", n)
		})
		e.expect(e.get(o.URL+"/a"), 200, "v1", false)
		e.clock.Advance(61 * time.Second)
		res := e.get(o.URL+"/a", "Cache-Control: only-if-cached")
		e.expect(res, 200, "v1", true)
		if !res.Info.Stale {
			t.Errorf("Info.Stale = false, want true")
		}
		e.expectHits(o, 1)
	})
}

func testSharedAuthorization(t *testing.T, s *suite) {
	cases := []struct {
		name   string
		shared bool
		cc     string
		stored bool
	}{
		{"shared max-age", true, "max-age=60", false},
		{"shared public", true, "public, max-age=60", true},
		{"shared s-maxage", true, "s-maxage=60", true},
		{"shared must-revalidate", true, "max-age=60, must-revalidate", true},
		{"private max-age", false, "max-age=60", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []core.Option
			if tc.shared {
				opts = append(opts, core.WithShared())
			}
			e := s.newEnv(t, opts...)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", tc.cc)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a", "Authorization: Bearer t1"), 200, "v1", false)
			if tc.stored {
				e.expect(e.get(o.URL+"/a", "Authorization: Bearer t1"), 200, "v1", true)
				e.expectHits(o, 1)
			} else {
				e.expect(e.get(o.URL+"/a", "Authorization: Bearer t1"), 200, "v2", false)
				e.expectHits(o, 2)
			}
		})
	}
}
