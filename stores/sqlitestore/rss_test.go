package sqlitestore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

// maxReplayRSS bounds the peak resident set of the whole test process while
// a 1 GiB stream is replayed from a file (issue 13: < 32 MiB). About 20 MiB
// of it is the process before the replay; the rest is the Go heap's churn of
// one fresh 256 KiB chunk per read (the driver allocates it) and the reader
// connections' page caches (readerCacheKiB).
const maxReplayRSS = 32 << 20

// rssBodySize is 1 GiB unless HOARD_LARGE_BODY_BYTES says otherwise.
func rssBodySize(t *testing.T) int64 {
	if v := os.Getenv("HOARD_LARGE_BODY_BYTES"); v != "" {
		n, err := core.ParseSize(v)
		if err != nil {
			t.Fatalf("HOARD_LARGE_BODY_BYTES: %v", err)
		}
		return n
	}
	return 1 << 30
}

// resetPeakRSS resets the kernel's peak resident set (VmHWM) of this process
// to its current size (Linux: 5 written to /proc/self/clear_refs).
func resetPeakRSS(t *testing.T) int64 {
	t.Helper()
	debug.FreeOSMemory() // what an earlier phase left on the heap is not the next one's
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS (needs Linux /proc/self/clear_refs): %v", err)
	}
	return procStatus(t, "VmRSS:")
}

// peakRSS returns VmHWM from /proc/self/status, in bytes.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	return procStatus(t, "VmHWM:")
}

// procStatus returns the field (in kB) of /proc/self/status, in bytes.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s %q: %v", field, v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// rssChildEnv marks the child process TestConformanceRSS runs the
// measurement in.
const rssChildEnv = "HOARD_SQLITE_RSS_CHILD"

// TestConformanceRSS/LargeBody streams a 1 GiB body into a file store and
// replays it, and checks the peak resident set (VmHWM, reset before each
// phase) during the replay against maxReplayRSS; the store phase's peak is
// logged. The measurement runs in a child process (this test binary, run
// again for this test alone), so that other tests of the process and what
// they left on the heap are not in the figure. It is named like the
// conformance large-body checks so that the Makefile's NORACE_LARGEBODY group
// (-run '^TestConformance[^/]*$/^LargeBody$', without -race) runs it: it
// proves a memory bound, and the race detector's shadow memory would be the
// figure.
func TestConformanceRSS(t *testing.T) {
	t.Run("LargeBody", func(t *testing.T) {
		if raceEnabled {
			t.Skip("the 1 GiB RSS check does not run under -race (its shadow memory is the figure); " +
				"`make test` runs it without -race: go test -run '^TestConformance[^/]*$/^LargeBody$'")
		}
		if os.Getenv(rssChildEnv) == "1" {
			measureReplayRSS(t)
			return
		}
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestConformanceRSS$/^LargeBody$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), rssChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "rss_test.go") {
				t.Log(strings.TrimSpace(line))
			}
		}
		if err != nil {
			t.Fatalf("the measuring child process failed: %v\n%s", err, out)
		}
	})
}

// measureReplayRSS is the measurement of TestConformanceRSS, in the child.
func measureReplayRSS(t *testing.T) {
	size := rssBodySize(t)
	ctx := context.Background()
	s := open(t, &sqlitestore.Options{MaxBytes: 2 * size})
	var want [sha256.Size]byte
	{
		h := sha256.New()
		io.Copy(h, conformance.PatternBody(size))
		copy(want[:], h.Sum(nil))
	}
	storeBase := resetPeakRSS(t)
	w, err := s.CreateStream(ctx, "large", core.Meta{URL: "https://example.com/large", Method: "GET", Status: 200})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyBuffer(w, conformance.PatternBody(size), make([]byte, 32<<10)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	storePeak := peakRSS(t)

	replayBase := resetPeakRSS(t)
	r, n, err := s.OpenStream(ctx, "large")
	if err != nil {
		t.Fatal(err)
	}
	if n != size {
		t.Fatalf("OpenStream size = %d, want %d", n, size)
	}
	h := sha256.New()
	got, err := io.CopyBuffer(h, r, make([]byte, 32<<10))
	r.Close()
	replayPeak := peakRSS(t)
	if err != nil || got != size {
		t.Fatalf("replay read %d bytes, %v; want %d", got, err, size)
	}
	if !bytes.Equal(h.Sum(nil), want[:]) {
		t.Error("replayed body differs from the stored one")
	}
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	t.Logf("%d MiB body: peak RSS %.1f MiB while storing (%.1f MiB before), %.1f MiB while replaying (%.1f MiB before)",
		size>>20, mib(storePeak), mib(storeBase), mib(replayPeak), mib(replayBase))
	if replayPeak >= maxReplayRSS {
		t.Errorf("peak RSS %.1f MiB while replaying a %d MiB body, want < %d MiB (issue 13's target is 32 MiB)", float64(replayPeak)/(1<<20), size>>20, maxReplayRSS>>20)
	}
}
