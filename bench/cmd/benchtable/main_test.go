package main

import (
	"strings"
	"testing"

	"github.com/hoardhttp/hoard/bench/internal/results"
)

func TestSplice(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
		wantErr         bool
	}{
		{"replaces the section", "a\n<!-- peers:begin -->\nold\n<!-- peers:end -->\nb\n", "a\n<!-- peers:begin -->\nnew\n<!-- peers:end -->\nb\n", false},
		{"empty section", "<!-- peers:begin --><!-- peers:end -->", "<!-- peers:begin -->\nnew\n<!-- peers:end -->", false},
		{"no markers", "a\nb\n", "", true},
		{"markers reversed", "<!-- peers:end --><!-- peers:begin -->", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splice([]byte(tc.doc), "new\n")
			if tc.wantErr {
				if err == nil {
					t.Fatalf("splice succeeded with %q", got)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("splice = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestRender(t *testing.T) {
	const out = `loadavg: 0.50 0.40 0.30
BenchmarkPeers/hit-1KiB/floor-2  1000  1000 ns/op  1288 B/op  12 allocs/op
BenchmarkPeers/hit-1KiB/hoard-mem-2  1000  1400 ns/op  2376 B/op  14 allocs/op
BenchmarkPeers/miss-1KiB/gregjones-2  1000  10000 ns/op  1 B/op  56 allocs/op
BenchmarkPeers/miss-1KiB/hoard-mem-2  1000  8000 ns/op  1 B/op  56 allocs/op
`
	set, err := results.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	got := render(set, "make bench-peers", "test machine", "chart.svg")
	for _, want := range []string{
		"| fresh hit 1 KiB | 1 µs, 12 allocs | | 1.4 µs, 14 allocs (1.40×) |", // gregjones has no hit here
		"| miss + store 1 KiB | | 10 µs, 56 allocs | 8 µs, 56 allocs (0.80×) |",
		"| memstore 1 KiB hit ≤ 1.5× the floor | 1.40× | **met** |",
		"| miss + store over memstore faster than gregjones (hoard/gregjones < 1) | 0.80× | **met** |",
		"| filestore 1 KiB hit ≤ 2.5× the memstore hit | not measured in this run | — |",
		"load average before each run: 0.5–0.5",
		"![Hit latency and allocations per contender and store](chart.svg)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the section lacks %q:\n%s", want, got)
		}
	}
}
