package rfc9111

import "testing"

// RFC 5861 §4: only 500, 502, 503 and 504 are errors for stale-if-error.
func TestStaleIfErrorStatus(t *testing.T) {
	for code := 100; code < 1000; code++ {
		want := code == 500 || code == 502 || code == 503 || code == 504
		if got := StaleIfErrorStatus(code); got != want {
			t.Errorf("StaleIfErrorStatus(%d) = %v, want %v", code, got, want)
		}
	}
}
