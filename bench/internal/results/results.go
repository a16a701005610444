// Package results reads the output of go test -bench: every line of a
// benchmark result, grouped by name across the runs of -count, with the
// median of each metric.
package results

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Sample is one result line: its metrics by unit ("ns/op", "B/op",
// "allocs/op", "MB/s").
type Sample map[string]float64

// Set holds the samples of every benchmark, by name without the -GOMAXPROCS
// suffix, in the order the names first appeared.
type Set struct {
	Names   []string
	Samples map[string][]Sample
	// Header holds the goos/goarch/pkg/cpu lines of the first run.
	Header map[string]string
	// Loads holds the value of every "loadavg: " line, in order: the
	// machine's load averages, which make bench-peers records before each
	// run.
	Loads []string
}

// Parse reads go test -bench output from r. Lines that are not results are
// skipped, except the goos, goarch, pkg and cpu lines, kept in Header.
func Parse(r io.Reader) (*Set, error) {
	s := &Set{Samples: map[string][]Sample{}, Header: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []string{"goos", "goarch", "pkg", "cpu"} {
			if v, ok := strings.CutPrefix(line, k+": "); ok {
				if _, seen := s.Header[k]; !seen {
					s.Header[k] = strings.TrimSpace(v)
				}
			}
		}
		if v, ok := strings.CutPrefix(line, "loadavg: "); ok {
			s.Loads = append(s.Loads, strings.TrimSpace(v))
			continue
		}
		name, sample, ok := parseLine(line)
		if !ok {
			continue
		}
		if _, seen := s.Samples[name]; !seen {
			s.Names = append(s.Names, name)
		}
		s.Samples[name] = append(s.Samples[name], sample)
	}
	return s, sc.Err()
}

// parseLine parses "BenchmarkX/y-2  1000  123 ns/op  45 B/op  6 allocs/op".
func parseLine(line string) (string, Sample, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return "", nil, false
	}
	if _, err := strconv.Atoi(f[1]); err != nil {
		return "", nil, false
	}
	name := f[0]
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	s := Sample{}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return "", nil, false
		}
		s[f[i+1]] = v
	}
	if _, ok := s["ns/op"]; !ok {
		return "", nil, false
	}
	return name, s, true
}

// Median returns the median of unit over the samples of name, and whether
// there was any.
func (s *Set) Median(name, unit string) (float64, bool) {
	var vs []float64
	for _, x := range s.Samples[name] {
		if v, ok := x[unit]; ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2], true
	}
	return (vs[n/2-1] + vs[n/2]) / 2, true
}

// Count is the number of samples of name.
func (s *Set) Count(name string) int { return len(s.Samples[name]) }
