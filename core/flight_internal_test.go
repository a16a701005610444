package core

import "testing"

// TestFlightSeal: seal reports whether any request joined the flight, and
// takes it out of the group, so that the next request leads a new one.
func TestFlightSeal(t *testing.T) {
	tests := []struct {
		name    string
		joiners int
		want    bool
	}{
		{"alone", 0, false},
		{"one waiter", 1, true},
		{"three waiters", 3, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := flightGroup{m: map[string]*flight{}}
			f, leader := g.join("k")
			if !leader {
				t.Fatal("the first join does not lead")
			}
			for range tc.joiners {
				if w, leads := g.join("k"); leads || w != f {
					t.Fatal("a later join leads, or got another flight")
				}
			}
			if got := g.seal("k", f); got != tc.want {
				t.Errorf("seal = %v, want %v", got, tc.want)
			}
			if next, leads := g.join("k"); !leads || next == f {
				t.Error("after seal, a join found the sealed flight; want a new one it leads")
			}
			g.finish("k", f, nil, "", 0) // the sealed flight still finishes
			select {
			case <-f.done:
			default:
				t.Error("finish did not release the sealed flight")
			}
			if _, ok := g.m["k"]; !ok {
				t.Error("finishing the sealed flight removed the new one")
			}
		})
	}
}
