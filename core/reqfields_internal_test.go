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
		name string
		h    http.Header
		want requestFields
	}{
		{"none", http.Header{}, requestFields{}},
		{"nil", nil, requestFields{}},
		{"unrelated", http.Header{"Accept": {"*/*"}}, requestFields{}},
		{"every one", http.Header{
			"Cache-Control": {"no-cache", "max-age=0"}, "Pragma": {"no-cache"},
			"If-None-Match": {`"a"`}, "If-Modified-Since": {"Mon, 01 Jan 2024 00:00:00 GMT"},
			"If-Match": {`"b"`}, "If-Unmodified-Since": {"Mon, 01 Jan 2024 00:00:00 GMT"},
		}, requestFields{
			cacheControl: []string{"no-cache", "max-age=0"}, pragma: []string{"no-cache"},
			ifNoneMatch: true, ifModifiedSince: true, ifMatch: true, ifUnmodifiedSince: true,
		}},
		{"empty lines are absent", http.Header{"If-None-Match": {}, "If-Match": nil, "Pragma": {"x"}},
			requestFields{pragma: []string{"x"}}},
		{"only validators", http.Header{"If-None-Match": {`"a"`}, "Accept": {"x"}}, requestFields{ifNoneMatch: true}},
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
			a.ifMatch == b.ifMatch && a.ifUnmodifiedSince == b.ifUnmodifiedSince
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
			t.Run(tc.name+"/large="+strconv.FormatBool(large), func(t *testing.T) {
				if got := readRequestFields(h); !same(got, tc.want) {
					t.Errorf("readRequestFields = %+v, want %+v", got, tc.want)
				}
			})
		}
	}
}
