package conformance

import (
	"testing"
	"time"
)

// TestFirstSamples checks which requests count as the outage's first and
// that each is timed from the fault: a request that waited on a slow but
// healthy store before the fault must not count that wait against the
// outage's goal (one store timeout plus the origin).
func TestFirstSamples(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	down, opened := at(1000), at(1500)
	tests := []struct {
		name    string
		start   int // ms
		took    int // ms
		want    bool
		wantDur int // ms, when counted
	}{
		{"ended before the fault", 100, 800, false, 0},
		{"ended exactly at the fault", 600, 400, false, 0},
		{"straddles the fault: only the part after counts", 780, 530, true, 310},
		{"started at the fault", 1000, 305, true, 305},
		{"started between fault and opening", 1200, 320, true, 320},
		{"started at the opening", 1500, 6, false, 0},
		{"started after the opening", 1700, 6, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := outageSample{start: at(tc.start), d: time.Duration(tc.took) * time.Millisecond}
			got := firstSamples([]outageSample{s}, down, opened)
			if !tc.want {
				if len(got) != 0 {
					t.Fatalf("counted %+v, want it left out", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d samples, want 1", len(got))
			}
			if want := time.Duration(tc.wantDur) * time.Millisecond; got[0].d != want {
				t.Errorf("timed %v, want %v", got[0].d, want)
			}
			if got[0].start.Before(down) {
				t.Errorf("starts at %v, before the fault %v", got[0].start, down)
			}
		})
	}
}
