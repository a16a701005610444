package rfc9111

import (
	"net/http"
	"slices"
	"testing"
)

func ccHeader(cc string) http.Header {
	h := http.Header{}
	if cc != "" {
		h.Set("Cache-Control", cc)
	}
	return h
}

// TestStorable checks RFC 9111 §3, §3.5 and §5.2.2.3.
func TestStorable(t *testing.T) {
	tests := []struct {
		name   string
		status int
		reqCC  string
		respCC string
		auth   bool // the request carries Authorization
		shared bool
		want   string
	}{
		{name: "plain 200", status: 200, want: ""},
		{name: "plain 200 shared", status: 200, shared: true, want: ""},
		{name: "1xx not final", status: 100, want: "status"},
		{name: "103 not final", status: 103, want: "status"},
		{name: "206 not storable", status: 206, respCC: "max-age=60", want: "status"},
		{name: "304 not storable", status: 304, respCC: "max-age=60", want: "status"},
		{name: "412 not storable", status: 412, respCC: "max-age=60", want: "status"},
		{name: "416 not storable", status: 416, respCC: "max-age=60", want: "status"},
		{name: "404 with max-age", status: 404, respCC: "max-age=60", want: ""},
		{name: "500 with max-age", status: 500, respCC: "max-age=60", want: ""},
		{name: "206 with must-understand not storable", status: 206, respCC: "must-understand, no-store", want: "status"},
		{name: "404 storable", status: 404, want: ""},
		{name: "500 storable by protocol", status: 500, want: ""},
		{name: "response no-store", status: 200, respCC: "no-store", want: "no-store"},
		{name: "response no-store with max-age", status: 200, respCC: "max-age=60, no-store", want: "no-store"},
		{name: "response no-store case-insensitive", status: 200, respCC: "NO-STORE", want: "no-store"},
		{name: "request no-store", status: 200, reqCC: "no-store", want: "request no-store"},
		{name: "request no-store beats must-understand", status: 200, reqCC: "no-store", respCC: "must-understand, no-store", want: "request no-store"},
		{name: "request no-cache does not prevent storing", status: 200, reqCC: "no-cache", want: ""},
		{name: "must-understand overrides no-store for 200", status: 200, respCC: "must-understand, no-store", want: ""},
		{name: "must-understand overrides no-store for 404", status: 404, respCC: "must-understand, no-store, max-age=5", want: ""},
		{name: "must-understand overrides no-store for 500", status: 500, respCC: "must-understand, no-store", want: ""},
		{name: "must-understand alone for 200", status: 200, respCC: "must-understand", want: ""},
		{name: "must-understand rejects unknown status 299", status: 299, respCC: "must-understand, no-store", want: "must-understand"},
		{name: "must-understand rejects unknown status 499", status: 499, respCC: "must-understand", want: "must-understand"},
		{name: "must-understand rejects unknown status 599", status: 599, respCC: "must-understand, no-store", want: "must-understand"},
		{name: "unknown status without must-understand", status: 299, want: ""},
		{name: "private in private cache", status: 200, respCC: "private, max-age=60", want: ""},
		{name: "private in shared cache", status: 200, respCC: "private, max-age=60", shared: true, want: "private"},
		// §5.2.2.7: a shared cache may store the rest of the response.
		{name: "qualified private in shared cache", status: 200, respCC: `private="Set-Cookie", max-age=60`, shared: true, want: ""},
		{name: "authorization in private cache", status: 200, auth: true, want: ""},
		{name: "authorization in shared cache", status: 200, auth: true, shared: true, want: "authorization"},
		{name: "authorization with max-age in shared cache", status: 200, respCC: "max-age=60", auth: true, shared: true, want: "authorization"},
		{name: "authorization with public in shared cache", status: 200, respCC: "public", auth: true, shared: true, want: ""},
		{name: "authorization with s-maxage in shared cache", status: 200, respCC: "s-maxage=60", auth: true, shared: true, want: ""},
		{name: "authorization with s-maxage=0 in shared cache", status: 200, respCC: "s-maxage=0", auth: true, shared: true, want: ""},
		{name: "authorization with must-revalidate in shared cache", status: 200, respCC: "must-revalidate", auth: true, shared: true, want: ""},
		{name: "authorization with proxy-revalidate in shared cache", status: 200, respCC: "proxy-revalidate", auth: true, shared: true, want: "authorization"},
		{name: "authorization with public and private in shared cache", status: 200, respCC: "public, private", auth: true, shared: true, want: "private"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqH := ccHeader(tt.reqCC)
			if tt.auth {
				reqH.Set("Authorization", "Bearer token")
			}
			got := Storable(tt.status, ParseDirectives(reqH), ParseDirectives(ccHeader(tt.respCC)), reqH, tt.shared)
			if got != tt.want {
				t.Errorf("Storable(%d, req %q, resp %q, auth %v, shared %v): got %q, want %q",
					tt.status, tt.reqCC, tt.respCC, tt.auth, tt.shared, got, tt.want)
			}
		})
	}
}

func TestUnderstood(t *testing.T) {
	tests := []struct {
		name   string
		status int
		want   bool
	}{
		{name: "100 not final", status: 100, want: false},
		{name: "200", status: 200, want: true},
		{name: "204", status: 204, want: true},
		{name: "206 partial content", status: 206, want: false},
		{name: "299 unknown", status: 299, want: false},
		{name: "301", status: 301, want: true},
		{name: "404", status: 404, want: true},
		{name: "418", status: 418, want: true},
		{name: "499 unknown", status: 499, want: false},
		{name: "503", status: 503, want: true},
		{name: "600 out of range", status: 600, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Understood(tt.status); got != tt.want {
				t.Errorf("Understood(%d): got %v, want %v", tt.status, got, tt.want)
			}
		})
	}
}

// TestHasFreshnessInfo checks the last condition of RFC 9111 §3.
func TestHasFreshnessInfo(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		respCC  string
		expires bool
		shared  bool
		want    bool
	}{
		{name: "heuristically cacheable status", status: 200, want: true},
		{name: "not heuristically cacheable", status: 302, want: false},
		{name: "public", status: 302, respCC: "public", want: true},
		{name: "max-age", status: 302, respCC: "max-age=60", want: true},
		{name: "max-age zero", status: 500, respCC: "max-age=0", want: true},
		{name: "Expires", status: 302, expires: true, want: true},
		{name: "s-maxage in shared cache", status: 302, respCC: "s-maxage=5", shared: true, want: true},
		{name: "s-maxage in private cache", status: 302, respCC: "s-maxage=5", want: false},
		{name: "private in private cache", status: 302, respCC: "private", want: true},
		{name: "private in shared cache", status: 302, respCC: "private", shared: true, want: false},
		{name: "no-cache alone", status: 500, respCC: "no-cache", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := ccHeader(tt.respCC)
			if tt.expires {
				h.Set("Expires", httpDate(t0))
			}
			if got := HasFreshnessInfo(tt.status, h, ParseDirectives(h), tt.shared); got != tt.want {
				t.Errorf("HasFreshnessInfo(%d, %q, expires %v, shared %v): got %v, want %v",
					tt.status, tt.respCC, tt.expires, tt.shared, got, tt.want)
			}
		})
	}
}

func TestUnstoredFields(t *testing.T) {
	tests := []struct {
		name    string
		cc      string
		shared  bool
		want    []string
		noCache bool
		private bool
	}{
		{name: "none", cc: "max-age=60"},
		{name: "no-cache list, private cache", cc: `no-cache="set-cookie, X-Foo"`, want: []string{"Set-Cookie", "X-Foo"}},
		{name: "no-cache list, shared cache", cc: `no-cache="Set-Cookie"`, shared: true, want: []string{"Set-Cookie"}},
		{name: "private list, private cache stores it", cc: `private="Set-Cookie"`},
		{name: "private list, shared cache", cc: `private="Set-Cookie"`, shared: true, want: []string{"Set-Cookie"}},
		{name: "both lists, shared cache", cc: `no-cache="A", private="B"`, shared: true, want: []string{"A", "B"}},
		{name: "no-cache naming Vary is unqualified", cc: `no-cache="X, vary"`, noCache: true},
		{name: "no-cache naming Content-Encoding is unqualified", cc: `no-cache="Content-Encoding"`, noCache: true},
		{name: "private naming Content-Type is unqualified", cc: `private="content-type"`, shared: true, private: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := ParseDirectives(http.Header{"Cache-Control": {tc.cc}})
			d.ProtectLists()
			if got := d.Unstored(tc.shared); !slices.Equal(got, tc.want) {
				t.Errorf("Unstored(%q, shared %v) = %q, want %q", tc.cc, tc.shared, got, tc.want)
			}
			if d.NoCache != tc.noCache || d.Private != tc.private {
				t.Errorf("after ProtectLists: NoCache %v Private %v, want %v %v", d.NoCache, d.Private, tc.noCache, tc.private)
			}
		})
	}
}

func TestExplicitFreshness(t *testing.T) {
	tests := []struct {
		name   string
		h      http.Header
		shared bool
		want   bool
	}{
		{"none", http.Header{}, false, false},
		{"max-age", ccHeader("max-age=0"), false, true},
		{"s-maxage, private cache", ccHeader("s-maxage=60"), false, false},
		{"s-maxage, shared cache", ccHeader("s-maxage=60"), true, true},
		{"Expires", http.Header{"Expires": {"0"}}, false, true},
		{"public is not explicit freshness", ccHeader("public"), false, false},
	}
	for _, tc := range tests {
		if got := ExplicitFreshness(tc.h, ParseDirectives(tc.h), tc.shared); got != tc.want {
			t.Errorf("%s: ExplicitFreshness = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFieldListsDoNotAllocateWhenAbsent: every stored response pays for
// ProtectLists and Unstored; without field lists they allocate nothing.
func TestFieldListsDoNotAllocateWhenAbsent(t *testing.T) {
	d := ParseDirectives(ccHeader("max-age=60, no-cache, private"))
	allocs := testing.AllocsPerRun(100, func() {
		d.ProtectLists()
		if d.Unstored(true) != nil {
			t.Fatal("fields")
		}
	})
	if allocs != 0 {
		t.Errorf("allocations: %v, want 0", allocs)
	}
}
