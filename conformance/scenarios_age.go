package conformance

// RFC 9111 §5.1: parsing the Age field, and §4.2: an Age beyond the
// freshness lifetime leaves nothing fresh.

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Age/FieldParsing", testAgeFieldParsing},
		{"Age/BeyondLifetimeIsStale", testAgeBeyondLifetime},
	})
}

func testAgeFieldParsing(t *testing.T, s *suite) {
	// max-age=60: the Age the cache reads decides how long the response stays
	// fresh (60 − age) and the Age it serves.
	cases := []struct {
		name string
		age  []string
		want int // the age read: 0 when the field is ignored
	}{
		{"integer", []string{"50"}, 50},
		{"list uses the first member", []string{"50, 5"}, 50},
		{"list without spaces", []string{"50,5"}, 50},
		{"empty first element", []string{", 50"}, 50},
		{"several field lines use the first", []string{"50", "5"}, 50},
		{"first member invalid: ignored", []string{"x, 50"}, 0},
		{"negative: ignored", []string{"-50"}, 0},
		{"fraction: ignored", []string{"50.5"}, 0},
		{"quoted: ignored", []string{`"50"`}, 0},
		{"trailing garbage: ignored", []string{"50s"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header()["Age"] = tc.age
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			res := e.get(o.URL + "/a")
			e.expect(res, 200, "v1", true)
			e.semExpectAge(res, tc.want)
			if got := res.Header.Values("Age"); len(got) != 1 {
				t.Errorf("Age field lines on the hit = %q, want one (the cache's own)", got)
			}
			e.clock.Advance(time.Duration(59-tc.want) * time.Second)
			e.expect(e.get(o.URL+"/a"), 200, "v1", true)
			e.clock.Advance(2 * time.Second)
			e.expect(e.get(o.URL+"/a"), 200, "v2", false)
			e.expectHits(o, 2)
		})
	}
}

func testAgeBeyondLifetime(t *testing.T, s *suite) {
	// Age 120 on max-age=60: stale on arrival. Without a validator it is not
	// worth storing; with one it is stored and revalidated on first use.
	t.Run("without a validator", func(t *testing.T) {
		e := s.newEnv(t)
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Age", "120")
			fmt.Fprintf(w, "v%d", n)
		})
		res := e.get(o.URL + "/a")
		e.expect(res, 200, "v1", false)
		if res.Info.Stored {
			t.Errorf("a response already stale on arrival, without a validator, was stored (Cache-Status %q)", res.Header.Get("Cache-Status"))
		}
		e.expect(e.get(o.URL+"/a"), 200, "v2", false)
		e.expectHits(o, 2)
	})
	t.Run("with a validator", func(t *testing.T) {
		e := s.newEnv(t)
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("ETag", `"e1"`)
			if r.Header.Get("If-None-Match") == `"e1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("Age", "120")
			fmt.Fprintf(w, "v%d", n)
		})
		e.expect(e.get(o.URL+"/a"), 200, "v1", false)
		res := e.get(o.URL + "/a")
		e.expect(res, 200, "v1", true)
		e.semExpectInfo(res, true, false, true)
		e.expectHits(o, 2)
	})
}
