package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestMeasure(t *testing.T) {
	const n = 5
	r, err := measure(context.Background(), n, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(r.rows), len(resources()); got != want {
		t.Fatalf("got %d rows, want %d", got, want)
	}
	for _, rw := range r.rows {
		t.Run(rw.label, func(t *testing.T) {
			if rw.requests != n {
				t.Errorf("requests = %d, want %d", rw.requests, n)
			}
			if rw.originHits != 1 {
				t.Errorf("origin hits = %d, want 1", rw.originHits)
			}
			if rw.fromCache != n-1 {
				t.Errorf("from cache = %d, want %d", rw.fromCache, n-1)
			}
		})
	}
	urls := int64(len(r.rows))
	if r.stats.Misses != urls || r.stats.Hits != urls*(n-1) {
		t.Errorf("stats = %+v, want Misses=%d Hits=%d", r.stats, urls, urls*(n-1))
	}
}

func TestRun(t *testing.T) {
	var buf bytes.Buffer
	if err := run(context.Background(), &buf, 3, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"URL", "origin hits", "from cache", "/users/1", "/search?q=go&page=1", "total", "without a cache", "cache.Stats(): "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("output:\n%s", out)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		delay time.Duration
	}{
		{"zero n", 0, time.Millisecond},
		{"negative delay", 1, -time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := run(context.Background(), &buf, tc.n, tc.delay); err == nil {
				t.Errorf("run(n=%d, delay=%v) = nil, want an error", tc.n, tc.delay)
			}
			if buf.Len() != 0 {
				t.Errorf("run printed %q on error", buf.String())
			}
		})
	}
}
