package rfc9111

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

func TestSafe(t *testing.T) {
	tests := []struct {
		name   string
		method string
		want   bool
	}{
		{name: "GET", method: "GET", want: true},
		{name: "HEAD", method: "HEAD", want: true},
		{name: "OPTIONS", method: "OPTIONS", want: true},
		{name: "TRACE", method: "TRACE", want: true},
		{name: "POST", method: "POST", want: false},
		{name: "PUT", method: "PUT", want: false},
		{name: "DELETE", method: "DELETE", want: false},
		{name: "PATCH", method: "PATCH", want: false},
		{name: "CONNECT", method: "CONNECT", want: false},
		{name: "unknown method", method: "PURGE", want: false},
		{name: "methods are case-sensitive", method: "get", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Safe(tt.method); got != tt.want {
				t.Errorf("Safe(%q): got %v, want %v", tt.method, got, tt.want)
			}
		})
	}
}

func TestNonError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		want   bool
	}{
		{name: "100", status: 100, want: false},
		{name: "199", status: 199, want: false},
		{name: "200", status: 200, want: true},
		{name: "204", status: 204, want: true},
		{name: "299", status: 299, want: true},
		{name: "301", status: 301, want: true},
		{name: "304", status: 304, want: true},
		{name: "399", status: 399, want: true},
		{name: "400", status: 400, want: false},
		{name: "404", status: 404, want: false},
		{name: "500", status: 500, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NonError(tt.status); got != tt.want {
				t.Errorf("NonError(%d): got %v, want %v", tt.status, got, tt.want)
			}
		})
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", s, err)
	}
	return u
}

// TestInvalidationTargets checks RFC 9111 §4.4.
func TestInvalidationTargets(t *testing.T) {
	const target = "http://example.com/a/b?x=1"
	tests := []struct {
		name            string
		target          string
		location        string
		contentLocation string
		want            []string
	}{
		{name: "target only", target: target, want: []string{target}},
		{name: "absolute Location same origin", target: target, location: "http://example.com/c",
			want: []string{target, "http://example.com/c"}},
		{name: "relative Location", target: target, location: "c",
			want: []string{target, "http://example.com/a/c"}},
		{name: "root-relative Location", target: target, location: "/c?y=2",
			want: []string{target, "http://example.com/c?y=2"}},
		{name: "dot-dot Location", target: target, location: "../c",
			want: []string{target, "http://example.com/c"}},
		{name: "relative Content-Location", target: target, contentLocation: "b.json",
			want: []string{target, "http://example.com/a/b.json"}},
		{name: "Location then Content-Location", target: target, location: "/loc", contentLocation: "/cl",
			want: []string{target, "http://example.com/loc", "http://example.com/cl"}},
		{name: "explicit default port is same origin", target: target, location: "http://example.com:80/c",
			want: []string{target, "http://example.com:80/c"}},
		{name: "target explicit default port", target: "http://example.com:80/a", location: "http://example.com/c",
			want: []string{"http://example.com:80/a", "http://example.com/c"}},
		{name: "https default port", target: "https://example.com/a", location: "https://example.com:443/c",
			want: []string{"https://example.com/a", "https://example.com:443/c"}},
		{name: "host case-insensitive", target: target, location: "http://EXAMPLE.com/c",
			want: []string{target, "http://EXAMPLE.com/c"}},
		{name: "cross-origin host excluded", target: target, location: "http://other.example/c",
			want: []string{target}},
		{name: "cross-origin scheme excluded", target: target, location: "https://example.com/c",
			want: []string{target}},
		{name: "cross-origin port excluded", target: target, location: "http://example.com:8080/c",
			want: []string{target}},
		{name: "https on port 80 is cross-origin", target: "https://example.com/a", location: "https://example.com:80/c",
			want: []string{"https://example.com/a"}},
		{name: "network-path reference to other host excluded", target: target, location: "//other.example/c",
			want: []string{target}},
		{name: "network-path reference to same host", target: target, location: "//example.com/c",
			want: []string{target, "http://example.com/c"}},
		{name: "cross-origin Content-Location excluded, Location kept", target: target,
			location: "/ok", contentLocation: "http://evil.example/x",
			want: []string{target, "http://example.com/ok"}},
		{name: "bad Location skipped", target: target, location: "http://[::1",
			want: []string{target}},
		{name: "bad percent-encoding skipped", target: target, location: "/a%zz", contentLocation: "/good",
			want: []string{target, "http://example.com/good"}},
		{name: "IPv6 target", target: "http://[::1]:8080/a", location: "/b",
			want: []string{"http://[::1]:8080/a", "http://[::1]:8080/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.location != "" {
				h.Set("Location", tt.location)
			}
			if tt.contentLocation != "" {
				h.Set("Content-Location", tt.contentLocation)
			}
			var got []string
			for _, u := range InvalidationTargets(mustParse(t, tt.target), h) {
				got = append(got, u.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("InvalidationTargets(%q, Location %q, Content-Location %q): got %q, want %q",
					tt.target, tt.location, tt.contentLocation, got, tt.want)
			}
		})
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{name: "identical", a: "http://example.com/a", b: "http://example.com/b", want: true},
		{name: "default port explicit", a: "http://example.com/", b: "http://example.com:80/", want: true},
		{name: "https default port explicit", a: "https://example.com/", b: "https://example.com:443/", want: true},
		{name: "scheme case", a: "HTTP://example.com/", b: "http://example.com/", want: true},
		{name: "host case", a: "http://Example.COM/", b: "http://example.com/", want: true},
		{name: "different scheme", a: "http://example.com/", b: "https://example.com/", want: false},
		{name: "different host", a: "http://example.com/", b: "http://example.org/", want: false},
		{name: "subdomain", a: "http://example.com/", b: "http://www.example.com/", want: false},
		{name: "different port", a: "http://example.com:8080/", b: "http://example.com:8081/", want: false},
		{name: "non-default vs default port", a: "http://example.com:8080/", b: "http://example.com/", want: false},
		{name: "IPv6 with default port", a: "http://[::1]/", b: "http://[::1]:80/", want: true},
		{name: "IPv6 different port", a: "http://[::1]:8080/", b: "http://[::1]/", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SameOrigin(mustParse(t, tt.a), mustParse(t, tt.b)); got != tt.want {
				t.Errorf("SameOrigin(%q, %q): got %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
