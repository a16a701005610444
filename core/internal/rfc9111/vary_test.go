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
		{name: "list normalised", h: http.Header{"Accept-Encoding": {"gzip,br"}}, field: "Accept-Encoding", wantValue: "br, gzip", wantPresent: true},
		{name: "whitespace normalised", h: http.Header{"Accept-Encoding": {"  gzip ,\tbr  "}}, field: "Accept-Encoding", wantValue: "br, gzip", wantPresent: true},
		{name: "lines combined", h: http.Header{"Accept-Encoding": {"gzip", "br"}}, field: "Accept-Encoding", wantValue: "br, gzip", wantPresent: true},
		{name: "lines combined with lists", h: http.Header{"X-List": {"gzip, deflate", " br "}}, field: "X-List", wantValue: "gzip, deflate, br", wantPresent: true},
		{name: "negotiation field sorted", h: http.Header{"Accept-Language": {"fr, en"}}, field: "Accept-Language", wantValue: "en, fr", wantPresent: true},
		{name: "other field keeps its order", h: http.Header{"X-Mode": {"b, a"}}, field: "X-Mode", wantValue: "b, a", wantPresent: true},
		{name: "case of value kept", h: http.Header{"X-Mode": {"Dark"}}, field: "X-Mode", wantValue: "Dark", wantPresent: true},
		{name: "comma in a quoted string is no separator", h: http.Header{"X-Mode": {`a, "b,c"`}}, field: "X-Mode", wantValue: `a, "b,c"`, wantPresent: true},
		{name: "empty members dropped", h: http.Header{"X-Mode": {" , a,, b ,"}}, field: "X-Mode", wantValue: "a, b", wantPresent: true},
		{name: "language tags lower-cased", h: http.Header{"Accept-Language": {"en-US, EN;Q=0.9"}}, field: "Accept-Language", wantValue: "en-us, en;q=0.9", wantPresent: true},
		{name: "default weight dropped", h: http.Header{"Accept-Encoding": {"gzip;q=1.000, br; q=1"}}, field: "Accept-Encoding", wantValue: "br, gzip", wantPresent: true},
		{name: "weight in its shortest form", h: http.Header{"Accept-Encoding": {"gzip;q=0.500"}}, field: "Accept-Encoding", wantValue: "gzip;q=0.5", wantPresent: true},
		{name: "zero weight kept", h: http.Header{"Accept-Encoding": {"identity;q=0.000"}}, field: "Accept-Encoding", wantValue: "identity;q=0", wantPresent: true},
		{name: "invalid weight kept", h: http.Header{"Accept-Encoding": {"gzip;q=2"}}, field: "Accept-Encoding", wantValue: "gzip;q=2", wantPresent: true},
		{name: "media type parameter value keeps its case", h: http.Header{"Accept": {"Text/HTML; Level=A ; q=0.8"}}, field: "Accept", wantValue: "text/html;level=A;q=0.8", wantPresent: true},
		{name: "quoted parameter value kept whole", h: http.Header{"Accept": {`text/x;a="B ; C", text/y`}}, field: "Accept", wantValue: `text/x;a="B ; C", text/y`, wantPresent: true},
		{name: "duplicates merged", h: http.Header{"Accept-Encoding": {"gzip, GZIP", "gzip"}}, field: "Accept-Encoding", wantValue: "gzip", wantPresent: true},
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
		{name: "different order", a: []string{"gzip, br"}, b: []string{"br, gzip"}, same: true},
		{name: "case", a: []string{"GZip"}, b: []string{"gzip"}, same: true},
		{name: "weights", a: []string{"gzip;q=0.8, br"}, b: []string{"br;q=1.0, gzip ; q=0.80"}, same: true},
		{name: "different weight", a: []string{"gzip;q=0.8"}, b: []string{"gzip;q=0.7"}, same: false},
		{name: "different value", a: []string{"gzip"}, b: []string{"br"}, same: false},
		{name: "empty is not absent", a: []string{""}, b: nil, same: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ha, hb := http.Header{}, http.Header{}
			if tt.a != nil {
				ha["Accept-Encoding"] = tt.a
			}
			if tt.b != nil {
				hb["Accept-Encoding"] = tt.b
			}
			va, pa := SelectedValue(ha, "Accept-Encoding")
			vb, pb := SelectedValue(hb, "Accept-Encoding")
			if got := va == vb && pa == pb; got != tt.same {
				t.Errorf("SelectedValue(%q) == SelectedValue(%q): got %v (%q, %q), want %v", tt.a, tt.b, got, va, vb, tt.same)
			}
		})
	}
}

// FuzzAcceptNormal checks that the allocation-free fast path of acceptNormal
// agrees with the normalisation itself, and that normalising is idempotent.
func FuzzAcceptNormal(f *testing.F) {
	for _, s := range []string{"en-us", "en;q=0.5", `text/x;a="B ; C"`, "EN", "gzip;q=1", "gzip;q=0.50", "text/html;level=1;q=0", "a; b", "x;q=", "x;q=1.0", ";q=0.1", "*/*;q=0.8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, m string) {
		slow := acceptNormalize(m)
		if acceptIsNormal(m) && slow != m {
			t.Fatalf("acceptIsNormal(%q) but it normalises to %q", m, slow)
		}
		if again := acceptNormalize(slow); again != slow {
			t.Fatalf("acceptNormalize(%q) = %q, then %q", m, slow, again)
		}
	})
}
