package core

import (
	"net/http"
	"strconv"
	"testing"
)

// TestReadRequestFields: the walk of a small header and the lookups in a
// large one read the same fields.
func TestReadRequestFields(t *testing.T) {
	tests := []struct {
		name  string
		h     http.Header
		want  requestFields // canonical is set from mixed
		mixed bool          // a name is not in canonical form
	}{
		{"none", http.Header{}, requestFields{}, false},
		{"nil", nil, requestFields{}, false},
		{"unrelated", http.Header{"Accept": {"*/*"}}, requestFields{}, false},
		{"every one", http.Header{
			"Cache-Control": {"no-cache", "max-age=0"}, "Pragma": {"no-cache"},
			"If-None-Match": {`"a"`}, "If-Modified-Since": {"Mon, 01 Jan 2024 00:00:00 GMT"},
			"If-Match": {`"b"`}, "If-Unmodified-Since": {"Mon, 01 Jan 2024 00:00:00 GMT"},
		}, requestFields{
			cacheControl: []string{"no-cache", "max-age=0"}, pragma: []string{"no-cache"},
			ifNoneMatch: true, ifModifiedSince: true, ifMatch: true, ifUnmodifiedSince: true,
		}, false},
		{"empty lines are absent", http.Header{"If-None-Match": {}, "If-Match": nil, "Pragma": {"x"}},
			requestFields{pragma: []string{"x"}}, false},
		{"only validators", http.Header{"If-None-Match": {`"a"`}, "Accept": {"x"}}, requestFields{ifNoneMatch: true}, false},
		// A name not in canonical form is reported, and not read: the
		// fields are read again from the canonical header.
		{"lower-case name", http.Header{"cache-control": {"no-store"}, "Accept": {"x"}}, requestFields{}, true},
		{"upper-case name", http.Header{"ACCEPT": {"x"}, "Pragma": {"no-cache"}}, requestFields{pragma: []string{"no-cache"}}, true},
	}
	same := func(a, b requestFields) bool {
		eq := func(x, y []string) bool {
			if len(x) != len(y) {
				return false
			}
			for i := range x {
				if x[i] != y[i] {
					return false
				}
			}
			return true
		}
		return eq(a.cacheControl, b.cacheControl) && eq(a.pragma, b.pragma) &&
			a.ifNoneMatch == b.ifNoneMatch && a.ifModifiedSince == b.ifModifiedSince &&
			a.ifMatch == b.ifMatch && a.ifUnmodifiedSince == b.ifUnmodifiedSince &&
			a.canonical == b.canonical
	}
	for _, tc := range tests {
		for _, large := range []bool{false, true} {
			h := tc.h.Clone()
			if large { // past smallHeader: read by lookups
				if h == nil {
					h = http.Header{}
				}
				for i := range smallHeader + 1 {
					h["X-Filler-"+strconv.Itoa(i)] = []string{"v"}
				}
			}
			want := tc.want
			want.canonical = !tc.mixed
			t.Run(tc.name+"/large="+strconv.FormatBool(large), func(t *testing.T) {
				if got := readRequestFields(h); !same(got, want) {
					t.Errorf("readRequestFields = %+v, want %+v", got, want)
				}
			})
		}
	}
}
