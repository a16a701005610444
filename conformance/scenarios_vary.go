package conformance

// RFC 9111 §4.1: Vary selects among several stored variants of one URL.

import (
	"fmt"
	"net/http"
	"testing"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Vary/TwoVariantsAlternate", testVaryTwoVariants},
		{"Vary/MultipleLinesMerged", testVaryMultipleLines},
		{"Vary/StarNeverServed", testVaryStar},
		{"Vary/AbsentVersusPresent", testVaryAbsentPresent},
		{"Vary/NormalisedValues", testVaryNormalised},
	})
}

func testVaryTwoVariants(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "%s-v%d", r.Header.Get("Accept-Language"), n)
	})
	res := e.get(o.URL+"/a", "Accept-Language: en")
	e.expect(res, 200, "en-v1", false)
	res = e.get(o.URL+"/a", "Accept-Language: fr")
	e.expect(res, 200, "fr-v2", false)
	e.semExpectCS(res, "fwd=vary-miss", "stored")
	for i := 0; i < 3; i++ {
		e.expect(e.get(o.URL+"/a", "Accept-Language: en"), 200, "en-v1", true)
		e.expect(e.get(o.URL+"/a", "Accept-Language: fr"), 200, "fr-v2", true)
	}
	e.expectHits(o, 2)
}

func testVaryMultipleLines(t *testing.T, s *suite) {
	// Two Vary field lines are one list (bartventer#32): both headers select.
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header()["Vary"] = []string{"Accept-Language", "X-Flavour"}
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a", "Accept-Language: en", "X-Flavour: a"), 200, "v1", false)
	e.expect(e.get(o.URL+"/a", "Accept-Language: en", "X-Flavour: b"), 200, "v2", false)
	e.expect(e.get(o.URL+"/a", "Accept-Language: fr", "X-Flavour: a"), 200, "v3", false)
	e.expect(e.get(o.URL+"/a", "Accept-Language: en", "X-Flavour: a"), 200, "v1", true)
	e.expect(e.get(o.URL+"/a", "Accept-Language: en", "X-Flavour: b"), 200, "v2", true)
	e.expect(e.get(o.URL+"/a", "Accept-Language: fr", "X-Flavour: a"), 200, "v3", true)
	e.expectHits(o, 3)
}

func testVaryStar(t *testing.T, s *suite) {
	for _, vary := range []string{"*", "Accept-Language, *"} {
		t.Run(vary, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Vary", vary)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a", "Accept-Language: en"), 200, "v1", false)
			e.expect(e.get(o.URL+"/a", "Accept-Language: en"), 200, "v2", false)
			e.expect(e.get(o.URL+"/a", "Accept-Language: en"), 200, "v3", false)
			e.expectHits(o, 3)
		})
	}
}

func testVaryAbsentPresent(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "X-Flavour")
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a"), 200, "v1", false)
	e.expect(e.get(o.URL+"/a", "X-Flavour: a"), 200, "v2", false)
	e.expect(e.get(o.URL+"/a"), 200, "v1", true)
	e.expect(e.get(o.URL+"/a", "X-Flavour: a"), 200, "v2", true)
	e.expectHits(o, 2)
}

func testVaryNormalised(t *testing.T, s *suite) {
	// The Vary field name is case-insensitive, and request values that differ
	// only in white space around list items, or in being split across field
	// lines, select the same variant (§4.1).
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", " accept-LANGUAGE ")
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a", "Accept-Language: en, fr"), 200, "v1", false)
	for _, hdr := range [][]string{
		{"Accept-Language: en,fr"},
		{"Accept-Language: en ,   fr"},
		{"Accept-Language: en", "Accept-Language: fr"},
	} {
		res := e.get(o.URL+"/a", hdr...)
		if res.Body != "v1" || !res.Info.FromCache {
			t.Errorf("request %q: got body %q FromCache %v, want the stored variant %q from cache", hdr, res.Body, res.Info.FromCache, "v1")
		}
	}
	e.expect(e.get(o.URL+"/a", "Accept-Language: de"), 200, "v2", false)
	e.expectHits(o, 2)
}
