package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	const n = 3
	var buf bytes.Buffer
	if err := run(context.Background(), &buf, n, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("got %d lines, want 7:\n%s", len(lines), out)
	}
	names := []string{"Ada Lovelace", "Grace Hopper", "Barbara Liskov"}
	for i, line := range lines[:6] {
		t.Run(fmt.Sprint("fetch ", i), func(t *testing.T) {
			path := fmt.Sprintf("/users/%d", i%3+1)
			// The first round misses, the second hits; SetSuccessResult fills
			// the name either way.
			status, fromCache := "hoard; fwd=miss; stored", "from cache: false"
			if i >= 3 {
				status, fromCache = "hoard; hit", "from cache: true"
			}
			for _, want := range []string{path, names[i%3], fromCache, status} {
				if !strings.Contains(line, want) {
					t.Errorf("line %q lacks %q", line, want)
				}
			}
		})
	}
	wantSummary := fmt.Sprintf("requests %d  origin %d  from cache %d  time ", 3*n, 3, 3*n-3)
	if !strings.HasPrefix(lines[6], wantSummary) {
		t.Errorf("summary %q, want it to start with %q", lines[6], wantSummary)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("output:\n%s", out)
	}
}

func TestRunCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	if err := run(ctx, &buf, 1, time.Millisecond); err == nil {
		t.Fatalf("run with a canceled context = nil, want an error; output:\n%s", buf.String())
	}
}
