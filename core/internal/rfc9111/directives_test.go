package rfc9111

import (
	"net/http"
	"testing"
)

// dirs returns the Directives of an empty Cache-Control with fields changed
// by f, so that a table row lists only what differs from "nothing present".
func dirs(f func(d *Directives)) Directives {
	d := ParseDirectives(http.Header{})
	if f != nil {
		f(&d)
	}
	return d
}

// TestParseDirectives follows the cc-parse-* cases of http-tests/cache-tests
// and RFC 9111 §1.2.2, §4.2.1 and §5.2.
func TestParseDirectives(t *testing.T) {
	tests := []struct {
		name  string
		lines []string // Cache-Control field lines; nil means no field
		want  Directives
	}{
		{
			name:  "absent field",
			lines: nil,
			want:  Directives{MaxAge: Absent, SMaxAge: Absent, MinFresh: Absent, MaxStale: Absent, StaleWhileRevalidate: Absent, StaleIfError: Absent},
		},
		{
			name:  "empty field",
			lines: []string{""},
			want:  dirs(nil),
		},
		{
			name:  "only commas and spaces",
			lines: []string{" , ,\t,"},
			want:  dirs(nil),
		},
		{
			name:  "max-age",
			lines: []string{"max-age=3600"},
			want:  dirs(func(d *Directives) { d.MaxAge = 3600 }),
		},
		{
			name:  "max-age zero is present, not absent",
			lines: []string{"max-age=0"},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "name upper case",
			lines: []string{"MAX-AGE=10"},
			want:  dirs(func(d *Directives) { d.MaxAge = 10 }),
		},
		{
			name:  "name mixed case",
			lines: []string{"Max-Age=10, No-Store, PuBlIc"},
			want:  dirs(func(d *Directives) { d.MaxAge = 10; d.NoStore = true; d.Public = true }),
		},
		{
			name:  "quoted value",
			lines: []string{`max-age="3600"`},
			want:  dirs(func(d *Directives) { d.MaxAge = 3600 }),
		},
		{
			name:  "quoted s-maxage",
			lines: []string{`s-maxage="20"`},
			want:  dirs(func(d *Directives) { d.SMaxAge = 20 }),
		},
		{
			name:  "lone quote is invalid",
			lines: []string{`max-age="`},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "unterminated quote is invalid",
			lines: []string{`max-age="10`},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "whitespace around items",
			lines: []string{"  max-age=5 ,\tno-cache\t,  private  "},
			want:  dirs(func(d *Directives) { d.MaxAge = 5; d.NoCache = true; d.Private = true }),
		},
		{
			name:  "whitespace around equals",
			lines: []string{"max-age = 5"},
			want:  dirs(func(d *Directives) { d.MaxAge = 5 }),
		},
		{
			name:  "empty items between commas",
			lines: []string{",,max-age=5,,,no-store,"},
			want:  dirs(func(d *Directives) { d.MaxAge = 5; d.NoStore = true }),
		},
		{
			// §4.2.1: conflicting duplicates make the response stale.
			name:  "conflicting max-age is zero",
			lines: []string{"max-age=10, max-age=20"},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "conflicting max-age across field lines is zero",
			lines: []string{"max-age=20", "max-age=10"},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "equal duplicate max-age kept",
			lines: []string{"max-age=10, MAX-AGE=\"10\"", "max-age=10"},
			want:  dirs(func(d *Directives) { d.MaxAge = 10 }),
		},
		{
			name:  "duplicate max-age invalid first wins as zero",
			lines: []string{"max-age=abc, max-age=20"},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "conflicting s-maxage is zero",
			lines: []string{"s-maxage=1, s-maxage=2"},
			want:  dirs(func(d *Directives) { d.SMaxAge = 0 }),
		},
		{
			name:  "duplicate min-fresh keeps the largest",
			lines: []string{"min-fresh=5, min-fresh=20", "min-fresh=10"},
			want:  dirs(func(d *Directives) { d.MinFresh = 20 }),
		},
		{
			name:  "duplicate max-stale keeps the smallest",
			lines: []string{"max-stale=50, max-stale=20", "max-stale=30"},
			want:  dirs(func(d *Directives) { d.MaxStale = 20 }),
		},
		{
			name:  "bare max-stale gives way to a bound",
			lines: []string{"max-stale, max-stale=20"},
			want:  dirs(func(d *Directives) { d.MaxStale = 20 }),
		},
		{
			name:  "bound kept over a later bare max-stale",
			lines: []string{"max-stale=20, max-stale"},
			want:  dirs(func(d *Directives) { d.MaxStale = 20 }),
		},
		{
			name:  "duplicate stale windows keep the smallest",
			lines: []string{"stale-while-revalidate=60, stale-if-error=10, stale-while-revalidate=30, stale-if-error=100"},
			want:  dirs(func(d *Directives) { d.StaleWhileRevalidate = 30; d.StaleIfError = 10 }),
		},
		{
			name:  "invalid delta letters is zero",
			lines: []string{"max-age=abc"},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "invalid delta negative is zero",
			lines: []string{"max-age=-1"},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "invalid delta plus sign is zero",
			lines: []string{"max-age=+5"},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "invalid delta fraction is zero",
			lines: []string{"max-age=1.5"},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "invalid delta trailing garbage is zero",
			lines: []string{"max-age=10s"},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "empty delta is zero",
			lines: []string{"max-age="},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "bare max-age is zero",
			lines: []string{"max-age"},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "empty quoted delta is zero",
			lines: []string{`max-age=""`},
			want:  dirs(func(d *Directives) { d.MaxAge = 0 }),
		},
		{
			name:  "leading zeros",
			lines: []string{"max-age=007"},
			want:  dirs(func(d *Directives) { d.MaxAge = 7 }),
		},
		{
			name:  "largest 31-bit value kept",
			lines: []string{"max-age=2147483647"},
			want:  dirs(func(d *Directives) { d.MaxAge = 2147483647 }),
		},
		{
			name:  "2^31 kept",
			lines: []string{"max-age=2147483648"},
			want:  dirs(func(d *Directives) { d.MaxAge = 2147483648 }),
		},
		{
			name:  "2^31+1 becomes 2^31",
			lines: []string{"max-age=2147483649"},
			want:  dirs(func(d *Directives) { d.MaxAge = 2147483648 }),
		},
		{
			name:  "huge delta becomes 2^31",
			lines: []string{"max-age=99999999999999999999999999999999"},
			want:  dirs(func(d *Directives) { d.MaxAge = 2147483648 }),
		},
		{
			name:  "huge delta after 2^63 digits becomes 2^31",
			lines: []string{"s-maxage=9223372036854775808"},
			want:  dirs(func(d *Directives) { d.SMaxAge = 2147483648 }),
		},
		{
			name:  "bare max-stale",
			lines: []string{"max-stale"},
			want:  dirs(func(d *Directives) { d.MaxStaleAny = true }),
		},
		{
			name:  "max-stale with value",
			lines: []string{"max-stale=30"},
			want:  dirs(func(d *Directives) { d.MaxStale = 30 }),
		},
		{
			name:  "max-stale with invalid value is zero",
			lines: []string{"max-stale=x"},
			want:  dirs(func(d *Directives) { d.MaxStale = 0 }),
		},
		{
			name:  "min-fresh",
			lines: []string{"min-fresh=5"},
			want:  dirs(func(d *Directives) { d.MinFresh = 5 }),
		},
		{
			name:  "rfc 5861 windows",
			lines: []string{"stale-while-revalidate=60, stale-if-error=86400"},
			want:  dirs(func(d *Directives) { d.StaleWhileRevalidate = 60; d.StaleIfError = 86400 }),
		},
		{
			name:  "every boolean",
			lines: []string{"no-store, no-cache, private, public, must-revalidate, proxy-revalidate, immutable, must-understand, only-if-cached, no-transform"},
			want: dirs(func(d *Directives) {
				d.NoStore, d.NoCache, d.Private, d.Public = true, true, true, true
				d.MustRevalidate, d.ProxyRevalidate, d.Immutable = true, true, true
				d.MustUnderstand, d.OnlyIfCached, d.NoTransform = true, true, true
			}),
		},
		{
			name:  "unknown directives ignored",
			lines: []string{"foo, bar=baz, x-ext=\"q\", max-age=5, fresh=100"},
			want:  dirs(func(d *Directives) { d.MaxAge = 5 }),
		},
		{
			name:  "prefix of a known name is unknown",
			lines: []string{"max-ag=5, no-stor, privat"},
			want:  dirs(nil),
		},
		{
			name:  "known name with suffix is unknown",
			lines: []string{"max-age2=5, no-store-x"},
			want:  dirs(nil),
		},
		{
			// §5.2.2.4: the qualified form lets the response be reused
			// without the listed fields.
			name:  "qualified no-cache",
			lines: []string{`no-cache="Set-Cookie"`},
			want:  dirs(func(d *Directives) { d.NoCacheFields = "Set-Cookie" }),
		},
		{
			name:  "qualified no-cache with list",
			lines: []string{`no-cache="Set-Cookie, X-Foo", max-age=5`},
			want:  dirs(func(d *Directives) { d.NoCacheFields = "Set-Cookie, X-Foo"; d.MaxAge = 5 }),
		},
		{
			// §5.2: recipients accept the token form too.
			name:  "qualified no-cache in token form",
			lines: []string{`No-Cache=Set-Cookie`},
			want:  dirs(func(d *Directives) { d.NoCacheFields = "Set-Cookie" }),
		},
		{
			name:  "qualified no-cache with an empty list is unqualified",
			lines: []string{`no-cache=""`},
			want:  dirs(func(d *Directives) { d.NoCache = true }),
		},
		{
			name:  "qualified no-cache with only commas is unqualified",
			lines: []string{`no-cache=" , "`},
			want:  dirs(func(d *Directives) { d.NoCache = true }),
		},
		{
			name:  "qualified and unqualified no-cache is unqualified",
			lines: []string{`no-cache="Set-Cookie", no-cache`},
			want:  dirs(func(d *Directives) { d.NoCache = true }),
		},
		{
			name:  "unqualified and qualified no-cache is unqualified",
			lines: []string{`no-cache`, `no-cache="Set-Cookie"`},
			want:  dirs(func(d *Directives) { d.NoCache = true }),
		},
		{
			name:  "two different qualified no-cache lists are unqualified",
			lines: []string{`no-cache="A", no-cache="B"`},
			want:  dirs(func(d *Directives) { d.NoCache = true }),
		},
		{
			name:  "the same qualified no-cache list twice",
			lines: []string{`no-cache="A", no-cache=A`},
			want:  dirs(func(d *Directives) { d.NoCacheFields = "A" }),
		},
		{
			name:  "qualified private",
			lines: []string{`private="Set-Cookie"`},
			want:  dirs(func(d *Directives) { d.PrivateFields = "Set-Cookie" }),
		},
		{
			name:  "qualified private with list",
			lines: []string{`private="Set-Cookie, Authorization", max-age=5`},
			want:  dirs(func(d *Directives) { d.PrivateFields = "Set-Cookie, Authorization"; d.MaxAge = 5 }),
		},
		{
			name:  "qualified and unqualified private is unqualified",
			lines: []string{`PRIVATE="Set-Cookie"`, `private`},
			want:  dirs(func(d *Directives) { d.Private = true }),
		},
		{
			// RFC 9110 §5.6.4: a comma inside a quoted-string is part of
			// the value, not a list separator.
			name:  "comma inside quoted value is not a separator",
			lines: []string{`no-cache="X-A, no-store, X-B", max-age=5`},
			want:  dirs(func(d *Directives) { d.NoCacheFields = "X-A, no-store, X-B"; d.MaxAge = 5 }),
		},
		{
			name:  "value on a directive that allows more makes it void",
			lines: []string{`public="yes", immutable=1, must-understand=true, no-store`},
			want:  dirs(func(d *Directives) { d.NoStore = true }),
		},
		{
			name:  "value on boolean directive ignored",
			lines: []string{"no-store=1, must-revalidate=yes"},
			want:  dirs(func(d *Directives) { d.NoStore = true; d.MustRevalidate = true }),
		},
		{
			name:  "directives across several lines merged",
			lines: []string{"max-age=5", "no-cache", "s-maxage=9, public"},
			want:  dirs(func(d *Directives) { d.MaxAge = 5; d.NoCache = true; d.SMaxAge = 9; d.Public = true }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.lines != nil {
				h["Cache-Control"] = tt.lines
			}
			if got := ParseDirectives(h); got != tt.want {
				t.Errorf("ParseDirectives(%q): got %+v, want %+v", tt.lines, got, tt.want)
			}
		})
	}
}

func TestParseDirectivesDoesNotAllocate(t *testing.T) {
	h := http.Header{"Cache-Control": {
		`Max-Age="3600", s-maxage=99999999999999, no-cache="Set-Cookie, X-Foo"`,
		"private, public, max-stale, min-fresh=1, stale-while-revalidate=5, stale-if-error=x, unknown=1",
	}}
	var sink Directives
	allocs := testing.AllocsPerRun(100, func() { sink = ParseDirectives(h) })
	if allocs != 0 {
		t.Errorf("ParseDirectives allocations: got %v, want 0", allocs)
	}
	_ = sink
}

func TestPragmaNoCache(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want bool
	}{
		{name: "none", h: http.Header{}, want: false},
		{name: "pragma no-cache", h: http.Header{"Pragma": {"no-cache"}}, want: true},
		{name: "case-insensitive", h: http.Header{"Pragma": {"No-Cache"}}, want: true},
		{name: "in a list with spaces", h: http.Header{"Pragma": {"foo,  no-cache "}}, want: true},
		{name: "second field line", h: http.Header{"Pragma": {"foo", "no-cache"}}, want: true},
		{name: "other pragma", h: http.Header{"Pragma": {"foo"}}, want: false},
		{name: "cache-control present wins", h: http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=5"}}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PragmaNoCache(tt.h); got != tt.want {
				t.Errorf("PragmaNoCache(%v): got %v, want %v", tt.h, got, tt.want)
			}
		})
	}
}
