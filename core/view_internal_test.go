package core

import "testing"

// TestDetach: an Entry decoded from a loan keeps nothing of it: a body
// aliasing the loan is copied, one of the codec's own is kept as it is.
func TestDetach(t *testing.T) {
	loan := []byte("headerbody")
	own := []byte("body")
	tests := []struct {
		name     string
		body     []byte
		wantCopy bool
	}{
		{"nil body", nil, false},
		{"empty body in the loan", loan[10:10], false},
		{"body in the loan", loan[6:], true},
		{"body overlapping the loan's start", loan[:4], true},
		{"body of the codec's own", own, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &Entry{Body: tc.body}
			detach(e, loan)
			if string(e.Body) != string(tc.body) || (e.Body == nil) != (tc.body == nil) {
				t.Fatalf("body %q (nil %v), want %q (nil %v)", e.Body, e.Body == nil, tc.body, tc.body == nil)
			}
			if overlaps(e.Body[:cap(e.Body)], loan) {
				t.Errorf("body still shares the loan's memory")
			}
			if copied := len(tc.body) > 0 && &e.Body[0] != &tc.body[0]; copied != tc.wantCopy {
				t.Errorf("copied %v, want %v", copied, tc.wantCopy)
			}
		})
	}
}
