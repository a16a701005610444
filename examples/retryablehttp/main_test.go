package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// counts are the numbers of one output line.
type counts struct{ requests, origin, fromCache, stale int }

var lineRE = regexp.MustCompile(`(?m)^(.+?)\s+requests\s+(\d+)\s+origin\s+(\d+)\s+from cache\s+(\d+)\s+stale\s+(\d+)\s+time\s+\S+$`)

func parse(t *testing.T, out string) map[string]counts {
	t.Helper()
	m := make(map[string]counts)
	for _, sm := range lineRE.FindAllStringSubmatch(out, -1) {
		var n [4]int
		for i := range n {
			v, err := strconv.Atoi(sm[i+2])
			if err != nil {
				t.Fatal(err)
			}
			n[i] = v
		}
		m[sm[1]] = counts{n[0], n[1], n[2], n[3]}
	}
	return m
}

func TestRun(t *testing.T) {
	const n, paths = 3, 3
	var buf bytes.Buffer
	if err := run(context.Background(), &buf, n, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	got := parse(t, out)
	for _, tc := range []struct {
		label string
		want  counts
	}{
		// Misses, then hits.
		{"origin up, fresh", counts{requests: n * paths, origin: paths, fromCache: n*paths - paths}},
		// Every request asks the origin once and gets the stale copy on its
		// 500: the cache is below the retry loop, so no retry is made.
		{"origin down, stale-if-error", counts{requests: n * paths, origin: n * paths, fromCache: n * paths, stale: n * paths}},
	} {
		t.Run(tc.label, func(t *testing.T) {
			c, ok := got[tc.label]
			if !ok {
				t.Fatalf("no line %q in:\n%s", tc.label, out)
			}
			if c != tc.want {
				t.Errorf("got %+v, want %+v", c, tc.want)
			}
		})
	}
	if len(got) != 2 {
		t.Errorf("got %d result lines, want 2:\n%s", len(got), out)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("output:\n%s", out)
	}
}

func TestRunCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	err := run(ctx, &buf, 1, time.Millisecond)
	if err == nil {
		t.Fatalf("run with a canceled context = nil, want an error; output:\n%s", buf.String())
	}
}
