package rfc9111

import (
	"net/http"
	"slices"
	"testing"
)

// TestVaryNames checks RFC 9111 §4.1 and RFC 9110 §12.5.5.
func TestVaryNames(t *testing.T) {
	tests := []struct {
		name      string
		lines     []string // Vary field lines; nil means no field
		wantNames []string
		wantStar  bool
	}{
		{name: "absent", lines: nil, wantNames: nil},
		{name: "empty", lines: []string{""}, wantNames: nil},
		{name: "only commas", lines: []string{" , ,"}, wantNames: nil},
		{name: "one name", lines: []string{"Accept-Encoding"}, wantNames: []string{"Accept-Encoding"}},
		{name: "canonicalised", lines: []string{"accept-encoding, ACCEPT-LANGUAGE"}, wantNames: []string{"Accept-Encoding", "Accept-Language"}},
		{name: "sorted", lines: []string{"User-Agent, Accept, Cookie"}, wantNames: []string{"Accept", "Cookie", "User-Agent"}},
		{name: "deduplicated ignoring case", lines: []string{"accept, Accept, ACCEPT"}, wantNames: []string{"Accept"}},
		{name: "whitespace trimmed", lines: []string{" Accept ,\tCookie\t"}, wantNames: []string{"Accept", "Cookie"}},
		{name: "merged from several lines", lines: []string{"Cookie", "accept-encoding, Accept", "cookie"}, wantNames: []string{"Accept", "Accept-Encoding", "Cookie"}},
		{name: "star alone", lines: []string{"*"}, wantNames: nil, wantStar: true},
		{name: "star with spaces", lines: []string{"  *  "}, wantNames: nil, wantStar: true},
		{name: "star among names", lines: []string{"Accept, *"}, wantNames: []string{"Accept"}, wantStar: true},
		{name: "star on a later line", lines: []string{"Accept", "*"}, wantNames: []string{"Accept"}, wantStar: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.lines != nil {
				h["Vary"] = tt.lines
			}
			names, star := VaryNames(h)
			if !slices.Equal(names, tt.wantNames) || star != tt.wantStar {
				t.Errorf("VaryNames(%q): got (%q, %v), want (%q, %v)", tt.lines, names, star, tt.wantNames, tt.wantStar)
			}
		})
	}
}

// TestSelectedValue checks the normalisation of RFC 9111 §4.1: white space
// around items removed, field lines combined.
func TestSelectedValue(t *testing.T) {
	tests := []struct {
		name        string
		h           http.Header
		field       string
		wantValue   string
		wantPresent bool
	}{
		{name: "absent", h: http.Header{}, field: "Accept", wantValue: "", wantPresent: false},
		{name: "absent while others present", h: http.Header{"Cookie": {"a=1"}}, field: "Accept", wantValue: "", wantPresent: false},
		{name: "present empty", h: http.Header{"Accept": {""}}, field: "Accept", wantValue: "", wantPresent: true},
		{name: "present with no lines", h: http.Header{"Accept": {}}, field: "Accept", wantValue: "", wantPresent: true},
		{name: "single value", h: http.Header{"Accept-Encoding": {"gzip"}}, field: "Accept-Encoding", wantValue: "gzip", wantPresent: true},
		{name: "list normalised", h: http.Header{"Accept-Encoding": {"gzip,br"}}, field: "Accept-Encoding", wantValue: "gzip, br", wantPresent: true},
		{name: "whitespace normalised", h: http.Header{"Accept-Encoding": {"  gzip ,\tbr  "}}, field: "Accept-Encoding", wantValue: "gzip, br", wantPresent: true},
		{name: "lines combined", h: http.Header{"Accept-Encoding": {"gzip", "br"}}, field: "Accept-Encoding", wantValue: "gzip, br", wantPresent: true},
		{name: "lines combined with lists", h: http.Header{"Accept-Encoding": {"gzip, deflate", " br "}}, field: "Accept-Encoding", wantValue: "gzip, deflate, br", wantPresent: true},
		{name: "order kept", h: http.Header{"Accept-Language": {"fr, en"}}, field: "Accept-Language", wantValue: "fr, en", wantPresent: true},
		{name: "case of value kept", h: http.Header{"X-Mode": {"Dark"}}, field: "X-Mode", wantValue: "Dark", wantPresent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, present := SelectedValue(tt.h, tt.field)
			if v != tt.wantValue || present != tt.wantPresent {
				t.Errorf("SelectedValue(%v, %q): got (%q, %v), want (%q, %v)", tt.h, tt.field, v, present, tt.wantValue, tt.wantPresent)
			}
		})
	}
}

// TestSelectedValueEquivalence checks that requests whose field values differ
// only in white space and line splitting select the same value.
func TestSelectedValueEquivalence(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
		same bool
	}{
		{name: "spacing", a: []string{"gzip,br"}, b: []string{"gzip ,  br"}, same: true},
		{name: "one line vs two", a: []string{"gzip, br"}, b: []string{"gzip", "br"}, same: true},
		{name: "different order", a: []string{"gzip, br"}, b: []string{"br, gzip"}, same: false},
		{name: "different value", a: []string{"gzip"}, b: []string{"br"}, same: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			va, _ := SelectedValue(http.Header{"Accept-Encoding": tt.a}, "Accept-Encoding")
			vb, _ := SelectedValue(http.Header{"Accept-Encoding": tt.b}, "Accept-Encoding")
			if got := va == vb; got != tt.same {
				t.Errorf("SelectedValue(%q) == SelectedValue(%q): got %v (%q, %q), want %v", tt.a, tt.b, got, va, vb, tt.same)
			}
		})
	}
}
