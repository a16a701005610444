package conformance

// RFC 9110 §14 and RFC 9111 §3.3: Range requests answered from a stored
// complete response (206, 416, If-Range), Range requests the cache does not
// answer (forwarded as they are, the origin's 206 not stored), and ranges of
// streamed bodies that cross segment boundaries.

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Range/PartialFromStore", testRangePartial},
		{"Range/StreamedAcrossSegments", testRangeStreamed},
		{"Range/Unsatisfiable", testRangeUnsatisfiable},
		{"Range/IgnoredServesWhole", testRangeIgnored},
		{"Range/IfRange", testRangeIfRange},
		{"Range/NotModifiedWins", testRangeNotModifiedWins},
		{"Range/MissForwarded", testRangeMiss},
		{"Range/StaleRevalidatedFirst", testRangeStale},
		{"Range/ContentEncodingBytes", testRangeEncoded},
	})
}

// rangeBody is the n-byte body the range scenarios serve: position-dependent
// bytes, so that a range from the wrong offset shows.
func rangeBody(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(i+i/36)%36]
	}
	return string(b)
}

// rangeOrigin serves body as a 200 with max-age=600, a strong ETag, a
// Last-Modified an hour before the scenario's start and a Content-Type,
// ignoring any Range (so what the cache answers is its own doing).
func rangeOrigin(e *env, body string, extra ...string) *origin {
	lm := e.clock.Now().Add(-time.Hour)
	return e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		h := w.Header()
		h.Set("Cache-Control", "max-age=600")
		h.Set("ETag", `"r1"`)
		h.Set("Last-Modified", semHTTPTime(lm))
		h.Set("Content-Type", "application/octet-stream")
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		fmt.Fprint(w, body)
	})
}

// expectPartial checks a 206 for bytes [first, last] of body, served from
// the cache.
func (e *env) expectPartial(res *result, body string, first, last int) {
	e.t.Helper()
	want := body[first : last+1]
	if res.Status != http.StatusPartialContent {
		e.t.Fatalf("status = %d, want 206 (Cache-Status %q)", res.Status, res.Header.Get("Cache-Status"))
	}
	if res.Body != want {
		e.t.Errorf("body = %d bytes %.40q…, want bytes %d-%d: %.40q…", len(res.Body), res.Body, first, last, want)
	}
	if got, cr := res.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", first, last, len(body)); got != cr {
		e.t.Errorf("Content-Range = %q, want %q (RFC 9110 §14.4)", got, cr)
	}
	if got := res.Header.Get("Content-Length"); got != strconv.Itoa(len(want)) {
		e.t.Errorf("Content-Length = %q, want %d (RFC 9110 §15.3.7)", got, len(want))
	}
	if res.ContentLength != int64(len(want)) {
		e.t.Errorf("ContentLength = %d, want %d", res.ContentLength, len(want))
	}
	for _, k := range []string{"Etag", "Date", "Cache-Control"} {
		if res.Header.Get(k) == "" {
			e.t.Errorf("the 206 lacks the stored %s (RFC 9110 §15.3.7)", k)
		}
	}
	if !res.Info.FromCache {
		e.t.Errorf("FromCache = false, want true (Cache-Status %q)", res.Header.Get("Cache-Status"))
	}
}

func testRangePartial(t *testing.T, s *suite) {
	// RFC 9110 §14.1.2, §14.2, §15.3.7.1: one range of a fresh stored 200,
	// in each form, answered from the store with a 206.
	body := rangeBody(100)
	cases := []struct {
		spec        string
		first, last int
	}{
		{"bytes=0-9", 0, 9},
		{"bytes=10-19", 10, 19},
		{"bytes=5-5", 5, 5},
		{"bytes=90-", 90, 99},
		{"bytes=90-1000", 90, 99},
		{"bytes=-10", 90, 99},
		{"bytes=-1000", 0, 99},
		{"bytes=0-", 0, 99},
		{"BYTES=1-2", 1, 2},
		{"bytes= 3-4", 3, 4},
		{"bytes=1-99999999999999999999999", 1, 99},
	}
	e := s.newEnv(t)
	o := rangeOrigin(e, body)
	e.expect(e.get(o.URL+"/r"), 200, body, false)
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			e.t = t
			res := e.get(o.URL+"/r", "Range: "+tc.spec)
			e.expectPartial(res, body, tc.first, tc.last)
			if cs, _ := semCacheStatus(res.Header); !hasKey(cs, "hit") {
				t.Errorf("Cache-Status of the 206 does not say hit: %q", res.Header.Get("Cache-Status"))
			}
			if res.Header.Get("Content-Type") == "" || res.Header.Get("Last-Modified") == "" {
				t.Errorf("the 206 lacks the stored representation fields (RFC 9110 §15.3.7): %v", res.Header)
			}
		})
	}
	e.t = t
	e.expectHits(o, 1)
}

func testRangeStreamed(t *testing.T, s *suite) {
	// RFC 9110 §14.1.2 over a body streamed into the store (with a
	// streaming store; others hold it whole): ranges that start, end and
	// cross 64 KiB stream segment boundaries, the last byte, and the
	// whole body, each checked byte for byte.
	const seg = core.StreamSegmentSize
	body := rangeBody(5*seg + 1234)
	e := s.newEnv(t, core.WithStreamThreshold(16<<10))
	o := rangeOrigin(e, body)
	e.expect(e.get(o.URL+"/big"), 200, body, false)
	if _, ok := unwrapStore(e.store).(core.Streamer); ok {
		streamed := false
		for rec, err := range e.cache.Records(t.Context()) {
			if err != nil {
				t.Fatalf("Records: %v", err)
			}
			streamed = streamed || rec.Streamed
		}
		if !streamed {
			t.Fatalf("a %d-byte body was not streamed into a streaming store", len(body))
		}
	}
	n := len(body)
	cases := [][2]int{
		{0, 0}, {seg - 1, seg}, {seg, seg}, {seg, 2*seg - 1}, {seg - 10, 3*seg + 10},
		{2*seg + 5, n - 1}, {n - 1, n - 1}, {5 * seg, n - 1}, {0, n - 1}, {4*seg + 7, 4*seg + 700},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d-%d", c[0], c[1]), func(t *testing.T) {
			e.t = t
			e.expectPartial(e.get(o.URL+"/big", fmt.Sprintf("Range: bytes=%d-%d", c[0], c[1])), body, c[0], c[1])
		})
	}
	t.Run("suffix", func(t *testing.T) {
		e.t = t
		e.expectPartial(e.get(o.URL+"/big", "Range: bytes=-70000"), body, n-70000, n-1)
	})
	e.t = t
	e.expectHits(o, 1)
}

func testRangeUnsatisfiable(t *testing.T, s *suite) {
	// RFC 9110 §14.1.2, §15.5.17: no satisfiable range gives a 416 with
	// Content-Range: bytes */length, from the cache, no content.
	body := rangeBody(100)
	for _, spec := range []string{"bytes=100-", "bytes=500-600", "bytes=-0", "bytes=200-,300-400"} {
		t.Run(spec, func(t *testing.T) {
			e := s.newEnv(t)
			o := rangeOrigin(e, body)
			e.get(o.URL + "/r")
			res := e.get(o.URL+"/r", "Range: "+spec)
			e.expect(res, http.StatusRequestedRangeNotSatisfiable, "", true)
			if got := res.Header.Get("Content-Range"); got != "bytes */100" {
				t.Errorf("Content-Range = %q, want %q", got, "bytes */100")
			}
			if res.Header.Get("Etag") != `"r1"` || res.Header.Get("Date") == "" {
				t.Errorf("the 416 lacks the stored ETag or Date: %v", res.Header)
			}
			e.expectHits(o, 1)
		})
	}
}

func testRangeIgnored(t *testing.T, s *suite) {
	// RFC 9110 §14.2: several ranges (answered whole), an invalid
	// ranges-specifier, an unknown unit, and Range on HEAD (GET is the
	// only method with range handling) give the whole stored 200.
	body := rangeBody(100)
	e := s.newEnv(t)
	o := rangeOrigin(e, body)
	e.get(o.URL + "/r")
	for _, spec := range []string{"bytes=0-0,-1", "bytes=0-9,20-29", "bytes=5-4", "bytes=x-y", "bytes 0-9", "items=0-9", "bytes=", "bytes=0-1,junk"} {
		t.Run(spec, func(t *testing.T) {
			e.t = t
			res := e.get(o.URL+"/r", "Range: "+spec)
			e.expect(res, 200, body, true)
			if res.Header.Get("Content-Range") != "" {
				t.Errorf("a 200 with Content-Range %q", res.Header.Get("Content-Range"))
			}
		})
	}
	t.Run("HEAD", func(t *testing.T) {
		e.t = t
		res := e.must(e.req(t.Context(), http.MethodHead, o.URL+"/r", "", "Range: bytes=0-9"))
		e.expect(res, 200, "", true)
		if res.Header.Get("Content-Range") != "" {
			t.Errorf("HEAD answered with Content-Range %q", res.Header.Get("Content-Range"))
		}
	})
	e.t = t
	e.expectHits(o, 1)
}

func testRangeIfRange(t *testing.T, s *suite) {
	// RFC 9110 §13.1.5: If-Range with the stored strong ETag, or with the
	// stored Last-Modified when it is strong (§8.8.2.2: the Date at least
	// a second later), lets the Range apply; otherwise the whole 200.
	body := rangeBody(100)
	cases := []struct {
		name    string
		etag    string
		lmIsNow bool // Last-Modified equal to Date: a weak validator
		ifRange func(lm string) string
		partial bool
	}{
		{"matching strong ETag", `"r1"`, false, func(string) string { return `"r1"` }, true},
		{"other ETag", `"r1"`, false, func(string) string { return `"r2"` }, false},
		{"weak stored ETag", `W/"r1"`, false, func(string) string { return `"r1"` }, false},
		{"weak If-Range ETag", `"r1"`, false, func(string) string { return `W/"r1"` }, false},
		{"matching strong Last-Modified", `"r1"`, false, func(lm string) string { return lm }, true},
		{"other date", `"r1"`, false, func(string) string { return "Sun, 06 Nov 1994 08:49:37 GMT" }, false},
		{"Last-Modified equal to Date is weak", `"r1"`, true, func(lm string) string { return lm }, false},
		{"not a validator", `"r1"`, false, func(string) string { return "whenever" }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			lm := e.clock.Now().Add(-time.Hour)
			if tc.lmIsNow {
				lm = e.clock.Now()
			}
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("ETag", tc.etag)
				w.Header().Set("Last-Modified", semHTTPTime(lm))
				fmt.Fprint(w, body)
			})
			e.get(o.URL + "/r")
			res := e.get(o.URL+"/r", "Range: bytes=10-19", "If-Range: "+tc.ifRange(semHTTPTime(lm)))
			if tc.partial {
				e.expect(res, http.StatusPartialContent, body[10:20], true)
			} else {
				e.expect(res, http.StatusOK, body, true)
			}
			e.expectHits(o, 1)
		})
	}
}

func testRangeNotModifiedWins(t *testing.T, s *suite) {
	// RFC 9110 §14.2, §13.2.2: Range is evaluated after the preconditions;
	// a conditional GET that gives 304 ignores it.
	e := s.newEnv(t)
	o := rangeOrigin(e, rangeBody(100))
	e.get(o.URL + "/r")
	res := e.get(o.URL+"/r", "Range: bytes=0-9", `If-None-Match: "r1"`)
	e.expect(res, http.StatusNotModified, "", true)
	if res.Header.Get("Content-Range") != "" {
		t.Errorf("a 304 with Content-Range %q", res.Header.Get("Content-Range"))
	}
	// A precondition that fails lets the Range apply.
	e.expectPartial(e.get(o.URL+"/r", "Range: bytes=0-9", `If-None-Match: "other"`), rangeBody(100), 0, 9)
	e.expectHits(o, 1)
}

func testRangeMiss(t *testing.T, s *suite) {
	// RFC 9111 §3.3: a Range request with nothing stored is forwarded with
	// its Range; the origin's 206 reaches the caller and is not stored. A
	// 200 the origin sends instead is complete, stored, and serves later
	// ranges.
	body := rangeBody(1000)
	t.Run("206 not stored", func(t *testing.T) {
		e := s.newEnv(t)
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=600")
			w.Header().Set("ETag", `"r1"`)
			http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
		})
		res := e.get(o.URL+"/r", "Range: bytes=100-199")
		e.expect(res, http.StatusPartialContent, body[100:200], false)
		if got := o.lastRequest().Header.Get("Range"); got != "bytes=100-199" {
			t.Errorf("the origin received Range %q, want the caller's", got)
		}
		if res.Info.Stored {
			t.Errorf("a 206 was stored (Cache-Status %q)", res.Header.Get("Cache-Status"))
		}
		e.expect(e.get(o.URL+"/r"), 200, body, false)
		e.expectHits(o, 2)
		e.expectPartial(e.get(o.URL+"/r", "Range: bytes=100-199"), body, 100, 199)
		e.expectHits(o, 2)
	})
	t.Run("200 stored", func(t *testing.T) {
		e := s.newEnv(t)
		o := rangeOrigin(e, body)
		res := e.get(o.URL+"/r", "Range: bytes=100-199")
		e.expect(res, 200, body, false)
		if !res.Info.Stored {
			t.Errorf("the complete 200 was not stored (Cache-Status %q)", res.Header.Get("Cache-Status"))
		}
		e.expectPartial(e.get(o.URL+"/r", "Range: bytes=100-199"), body, 100, 199)
		e.expectHits(o, 1)
	})
}

func testRangeStale(t *testing.T, s *suite) {
	// RFC 9111 §4.3.1, §4.3.4 with RFC 9110 §14.2: a Range request for a
	// stale entry is revalidated first; a 304 freshens the entry and the
	// range is answered from it. A changed representation (a 206 from the
	// origin) reaches the caller as it is.
	body := rangeBody(100)
	e := s.newEnv(t)
	changed := false
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=10")
		if changed {
			w.Header().Set("ETag", `"r2"`)
			http.ServeContent(w, r, "", time.Time{}, strings.NewReader("X"+body[1:]))
			return
		}
		w.Header().Set("ETag", `"r1"`)
		if r.Header.Get("If-None-Match") == `"r1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, body)
	})
	e.get(o.URL + "/r")
	e.clock.Advance(20 * time.Second)
	res := e.get(o.URL+"/r", "Range: bytes=0-9")
	e.expectPartial(res, body, 0, 9)
	if !res.Info.Revalidated {
		t.Errorf("Revalidated = false (Cache-Status %q)", res.Header.Get("Cache-Status"))
	}
	last := o.lastRequest()
	if last.Header.Get("If-None-Match") != `"r1"` || last.Header.Get("Range") != "bytes=0-9" {
		t.Errorf("revalidation sent If-None-Match %q, Range %q", last.Header.Get("If-None-Match"), last.Header.Get("Range"))
	}
	e.expectPartial(e.get(o.URL+"/r", "Range: bytes=0-9"), body, 0, 9)
	e.expectHits(o, 2)

	e.clock.Advance(20 * time.Second)
	changed = true
	res = e.get(o.URL+"/r", "Range: bytes=0-9")
	e.expect(res, http.StatusPartialContent, "X"+body[1:10], false)
	if res.Info.Stored {
		t.Errorf("the origin's 206 was stored (Cache-Status %q)", res.Header.Get("Cache-Status"))
	}
}

func testRangeEncoded(t *testing.T, s *suite) {
	// RFC 9110 §14.1.2: with a content coding the range is of the encoded
	// bytes, as stored (a coding no client decodes, so every adapter
	// passes the bytes through).
	body := rangeBody(100)
	e := s.newEnv(t)
	o := rangeOrigin(e, body, "Content-Encoding", "x-test")
	e.get(o.URL+"/r", "Accept-Encoding: x-test")
	res := e.get(o.URL+"/r", "Accept-Encoding: x-test", "Range: bytes=20-29")
	e.expectPartial(res, body, 20, 29)
	if res.Header.Get("Content-Encoding") != "x-test" {
		t.Errorf("Content-Encoding = %q, want the stored x-test", res.Header.Get("Content-Encoding"))
	}
	e.expectHits(o, 1)
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}
