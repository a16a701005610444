package core

import (
	"strings"
	"testing"
	"time"
)

// TestGlobPrefix holds the documented semantics of WithURLExpireAfter
// patterns: '*' matches any run of characters including '/', '?' one
// character, and every pattern matches a prefix of the URL.
func TestGlobPrefix(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "example.com/a", true},
		{"example.com", "example.com/a/b", true},
		{"example.com/a", "example.com/b", false},
		{"example.com/a/b", "example.com/a", false},
		{"*", "", true},
		{"*/a", "example.com/a", true},
		{"*/a", "example.com/x/y/a", true},
		{"*/a", "example.com/b", false},
		{"*/a/*/c", "h/a/x/y/c/d", true},
		{"*/a/*/c", "h/a/x/y/d", false},
		{"?xample.com", "example.com", true},
		{"?", "", false},
		{"ex?mple", "exmple", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"a*b", "ab", true},
		{"a*bc", "abXbc", true},
		{"a*bc", "abXb", false},
		{"*.example.com/v?/", "api.example.com/v1/users", true},
		{"*.example.com/v?/", "api.example.com/v12/users", false},
		{"**a", "xxa", true},
		{"a**", "a", true},
	}
	for _, tc := range tests {
		if got := globPrefix(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globPrefix(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// TestGlobPrefixBoundedWork: patterns with many wildcards against long URLs
// that almost match take time linear in the product of their lengths, not
// exponential (a backtracking matcher took 85 s for the first row). The
// matches run in a goroutine so that a regression fails the test instead of
// hanging the suite.
func TestGlobPrefixBoundedWork(t *testing.T) {
	long := strings.Repeat("a", 60)
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*a*a*a*a*a*a*b", long, false},
		{"*a*a*a*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 4000), false},
		{strings.Repeat("*a", 200) + "b", strings.Repeat("a", 8000), false},
		{strings.Repeat("*?", 100) + "b", strings.Repeat("a", 8000), false},
		{"*a*a*a*a*a*a*b", long + "b", true},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, tc := range tests {
			if got := globPrefix(tc.pattern, tc.s); got != tc.want {
				t.Errorf("globPrefix(%q, %d bytes) = %v, want %v", tc.pattern, len(tc.s), got, tc.want)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("pathological patterns still matching after 2s: the matcher backtracks exponentially")
	}
}
