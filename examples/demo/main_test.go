package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a clock the test moves forward instead of waiting.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }
func testConfig(t *testing.T, n int) config {
	t.Helper()
	cfg := defaultConfig()
	cfg.n = n
	cfg.delay = time.Millisecond
	cfg.dir = t.TempDir()
	return cfg
}

// want is what one client's row should say.
type want struct {
	entriesBefore int
	originHits    int64
	notModified   int64
	fromCache     int
}

func checkRun(t *testing.T, r *result, n int, w want) {
	t.Helper()
	if got, want := len(r.clients), len(allClients); got != want {
		t.Fatalf("got %d clients, want %d", got, want)
	}
	for i, c := range r.clients {
		if c.name != allClients[i].name {
			t.Errorf("client %d is %q, want %q", i, c.name, allClients[i].name)
		}
		if c.requests != n*len(resources) {
			t.Errorf("%s: requests = %d, want %d", c.name, c.requests, n*len(resources))
		}
		got := want{c.entriesBefore, c.originHits, c.notModified, c.fromCache}
		if got != w {
			t.Errorf("%s: got %+v, want %+v", c.name, got, w)
		}
	}
}

// TestPersistedAcrossRuns runs the demo over the same directory several
// times: the first run fills each client's SQLite file, the second is served
// from it, a run after the responses' max-age revalidates them with 304s, and
// -reset starts again from empty files.
func TestPersistedAcrossRuns(t *testing.T) {
	const n = 5
	urls := len(resources)
	total := urls * len(allClients) // distinct URLs over all clients
	cfg := testConfig(t, n)
	var clk clock
	cfg.now = clk.now

	steps := []struct {
		name    string
		prepare func()
		want    want
		verdict string
	}{
		{
			name:    "first run",
			want:    want{entriesBefore: 0, originHits: int64(urls), fromCache: n*urls - urls},
			verdict: fmt.Sprintf("first run: %d requests reached the origin", total),
		},
		{
			name:    "second run",
			want:    want{entriesBefore: urls, originHits: 0, fromCache: n * urls},
			verdict: "second run: 0 origin hits — every response came from the SQLite file.",
		},
		{
			name:    "after max-age",
			prepare: func() { clk.advance(maxAge + time.Minute) },
			want:    want{entriesBefore: urls, originHits: int64(urls), notModified: int64(urls), fromCache: n * urls},
			verdict: fmt.Sprintf("%d revalidations answered 304 Not Modified", total),
		},
		{
			name:    "reset",
			prepare: func() { cfg.reset = true },
			want:    want{entriesBefore: 0, originHits: int64(urls), fromCache: n*urls - urls},
			verdict: "first run:",
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.prepare != nil {
				st.prepare()
			}
			r, err := measure(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkRun(t, r, n, st.want)
			for _, k := range allClients {
				if _, err := os.Stat(filepath.Join(cfg.dir, k.file)); err != nil {
					t.Errorf("%s: %v", k.name, err)
				}
			}
			var buf bytes.Buffer
			if err := r.write(&buf); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), st.verdict) {
				t.Errorf("output lacks %q:\n%s", st.verdict, buf.String())
			}
		})
	}
}

// TestMemStore: nothing persists, each run starts empty.
func TestMemStore(t *testing.T) {
	const n = 3
	urls := len(resources)
	cfg := testConfig(t, n)
	cfg.store = "mem"
	for run := range 2 {
		r, err := measure(context.Background(), cfg)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		checkRun(t, r, n, want{originHits: int64(urls), fromCache: n*urls - urls})
	}
	if files, _ := os.ReadDir(cfg.dir); len(files) != 0 {
		t.Errorf("-store mem wrote %d files in -dir", len(files))
	}
}

func TestRun(t *testing.T) {
	cfg := testConfig(t, 3)
	var buf bytes.Buffer
	if err := run(context.Background(), &buf, cfg); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	wants := []string{cfg.dir, "client", "origin hits", "from cache", "total", "without a cache", "cache.Stats(), all clients: "}
	for _, k := range allClients {
		wants = append(wants, k.name, k.file)
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if lines := strings.Count(out, "\n"); lines > 25 {
		t.Errorf("output has %d lines, want at most 25:\n%s", lines, out)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("output:\n%s", out)
	}
}

func TestClientsFlag(t *testing.T) {
	for _, tc := range []struct {
		clients []string
		want    []string
	}{
		{[]string{"net/http", "resty", "go-retryablehttp", "req"}, []string{"net/http", "resty", "go-retryablehttp", "req"}},
		{[]string{"req", " NetHTTP", "retryablehttp"}, []string{"req", "net/http", "go-retryablehttp"}},
		{[]string{"resty", "resty", ""}, []string{"resty"}},
	} {
		t.Run(strings.Join(tc.clients, ","), func(t *testing.T) {
			cfg := defaultConfig()
			cfg.dir = "x"
			cfg.clients = tc.clients
			kinds, err := cfg.check()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range kinds {
				got = append(got, k.name)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("clients = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*config)
	}{
		{"zero n", func(c *config) { c.n = 0 }},
		{"negative delay", func(c *config) { c.delay = -time.Millisecond }},
		{"unknown store", func(c *config) { c.store = "redis" }},
		{"empty dir", func(c *config) { c.dir = "" }},
		{"unknown client", func(c *config) { c.clients = []string{"resty", "curl"} }},
		{"no client", func(c *config) { c.clients = []string{""} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, 1)
			tc.change(&cfg)
			var buf bytes.Buffer
			if err := run(context.Background(), &buf, cfg); err == nil {
				t.Errorf("run = nil, want an error")
			}
			if buf.Len() != 0 {
				t.Errorf("run printed %q on error", buf.String())
			}
		})
	}
}
