package conformance

import (
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
)

// largeBodySize is the body of the large-body check: 1 GiB unless
// HOARD_LARGE_BODY_BYTES says otherwise (for a quick local run).
func largeBodySize(t *testing.T) int64 {
	if v := os.Getenv("HOARD_LARGE_BODY_BYTES"); v != "" {
		n, err := core.ParseSize(v)
		if err != nil {
			t.Fatalf("HOARD_LARGE_BODY_BYTES: %v", err)
		}
		return n
	}
	return 1 << 30
}

// maxHeapGrowth is the memory bound of a cached response of any size, first
// fetch and hit (issue: under 64 MiB for 1 GiB).
const maxHeapGrowth = 64 << 20

// PatternBody returns a reader of n bytes of a fixed, position-dependent
// pattern: a large body that costs no memory to make, the same on every call
// (so a replay can be checked against a hash of a second one).
func PatternBody(n int64) io.Reader { return &patternReader{n: n} }

// patternReader is the reader PatternBody returns.
type patternReader struct{ off, n int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if rem := p.n - p.off; int64(len(b)) > rem {
		b = b[:rem]
	}
	for i := range b {
		x := p.off + int64(i)
		b[i] = byte(x ^ x>>8 ^ x>>16)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// heapSampler records the peak of live heap objects while it runs.
type heapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak atomic.Uint64
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := heapBytes(); v > h.peak.Load() {
				h.peak.Store(v)
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) finish() uint64 {
	close(h.stop)
	h.done.Wait()
	return h.peak.Load()
}

// runLargeBody fetches a large response twice through the cache over a
// streaming store: the first fetch streams it to the caller and into the
// store, the second is a hit streamed from the store. Both must deliver every
// byte intact while the heap grows by less than maxHeapGrowth — measured
// from runtime metrics, not timed.
//
// The check proves a memory bound, not the absence of races, and hashing and
// copying 2 GiB is minutes of CPU under the race detector: a -race build
// skips it (skipUnderRace).
func runLargeBody(t *testing.T, newHarness StoreHarnessMaker) {
	t.Run("LargeBody", func(t *testing.T) {
		skipUnderRace(t, "the 1 GiB large-body check", largeBodyRun)
		h, err := newHarness(t.Context(), t)
		if err != nil {
			t.Fatalf("making harness: %v", err)
		}
		t.Cleanup(h.Close)
		if !h.Capabilities().Streaming {
			t.Skip("the store does not stream (Capabilities.Streaming is false)")
		}
		st, err := h.MakeStore(t.Context())
		if err != nil {
			t.Fatalf("making store: %v", err)
		}
		size := largeBodySize(t)
		var want [sha256.Size]byte
		{
			hw := sha256.New()
			io.Copy(hw, &patternReader{n: size})
			copy(want[:], hw.Sum(nil))
		}
		var hits atomic.Int64
		origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Cache-Control", "max-age=3600")
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			io.Copy(w, &patternReader{n: size})
		}))
		defer origin.Close()
		// The check is of memory, not latency: a store timeout of minutes,
		// because FerretDB's first GridFS query over a 1 GiB file (sorted
		// in memory, without MongoDB's index) takes longer than the suite's
		// 30 s, and a timed-out open reads as a miss.
		c, err := core.New(st, core.WithMaxStreamSize(size+1), core.WithStoreTimeout(10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		client := nethttpcache.NewClient(c, nil)

		runtime.GC()
		base := heapBytes()
		sampler := startHeapSampler()
		for i, wantCached := range []bool{false, true} {
			resp, err := client.Get(origin.URL + "/large")
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			hw := sha256.New()
			n, err := io.Copy(hw, resp.Body)
			resp.Body.Close()
			if err != nil || n != size {
				t.Fatalf("request %d: read %d bytes, %v; want %d", i, n, err, size)
			}
			var got [sha256.Size]byte
			copy(got[:], hw.Sum(nil))
			if got != want {
				t.Errorf("request %d: body differs from what the origin sent", i)
			}
			if info := core.InfoOf(resp); info.FromCache != wantCached {
				t.Errorf("request %d: FromCache = %v, want %v (Cache-Status %q)", i, info.FromCache, wantCached, resp.Header.Get("Cache-Status"))
			}
		}
		peak := sampler.finish()
		if hits.Load() != 1 {
			t.Errorf("origin hits = %d, want 1", hits.Load())
		}
		growth := int64(peak) - int64(base)
		t.Logf("%d MiB body: live heap %d MiB before, peak %d MiB (growth %d MiB)", size>>20, base>>20, peak>>20, growth>>20)
		if growth > maxHeapGrowth {
			t.Errorf("heap grew by %d MiB while caching and serving a %d MiB body, want < %d MiB", growth>>20, size>>20, maxHeapGrowth>>20)
		}
	})
}
