package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// Capabilities declares what a store under test supports; the suite adapts
// instead of guessing.
type Capabilities struct {
	// NativeTTL is true when Get stops returning a value after Meta.Expires
	// on its own (the suite then waits for an entry to expire).
	NativeTTL bool
	// List is true when the store implements core.Lister.
	List bool
	// Clear is true when the store implements core.Clearer.
	Clear bool
	// MaxValueSize is the largest value the suite writes, in bytes; 0 means
	// 1 MiB. Values up to 1 MiB are written only when they fit.
	MaxValueSize int
	// Streaming is true when the store implements core.Streamer (the suite
	// then checks the stream contract and large bodies end to end).
	Streaming bool
	// StreamSeek is true when the readers OpenStream returns implement
	// io.Seeker (the suite then checks Seek; the core uses it to serve
	// Range requests without reading the bytes before the range).
	StreamSeek bool
}

// maxValue is MaxValueSize with its default applied.
func (c Capabilities) maxValue() int {
	if c.MaxValueSize <= 0 {
		return 1 << 20
	}
	return c.MaxValueSize
}

// StoreHarness gives the store suite fresh stores of one backend.
//
// The suite makes one harness per subtest. For every store MakeStore returns,
// the suite calls Close on the store if it implements io.Closer, then, once
// the subtest is done with the harness, calls the harness's Close.
type StoreHarness interface {
	// MakeStore returns a fresh, empty store (or namespace) per call.
	MakeStore(ctx context.Context) (core.Store, error)
	// Capabilities declares what the stores MakeStore returns support.
	Capabilities() Capabilities
	// Close releases what the harness holds (clients, namespaces, servers).
	Close()
}

// StoreHarnessMaker makes a harness for one subtest. It may call t.Skip (for
// example through RequireService) when the backend is not available.
type StoreHarnessMaker func(ctx context.Context, t *testing.T) (StoreHarness, error)

// storeCase is one clause of the core.Store contract, checked by run on a
// fresh store.
type storeCase struct {
	name string
	run  func(t *testing.T, st core.Store, caps Capabilities)
}

// storeCases is the store suite; the names are stable (scripts and CI
// filter on them with -run).
var storeCases = []storeCase{
	{"GetMissIsErrNotFound", testStoreGetMiss},
	{"RoundTripByteIdentical", testStoreRoundTrip},
	{"MetaIsAccepted", testStoreMeta},
	{"Overwrite", testStoreOverwrite},
	{"DeleteMissingIsNil", testStoreDeleteMissing},
	{"DeleteRemoves", testStoreDeleteRemoves},
	{"ExpiresInPastIsNotServed", testStoreExpiresInPast},
	{"TTLExpiry", testStoreTTLExpiry},
	{"List", testStoreList},
	{"Clear", testStoreClear},
	{"ContextCancelled", testStoreContextCancelled},
	{"Concurrent", testStoreConcurrent},
	{"OddKeys", testStoreOddKeys},
	{"View", testStoreView},
}

// RunStoreTests checks every clause of the core.Store contract (and of the
// optional interfaces the harness declares) against the stores newHarness
// provides, each subtest on its own harness and fresh store, then runs the
// HTTP caching scenarios end to end over the store. Call it from the store
// package's TestConformance; run it with -race.
func RunStoreTests(t *testing.T, newHarness StoreHarnessMaker) {
	t.Helper()
	for _, sc := range storeCases {
		t.Run(sc.name, func(t *testing.T) {
			st, caps := openStoreUnderTest(t, newHarness)
			sc.run(t, st, caps)
		})
	}
	runLeaseTests(t, newHarness)
	runStreamTests(t, newHarness)
	runStreamProtection(t, newHarness)
	runEndToEnd(t, newHarness)
}

// openStoreUnderTest makes a harness and a store, and registers their
// closing (store first) with t.Cleanup.
func openStoreUnderTest(t *testing.T, newHarness StoreHarnessMaker) (core.Store, Capabilities) {
	t.Helper()
	h, err := newHarness(t.Context(), t)
	if err != nil {
		t.Fatalf("making harness: %v", err)
	}
	t.Cleanup(h.Close)
	st, err := h.MakeStore(t.Context())
	if err != nil {
		t.Fatalf("MakeStore: %v", err)
	}
	if st == nil {
		t.Fatal("MakeStore returned a nil store and no error")
	}
	if c, ok := st.(io.Closer); ok {
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Errorf("closing store: %v", err)
			}
		})
	}
	return st, h.Capabilities()
}

func testStoreGetMiss(t *testing.T, st core.Store, _ Capabilities) {
	ctx := t.Context()
	// A neighbour that is a prefix, an extension and a case variant of the
	// missed keys, so a store matching keys loosely fails here.
	storeSet(t, st, "miss/present", []byte("x"), core.Meta{})
	for _, key := range []string{"miss/never-set", "miss/presen", "miss/present/", "miss/Present", "miss/present\x00"} {
		t.Run(strconv.Quote(key), func(t *testing.T) {
			got, err := st.Get(ctx, key)
			if !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("Get(%q) = %d bytes, error %v; want an error wrapping core.ErrNotFound", key, len(got), err)
			}
		})
	}
}

func testStoreRoundTrip(t *testing.T, st core.Store, caps Capabilities) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		name  string
		value []byte
	}{
		{"empty", []byte{}},
		{"nil", nil},
		{"1 byte", []byte{0}},
		{"all 256 byte values", all},
		{"1 KiB", storeRandomBytes(1<<10, 1)},
		{"64 KiB", storeRandomBytes(64<<10, 2)},
		{"1 MiB", storeRandomBytes(1<<20, 3)},
	}
	if maxSize := caps.maxValue(); maxSize > 1<<20 {
		tests = append(tests, struct {
			name  string
			value []byte
		}{"MaxValueSize " + strconv.Itoa(maxSize), storeRandomBytes(maxSize, 4)})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.value) > caps.maxValue() {
				t.Skipf("%d bytes is above the declared MaxValueSize %d", len(tc.value), caps.maxValue())
			}
			key := "roundtrip/" + tc.name
			// The suite keeps its own copy, to notice a store that writes to
			// either slice.
			want := bytes.Clone(tc.value)
			storeSet(t, st, key, tc.value, core.Meta{Size: int64(len(tc.value))})
			got := storeGet(t, st, key)
			if d := storeDiffBytes(got, want); d != "" {
				t.Errorf("Get(%q) after Set: %s", key, d)
			}
			if d := storeDiffBytes(tc.value, want); d != "" {
				t.Errorf("the value passed to Set was modified: %s", d)
			}
			// A second Get serves the same bytes (nothing consumed them).
			if d := storeDiffBytes(storeGet(t, st, key), want); d != "" {
				t.Errorf("second Get(%q): %s", key, d)
			}
		})
	}
}

func testStoreMeta(t *testing.T, st core.Store, caps Capabilities) {
	now := time.Now()
	tests := []struct {
		name string
		meta core.Meta
	}{
		{"full response meta", core.Meta{
			Expires: now.Add(time.Hour),
			URL:     "https://example.com/a?b=c",
			Method:  "GET",
			Status:  200,
			Size:    5,
			Created: now,
		}},
		{"variant index meta", core.Meta{
			Expires: now.Add(24 * time.Hour),
			URL:     "https://example.com/vary",
			Method:  "GET",
			Status:  0,
			Size:    5,
			Created: now.Add(-time.Minute),
		}},
		{"no expiry", core.Meta{
			URL:     "https://example.com/forever",
			Method:  "HEAD",
			Status:  404,
			Size:    5,
			Created: now,
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "meta/" + strconv.Itoa(i)
			storeSet(t, st, key, []byte("value"), tc.meta)
			if got := storeGet(t, st, key); string(got) != "value" {
				t.Errorf("Get(%q) = %q, want %q", key, got, "value")
			}
			if !caps.List {
				return
			}
			listed := storeListAll(t, st)
			got, ok := listed[key]
			if !ok {
				t.Fatalf("List does not yield %q", key)
			}
			storeCheckListedMeta(t, key, got, tc.meta)
		})
	}
}

func testStoreOverwrite(t *testing.T, st core.Store, caps Capabilities) {
	tests := []struct {
		name          string
		first, second []byte
	}{
		{"shorter to longer", []byte("one"), storeRandomBytes(4096, 5)},
		{"longer to shorter", storeRandomBytes(4096, 6), []byte("two")},
		{"same length", []byte("aaaa"), []byte("bbbb")},
		{"to empty", []byte("something"), []byte{}},
		{"from empty", []byte{}, []byte("something")},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "overwrite/" + strconv.Itoa(i)
			first := core.Meta{URL: "https://example.com/1", Method: "GET", Status: 200, Size: int64(len(tc.first))}
			second := core.Meta{URL: "https://example.com/2", Method: "GET", Status: 203, Size: int64(len(tc.second))}
			storeSet(t, st, key, tc.first, first)
			storeSet(t, st, key, tc.second, second)
			if d := storeDiffBytes(storeGet(t, st, key), tc.second); d != "" {
				t.Errorf("Get(%q) after overwrite: %s", key, d)
			}
			if !caps.List {
				return
			}
			got, ok := storeListAll(t, st)[key]
			if !ok {
				t.Fatalf("List does not yield %q after overwrite", key)
			}
			storeCheckListedMeta(t, key, got, second)
		})
	}
}

func testStoreDeleteMissing(t *testing.T, st core.Store, _ Capabilities) {
	ctx := t.Context()
	if err := st.Delete(ctx, "delete-missing/never-set"); err != nil {
		t.Errorf("Delete of a key never set = %v, want nil", err)
	}
	storeSet(t, st, "delete-missing/twice", []byte("x"), core.Meta{})
	for i := range 2 {
		if err := st.Delete(ctx, "delete-missing/twice"); err != nil {
			t.Errorf("Delete #%d = %v, want nil", i+1, err)
		}
	}
}

func testStoreDeleteRemoves(t *testing.T, st core.Store, caps Capabilities) {
	ctx := t.Context()
	storeSet(t, st, "delete/gone", []byte("gone"), core.Meta{})
	storeSet(t, st, "delete/kept", []byte("kept"), core.Meta{})
	if err := st.Delete(ctx, "delete/gone"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	storeWantMiss(t, st, "delete/gone")
	if got := storeGet(t, st, "delete/kept"); string(got) != "kept" {
		t.Errorf("Get of a neighbour after Delete = %q, want %q", got, "kept")
	}
	// The key is usable again.
	storeSet(t, st, "delete/gone", []byte("back"), core.Meta{})
	if got := storeGet(t, st, "delete/gone"); string(got) != "back" {
		t.Errorf("Get after Delete and Set = %q, want %q", got, "back")
	}
	if caps.List {
		if err := st.Delete(ctx, "delete/gone"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, ok := storeListAll(t, st)["delete/gone"]; ok {
			t.Error("List yields a deleted key")
		}
	}
}

func testStoreExpiresInPast(t *testing.T, st core.Store, caps Capabilities) {
	tests := []struct {
		name      string
		liveFirst bool // the key holds a live value before the expired Set
	}{
		{"new key", false},
		{"replacing a live value", true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "expired/" + strconv.Itoa(i)
			if tc.liveFirst {
				storeSet(t, st, key, []byte("live"), core.Meta{Expires: time.Now().Add(time.Hour)})
			}
			// The contract: a Meta.Expires in the past deletes the key.
			storeSet(t, st, key, []byte("dead"), core.Meta{Expires: time.Now().Add(-time.Second), Size: 4})
			storeWantMiss(t, st, key)
			if caps.List {
				// Expired entries may be listed, but a deleted one may not.
				if _, ok := storeListAll(t, st)[key]; ok && tc.liveFirst {
					t.Errorf("List yields %q, whose live value a Set with a past Expires should have deleted", key)
				}
			}
		})
	}
}

func testStoreTTLExpiry(t *testing.T, st core.Store, caps Capabilities) {
	if !caps.NativeTTL {
		t.Skip("the harness does not declare NativeTTL")
	}
	// This is the one store test that waits on real time: a store's TTL runs
	// on its own clock (or the database server's), which cannot be injected.
	// The RFC scenarios use an injected clock instead.
	const (
		ttl      = 300 * time.Millisecond
		poll     = 50 * time.Millisecond
		deadline = 5 * time.Second
	)
	ctx := t.Context()
	key := "ttl/short"
	expires := time.Now().Add(ttl)
	storeSet(t, st, key, []byte("short-lived"), core.Meta{Expires: expires, Size: 11})
	storeSet(t, st, "ttl/long", []byte("long-lived"), core.Meta{Expires: time.Now().Add(time.Hour), Size: 10})
	got, err := st.Get(ctx, key)
	switch {
	case err == nil:
		if string(got) != "short-lived" {
			t.Errorf("Get(%q) before expiry = %q, want %q", key, got, "short-lived")
		}
	case errors.Is(err, core.ErrNotFound):
		if time.Now().Before(expires) {
			t.Errorf("Get(%q) missed before Meta.Expires", key)
		}
	default:
		t.Fatalf("Get(%q): %v", key, err)
	}
	stop := time.Now().Add(deadline)
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		_, err := st.Get(ctx, key)
		if errors.Is(err, core.ErrNotFound) {
			if time.Now().Before(expires) {
				t.Errorf("Get(%q) missed %v before Meta.Expires", key, time.Until(expires))
			}
			break
		}
		if err != nil {
			t.Fatalf("Get(%q) while waiting for expiry: %v", key, err)
		}
		if time.Now().After(stop) {
			t.Fatalf("Get(%q) still returns the value %v after Meta.Expires", key, time.Since(expires))
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	if got := storeGet(t, st, "ttl/long"); string(got) != "long-lived" {
		t.Errorf("Get of a long-lived neighbour = %q, want %q", got, "long-lived")
	}
	if caps.List {
		listed := storeListAll(t, st)
		if _, ok := listed["ttl/long"]; !ok {
			t.Error("List does not yield the long-lived key")
		}
		// The expired key may still be listed: Lister allows either.
	}
}

func testStoreList(t *testing.T, st core.Store, caps Capabilities) {
	if !caps.List {
		t.Skip("the harness does not declare List")
	}
	lister, ok := st.(core.Lister)
	if !ok {
		t.Fatalf("the harness declares List but %T does not implement core.Lister", st)
	}
	ctx := t.Context()
	if n := len(storeListAll(t, st)); n != 0 {
		t.Fatalf("a fresh store lists %d keys, want 0", n)
	}
	live := map[string]core.Meta{}
	for i := range 20 {
		key := fmt.Sprintf("list/live/%02d", i)
		meta := core.Meta{
			URL:     fmt.Sprintf("https://example.com/%d", i),
			Method:  []string{"GET", "HEAD", "POST"}[i%3],
			Status:  []int{200, 0, 301, 404}[i%4],
			Size:    int64(i),
			Created: time.Now(),
		}
		if i%2 == 0 {
			meta.Expires = time.Now().Add(time.Hour)
		}
		storeSet(t, st, key, storeRandomBytes(i, uint64(i)), meta)
		live[key] = meta
	}
	storeSet(t, st, "list/expired", []byte("x"), core.Meta{Expires: time.Now().Add(-time.Second), Size: 1})
	storeSet(t, st, "list/deleted", []byte("x"), core.Meta{Size: 1})
	if err := st.Delete(ctx, "list/deleted"); err != nil {
		t.Fatalf("Delete: %v", err)
	}

	seen := map[string]int{}
	for item, err := range lister.List(ctx) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		seen[item.Key]++
		want, isLive := live[item.Key]
		switch {
		case isLive:
			storeCheckListedMeta(t, item.Key, item.Meta, want)
		case item.Key == "list/expired":
			// Expired entries may or may not be listed.
		default:
			t.Errorf("List yields %q, which is not a live key", item.Key)
		}
	}
	for key := range live {
		if seen[key] != 1 {
			t.Errorf("List yields %q %d times, want once", key, seen[key])
		}
	}
	if seen["list/expired"] > 1 {
		t.Errorf("List yields %q %d times", "list/expired", seen["list/expired"])
	}

	// Stopping early is allowed and must not upset the store.
	n := 0
	for _, err := range lister.List(ctx) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		n++
		break
	}
	if n != 1 {
		t.Errorf("breaking out of List after the first item saw %d items", n)
	}
	if got := storeGet(t, st, "list/live/01"); len(got) != 1 {
		t.Errorf("Get after an interrupted List = %d bytes, want 1", len(got))
	}
}

func testStoreClear(t *testing.T, st core.Store, caps Capabilities) {
	if !caps.Clear {
		t.Skip("the harness does not declare Clear")
	}
	clearer, ok := st.(core.Clearer)
	if !ok {
		t.Fatalf("the harness declares Clear but %T does not implement core.Clearer", st)
	}
	ctx := t.Context()
	keys := []string{"clear/a", "clear/b", "clear/c"}
	for _, key := range keys {
		storeSet(t, st, key, []byte(key), core.Meta{URL: key, Method: "GET", Status: 200, Size: int64(len(key))})
	}
	if err := clearer.Clear(ctx); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	for _, key := range keys {
		storeWantMiss(t, st, key)
	}
	if caps.List {
		if n := len(storeListAll(t, st)); n != 0 {
			t.Errorf("List after Clear yields %d keys, want 0", n)
		}
	}
	// The store is usable after Clear, and clearing an empty store is fine.
	storeSet(t, st, "clear/after", []byte("after"), core.Meta{})
	if got := storeGet(t, st, "clear/after"); string(got) != "after" {
		t.Errorf("Get after Clear and Set = %q, want %q", got, "after")
	}
	if err := clearer.Clear(ctx); err != nil {
		t.Fatalf("second Clear: %v", err)
	}
	if err := clearer.Clear(ctx); err != nil {
		t.Fatalf("Clear of an empty store: %v", err)
	}
}

func testStoreContextCancelled(t *testing.T, st core.Store, caps Capabilities) {
	storeSet(t, st, "ctx/present", []byte("x"), core.Meta{})
	ctxs := []struct {
		name string
		ctx  func(t *testing.T) context.Context
		want error
	}{
		{"cancelled", func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, context.Canceled},
		{"deadline exceeded", func(t *testing.T) context.Context {
			ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
			t.Cleanup(cancel)
			return ctx
		}, context.DeadlineExceeded},
	}
	ops := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"Get present", func(ctx context.Context) error { _, err := st.Get(ctx, "ctx/present"); return err }},
		{"Get missing", func(ctx context.Context) error { _, err := st.Get(ctx, "ctx/missing"); return err }},
		{"Set", func(ctx context.Context) error { return st.Set(ctx, "ctx/set", []byte("x"), core.Meta{}) }},
		{"Delete", func(ctx context.Context) error { return st.Delete(ctx, "ctx/present") }},
	}
	if l, ok := st.(core.Lister); ok && caps.List {
		ops = append(ops, struct {
			name string
			do   func(ctx context.Context) error
		}{"List", func(ctx context.Context) error {
			// Items before the error are tolerated; nothing after it.
			var listErr error
			for _, err := range l.List(ctx) {
				if listErr != nil {
					return fmt.Errorf("List yielded again after the error %v", listErr)
				}
				listErr = err
			}
			if listErr == nil {
				return errors.New("List yielded no error")
			}
			return listErr
		}})
	}
	if c, ok := st.(core.Clearer); ok && caps.Clear {
		ops = append(ops, struct {
			name string
			do   func(ctx context.Context) error
		}{"Clear", c.Clear})
	}
	for _, c := range ctxs {
		for _, op := range ops {
			t.Run(c.name+"/"+op.name, func(t *testing.T) {
				err := op.do(c.ctx(t))
				if !errors.Is(err, c.want) {
					t.Errorf("%s with a %s context = %v, want an error wrapping %v", op.name, c.name, err, c.want)
				}
			})
		}
	}
}

// testStoreView checks the core.ViewGetter contract, for a store that
// implements it: GetView lends what Get returns, calls its function once on
// a hit and never otherwise, returns the function's error, and honours ctx
// as Get does.
func testStoreView(t *testing.T, st core.Store, caps Capabilities) {
	vg, ok := st.(core.ViewGetter)
	if !ok {
		t.Skip("the store does not implement core.ViewGetter")
	}
	// ViewStore is the store itself, or the one a harness's wrapper embeds
	// (which the Cache then rightly reads with Get): not checked further.
	if vg.ViewStore() == nil {
		t.Fatal("ViewStore() = nil, want the store itself")
	}
	ctx := t.Context()
	view := func(key string) ([]byte, int, error) {
		var got []byte
		calls := 0
		err := vg.GetView(ctx, key, func(v []byte) error {
			calls++
			got = bytes.Clone(v)
			return nil
		})
		return got, calls, err
	}
	values := []struct {
		name  string
		value []byte
	}{
		{"empty", []byte{}},
		{"1 byte", []byte{7}},
		{"1 KiB", storeRandomBytes(1<<10, 11)},
		{"64 KiB", storeRandomBytes(64<<10, 12)},
		{"1 MiB", storeRandomBytes(1<<20, 13)},
	}
	for _, tc := range values {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.value) > caps.maxValue() {
				t.Skipf("%d bytes is above the declared MaxValueSize %d", len(tc.value), caps.maxValue())
			}
			key := "view/" + tc.name
			storeSet(t, st, key, tc.value, core.Meta{Size: int64(len(tc.value))})
			for i := range 2 { // a loan leaves the value as it was
				got, calls, err := view(key)
				if err != nil || calls != 1 {
					t.Fatalf("GetView %d: %d calls, error %v; want 1 call, no error", i, calls, err)
				}
				if d := storeDiffBytes(got, tc.value); d != "" {
					t.Fatalf("GetView %d lent: %s", i, d)
				}
			}
			if d := storeDiffBytes(storeGet(t, st, key), tc.value); d != "" {
				t.Errorf("Get after GetView: %s", d)
			}
		})
	}
	t.Run("miss", func(t *testing.T) {
		_, calls, err := view("view/never-set")
		if !errors.Is(err, core.ErrNotFound) || calls != 0 {
			t.Errorf("GetView of a missing key: %d calls, error %v; want no call, an error wrapping core.ErrNotFound", calls, err)
		}
	})
	t.Run("function's error", func(t *testing.T) {
		storeSet(t, st, "view/present", []byte("x"), core.Meta{})
		errFn := errors.New("the function failed")
		if err := vg.GetView(ctx, "view/present", func([]byte) error { return errFn }); !errors.Is(err, errFn) {
			t.Errorf("GetView = %v, want the function's error", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		storeSet(t, st, "view/present", []byte("x"), core.Meta{})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		calls := 0
		err := vg.GetView(cctx, "view/present", func([]byte) error { calls++; return nil })
		if !errors.Is(err, context.Canceled) || calls != 0 {
			t.Errorf("GetView with a cancelled context: %d calls, error %v; want no call, an error wrapping context.Canceled", calls, err)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		keys := []string{"view/c0", "view/c1", "view/c2"}
		for i, k := range keys {
			storeSet(t, st, k, storeRandomBytes(4<<10, uint64(20+i)), core.Meta{})
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					k := (g + i) % len(keys)
					got, _, err := view(keys[k])
					if err == nil && !bytes.Equal(got, storeRandomBytes(4<<10, uint64(20+k))) {
						err = fmt.Errorf("GetView(%q) lent another value", keys[k])
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func testStoreConcurrent(t *testing.T, st core.Store, _ Capabilities) {
	const (
		goroutines = 16
		opsEach    = 200
		numKeys    = 32
		maxReports = 10
	)
	ctx := t.Context()
	keys := make([]string, numKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("concurrent/%02d", i)
	}
	var (
		reports atomic.Int32
		wg      sync.WaitGroup
	)
	report := func(format string, args ...any) {
		if reports.Add(1) <= maxReports {
			t.Errorf(format, args...)
		}
	}
	check := func(key string, got []byte) {
		if err := storeCheckStamped(key, got); err != nil {
			report("Get(%q) returned a value never written for it: %v", key, err)
		}
	}
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			for i := range opsEach {
				key := keys[rng.IntN(numKeys)]
				switch r := rng.IntN(100); {
				case r < 45:
					meta := core.Meta{URL: key, Method: "GET", Status: 200}
					if r%2 == 0 {
						meta.Expires = time.Now().Add(time.Hour)
					}
					value := storeStamped(key, g, i)
					meta.Size = int64(len(value))
					if err := st.Set(ctx, key, value, meta); err != nil {
						report("Set(%q): %v", key, err)
					}
				case r < 85:
					got, err := st.Get(ctx, key)
					switch {
					case errors.Is(err, core.ErrNotFound):
					case err != nil:
						report("Get(%q): %v", key, err)
					default:
						check(key, got)
					}
				default:
					if err := st.Delete(ctx, key); err != nil {
						report("Delete(%q): %v", key, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, key := range keys {
		got, err := st.Get(ctx, key)
		switch {
		case errors.Is(err, core.ErrNotFound):
		case err != nil:
			t.Errorf("final Get(%q): %v", key, err)
		default:
			check(key, got)
		}
	}
	if n := reports.Load(); n > maxReports {
		t.Errorf("... and %d more failures", n-maxReports)
	}
}

func testStoreOddKeys(t *testing.T, st core.Store, caps Capabilities) {
	ctx := t.Context()
	// Pairs of distinct keys that a store encoding keys carelessly (path
	// joining, URL unescaping, case folding, Unicode normalisation, C
	// strings, truncation) would confuse.
	pairs := [][2]string{
		{"odd/with space", "odd/with  two spaces"},
		{" odd/leading space", "odd/trailing space "},
		{"odd/a/b", "odd/a%2Fb"},
		{"odd/a%252Fb", "odd/a%2Fb/"},
		{"odd/../x", "x"},
		{"../../etc/passwd", "etc/passwd"},
		{"/absolute", "absolute"},
		{"odd/dir/", "odd/dir"},
		{"odd/" + strings.Repeat("/", 508), "odd/"},
		{"odd/a\x00b", "odd/a"},
		{"odd/nul at end\x00", "odd/nul at end"},
		{"\x00", " "},
		{"odd/CASE", "odd/case"},
		{"odd/caf\u00e9", "odd/cafe\u0301"}, // é precomposed (NFC) and decomposed (NFD)
		{"odd/日本語/ключ/🔑", "odd/???/????/?"},
		{"odd/invalid utf-8 \xff\xfe", "odd/invalid utf-8 \ufffd\ufffd"},
		{"odd/colon:key::", "odd/colon_key__"},
		{"odd/percent%", "odd/percent%25"},
		{"odd/percent%zz", "odd/percent%2525"},
		{"odd/newline\nand\ttab\r", "odd/newline and tab "},
		{"odd/quote\"'`\\", "odd/quote"},
		{"odd/query?a=b&c=d#frag", "odd/query"},
		{"odd/*?[glob]", "odd/x?[glob]"},
		{strings.Repeat("k", 512), strings.Repeat("k", 511)},
		{strings.Repeat("é", 256), strings.Repeat("e", 256)}, // 512 bytes, 256 runes
	}
	var keys []string
	for _, p := range pairs {
		keys = append(keys, p[0], p[1])
	}
	for _, k := range keys {
		if len(k) == 0 || len(k) > 512 {
			t.Fatalf("suite bug: key of %d bytes", len(k))
		}
	}
	value := func(i int) []byte { return []byte("value of key #" + strconv.Itoa(i)) }
	for i, key := range keys {
		if err := st.Set(ctx, key, value(i), core.Meta{URL: "https://example.com/" + strconv.Itoa(i), Method: "GET", Status: 200, Size: int64(len(value(i)))}); err != nil {
			t.Errorf("Set(%q): %v", key, err)
		}
	}
	for i, key := range keys {
		got, err := st.Get(ctx, key)
		if err != nil {
			t.Errorf("Get(%q): %v", key, err)
			continue
		}
		if !bytes.Equal(got, value(i)) {
			t.Errorf("Get(%q) = %q, want %q", key, got, value(i))
		}
	}
	if caps.List {
		listed := storeListAll(t, st)
		for _, key := range keys {
			if _, ok := listed[key]; !ok {
				t.Errorf("List does not yield %q", key)
			}
		}
		if len(listed) != len(keys) {
			t.Errorf("List yields %d keys, want %d", len(listed), len(keys))
		}
	}
	// Deleting the first key of each pair leaves the second.
	for _, p := range pairs {
		if err := st.Delete(ctx, p[0]); err != nil {
			t.Errorf("Delete(%q): %v", p[0], err)
		}
	}
	for i, key := range keys {
		got, err := st.Get(ctx, key)
		if i%2 == 0 {
			if !errors.Is(err, core.ErrNotFound) {
				t.Errorf("Get(%q) after Delete = %q, %v; want core.ErrNotFound", key, got, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, value(i)) {
			t.Errorf("Get(%q) after deleting %q = %q, %v; want %q", key, keys[i-1], got, err, value(i))
		}
	}
}

// storeSet calls st.Set and fails the test on error.
func storeSet(t *testing.T, st core.Store, key string, value []byte, meta core.Meta) {
	t.Helper()
	if err := st.Set(t.Context(), key, value, meta); err != nil {
		t.Fatalf("Set(%q, %d bytes): %v", key, len(value), err)
	}
}

// storeGet calls st.Get and fails the test on any error, a miss included.
func storeGet(t *testing.T, st core.Store, key string) []byte {
	t.Helper()
	got, err := st.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return got
}

// storeWantMiss fails the test unless st.Get(key) reports core.ErrNotFound.
func storeWantMiss(t *testing.T, st core.Store, key string) {
	t.Helper()
	got, err := st.Get(t.Context(), key)
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get(%q) = %d bytes, error %v; want an error wrapping core.ErrNotFound", key, len(got), err)
	}
}

// storeListAll lists st (which must implement core.Lister) into a map,
// failing the test on an error or a duplicate key.
func storeListAll(t *testing.T, st core.Store) map[string]core.Meta {
	t.Helper()
	l, ok := st.(core.Lister)
	if !ok {
		t.Fatalf("the harness declares List but %T does not implement core.Lister", st)
	}
	out := map[string]core.Meta{}
	for item, err := range l.List(t.Context()) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if _, dup := out[item.Key]; dup {
			t.Errorf("List yields %q twice", item.Key)
		}
		out[item.Key] = item.Meta
	}
	return out
}

// storeCheckListedMeta compares the fields of a listed Meta that every store
// must keep exactly. Times are not compared: stores may round them.
func storeCheckListedMeta(t *testing.T, key string, got, want core.Meta) {
	t.Helper()
	if got.URL != want.URL || got.Method != want.Method || got.Status != want.Status || got.Size != want.Size {
		t.Errorf("listed Meta of %q = {URL:%q Method:%q Status:%d Size:%d}, want {URL:%q Method:%q Status:%d Size:%d}",
			key, got.URL, got.Method, got.Status, got.Size, want.URL, want.Method, want.Status, want.Size)
	}
}

// storeRandomBytes returns n deterministic pseudo-random bytes.
func storeRandomBytes(n int, seed uint64) []byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b) // never fails
	return b
}

// storeStamped is the value goroutine g writes to key in operation i: the
// key, the writer and a payload derived from all three, so a reader can tell
// a value that was written for the key from anything else.
func storeStamped(key string, g, i int) []byte {
	head := fmt.Sprintf("%s|%d|%d|", key, g, i)
	return append([]byte(head), storeStampPayload(head)...)
}

// storeStampPayload derives a payload of 0 to 1023 bytes from head.
func storeStampPayload(head string) []byte {
	var seed uint64
	for _, c := range []byte(head) {
		seed = seed*131 + uint64(c)
	}
	return storeRandomBytes(int(seed%1024), seed)
}

// storeCheckStamped reports whether got is a value storeStamped made for key.
func storeCheckStamped(key string, got []byte) error {
	rest, ok := bytes.CutPrefix(got, []byte(key+"|"))
	if !ok {
		return fmt.Errorf("it does not start with %q", key+"|")
	}
	parts := bytes.SplitN(rest, []byte("|"), 3)
	if len(parts) != 3 {
		return errors.New("the writer stamp is truncated")
	}
	head := key + "|" + string(parts[0]) + "|" + string(parts[1]) + "|"
	if !bytes.Equal(parts[2], storeStampPayload(head)) {
		return fmt.Errorf("the payload of %q is corrupt (%d bytes)", head, len(parts[2]))
	}
	return nil
}

// storeDiffBytes describes how got differs from want, or returns "" when
// they are equal, without printing megabytes.
func storeDiffBytes(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	n := min(len(got), len(want))
	i := 0
	for i < n && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("got %d bytes, want %d; first difference at byte %d", len(got), len(want), i)
}
