package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
	"github.com/hoardhttp/hoard/stores/memstore"
	"github.com/hoardhttp/hoard/stores/tiered"
)

// harness gives the conformance suite tiered stores over a fresh L2.
type harness struct {
	t    *testing.T
	file bool
}

func (h harness) MakeStore(context.Context) (core.Store, error) { return h.makeStore(nil) }

// MakeScenarioStore gives the HTTP scenarios an L1 of their size.
func (h harness) MakeScenarioStore(context.Context) (core.Store, error) {
	return h.makeStore(&memstore.Options{MaxBytes: conformance.ScenarioMemBytes})
}

// makeStore returns a tiered store whose memstore L1 has l1 options.
func (h harness) makeStore(l1opts *memstore.Options) (core.Store, error) {
	l1, err := memstore.New(l1opts)
	if err != nil {
		return nil, err
	}
	var l2 core.Store
	if h.file {
		l2, err = filestore.New(h.t.TempDir(), &filestore.Options{MaxBytes: 4 << 30})
	} else {
		l2, err = memstore.New(nil)
	}
	if err != nil {
		return nil, err
	}
	return tiered.New(l1, l2, nil)
}

func (h harness) Capabilities() conformance.Capabilities {
	return conformance.Capabilities{
		NativeTTL:    true,
		List:         true,
		Clear:        true,
		Streaming:    h.file,
		StreamSeek:   h.file,
		MaxValueSize: 16 << 20,
	}
}

func (harness) Close() {}

// TestConformance runs the store suite over memstore in front of filestore
// (a streaming L2, with seeking). A non-streaming L2 is covered by
// redisstore's TestTieredConformance, over the real Redis.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		file bool
	}{{"filestore", true}} {
		t.Run(tc.name, func(t *testing.T) {
			conformance.RunStoreTests(t, func(_ context.Context, t *testing.T) (conformance.StoreHarness, error) {
				return harness{t: t, file: tc.file}, nil
			})
		})
	}
}

// noClear is a store without core.Clearer.
type noClear struct{ core.Store }

func mem(t *testing.T) *memstore.Store {
	t.Helper()
	s, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestNew(t *testing.T) {
	tests := []struct {
		name       string
		l1, l2     func(t *testing.T) core.Store
		opts       *tiered.Options
		wantErr    string
		wantStream bool
	}{
		{name: "memstore over memstore", l1: memL, l2: memL},
		{name: "memstore over filestore", l1: memL, l2: func(t *testing.T) core.Store {
			s, err := filestore.New(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, wantStream: true},
		{name: "no L1", l1: func(*testing.T) core.Store { return nil }, l2: memL, wantErr: "needs an L1 and an L2"},
		{name: "no L2", l1: memL, l2: func(*testing.T) core.Store { return nil }, wantErr: "needs an L1 and an L2"},
		{name: "L1 without Clear", l1: func(t *testing.T) core.Store { return noClear{mem(t)} }, l2: memL, wantErr: "does not implement core.Clearer"},
		{name: "negative MaxL1Age", l1: memL, l2: memL, opts: &tiered.Options{MaxL1Age: -time.Second}, wantErr: "MaxL1Age"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tiered.New(tc.l1(t), tc.l2(t), tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, core.ErrInvalidConfig) {
					t.Fatalf("New error = %v, want core.ErrInvalidConfig containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.(io.Closer).Close()
			if _, ok := s.(core.Streamer); ok != tc.wantStream {
				t.Errorf("New returned %T: Streamer %v, want %v", s, ok, tc.wantStream)
			}
		})
	}
}

func memL(t *testing.T) core.Store { return mem(t) }

// bus is an invalidation channel between the tiered stores of a test, each
// standing for a process, over one shared L2 (a real memstore). Its peers
// report their writes to the other peers' subscriptions, synchronously.
type bus struct {
	shared *memstore.Store
	mu     sync.Mutex
	subs   map[*peer]func(core.Invalidation)
}

// peer is one process's view of the shared L2; it implements
// core.Invalidator.
type peer struct {
	*memstore.Store
	bus *bus
	// afterGet, when set, runs after each Get read the shared store.
	afterGet func(key string)
}

func newBus(t *testing.T) *bus {
	return &bus{shared: mem(t), subs: map[*peer]func(core.Invalidation){}}
}

func (b *bus) publish(from *peer, ev core.Invalidation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for p, fn := range b.subs {
		if p != from {
			fn(ev)
		}
	}
}

// process returns a tiered store over the shared L2 with its own L1.
func (b *bus) process(t *testing.T, opts *tiered.Options) (*tiered.Store, *peer, *memstore.Store) {
	t.Helper()
	l1 := mem(t)
	p := &peer{Store: b.shared, bus: b}
	s, err := tiered.New(l1, p, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*tiered.Store), p, l1
}

func (p *peer) Subscribe(_ context.Context, fn func(core.Invalidation)) (func(), error) {
	p.bus.mu.Lock()
	p.bus.subs[p] = fn
	p.bus.mu.Unlock()
	return func() {
		p.bus.mu.Lock()
		delete(p.bus.subs, p)
		p.bus.mu.Unlock()
	}, nil
}

func (p *peer) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := p.Store.Get(ctx, key)
	if p.afterGet != nil {
		p.afterGet(key)
	}
	return v, err
}

func (p *peer) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	err := p.Store.Set(ctx, key, value, meta)
	p.bus.publish(p, core.Invalidation{Kind: core.InvalidateKey, Key: key})
	return err
}

func (p *peer) Delete(ctx context.Context, key string) error {
	err := p.Store.Delete(ctx, key)
	p.bus.publish(p, core.Invalidation{Kind: core.InvalidateKey, Key: key})
	return err
}

func (p *peer) Clear(ctx context.Context) error {
	err := p.Store.Clear(ctx)
	p.bus.publish(p, core.Invalidation{Kind: core.InvalidateAll})
	return err
}

// Close leaves the shared store open for the other peers.
func (p *peer) Close() error { return nil }

// tell sends ev to p's subscription only.
func (p *peer) tell(ev core.Invalidation) {
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	p.bus.subs[p](ev)
}

func get(t *testing.T, s core.Store, key string) string {
	t.Helper()
	v, err := s.Get(t.Context(), key)
	if errors.Is(err, core.ErrNotFound) {
		return "<not found>"
	}
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v)
}

func set(t *testing.T, s core.Store, key, value string) {
	t.Helper()
	if err := s.Set(t.Context(), key, []byte(value), core.Meta{}); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

// TestInvalidation: another process's overwrite, delete and clear drop this
// process's L1 copy.
func TestInvalidation(t *testing.T) {
	b := newBus(t)
	a, _, _ := b.process(t, nil)
	c, _, cL1 := b.process(t, nil)
	set(t, a, "k", "v1")
	set(t, a, "j", "w1")
	for _, k := range []string{"k", "j"} {
		get(t, c, k)
	}
	if got := get(t, cL1, "k"); got != "v1" {
		t.Fatalf("B's L1 holds %q after a read, want v1", got)
	}
	steps := []struct {
		name      string
		do        func()
		key, want string
	}{
		{"overwrite", func() { set(t, a, "k", "v2") }, "k", "v2"},
		{"delete", func() { a.Delete(t.Context(), "k") }, "k", "<not found>"},
		{"clear", func() { a.Clear(t.Context()) }, "j", "<not found>"},
	}
	for _, st := range steps {
		st.do()
		if got := get(t, c, st.key); got != st.want {
			t.Errorf("after A's %s, B's Get(%q) = %q, want %q", st.name, st.key, got, st.want)
		}
	}
}

// TestSubscriptionLost: a lost subscription drops L1 and bypasses it until
// restored, so changes missed meanwhile are not served from L1.
func TestSubscriptionLost(t *testing.T) {
	b := newBus(t)
	s, p, l1 := b.process(t, nil)
	set(t, s, "k", "v1")
	p.tell(core.Invalidation{Kind: core.SubscriptionLost})
	if got := get(t, l1, "k"); got != "<not found>" {
		t.Fatalf("L1 holds %q after the subscription was lost, want nothing", got)
	}
	// A change nobody reports, as while disconnected.
	if err := b.shared.Set(t.Context(), "k", []byte("v2"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, "k"); got != "v2" {
		t.Errorf("Get while lost = %q, want L2's v2", got)
	}
	set(t, s, "k", "v3")
	if got := get(t, l1, "k"); got != "<not found>" {
		t.Errorf("L1 holds %q after a Get and a Set while lost, want nothing", got)
	}
	p.tell(core.Invalidation{Kind: core.SubscriptionRestored})
	if got := get(t, s, "k"); got != "v3" {
		t.Errorf("Get after restore = %q, want v3", got)
	}
	if got := get(t, l1, "k"); got != "v3" {
		t.Errorf("L1 holds %q after a Get once restored, want v3", got)
	}
}

// TestInvalidationDuringRead: an invalidation that arrives while a value is
// read from L2 keeps that value out of L1.
func TestInvalidationDuringRead(t *testing.T) {
	b := newBus(t)
	s, p, l1 := b.process(t, nil)
	if err := b.shared.Set(t.Context(), "k", []byte("old"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	p.afterGet = func(key string) {
		p.afterGet = nil
		// Another process overwrites key after this read.
		if err := b.shared.Set(t.Context(), key, []byte("new"), core.Meta{}); err != nil {
			t.Error(err)
		}
		p.tell(core.Invalidation{Kind: core.InvalidateKey, Key: key})
	}
	if got := get(t, s, "k"); got != "old" {
		t.Fatalf("Get = %q, want old", got)
	}
	if got := get(t, l1, "k"); got != "<not found>" {
		t.Errorf("L1 holds %q, read before an invalidation, want nothing", got)
	}
	if got := get(t, s, "k"); got != "new" {
		t.Errorf("second Get = %q, want new", got)
	}
}

// failing is an L2 whose writes fail while down is set.
type failing struct {
	*memstore.Store
	down atomic.Bool
}

var errDown = errors.New("L2 down")

func (f *failing) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.Set(ctx, key, value, meta)
}

func (f *failing) Delete(ctx context.Context, key string) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.Delete(ctx, key)
}

// TestL2Failure: a write L2 refuses leaves no L1 copy.
func TestL2Failure(t *testing.T) {
	l2 := &failing{Store: mem(t)}
	l1 := mem(t)
	s, err := tiered.New(l1, l2, nil)
	if err != nil {
		t.Fatal(err)
	}
	set(t, s, "k", "v1")
	l2.down.Store(true)
	if err := s.Set(t.Context(), "k", []byte("v2"), core.Meta{}); !errors.Is(err, errDown) {
		t.Fatalf("Set over a failing L2 = %v, want %v", err, errDown)
	}
	if got := get(t, l1, "k"); got != "<not found>" {
		t.Errorf("L1 holds %q after a failed Set, want nothing", got)
	}
	set(t, l1, "j", "w")
	if err := s.Delete(t.Context(), "j"); !errors.Is(err, errDown) {
		t.Fatalf("Delete over a failing L2 = %v, want %v", err, errDown)
	}
	if got := get(t, l1, "j"); got != "<not found>" {
		t.Errorf("L1 holds %q after a failed Delete, want nothing", got)
	}
	l2.down.Store(false)
	if got := get(t, s, "k"); got != "v1" {
		t.Errorf("Get = %q, want L2's v1", got)
	}
}

// TestMaxL1Age: without an invalidator an L1 copy lives at most MaxL1Age,
// whether written or read.
func TestMaxL1Age(t *testing.T) {
	const age = 200 * time.Millisecond
	l2 := mem(t)
	l1 := mem(t)
	s, err := tiered.New(l1, l2, &tiered.Options{MaxL1Age: age})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Set(t.Context(), "w", []byte("x"), core.Meta{Expires: start.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := l2.Set(t.Context(), "r", []byte("y"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	get(t, s, "r")
	end := time.Now()
	found := map[string]bool{}
	for it, err := range l1.List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		found[it.Key] = true
		if it.Meta.Expires.Before(start.Add(age)) || it.Meta.Expires.After(end.Add(age)) {
			t.Errorf("L1's %q expires at %v, want within MaxL1Age (%v) of its write", it.Key, it.Meta.Expires.Sub(start), age)
		}
	}
	if !found["w"] || !found["r"] {
		t.Fatalf("L1 holds %v, want w and r", found)
	}
	// Another process overwrites r: this one sees it once the copy expires.
	if err := l2.Set(t.Context(), "r", []byte("y2"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(age + 5*time.Second)
	for get(t, s, "r") != "y2" {
		if time.Now().After(deadline) {
			t.Fatalf("Get still serves the overwritten copy %v after MaxL1Age", time.Since(end))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if since := time.Since(end); since < age-10*time.Millisecond {
		t.Logf("new value seen %v after the read (L1 evicted early)", since)
	}
}

// TestConcurrentWrites: after concurrent writes of one key, L1 holds what L2
// holds.
func TestConcurrentWrites(t *testing.T) {
	l2 := mem(t)
	l1 := mem(t)
	s, err := tiered.New(l1, l2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				set(t, s, "k", fmt.Sprint(round, g))
			}()
			go func() {
				defer wg.Done()
				if _, err := s.Get(t.Context(), "k"); err != nil && !errors.Is(err, core.ErrNotFound) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if in1, in2 := get(t, l1, "k"), get(t, l2, "k"); in1 != "<not found>" && in1 != in2 {
			t.Fatalf("round %d: L1 holds %q, L2 %q", round, in1, in2)
		}
	}
}

func TestClose(t *testing.T) {
	b := newBus(t)
	s, _, _ := b.process(t, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	n := len(b.subs)
	b.mu.Unlock()
	if n != 0 {
		t.Errorf("%d subscriptions after Close, want 0", n)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestGetLocal: GetLocal answers from an in-process L1 only, and not while
// the subscription is lost.
func TestGetLocal(t *testing.T) {
	b := newBus(t)
	s, p, _ := b.process(t, nil)
	set(t, s, "k", "v1")
	if v, ok := s.GetLocal("k"); !ok || string(v) != "v1" {
		t.Errorf("GetLocal after Set = %q, %v; want v1 from L1", v, ok)
	}
	if _, ok := s.GetLocal("absent"); ok {
		t.Error("GetLocal of a key L1 does not hold reported true")
	}
	p.tell(core.Invalidation{Kind: core.InvalidateKey, Key: "k"})
	if _, ok := s.GetLocal("k"); ok {
		t.Error("GetLocal after the key's invalidation reported true")
	}
	get(t, s, "k") // L1 keeps L2's copy again
	p.tell(core.Invalidation{Kind: core.SubscriptionLost})
	set(t, s, "k", "v2")
	get(t, s, "k")
	if _, ok := s.GetLocal("k"); ok {
		t.Error("GetLocal while the subscription is lost reported true")
	}
	p.tell(core.Invalidation{Kind: core.SubscriptionRestored})
	get(t, s, "k")
	if v, ok := s.GetLocal("k"); !ok || string(v) != "v2" {
		t.Errorf("GetLocal once restored = %q, %v; want v2", v, ok)
	}

	// An L1 that may do I/O (a filestore hints a store timeout) is never
	// read by GetLocal.
	l1, err := filestore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := tiered.New(l1, mem(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.(*tiered.Store).Close() })
	set(t, fs, "k", "v")
	if _, ok := fs.(core.LocalGetter).GetLocal("k"); ok {
		t.Error("GetLocal over a filestore L1 reported true")
	}
}

// Over an L2 without leases (memstore), Lease and Release say
// core.ErrNotSupported, and a Cache with core.WithLeaseWait over the Store
// serves its misses from the origin without a store error. Leases reaching
// a leasing L2 are checked over the real Redis (redisstore's
// TestTieredLease and TestTieredCrossProcessCoalescing).
func TestLeaseWithoutL2Leases(t *testing.T) {
	s, err := tiered.New(mem(t), mem(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, ok := s.(core.Leaser)
	if !ok {
		t.Fatalf("%T does not implement core.Leaser", s)
	}
	ctx := t.Context()
	if tok, held, err := l.Lease(ctx, "k", time.Second); !errors.Is(err, core.ErrNotSupported) || held || tok != "" {
		t.Errorf("Lease = %q, %v, %v; want an error wrapping core.ErrNotSupported", tok, held, err)
	}
	if err := l.Release(ctx, "k", "t"); !errors.Is(err, core.ErrNotSupported) {
		t.Errorf("Release = %v; want an error wrapping core.ErrNotSupported", err)
	}
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "fresh")
	}))
	t.Cleanup(origin.Close)
	c, err := core.New(s, core.WithLeaseWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, path := range []string{"/a", "/b", "/a"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, origin.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req, http.DefaultTransport.RoundTrip)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "fresh" {
			t.Fatalf("GET %s: body %q, error %v", path, b, err)
		}
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("origin requests = %d, want 2 (the second /a is a hit)", n)
	}
	if n := c.Stats().StoreErrors; n != 0 {
		t.Errorf("StoreErrors = %d, want 0", n)
	}
}

// decodeCounter is BinaryCodec counting its decodes.
type decodeCounter struct {
	core.BinaryCodec
	n *atomic.Int64
}

func (c decodeCounter) Decode(data []byte, e *core.Entry) error {
	c.n.Add(1)
	return c.BinaryCodec.Decode(data, e)
}

// TestL1HitsDecodeOnce: a Cache over a tiered store with a memstore L1
// reads L1 with its slot (core.LocalSlotGetter) and decodes a value on its
// first hit only; a new value (the origin's next version, after the stored
// one was invalidated) is decoded again and served, never the old form.
func TestL1HitsDecodeOnce(t *testing.T) {
	s, err := tiered.New(mem(t), mem(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.(*tiered.Store).Close() })
	if _, ok := s.(core.LocalSlotGetter); !ok {
		t.Fatalf("%T is not a core.LocalSlotGetter", s)
	}
	var decodes atomic.Int64
	c, err := core.New(s, core.WithCodec(decodeCounter{n: &decodes}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var version atomic.Int64
	version.Store(1)
	send := func(req *http.Request) (*http.Response, error) {
		body := fmt.Sprintf("v%d", version.Load())
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Cache-Control": {"max-age=3600"}, "X-V": {body}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
	}
	do := func() (string, bool) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://example.test/x", nil)
		resp, err := c.Do(req, send)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("X-V") != string(b) {
			t.Fatalf("header X-V %q with body %q", resp.Header.Get("X-V"), b)
		}
		resp.Header.Set("X-V", "changed") // the receiver owns what it was handed
		return string(b), core.InfoOf(resp).FromCache
	}
	do() // the miss
	if b, hit := do(); b != "v1" || !hit {
		t.Fatalf("first hit %q (from cache %v)", b, hit)
	}
	after := decodes.Load()
	for range 10 {
		if b, hit := do(); b != "v1" || !hit {
			t.Fatalf("hit %q (from cache %v)", b, hit)
		}
	}
	if d := decodes.Load() - after; d != 0 {
		t.Errorf("10 more L1 hits decoded %d times, want 0", d)
	}
	if err := c.Clear(t.Context()); err != nil {
		t.Fatal(err)
	}
	version.Store(2)
	do() // a miss again: v2 stored
	if b, hit := do(); b != "v2" || !hit {
		t.Errorf("hit after the new version was stored: %q (from cache %v), want v2", b, hit)
	}
}

// embeddingTiered embeds a tiered store and overrides GetLocal: the
// promoted GetLocalSlot must not bypass it.
type embeddingTiered struct {
	*tiered.Store
	locals atomic.Int64
}

func (e *embeddingTiered) GetLocal(key string) ([]byte, bool) {
	e.locals.Add(1)
	return e.Store.GetLocal(key)
}

// TestL1SlotEmbeddingStore: a Cache over a store embedding the tiered Store
// reads L1 through the embedding store's GetLocal.
func TestL1SlotEmbeddingStore(t *testing.T) {
	s, err := tiered.New(mem(t), mem(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.(*tiered.Store).Close() })
	st := &embeddingTiered{Store: s.(*tiered.Store)}
	c, err := core.New(st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	send := func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Cache-Control": {"max-age=3600"}},
			Body: io.NopCloser(strings.NewReader("b")), ContentLength: 1, Request: req}, nil
	}
	for range 3 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://example.test/e", nil)
		resp, err := c.Do(req, send)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if st.locals.Load() == 0 {
		t.Error("the embedding store's GetLocal was never called")
	}
}
