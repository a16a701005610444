package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// row finds the table line that starts with label and returns its numeric
// columns: requests, origin hits, from cache.
func row(t *testing.T, out, label string) [3]int {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 5 || f[0] != label {
			continue
		}
		var r [3]int
		for i := range r {
			n, err := strconv.Atoi(f[i+1])
			if err != nil {
				t.Fatalf("line %q: column %d: %v", line, i+1, err)
			}
			r[i] = n
		}
		return r
	}
	t.Fatalf("no line for %s in:\n%s", label, out)
	return [3]int{}
}

func TestRun(t *testing.T) {
	const n = 4
	var buf bytes.Buffer
	if err := run(context.Background(), &buf, n, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for id := 1; id <= 3; id++ {
		label := fmt.Sprintf("/users/%d", id)
		if got, want := row(t, out, label), [3]int{n, 1, n - 1}; got != want {
			t.Errorf("%s: requests, origin hits, from cache = %v, want %v", label, got, want)
		}
	}
	if got, want := row(t, out, "total"), [3]int{3 * n, 3, 3*n - 3}; got != want {
		t.Errorf("total: requests, origin hits, from cache = %v, want %v", got, want)
	}
	for _, want := range []string{
		// The cache's own 504 is not retried although the client retries twice.
		"OnlyIfCached, never fetched: 504 (synthetic true, attempts 1: not retried)",
		"ForceRefresh /users/1: origin hits +1, from cache false, stored true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("output:\n%s", out)
	}
}

func TestRunErrors(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		n     int
		delay time.Duration
	}{
		{"zero n", context.Background(), 0, time.Millisecond},
		{"negative delay", context.Background(), 1, -time.Millisecond},
		{"canceled context", canceled, 1, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := run(tc.ctx, &buf, tc.n, tc.delay); err == nil {
				t.Errorf("run = nil, want an error; output:\n%s", buf.String())
			}
		})
	}
}
