package conformance

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// The clause "Lease" of the store suite checks the core.Leaser contract for
// the stores that implement it (RunStoreTests runs it when the harness's
// stores do; there is nothing to declare).

// leaseCases are the subtests of "Lease"; the names are stable.
var leaseCases = []struct {
	name string
	run  func(t *testing.T, st core.Store, l core.Leaser, caps Capabilities)
}{
	{"Exclusive", testLeaseExclusive},
	{"ExclusiveUnderConcurrency", testLeaseConcurrent},
	{"KeysAreIndependent", testLeaseKeysIndependent},
	{"Expiry", testLeaseExpiry},
	{"ReleaseByWrongTokenRefused", testLeaseWrongToken},
	{"ReleaseByToken", testLeaseRelease},
	{"LateReleaseKeepsNewHolder", testLeaseLateRelease},
	{"NotAnEntry", testLeaseNotAnEntry},
	{"ContextCancelled", testLeaseContextCancelled},
	{"OddKeys", testLeaseOddKeys},
}

// runLeaseTests runs the clause "Lease" when the harness's stores implement
// core.Leaser.
func runLeaseTests(t *testing.T, newHarness StoreHarnessMaker) {
	t.Helper()
	if !storesLease(t, newHarness) {
		return
	}
	t.Run("Lease", func(t *testing.T) {
		for _, lc := range leaseCases {
			t.Run(lc.name, func(t *testing.T) {
				st, caps := openStoreUnderTest(t, newHarness)
				l, ok := st.(core.Leaser)
				if !ok {
					t.Fatalf("%T does not implement core.Leaser, though the first store of the harness did", st)
				}
				lc.run(t, st, l, caps)
			})
		}
	})
}

// storesLease reports whether the harness's stores implement core.Leaser
// and can lease (a wrapper, such as stores/tiered over an L2 without
// leases, says core.ErrNotSupported), opening one store and taking and
// releasing one lease (and closing it and its harness again).
func storesLease(t *testing.T, newHarness StoreHarnessMaker) bool {
	t.Helper()
	h, err := newHarness(t.Context(), t)
	if err != nil {
		t.Fatalf("making harness: %v", err)
	}
	defer h.Close()
	st, err := h.MakeStore(t.Context())
	if err != nil {
		t.Fatalf("MakeStore: %v", err)
	}
	l, ok := st.(core.Leaser)
	if ok {
		const probe = "conformance-lease-probe"
		tok, held, err := l.Lease(t.Context(), probe, time.Second)
		switch {
		case errors.Is(err, core.ErrNotSupported):
			ok = false
		case err != nil:
			t.Fatalf("Lease: %v", err)
		case held:
			if err := l.Release(t.Context(), probe, tok); err != nil {
				t.Fatalf("Release: %v", err)
			}
		}
	}
	if c, isCloser := st.(io.Closer); isCloser {
		c.Close()
	}
	return ok
}

// mustLease takes the lease on key, failing the test on an error.
func mustLease(t *testing.T, l core.Leaser, key string, ttl time.Duration) (string, bool) {
	t.Helper()
	tok, ok, err := l.Lease(t.Context(), key, ttl)
	if err != nil {
		t.Fatalf("Lease(%q, %v): %v", key, ttl, err)
	}
	if ok && tok == "" {
		t.Fatalf("Lease(%q, %v) took the lease with an empty token", key, ttl)
	}
	return tok, ok
}

func mustRelease(t *testing.T, l core.Leaser, key, token string) {
	t.Helper()
	if err := l.Release(t.Context(), key, token); err != nil {
		t.Fatalf("Release(%q, %q): %v", key, token, err)
	}
}

func testLeaseExclusive(t *testing.T, _ core.Store, l core.Leaser, _ Capabilities) {
	tok, ok := mustLease(t, l, "lease/a", time.Minute)
	if !ok {
		t.Fatal("Lease of a key nobody holds: ok false")
	}
	for i := range 3 {
		if tok2, ok := mustLease(t, l, "lease/a", time.Minute); ok {
			t.Fatalf("Lease #%d of a held key: ok true (token %q, holder %q)", i+2, tok2, tok)
		}
	}
}

func testLeaseConcurrent(t *testing.T, _ core.Store, l core.Leaser, _ Capabilities) {
	const n = 32
	var (
		wg    sync.WaitGroup
		won   atomic.Int64
		errMu sync.Mutex
		errs  []error
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, ok, err := l.Lease(t.Context(), "lease/race", time.Minute)
			if err != nil {
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
			}
			if ok {
				won.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := won.Load(); got != 1 {
		t.Errorf("%d concurrent Lease calls on one key: %d took it, want exactly 1", n, got)
	}
}

func testLeaseKeysIndependent(t *testing.T, _ core.Store, l core.Leaser, _ Capabilities) {
	if _, ok := mustLease(t, l, "lease/k", time.Minute); !ok {
		t.Fatal("Lease of a free key: ok false")
	}
	// Neighbours that are a prefix, an extension and a case variant.
	for _, k := range []string{"lease/", "lease/k/", "lease/K", "lease/kk"} {
		if _, ok := mustLease(t, l, k, time.Minute); !ok {
			t.Errorf("Lease(%q) while only %q is held: ok false", k, "lease/k")
		}
	}
}

func testLeaseExpiry(t *testing.T, _ core.Store, l core.Leaser, _ Capabilities) {
	const ttl = 300 * time.Millisecond
	taken := time.Now()
	if _, ok := mustLease(t, l, "lease/expiry", ttl); !ok {
		t.Fatal("Lease of a free key: ok false")
	}
	if _, ok := mustLease(t, l, "lease/expiry", ttl); ok && time.Since(taken) < ttl {
		t.Fatal("a live lease was taken again before its ttl")
	}
	// A holder that never releases (it crashed) blocks no one for long.
	deadline := taken.Add(ttl + 5*time.Second)
	for {
		_, ok := mustLease(t, l, "lease/expiry", ttl)
		if ok {
			// The server's clock may run a little apart from this one.
			if early := time.Since(taken); early < ttl*3/4 {
				t.Errorf("the lease lapsed after %v, before its ttl %v", early, ttl)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lease still held %v after it was taken for %v", time.Since(taken), ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLeaseWrongToken(t *testing.T, _ core.Store, l core.Leaser, _ Capabilities) {
	tok, ok := mustLease(t, l, "lease/wrong", time.Minute)
	if !ok {
		t.Fatal("Lease of a free key: ok false")
	}
	for _, wrong := range []string{"", "not-a-token", tok + "x", strings.ToUpper(tok) + "!"} {
		mustRelease(t, l, "lease/wrong", wrong)
	}
	mustRelease(t, l, "lease/other", tok) // the right token for another key
	if _, ok := mustLease(t, l, "lease/wrong", time.Minute); ok {
		t.Error("a Release with a wrong token (or for another key) ended the lease")
	}
}

func testLeaseRelease(t *testing.T, _ core.Store, l core.Leaser, _ Capabilities) {
	tok, ok := mustLease(t, l, "lease/rel", time.Minute)
	if !ok {
		t.Fatal("Lease of a free key: ok false")
	}
	mustRelease(t, l, "lease/rel", tok)
	tok2, ok := mustLease(t, l, "lease/rel", time.Minute)
	if !ok {
		t.Fatal("Lease after the holder released: ok false")
	}
	if tok2 == tok {
		t.Errorf("the new holder got the previous holder's token %q", tok)
	}
	mustRelease(t, l, "lease/rel", tok2)
	mustRelease(t, l, "lease/rel", tok2)  // releasing twice is harmless
	mustRelease(t, l, "lease/never", "x") // so is releasing a key never leased
}

func testLeaseLateRelease(t *testing.T, _ core.Store, l core.Leaser, _ Capabilities) {
	const ttl = 100 * time.Millisecond
	old, ok := mustLease(t, l, "lease/late", ttl)
	if !ok {
		t.Fatal("Lease of a free key: ok false")
	}
	deadline := time.Now().Add(ttl + 5*time.Second)
	var cur string
	for {
		if cur, ok = mustLease(t, l, "lease/late", time.Minute); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the short lease never lapsed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mustRelease(t, l, "lease/late", old) // the lapsed holder wakes up late
	if _, ok := mustLease(t, l, "lease/late", time.Minute); ok {
		t.Error("a lapsed holder's Release ended the new holder's lease")
	}
	mustRelease(t, l, "lease/late", cur)
}

func testLeaseNotAnEntry(t *testing.T, st core.Store, l core.Leaser, caps Capabilities) {
	ctx := t.Context()
	if _, ok := mustLease(t, l, "lease/entry", time.Minute); !ok {
		t.Fatal("Lease of a free key: ok false")
	}
	if v, err := st.Get(ctx, "lease/entry"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Get of a leased key without a value = %q, %v; want core.ErrNotFound", v, err)
	}
	storeSet(t, st, "lease/entry", []byte("value"), core.Meta{URL: "https://example.com/", Method: "GET", Status: 200, Size: 5})
	if got := storeGet(t, st, "lease/entry"); string(got) != "value" {
		t.Errorf("Get after Set of a leased key = %q, want %q", got, "value")
	}
	if lst, ok := st.(core.Lister); ok && caps.List {
		var keys []string
		for it, err := range lst.List(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, it.Key)
		}
		if len(keys) != 1 || keys[0] != "lease/entry" {
			t.Errorf("List with one entry and one lease = %q; want just the entry", keys)
		}
	}
	if err := st.Delete(ctx, "lease/entry"); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustLease(t, l, "lease/entry", time.Minute); ok {
		t.Error("Delete of the entry ended its key's lease")
	}
	if cl, ok := st.(core.Clearer); ok && caps.Clear {
		if err := cl.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := mustLease(t, l, "lease/entry", time.Minute); ok {
			t.Error("Clear ended a lease")
		}
	}
}

func testLeaseContextCancelled(t *testing.T, _ core.Store, l core.Leaser, _ Capabilities) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, ok, err := l.Lease(ctx, "lease/ctx", time.Minute); !errors.Is(err, context.Canceled) || ok {
		t.Errorf("Lease with a cancelled context: ok %v, error %v; want an error wrapping context.Canceled", ok, err)
	}
	if err := l.Release(ctx, "lease/ctx", "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Release with a cancelled context: error %v; want one wrapping context.Canceled", err)
	}
	// The failed Lease took nothing.
	if _, ok := mustLease(t, l, "lease/ctx", time.Minute); !ok {
		t.Error("Lease after a cancelled one: ok false")
	}
}

func testLeaseOddKeys(t *testing.T, _ core.Store, l core.Leaser, _ Capabilities) {
	keys := []string{
		"with space", "ünïcödé/键", "{hash}tag", "*?[glob]\\", "new\nline", "~lease~nested",
		strings.Repeat("k", 512),
	}
	toks := map[string]string{}
	for _, k := range keys {
		tok, ok := mustLease(t, l, k, time.Minute)
		if !ok {
			t.Errorf("Lease(%q) of a free key: ok false", k)
			continue
		}
		toks[k] = tok
	}
	for _, k := range keys {
		if _, ok := mustLease(t, l, k, time.Minute); ok {
			t.Errorf("Lease(%q) while held: ok true", k)
		}
	}
	for k, tok := range toks {
		mustRelease(t, l, k, tok)
		if _, ok := mustLease(t, l, k, time.Minute); !ok {
			t.Errorf("Lease(%q) after release: ok false", k)
		}
	}
}
