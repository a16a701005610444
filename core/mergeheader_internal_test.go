package core

import (
	"net/http"
	"reflect"
	"testing"
)

// TestMergeHeader checks the update of a stored header by a 304 (RFC 9111
// §3.2, §4.3.4): newer's fields replace the stored ones, except the fields
// never stored (hop-by-hop ones and those newer's Connection names), the
// fields a 304 never changes, and Cache-Status; what newer's merged
// directives keep out of storage is removed; and the result shares no value
// array with either input.
func TestMergeHeader(t *testing.T) {
	tests := []struct {
		name          string
		stored, newer http.Header
		want          http.Header
	}{
		{
			name:   "newer replaces and adds fields",
			stored: http.Header{"Etag": {`"a"`}, "X-Old": {"1"}, "Content-Type": {"text/plain"}},
			newer:  http.Header{"Etag": {`"b"`}, "X-New": {"1", "2"}, "Date": {"Mon, 01 Jan 2024 00:00:00 GMT"}},
			want: http.Header{"Etag": {`"b"`}, "X-Old": {"1"}, "Content-Type": {"text/plain"},
				"X-New": {"1", "2"}, "Date": {"Mon, 01 Jan 2024 00:00:00 GMT"}},
		},
		{
			name:   "hop-by-hop fields and those Connection names are not taken",
			stored: http.Header{"X-Hop": {"stored"}, "Keep-Alive": nil},
			newer: http.Header{"Connection": {"x-hop, close"}, "X-Hop": {"newer"}, "Keep-Alive": {"timeout=5"},
				"Te": {"trailers"}, "Upgrade": {"h2c"}, "Age": {"10"}, "Trailer": {"X"}, "X-Kept": {"k"}},
			want: http.Header{"X-Hop": {"stored"}, "Keep-Alive": nil, "X-Kept": {"k"}},
		},
		{
			name:   "fields a 304 never changes, and Cache-Status",
			stored: http.Header{"Content-Length": {"5"}, "Content-Encoding": {"gzip"}},
			newer: http.Header{"Content-Length": {"0"}, "Content-Encoding": {"br"}, "Transfer-Encoding": {"chunked"},
				"Content-Range": {"bytes 0-1/2"}, "Cache-Status": {"upstream; hit"}},
			want: http.Header{"Content-Length": {"5"}, "Content-Encoding": {"gzip"}},
		},
		{
			name:   "a qualified no-cache in the merged directives removes its fields",
			stored: http.Header{"Set-Cookie": {"a=1"}, "X-Private": {"p"}},
			newer:  http.Header{"Cache-Control": {`max-age=60, no-cache="Set-Cookie"`}},
			want:   http.Header{"X-Private": {"p"}, "Cache-Control": {`max-age=60, no-cache="Set-Cookie"`}},
		},
		{
			name:   "a field without values is taken as one",
			stored: nil,
			newer:  http.Header{"X-Empty": nil, "X-Zero": {}},
			want:   http.Header{"X-Empty": nil, "X-Zero": {}},
		},
	}
	c := newKeyTestCache(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stored := tc.stored.Clone() // merged into in place
			got := c.mergeHeader(stored, tc.newer)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("mergeHeader =\n%v\nwant\n%v", got, tc.want)
			}
			if stored != nil && reflect.ValueOf(got).UnsafePointer() != reflect.ValueOf(stored).UnsafePointer() {
				t.Errorf("mergeHeader returned a new map; want stored, merged into")
			}
			// Writing to the result's values does not change newer's.
			for k, v := range got {
				if len(v) > 0 {
					v[0] = "changed"
				}
				if nv := tc.newer[k]; len(nv) > 0 && nv[0] == "changed" {
					t.Errorf("%s: the result shares its values with newer", k)
				}
			}
		})
	}
}
