package results

import (
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/hoardhttp/hoard/bench
cpu: Test CPU
loadavg: 1.50 1.20 0.90
BenchmarkPeers/hit-1KiB/floor-2   	  300	  1500 ns/op	 470.50 MB/s	  1288 B/op	  12 allocs/op
BenchmarkPeers/hit-1KiB/floor-2   	  300	  1000 ns/op	 470.50 MB/s	  1288 B/op	  12 allocs/op
BenchmarkPeers/hit-1KiB/floor-2   	  300	  9000 ns/op	 470.50 MB/s	  1288 B/op	  12 allocs/op
BenchmarkPeers/hit-1KiB/hoard-mem-2 	  300	  2000 ns/op	 2376 B/op	  14 allocs/op
BenchmarkPeers/hit-1KiB/hoard-mem-2 	  300	  3000 ns/op	 2376 B/op	  14 allocs/op
--- FAIL: BenchmarkPeers/other
BenchmarkNotAResult
PASS
`

func TestParse(t *testing.T) {
	s, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(s.Names, ","), "BenchmarkPeers/hit-1KiB/floor,BenchmarkPeers/hit-1KiB/hoard-mem"; got != want {
		t.Fatalf("names %q, want %q", got, want)
	}
	if s.Header["cpu"] != "Test CPU" || s.Header["goos"] != "linux" {
		t.Errorf("header %v", s.Header)
	}
	for _, tc := range []struct {
		name, unit string
		want       float64
		ok         bool
	}{
		{"BenchmarkPeers/hit-1KiB/floor", "ns/op", 1500, true},     // odd count: the middle one
		{"BenchmarkPeers/hit-1KiB/hoard-mem", "ns/op", 2500, true}, // even count: the mean of the middle two
		{"BenchmarkPeers/hit-1KiB/hoard-mem", "allocs/op", 14, true},
		{"BenchmarkPeers/hit-1KiB/hoard-mem", "MB/s", 0, false},
		{"BenchmarkPeers/missing", "ns/op", 0, false},
	} {
		got, ok := s.Median(tc.name, tc.unit)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Median(%s, %s) = %v, %v; want %v, %v", tc.name, tc.unit, got, ok, tc.want, tc.ok)
		}
	}
	if len(s.Loads) != 1 || s.Loads[0] != "1.50 1.20 0.90" {
		t.Errorf("Loads = %q", s.Loads)
	}
	if n := s.Count("BenchmarkPeers/hit-1KiB/floor"); n != 3 {
		t.Errorf("Count = %d, want 3", n)
	}
}
