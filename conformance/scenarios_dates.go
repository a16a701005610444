package conformance

// RFC 9110 §5.6.7: HTTP-dates are read exactly as the grammar has them, in
// the three formats a recipient must accept and no other, wherever the cache
// reads a date (Expires, Date, Last-Modified, If-Modified-Since).

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Dates/ExpiresFormats", testDatesExpiresFormats},
		{"Dates/LastModifiedFormats", testDatesLastModified},
		{"Dates/DateFormats", testDatesDate},
		{"Dates/IfModifiedSinceFormats", testDatesIfModifiedSince},
	})
}

// dateForms writes t in the three HTTP-date formats and in forms that are
// not HTTP-dates although lenient parsers (http.ParseTime) take them.
func dateForms(t time.Time) (valid, invalid map[string]string) {
	t = t.UTC()
	imf := t.Format(http.TimeFormat)
	valid = map[string]string{
		"IMF-fixdate":  imf,
		"rfc850-date":  t.Format("Monday, 02-Jan-06 15:04:05 GMT"),
		"asctime-date": t.Format("Mon Jan _2 15:04:05 2006"),
	}
	invalid = map[string]string{
		"double space":       strings.Replace(imf, " ", "  ", 1),
		"one-digit hour":     t.Format("Mon, 02 Jan 2006 ") + fmt.Sprintf("%d", t.Hour()%10) + t.Format(":04:05 GMT"),
		"zone UTC":           t.Format("Mon, 02 Jan 2006 15:04:05 UTC"),
		"lower-case month":   strings.Replace(imf, t.Format("Jan"), strings.ToLower(t.Format("Jan")), 1),
		"numeric offset":     t.Format("Mon, 02 Jan 2006 15:04:05 -0700"),
		"RFC 3339":           t.Format(time.RFC3339),
		"wrong day name":     t.AddDate(0, 0, 1).Format("Mon") + imf[3:],
		"rfc850 short name":  t.Format("Mon, 02-Jan-06 15:04:05 GMT"),
		"asctime with a GMT": t.Format("Mon Jan _2 15:04:05 2006") + " GMT",
	}
	return valid, invalid
}

func testDatesExpiresFormats(t *testing.T, s *suite) {
	// §5.3: an Expires that is not an HTTP-date means already expired.
	e0 := s.newEnv(t)
	valid, invalid := dateForms(e0.clock.Now().Add(time.Hour))
	run := func(name, value string, fresh bool) {
		t.Run(name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Expires", value)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(30 * time.Minute)
			res := e.get(o.URL + "/a")
			if fresh {
				e.expect(res, 200, "v1", true)
				e.expectHits(o, 1)
				return
			}
			e.expect(res, 200, "v2", false)
			e.expectHits(o, 2)
		})
	}
	for name, v := range valid {
		run(name+" is fresh", v, true)
	}
	for name, v := range invalid {
		run(name+" is expired", v, false)
	}
}

func testDatesLastModified(t *testing.T, s *suite) {
	// §4.2.2: the heuristic needs a Last-Modified that is an HTTP-date; one
	// that is not gives no lifetime (and no validator to revalidate with
	// beyond its own text).
	e0 := s.newEnv(t)
	valid, invalid := dateForms(e0.clock.Now().Add(-100 * time.Hour)) // heuristic: 10 h
	run := func(name, value string, fresh bool) {
		t.Run(name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Last-Modified", value)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(time.Hour)
			res := e.get(o.URL + "/a")
			if fresh != res.Info.FromCache {
				t.Errorf("an hour later: FromCache = %v, want %v (Last-Modified %q, Cache-Status %q)", res.Info.FromCache, fresh, value, res.Header.Get("Cache-Status"))
			}
		})
	}
	for name, v := range valid {
		run(name+" gives a heuristic lifetime", v, true)
	}
	for name, v := range invalid {
		run(name+" gives none", v, false)
	}
}

func testDatesDate(t *testing.T, s *suite) {
	// §4.2.1 and §4.2.3 use Date; one that is not an HTTP-date is replaced by
	// the time of receipt (RFC 9110 §6.6.1). Here the origin's Date is an
	// hour behind: read correctly it makes the response an hour old (stale
	// under max-age=1800, apparent age 3600); ignored it makes it new.
	e0 := s.newEnv(t)
	valid, invalid := dateForms(e0.clock.Now().Add(-time.Hour))
	run := func(name, value string, fresh bool) {
		t.Run(name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Date", value)
				w.Header().Set("Cache-Control", "max-age=1800")
				w.Header().Set("ETag", `"e"`)
				fmt.Fprintf(w, "v%d", n)
			})
			e.get(o.URL + "/a")
			res := e.get(o.URL + "/a")
			if fresh != (res.Info.FromCache && !res.Info.Revalidated) {
				t.Errorf("FromCache = %v, Revalidated = %v; want a fresh hit %v (Date %q, Cache-Status %q)",
					res.Info.FromCache, res.Info.Revalidated, fresh, value, res.Header.Get("Cache-Status"))
			}
		})
	}
	for name, v := range valid {
		run(name+" counts", v, false)
	}
	for name, v := range invalid {
		run(name+" is the time of receipt", v, true)
	}
}

func testDatesIfModifiedSince(t *testing.T, s *suite) {
	// RFC 9110 §13.1.3: an If-Modified-Since that is not an HTTP-date is
	// ignored; one that is, in any of the three formats, is evaluated
	// against the stored Last-Modified.
	e0 := s.newEnv(t)
	lm := e0.clock.Now().Add(-time.Hour)
	valid, invalid := dateForms(lm)
	run := func(name, value string, status int) {
		t.Run(name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("Last-Modified", semHTTPTime(lm))
				fmt.Fprintf(w, "v%d", n)
			})
			e.get(o.URL + "/a")
			res := e.get(o.URL+"/a", "If-Modified-Since: "+value)
			body := "v1"
			if status == http.StatusNotModified {
				body = ""
			}
			e.expect(res, status, body, true)
			e.expectHits(o, 1)
		})
	}
	for name, v := range valid {
		run(name+" evaluated", v, http.StatusNotModified)
	}
	for name, v := range invalid {
		run(name+" ignored", v, http.StatusOK)
	}
}
