package core

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// memoRequest is a request for raw with method, and with Host set when host
// is not empty (the effective host, see wireHost).
func memoRequest(t *testing.T, method, raw, host string) *http.Request {
	t.Helper()
	req := mustRequest(t, method, raw)
	req.Host = host
	return req
}

// TestKeyMemoIsExact keys requests that differ in one input of the key's
// derivation each, one after the other, twice over: every key, remembered
// or not, is the one derived afresh, and requests with different keys never
// get each other's.
func TestKeyMemoIsExact(t *testing.T) {
	tests := []struct {
		name         string
		method, raw  string
		host         string // Request.Host, when not empty
		sameAsBefore bool   // the key equals the previous case's
	}{
		{name: "base", method: "GET", raw: "http://example.com/a?b=2&a=1"},
		{name: "same request", method: "GET", raw: "http://example.com/a?b=2&a=1", sameAsBefore: true},
		{name: "query written in order", method: "GET", raw: "http://example.com/a?a=1&b=2", sameAsBefore: true},
		{name: "HEAD", method: "HEAD", raw: "http://example.com/a?a=1&b=2"},
		{name: "effective host differs", method: "GET", raw: "http://example.com/a?a=1&b=2", host: "other.example"},
		{name: "effective host equal to the URL's", method: "GET", raw: "http://other.example/a?a=1&b=2", sameAsBefore: true},
		{name: "scheme", method: "GET", raw: "https://other.example/a?a=1&b=2"},
		{name: "path", method: "GET", raw: "https://other.example/b?a=1&b=2"},
		{name: "encoded slash", method: "GET", raw: "https://other.example/b%2Fc?a=1&b=2"},
		{name: "plain slash", method: "GET", raw: "https://other.example/b/c?a=1&b=2"},
		{name: "query value", method: "GET", raw: "https://other.example/b/c?a=1&b=3"},
		{name: "no query", method: "GET", raw: "https://other.example/b/c"},
		{name: "empty query", method: "GET", raw: "https://other.example/b/c?", sameAsBefore: true},
		{name: "long query", method: "GET", raw: "https://other.example/b/c?q=" + strings.Repeat("x", keyMemoMaxLen)},
	}
	c := newKeyTestCache(t)
	for round := range 3 {
		prev := ""
		seen := map[string]string{}
		for _, tt := range tests {
			req := memoRequest(t, tt.method, tt.raw, tt.host)
			got := c.primaryKeyFor(req, tt.method, "")
			want := c.deriveKey(req, tt.method, "")
			if got != want {
				t.Errorf("round %d, %s: key %s, derived afresh %s", round, tt.name, got, want)
			}
			if tt.sameAsBefore != (got == prev) {
				t.Errorf("round %d, %s: key equal to the previous case's = %v, want %v", round, tt.name, got == prev, tt.sameAsBefore)
			}
			if other, ok := seen[got]; ok && !tt.sameAsBefore {
				t.Errorf("round %d, %s: has the key of %s", round, tt.name, other)
			}
			seen[got], prev = tt.name, got
		}
	}
	long := memoRequest(t, "GET", tests[len(tests)-1].raw, "")
	if in, ok := inputOf(long, "GET"); ok {
		t.Errorf("a request of %d bytes is remembered (bound %d)", len(in.rawQuery), keyMemoMaxLen)
	}
}

// TestKeyMemoOverwrites keys four times more URLs than the memo has slots,
// three times (a key is remembered when derived a second time), so that
// slots are taken over by other URLs: every key is still the one derived
// afresh.
func TestKeyMemoOverwrites(t *testing.T) {
	c := newKeyTestCache(t)
	n := 4 * keyMemoSlots
	for round := range 3 {
		for i := range n {
			req := mustRequest(t, "GET", fmt.Sprintf("http://example.com/item/%d?z=%d&a=1", i, i%7))
			if got, want := c.primaryKeyFor(req, "GET", ""), c.deriveKey(req, "GET", ""); got != want {
				t.Fatalf("round %d, URL %d: key %s, derived afresh %s", round, i, got, want)
			}
		}
	}
}

// TestKeyMemoConcurrent keys overlapping sets of URLs from 8 goroutines
// (run it with -race).
func TestKeyMemoConcurrent(t *testing.T) {
	c := newKeyTestCache(t)
	want := make([]string, 2*keyMemoSlots)
	for i := range want {
		want[i] = c.deriveKey(mustRequest(t, "GET", fmt.Sprintf("http://example.com/%d", i)), "GET", "")
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 * len(want) {
				j := (i*(g+1) + g) % len(want)
				req, _ := http.NewRequest("GET", fmt.Sprintf("http://example.com/%d", j), nil)
				if got := c.primaryKeyFor(req, "GET", ""); got != want[j] {
					errs <- fmt.Sprintf("goroutine %d, URL %d: key %s, want %s", g, j, got, want[j])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestKeyMemoNotUsed: a key function, and a body's key, bypass the memo.
func TestKeyMemoNotUsed(t *testing.T) {
	calls := 0
	c := newKeyTestCache(t, WithKeyFunc(func(req *http.Request, k string) string { calls++; return k }))
	req := mustRequest(t, "GET", "http://example.com/a")
	c.primaryKeyFor(req, "GET", "")
	c.primaryKeyFor(req, "GET", "")
	if calls != 2 {
		t.Errorf("key function called %d times for two keys, want 2", calls)
	}
	c = newKeyTestCache(t)
	post := mustRequest(t, "POST", "http://example.com/a")
	if a, b := c.primaryKeyFor(post, "POST", "d1"), c.primaryKeyFor(post, "POST", "d2"); a == b {
		t.Errorf("POSTs with different body keys share the key %s", a)
	}
}

// TestKeyMemoAllocs: a key derived once is not remembered (no allocation
// besides the key's own); one derived twice is, and then costs none.
func TestKeyMemoAllocs(t *testing.T) {
	c := newKeyTestCache(t)
	i := 0
	first := minAllocs(func() {
		i++
		req := mustRequest(t, "GET", fmt.Sprintf("http://example.com/item/%d?b=2&a=1", i))
		c.primaryKeyFor(req, "GET", "")
	})
	req := mustRequest(t, "GET", fmt.Sprintf("http://example.com/item/%d?b=2&a=1", i+1))
	base := minAllocs(func() {
		mustRequest(t, "GET", fmt.Sprintf("http://example.com/item/%d?b=2&a=1", i+1))
		c.deriveKey(req, "GET", "")
	})
	if first > base {
		t.Errorf("keying URLs seen once: %v allocations each, want at most %v (the request and the key)", first, base)
	}
	c.primaryKeyFor(req, "GET", "")
	c.primaryKeyFor(req, "GET", "")
	if n := minAllocs(func() { c.primaryKeyFor(req, "GET", "") }); n != 0 {
		t.Errorf("a remembered key: %v allocations, want 0", n)
	}
}

// minAllocs is testing.AllocsPerRun(100, f), the least of five rounds:
// AllocsPerRun counts the allocations of the whole process, and goroutines
// that earlier tests left running (a background refresh, a log line) only
// add to it (a round over by one allocation per run failed in CI).
func minAllocs(f func()) float64 {
	least := testing.AllocsPerRun(100, f)
	for range 4 {
		least = min(least, testing.AllocsPerRun(100, f))
	}
	return least
}
