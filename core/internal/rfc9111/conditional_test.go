package rfc9111

import (
	"net/http"
	"testing"
	"time"
)

func TestParseEntityTag(t *testing.T) {
	tests := []struct {
		in   string
		want EntityTag
		ok   bool
	}{
		{`"xyzzy"`, EntityTag{Opaque: `"xyzzy"`}, true},
		{`W/"xyzzy"`, EntityTag{Opaque: `"xyzzy"`, Weak: true}, true},
		{`""`, EntityTag{Opaque: `""`}, true},
		{` "a,b" `, EntityTag{Opaque: `"a,b"`}, true},
		{`w/"x"`, EntityTag{}, false}, // W/ is case-sensitive (§8.8.3)
		{`xyzzy`, EntityTag{}, false},
		{`"unterminated`, EntityTag{}, false},
		{`"a" "b"`, EntityTag{}, false},
		{`"a b"`, EntityTag{}, false},
		{``, EntityTag{}, false},
	}
	for _, tc := range tests {
		got, ok := ParseEntityTag(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseEntityTag(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestEntityTagComparison is the table of RFC 9110 §8.8.3.2.
func TestEntityTagComparison(t *testing.T) {
	tests := []struct {
		a, b         string
		strong, weak bool
	}{
		{`W/"1"`, `W/"1"`, false, true},
		{`W/"1"`, `W/"2"`, false, false},
		{`W/"1"`, `"1"`, false, true},
		{`"1"`, `"1"`, true, true},
	}
	for _, tc := range tests {
		a, _ := ParseEntityTag(tc.a)
		b, _ := ParseEntityTag(tc.b)
		if got := StrongMatch(a, b); got != tc.strong {
			t.Errorf("StrongMatch(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.strong)
		}
		if got := WeakMatch(a, b); got != tc.weak {
			t.Errorf("WeakMatch(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.weak)
		}
	}
}

// TestNoneMatch follows RFC 9110 §13.1.2: weak comparison, lists, "*".
func TestNoneMatch(t *testing.T) {
	strong, _ := ParseEntityTag(`"e1"`)
	weak, _ := ParseEntityTag(`W/"e1"`)
	tests := []struct {
		name  string
		lines []string
		etag  EntityTag
		has   bool
		want  bool
	}{
		{"same strong tag", []string{`"e1"`}, strong, true, true},
		{"weak request tag, strong stored", []string{`W/"e1"`}, strong, true, true},
		{"strong request tag, weak stored", []string{`"e1"`}, weak, true, true},
		{"other tag", []string{`"e2"`}, strong, true, false},
		{"in a list", []string{`"x", "e1"`}, strong, true, true},
		{"in a list without spaces", []string{`"x","e1"`}, strong, true, true},
		{"in a second field line", []string{`"x"`, `"e1"`}, strong, true, true},
		{"list with empty members", []string{`, "x" ,, "e1",`}, strong, true, true},
		{"comma inside a tag is not a separator", []string{`"e1,x"`}, strong, true, false},
		{"star", []string{`*`}, strong, true, true},
		{"star and no stored tag", []string{` * `}, EntityTag{}, false, true},
		{"star in a list is invalid", []string{`"x", *`}, strong, true, false},
		{"two star lines are invalid", []string{`*`, `*`}, strong, true, false},
		{"no stored tag", []string{`"e1"`}, EntityTag{}, false, false},
		{"unquoted tag is invalid", []string{`e1`}, strong, true, false},
		{"garbage after a matching tag", []string{`"e1" junk`}, strong, true, false},
		{"lower-case weak prefix is invalid", []string{`w/"e1"`}, strong, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NoneMatch(tc.lines, tc.etag, tc.has); got != tc.want {
				t.Errorf("NoneMatch(%q, %+v, %v) = %v, want %v", tc.lines, tc.etag, tc.has, got, tc.want)
			}
		})
	}
}

// TestNotModifiedSince follows RFC 9110 §13.1.3 and RFC 9111 §4.3.2.
func TestNotModifiedSince(t *testing.T) {
	lm := t0.Add(-time.Hour)
	received := t0.Add(-time.Minute)
	tests := []struct {
		name        string
		lines       []string
		stored      http.Header
		notModified bool
		applies     bool
	}{
		{"equal to Last-Modified", []string{httpDate(lm)}, http.Header{"Last-Modified": {httpDate(lm)}}, true, true},
		{"after Last-Modified", []string{httpDate(lm.Add(time.Second))}, http.Header{"Last-Modified": {httpDate(lm)}}, true, true},
		{"before Last-Modified", []string{httpDate(lm.Add(-time.Second))}, http.Header{"Last-Modified": {httpDate(lm)}}, false, true},
		{"against Date without Last-Modified", []string{httpDate(t0.Add(-2 * time.Minute))}, http.Header{"Date": {httpDate(t0.Add(-2 * time.Minute))}}, true, true},
		{"before Date without Last-Modified", []string{httpDate(t0.Add(-3 * time.Minute))}, http.Header{"Date": {httpDate(t0.Add(-2 * time.Minute))}}, false, true},
		{"against receipt without either", []string{httpDate(received)}, http.Header{}, true, true},
		{"before receipt without either", []string{httpDate(received.Add(-time.Second))}, http.Header{}, false, true},
		{"invalid Last-Modified falls back to Date", []string{httpDate(lm)}, http.Header{"Last-Modified": {"yesterday"}, "Date": {httpDate(lm)}}, true, true},
		{"rfc850 date", []string{lm.Format("Monday, 02-Jan-06 15:04:05 GMT")}, http.Header{"Last-Modified": {httpDate(lm)}}, true, true},
		{"not an HTTP-date", []string{lm.Format(time.RFC3339)}, http.Header{"Last-Modified": {httpDate(lm)}}, false, false},
		{"lenient form http.ParseTime takes", []string{lm.Format("Mon, 02 Jan 2006  15:04:05 GMT")}, http.Header{"Last-Modified": {httpDate(lm)}}, false, false},
		{"more than one member", []string{httpDate(lm), httpDate(lm)}, http.Header{"Last-Modified": {httpDate(lm)}}, false, false},
		{"absent", nil, http.Header{"Last-Modified": {httpDate(lm)}}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nm, ap := NotModifiedSince(tc.lines, tc.stored, received, t0)
			if nm != tc.notModified || ap != tc.applies {
				t.Errorf("NotModifiedSince(%q, %v) = %v, %v; want %v, %v", tc.lines, tc.stored, nm, ap, tc.notModified, tc.applies)
			}
		})
	}
}

// TestNotModifiedSelects follows the three rules of RFC 9111 §4.3.4.
func TestNotModifiedSelects(t *testing.T) {
	lm, other := httpDate(t0.Add(-time.Hour)), httpDate(t0.Add(-2*time.Hour))
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = []string{kv[i+1]}
		}
		return out
	}
	tests := []struct {
		name         string
		stored, resp http.Header
		want         bool
	}{
		// Rule 1: a strong validator.
		{"same strong tag", h("Etag", `"e1"`), h("Etag", `"e1"`), true},
		{"other strong tag", h("Etag", `"e1"`), h("Etag", `"e2"`), false},
		{"strong tag, weak stored", h("Etag", `W/"e1"`), h("Etag", `"e1"`), false},
		{"strong tag, none stored", h("Last-Modified", lm), h("Etag", `"e1"`, "Last-Modified", lm), false},
		{"strong tag wins over a differing Last-Modified", h("Etag", `"e1"`, "Last-Modified", lm), h("Etag", `"e1"`, "Last-Modified", other), true},
		// Rule 2: weak validators.
		{"same weak tag", h("Etag", `W/"e1"`), h("Etag", `W/"e1"`), true},
		{"weak tag, strong stored", h("Etag", `"e1"`), h("Etag", `W/"e1"`), true},
		{"other weak tag", h("Etag", `W/"e1"`), h("Etag", `W/"e2"`), false},
		{"same Last-Modified", h("Last-Modified", lm), h("Last-Modified", lm), true},
		{"other Last-Modified", h("Last-Modified", lm), h("Last-Modified", other), false},
		{"same Last-Modified in another format", h("Last-Modified", lm), h("Last-Modified", t0.Add(-time.Hour).Format("Mon Jan _2 15:04:05 2006")), true},
		{"Last-Modified matches, a new weak tag where none was stored", h("Last-Modified", lm), h("Etag", `W/"n"`, "Last-Modified", lm), true},
		{"Last-Modified matches, weak tag contradicts", h("Etag", `W/"e1"`, "Last-Modified", lm), h("Etag", `W/"e2"`, "Last-Modified", lm), false},
		{"weak tag matches, Last-Modified contradicts", h("Etag", `W/"e1"`, "Last-Modified", lm), h("Etag", `W/"e1"`, "Last-Modified", other), false},
		{"weak tag alone, none stored", h("Last-Modified", lm), h("Etag", `W/"e1"`), false},
		{"Last-Modified alone, none stored", h("Etag", `"e1"`), h("Last-Modified", lm), false},
		{"invalid tag", h("Etag", `"e1"`), h("Etag", `e1`), false},
		{"invalid Last-Modified", h("Last-Modified", lm), h("Last-Modified", "yesterday"), false},
		// Rule 3: no validator.
		{"no validator on either side", h(), h("Cache-Control", "max-age=60"), true},
		{"no validator in the 304, a tag stored", h("Etag", `"e1"`), h(), false},
		{"no validator in the 304, Last-Modified stored", h("Last-Modified", lm), h(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NotModifiedSelects(tc.stored, tc.resp, t0); got != tc.want {
				t.Errorf("NotModifiedSelects(stored %v, 304 %v) = %v, want %v", tc.stored, tc.resp, got, tc.want)
			}
		})
	}
}
