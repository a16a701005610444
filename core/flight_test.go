package core_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
)

// A request collapsed onto an identical one whose body streams into the
// store must not wait for the first caller to read that body: it waits at
// most WithCollapseWait, then sends its own request. Nothing is left running
// afterwards (no goroutine waits for a flight that never ends). The same
// promise is checked through every adapter by the conformance scenario
// Concurrency/WaitersIndependentOfLeaderReading.
func TestCollapsedWaitersDoNotWaitForStalledLeader(t *testing.T) {
	const (
		n       = 8
		wait    = 100 * time.Millisecond
		bound   = wait + 4*time.Second
		bodyLen = 256 << 10
	)
	payload := strings.Repeat("x", bodyLen)
	before := runtime.NumGoroutine()

	st, err := filestore.New(t.TempDir(), &filestore.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := core.New(st, core.WithStreamThreshold(1<<10), core.WithCollapseWait(wait))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	hits := 0
	var target int64 // Stats().Collapsed at which the leader is answered
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		first := hits == 1
		want := target
		mu.Unlock()
		if first {
			deadline := time.Now().Add(3 * time.Second)
			for c.Stats().Collapsed < want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond) // hold the leader until every waiter joined
			}
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", strconv.Itoa(bodyLen))
		io.WriteString(w, payload)
	}))
	tr := &http.Transport{}

	get := func(ctx context.Context) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/big", nil)
		return c.Do(req, tr.RoundTrip)
	}
	for _, stall := range []int{0, 1} { // bytes the leader reads before it stalls
		c.Clear(context.Background())
		base := c.Stats().Collapsed
		mu.Lock()
		hits, target = 0, base+n-1
		mu.Unlock()
		leaderDone := make(chan *http.Response, 1)
		go func() {
			resp, err := get(context.Background())
			if err != nil {
				t.Errorf("leader: %v", err)
			}
			leaderDone <- resp
		}()
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(time.Millisecond) {
			mu.Lock()
			h := hits
			mu.Unlock()
			if h >= 1 || time.Now().After(deadline) {
				break
			}
		}
		var wg sync.WaitGroup
		for i := range n - 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), bound)
				defer cancel()
				start := time.Now()
				resp, err := get(ctx)
				if err != nil {
					t.Errorf("stall %d, waiter %d: %v after %v", stall, i, err, time.Since(start))
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != payload {
					t.Errorf("stall %d, waiter %d: %d bytes, error %v; want the %d-byte body", stall, i, len(b), err, bodyLen)
				}
				if took := time.Since(start); took > bound {
					t.Errorf("stall %d, waiter %d took %v, want at most %v", stall, i, took, bound)
				}
			}()
		}
		resp := <-leaderDone
		if resp == nil {
			t.FailNow()
		}
		if got := c.Stats().Collapsed - base; got != n-1 {
			t.Errorf("stall %d: %d requests collapsed, want %d", stall, got, n-1)
		}
		if stall > 0 {
			io.ReadFull(resp.Body, make([]byte, stall))
		}
		wg.Wait()
		// The stalled leader finishes now; its stream commits (or, when
		// another already committed, replaces it) and it gets its whole body.
		rest, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(rest)+stall != bodyLen {
			t.Errorf("stall %d: leader's body %d bytes, error %v; want %d", stall, len(rest)+stall, err, bodyLen)
		}
	}

	c.Close()
	tr.CloseIdleConnections()
	srv.Close()
	// Goroutines settle back to where they were: no waiter, timer or
	// stream is left behind.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > before {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d after, %d before\n%s", got, before, buf[:runtime.Stack(buf, true)])
	}
}
