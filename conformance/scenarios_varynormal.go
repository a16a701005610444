package conformance

// RFC 9111 §4.1: request fields nominated by Vary match when they differ only
// in what their specification says carries no meaning.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Vary/NegotiationFieldsNormalised", testVaryNegotiation},
		{"Vary/UnknownFieldsKeepOrderAndCase", testVaryUnknownFields},
		{"Vary/AbsentInBothMatches", testVaryAbsentBoth},
	})
}

func testVaryNegotiation(t *testing.T, s *suite) {
	// Accept, Accept-Encoding and Accept-Language are lists of weighted
	// preferences: member order, white space, the case of their tokens and
	// the spelling of a weight (q=1 is the default, 0.50 is 0.5) do not
	// change what they ask for.
	cases := []struct {
		field  string
		stored []string
		same   [][]string
		other  [][]string
	}{
		{"Accept-Language", []string{"en-US, fr;q=0.5"},
			[][]string{{"fr;q=0.5, en-US"}, {"EN-us,FR; Q=0.50"}, {"fr;q=0.5", "en-us;q=1"}, {" en-US ,, fr;q=0.500 "}},
			[][]string{{"en-US, fr;q=0.4"}, {"en-US"}, {"en-GB, fr;q=0.5"}}},
		{"Accept-Encoding", []string{"gzip, br"},
			[][]string{{"br, gzip"}, {"BR,GZIP"}, {"gzip;q=1.0", "br"}, {"gzip, br, gzip"}},
			[][]string{{"gzip"}, {"gzip, br;q=0"}, {"gzip, zstd"}}},
		{"Accept", []string{"text/html, application/json;q=0.9"},
			[][]string{{"application/json;q=0.9, text/html"}, {"Text/HTML,Application/JSON ; q=0.90"}},
			[][]string{{"text/html"}, {"text/html, application/json;q=0.8"}}},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Vary", tc.field)
				fmt.Fprintf(w, "v%d", n)
			})
			hdr := func(values []string) []string {
				out := make([]string, len(values))
				for i, v := range values {
					out[i] = tc.field + ": " + v
				}
				return out
			}
			e.expect(e.get(o.URL+"/a", hdr(tc.stored)...), 200, "v1", false)
			for _, v := range tc.same {
				res := e.get(o.URL+"/a", hdr(v)...)
				if !res.Info.FromCache || res.Body != "v1" {
					t.Errorf("%s %q: got %q from cache %v, want the stored v1", tc.field, v, res.Body, res.Info.FromCache)
				}
			}
			e.expectHits(o, 1)
			for _, v := range tc.other {
				if res := e.get(o.URL+"/a", hdr(v)...); res.Body == "v1" {
					t.Errorf("%s %q was served the variant stored for %q", tc.field, v, tc.stored)
				}
			}
		})
	}
}

func testVaryUnknownFields(t *testing.T, s *suite) {
	// A field the cache knows nothing of may be order- or case-sensitive:
	// only white space and field-line splitting are normalised.
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "X-Flavour")
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a", "X-Flavour: a, B"), 200, "v1", false)
	e.expect(e.get(o.URL+"/a", "X-Flavour: a,B"), 200, "v1", true)
	e.expect(e.get(o.URL+"/a", "X-Flavour: a", "X-Flavour: B"), 200, "v1", true)
	for i, v := range []string{"B, a", "a, b", "A, B"} {
		want := fmt.Sprintf("v%d", i+2)
		if res := e.get(o.URL+"/a", "X-Flavour: "+v); res.Body != want || res.Info.FromCache {
			t.Errorf("X-Flavour %q: got %q from cache %v, want a new response %s", v, res.Body, res.Info.FromCache, want)
		}
	}
}

func testVaryAbsentBoth(t *testing.T, s *suite) {
	// A nominated field absent from both requests matches; absent from one
	// only, it does not, even against an empty value (§4.1).
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language, X-Absent")
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/a", "Accept-Language: en"), 200, "v1", false)
	e.expect(e.get(o.URL+"/a", "Accept-Language: EN"), 200, "v1", true)
	res := e.get(o.URL+"/a", "Accept-Language: en", "X-Absent:")
	if res.Info.FromCache {
		t.Errorf("a request with an empty X-Absent matched one without it (Cache-Status %q)", res.Header.Get("Cache-Status"))
	}
	if !strings.HasPrefix(res.Body, "v") {
		t.Errorf("body %q", res.Body)
	}
}
