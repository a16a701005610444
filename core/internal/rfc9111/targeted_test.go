package rfc9111

import (
	"net/http"
	"testing"
	"time"
)

// TestParseTargeted follows RFC 9213 §2.1 and §2.2: a Dictionary Structured
// Field mapped onto cache directives, the first valid field of the target
// list winning, an invalid or empty one ignored.
func TestParseTargeted(t *testing.T) {
	cdn := []string{"CDN-Cache-Control"}
	targeted := func(f func(d *Directives)) Directives {
		d := dirs(f)
		d.Targeted = true
		return d
	}
	tests := []struct {
		name  string
		h     http.Header
		names []string
		want  Directives
		ok    bool
	}{
		{"absent", http.Header{"Cache-Control": {"max-age=5"}}, cdn, dirs(nil), false},
		{"max-age", http.Header{"Cdn-Cache-Control": {"max-age=600"}}, cdn, targeted(func(d *Directives) { d.MaxAge = 600 }), true},
		{"every directive", http.Header{"Cdn-Cache-Control": {`max-age=1, s-maxage=2, stale-while-revalidate=3, stale-if-error=4, no-store, must-revalidate, proxy-revalidate, public, immutable, must-understand, no-transform`}}, cdn,
			targeted(func(d *Directives) {
				d.MaxAge, d.SMaxAge, d.StaleWhileRevalidate, d.StaleIfError = 1, 2, 3, 4
				d.NoStore, d.MustRevalidate, d.ProxyRevalidate, d.Public, d.Immutable, d.MustUnderstand, d.NoTransform = true, true, true, true, true, true, true
			}), true},
		{"no-cache true", http.Header{"Cdn-Cache-Control": {"no-cache"}}, cdn, targeted(func(d *Directives) { d.NoCache = true }), true},
		{"no-cache string is qualified", http.Header{"Cdn-Cache-Control": {`no-cache="set-cookie, x-a"`}}, cdn, targeted(func(d *Directives) { d.NoCacheFields = "set-cookie, x-a" }), true},
		{"no-cache empty string is unqualified", http.Header{"Cdn-Cache-Control": {`no-cache=""`}}, cdn, targeted(func(d *Directives) { d.NoCache = true }), true},
		{"no-cache token is unqualified", http.Header{"Cdn-Cache-Control": {`no-cache=set-cookie`}}, cdn, targeted(func(d *Directives) { d.NoCache = true }), true},
		{"private string is qualified", http.Header{"Cdn-Cache-Control": {`private="set-cookie"`}}, cdn, targeted(func(d *Directives) { d.PrivateFields = "set-cookie" }), true},
		{"escapes in a string", http.Header{"Cdn-Cache-Control": {`private="a\\b"`}}, cdn, targeted(func(d *Directives) { d.PrivateFields = `a\b` }), true},
		{"boolean false is absent", http.Header{"Cdn-Cache-Control": {"no-store=?0, public=?0, max-age=60"}}, cdn, targeted(func(d *Directives) { d.MaxAge = 60 }), true},
		{"boolean true", http.Header{"Cdn-Cache-Control": {"no-store=?1"}}, cdn, targeted(func(d *Directives) { d.NoStore = true }), true},
		{"restrictive directive with another value stays", http.Header{"Cdn-Cache-Control": {"no-store=1"}}, cdn, targeted(func(d *Directives) { d.NoStore = true }), true},
		{"permissive directive with another value is void", http.Header{"Cdn-Cache-Control": {`public=1, immutable="x"`}}, cdn, targeted(nil), true},
		{"decimal max-age is invalid: 0", http.Header{"Cdn-Cache-Control": {"max-age=1.5"}}, cdn, targeted(func(d *Directives) { d.MaxAge = 0 }), true},
		{"string max-age is invalid: 0", http.Header{"Cdn-Cache-Control": {`max-age="60"`}}, cdn, targeted(func(d *Directives) { d.MaxAge = 0 }), true},
		{"negative max-age is invalid: 0", http.Header{"Cdn-Cache-Control": {"max-age=-5"}}, cdn, targeted(func(d *Directives) { d.MaxAge = 0 }), true},
		{"huge max-age is 2^31", http.Header{"Cdn-Cache-Control": {"max-age=999999999999999"}}, cdn, targeted(func(d *Directives) { d.MaxAge = maxDelta }), true},
		{"parameters ignored", http.Header{"Cdn-Cache-Control": {"max-age=60;foo=bar;x, no-cache;y=?1"}}, cdn, targeted(func(d *Directives) { d.MaxAge = 60; d.NoCache = true }), true},
		{"later duplicate key wins", http.Header{"Cdn-Cache-Control": {"max-age=60, max-age=10"}}, cdn, targeted(func(d *Directives) { d.MaxAge = 10 }), true},
		{"field lines combined", http.Header{"Cdn-Cache-Control": {"max-age=60", "must-revalidate"}}, cdn, targeted(func(d *Directives) { d.MaxAge = 60; d.MustRevalidate = true }), true},
		{"unknown directive ignored", http.Header{"Cdn-Cache-Control": {"none"}}, cdn, targeted(nil), true},
		{"inner list parsed and dropped", http.Header{"Cdn-Cache-Control": {`foo=(1 "a" tok), max-age=5`}}, cdn, targeted(func(d *Directives) { d.MaxAge = 5 }), true},
		{"token and byte sequence values", http.Header{"Cdn-Cache-Control": {`foo=bar/baz:1, x=:aGk=:, max-age=5`}}, cdn, targeted(func(d *Directives) { d.MaxAge = 5 }), true},
		{"spaces and tabs between members", http.Header{"Cdn-Cache-Control": {"max-age=5 ,\tno-store"}}, cdn, targeted(func(d *Directives) { d.MaxAge = 5; d.NoStore = true }), true},
		// Parse errors: the field is ignored as if absent (§2.1).
		{"empty", http.Header{"Cdn-Cache-Control": {""}}, cdn, dirs(nil), false},
		{"upper-case key", http.Header{"Cdn-Cache-Control": {"Max-Age=60"}}, cdn, dirs(nil), false},
		{"trailing comma", http.Header{"Cdn-Cache-Control": {"max-age=60,"}}, cdn, dirs(nil), false},
		{"space around equals", http.Header{"Cdn-Cache-Control": {"max-age = 60"}}, cdn, dirs(nil), false},
		{"unterminated string", http.Header{"Cdn-Cache-Control": {`no-cache="a`}}, cdn, dirs(nil), false},
		{"bad escape", http.Header{"Cdn-Cache-Control": {`no-cache="a\x"`}}, cdn, dirs(nil), false},
		{"16-digit integer", http.Header{"Cdn-Cache-Control": {"max-age=1234567890123456"}}, cdn, dirs(nil), false},
		{"decimal with four fraction digits", http.Header{"Cdn-Cache-Control": {"max-age=1.2345"}}, cdn, dirs(nil), false},
		{"bare minus", http.Header{"Cdn-Cache-Control": {"max-age=-"}}, cdn, dirs(nil), false},
		{"missing comma", http.Header{"Cdn-Cache-Control": {"max-age=60 no-store"}}, cdn, dirs(nil), false},
		{"bad boolean", http.Header{"Cdn-Cache-Control": {"no-store=?2"}}, cdn, dirs(nil), false},
		{"Cache-Control syntax that is not a dictionary", http.Header{"Cdn-Cache-Control": {`max-age=60, no-cache="a", private=`}}, cdn, dirs(nil), false},
		// The target list: the first valid field wins.
		{"first of the list", http.Header{"Example-Cache-Control": {"max-age=1"}, "Cdn-Cache-Control": {"max-age=2"}},
			[]string{"Example-Cache-Control", "CDN-Cache-Control"}, targeted(func(d *Directives) { d.MaxAge = 1 }), true},
		{"invalid first falls to the next", http.Header{"Example-Cache-Control": {"MAX-AGE=1"}, "Cdn-Cache-Control": {"max-age=2"}},
			[]string{"Example-Cache-Control", "CDN-Cache-Control"}, targeted(func(d *Directives) { d.MaxAge = 2 }), true},
		{"empty first falls to the next", http.Header{"Example-Cache-Control": {""}, "Cdn-Cache-Control": {"max-age=2"}},
			[]string{"Example-Cache-Control", "CDN-Cache-Control"}, targeted(func(d *Directives) { d.MaxAge = 2 }), true},
		{"a field not in the list changes nothing", http.Header{"Other-Cache-Control": {"max-age=1"}}, cdn, dirs(nil), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			names := make([]string, len(tc.names))
			for i, n := range tc.names {
				names[i] = http.CanonicalHeaderKey(n)
			}
			got, ok := ParseTargeted(tc.h, names)
			if ok != tc.ok || got != tc.want {
				t.Errorf("ParseTargeted(%v, %q) = %+v, %v; want %+v, %v", tc.h, tc.names, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// FuzzParseTargeted checks that no field value makes the parser panic, and
// that a value it accepts is accepted again after a round of re-joining its
// field lines (the parse depends on the combined value only).
func FuzzParseTargeted(f *testing.F) {
	for _, s := range []string{"max-age=60", `no-cache="a, b", private`, "a=(1 2);x, b=:aGk=:", "max-age=1.5", "?", `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names := []string{"Cdn-Cache-Control"}
		d, ok := ParseTargeted(http.Header{"Cdn-Cache-Control": {s}}, names)
		if !ok {
			return
		}
		if !d.Targeted {
			t.Fatalf("ParseTargeted(%q) accepted without Targeted", s)
		}
		if d.MaxAge < Absent || d.MaxAge > maxDelta {
			t.Fatalf("ParseTargeted(%q) max-age %d out of range", s, d.MaxAge)
		}
	})
}

// TestLifetimeTargeted: directives from a targeted field replace
// Cache-Control and make Expires ignored (RFC 9213 §2.2).
func TestLifetimeTargeted(t *testing.T) {
	names := []string{"Cdn-Cache-Control"}
	tests := []struct {
		name     string
		h        http.Header
		want     time.Duration
		explicit bool
	}{
		{"targeted max-age wins over Cache-Control", http.Header{"Cache-Control": {"max-age=60"}, "Cdn-Cache-Control": {"max-age=600"}}, 600 * time.Second, true},
		{"Expires ignored", http.Header{"Cdn-Cache-Control": {"must-revalidate"}, "Date": {httpDate(t0)}, "Expires": {httpDate(t0.Add(time.Hour))}}, 0, false},
		{"heuristic still applies", http.Header{"Cdn-Cache-Control": {"public"}, "Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-10 * time.Hour))}, "Expires": {"0"}}, time.Hour, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := ParseTargeted(tc.h, names)
			if !ok {
				t.Fatalf("ParseTargeted(%v) found nothing", tc.h)
			}
			got, explicit := Lifetime(tc.h, d, 200, false, t0, 24*time.Hour)
			if got != tc.want || explicit != tc.explicit {
				t.Errorf("Lifetime = %v, %v; want %v, %v", got, explicit, tc.want, tc.explicit)
			}
			if HasFreshnessInfo(500, tc.h, d, false) != (d.Public || d.MaxAge != Absent) {
				t.Errorf("HasFreshnessInfo counts Expires beside a targeted field")
			}
		})
	}
}
