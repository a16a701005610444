package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
	"github.com/hoardhttp/hoard/stores/redisstore"
	"github.com/hoardhttp/hoard/stores/tiered"
)

// process is one process's tiered store over the shared Redis: its own
// go-redis client (named, so that its connections can be found) and L1.
type process struct {
	store core.Store
	l1    *memstore.Store
	name  string
}

func newProcess(t *testing.T, prefix string) *process {
	t.Helper()
	u := conformance.RequireService(t, envURL)
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("%s=%q: %v", envURL, u, err)
	}
	opts.ContextTimeoutEnabled = true
	opts.ClientName = "hoardtest-" + strings.Trim(testPrefixString()[len("hoardtest:"):], ":")
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	l2, err := redisstore.New(t.Context(), client, &redisstore.Options{KeyPrefix: prefix, Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	l1, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tiered.New(l1, l2, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.(*tiered.Store).Close() })
	return &process{store: s, l1: l1, name: opts.ClientName}
}

// read returns what s serves for key ("" for a miss).
func read(t *testing.T, s core.Store, key string) string {
	t.Helper()
	v, err := s.Get(t.Context(), key)
	if errors.Is(err, core.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v)
}

// await polls p until it serves want for key, and returns how long that
// took; it fails the test after a bound far above the 100 ms target.
func await(t *testing.T, p *process, key, want string) time.Duration {
	t.Helper()
	start := time.Now()
	for read(t, p.store, key) != want {
		if time.Since(start) > 3*time.Second {
			t.Fatalf("B still serves an old value of %q %v after A's change to %q", key, time.Since(start), want)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return time.Since(start)
}

// TestTieredConformance runs the store suite over a memstore in front of a
// publishing Redis store.
func TestTieredConformance(t *testing.T) {
	conformance.RunStoreTests(t, func(ctx context.Context, t *testing.T) (conformance.StoreHarness, error) {
		h, err := newHarness(ctx, t)
		if err != nil {
			return nil, err
		}
		h.(*harness).tiered = true
		return h, nil
	})
}

// settle reads key through p until p's L1 keeps a copy of want: the first
// read of a new value may come before the message of its write, which then
// drops the copy (and while a subscription is lost, L1 keeps nothing).
func settle(t *testing.T, p *process, key, want string) {
	t.Helper()
	for start := time.Now(); read(t, p.l1, key) != want; time.Sleep(time.Millisecond) {
		if got := read(t, p.store, key); got != want || time.Since(start) > 5*time.Second {
			t.Fatalf("B serves %q and keeps no L1 copy of %q after %v", got, want, time.Since(start))
		}
	}
}

func TestTieredRedisSubscribeNeedsPublish(t *testing.T) {
	client := testClient(t)
	st, err := redisstore.New(t.Context(), client, &redisstore.Options{KeyPrefix: testPrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Subscribe(t.Context(), func(core.Invalidation) {}); !errors.Is(err, core.ErrNotSupported) {
		t.Errorf("Subscribe without Publish = %v, want core.ErrNotSupported", err)
	}
}

// TestTieredRedisInvalidation: after process A overwrites or deletes an
// entry, process B stops serving its L1 copy. It logs the p99 of the time B
// took (the target is 100 ms).
func TestTieredRedisInvalidation(t *testing.T) {
	prefix := testPrefix(t)
	t.Cleanup(func() { dropPrefix(testClient(t), prefix) })
	a, b := newProcess(t, prefix), newProcess(t, prefix)
	const trials = 200
	var took []time.Duration
	want := ""
	for i := range trials {
		if i > 0 {
			settle(t, b, "k", want)
		}
		if i%2 == 0 {
			want = fmt.Sprint("v", i)
			if err := a.store.Set(t.Context(), "k", []byte(want), core.Meta{}); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := a.store.Delete(t.Context(), "k"); err != nil {
				t.Fatal(err)
			}
			// B keeps no copy of a miss: the next trial's check needs one,
			// so the deleted key is rewritten before it.
			took = append(took, await(t, b, "k", ""))
			want = fmt.Sprint("w", i)
			if err := a.store.Set(t.Context(), "k", []byte(want), core.Meta{}); err != nil {
				t.Fatal(err)
			}
		}
		took = append(took, await(t, b, "k", want))
	}
	if err := a.store.(core.Clearer).Clear(t.Context()); err != nil {
		t.Fatal(err)
	}
	took = append(took, await(t, b, "k", ""))
	slices.Sort(took)
	t.Logf("B served the new state after A's change: p50 %v, p99 %v, max %v over %d changes",
		took[len(took)/2], took[len(took)*99/100], took[len(took)-1], len(took))
}

// TestTieredRedisLostConnection: killing B's subscription connection drops
// B's L1 and bypasses it, so a change B is not told about is not served
// stale; B resubscribes and uses L1 again.
func TestTieredRedisLostConnection(t *testing.T) {
	prefix := testPrefix(t)
	admin := testClient(t)
	t.Cleanup(func() { dropPrefix(admin, prefix) })
	a, b := newProcess(t, prefix), newProcess(t, prefix)
	// A writer that does not publish: its change reaches B only through L2.
	silent, err := redisstore.New(t.Context(), admin, &redisstore.Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.store.Set(t.Context(), "k", []byte("v1"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	settle(t, b, "k", "v1")
	n := killSubscriber(t, admin, b.name)
	if n == 0 {
		t.Fatalf("no subscription connection named %s to kill", b.name)
	}
	if err := silent.Set(t.Context(), "k", []byte("v2"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	await(t, b, "k", "v2")
	// Resubscribed: B keeps copies again, and A's changes reach them.
	settle(t, b, "k", "v2")
	if err := a.store.Set(t.Context(), "k", []byte("v3"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	await(t, b, "k", "v3")
}

// TestTieredCoherence runs conformance.RunTieredCoherence over Redis
// pub/sub: process B is this test binary run again.
func TestTieredCoherence(t *testing.T) {
	u := conformance.RequireService(t, envURL)
	dsn := func(ns, params string) string {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		return u + sep + "prefix=" + url.QueryEscape("hoardtest:"+ns+":") + params
	}
	conformance.RunTieredCoherence(t, conformance.TieredCoherence{
		OpenL2: func(ctx context.Context, ns, role string) (core.Store, error) {
			return core.OpenStore(ctx, dsn(ns, "&publish=true&client_name=hoardcoh-"+role+"-"+ns))
		},
		OpenSilent: func(ctx context.Context, ns string) (core.Store, error) {
			return core.OpenStore(ctx, dsn(ns, ""))
		},
		KillChannel: func(ctx context.Context, ns string) (int, error) {
			return killSubscriber(t, testClient(t), "hoardcoh-B-"+ns), nil
		},
		Cleanup: func(ctx context.Context, ns string) error {
			return dropPrefix(testClient(t), "hoardtest:"+ns+":")
		},
	})
}

// killSubscriber kills the pub/sub connections of the client named name and
// returns how many it killed.
func killSubscriber(t *testing.T, admin *redis.Client, name string) int {
	t.Helper()
	list, err := admin.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		fields := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				fields[k] = v
			}
		}
		if fields["name"] != name || fields["sub"] == "0" || fields["sub"] == "" {
			continue
		}
		if err := admin.Do(t.Context(), "CLIENT", "KILL", "ID", fields["id"]).Err(); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// BenchmarkTieredHit is a fresh hit through http.Client + nethttpcache +
// core over a memstore (memstore-1KiB) and over a memstore in front of a
// publishing Redis store, all hot, with the core's default store timeout
// (the tiered Store's hint is Redis's, core.DefaultStoreTimeout): tiered-1KiB
// as the Cache uses it (core.LocalGetter: an L1 hit has no timer context),
// tiered-no-local-1KiB through a wrapper that hides GetLocal (every read
// under the store timeout's context: the path before core.LocalGetter). The
// ratio benchmarks report tiered/memstore (target ≤ 1.2).
// noLocal is a tiered store without core.LocalGetter.
type noLocal struct{ *tiered.Store }

// GetLocal shadows the tiered Store's, with another signature: noLocal is
// no core.LocalGetter.
func (noLocal) GetLocal() {}

func BenchmarkTieredHit(b *testing.B) {
	client := testClient(b)
	l2, err := redisstore.New(b.Context(), client, &redisstore.Options{KeyPrefix: testPrefix(b), Publish: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dropPrefix(client, l2.KeyPrefix()) })
	names := []string{"memstore", "tiered", "tiered-no-local"}
	do := map[string]func(b *testing.B){}
	for _, name := range names {
		var st core.Store
		st, err := memstore.New(nil)
		if err == nil && name != "memstore" {
			st, err = tiered.New(st, l2, nil)
		}
		if err != nil {
			b.Fatal(err)
		}
		if name == "tiered-no-local" {
			st = noLocal{st.(*tiered.Store)}
		}
		cache, err := core.New(st)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cache.Close() })
		base := newCannedTransport(1 << 10)
		hc := nethttpcache.NewClient(cache, base)
		req, _ := http.NewRequest(http.MethodGet, "http://example.test/"+name, nil)
		do[name] = func(b *testing.B) {
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if base.n.Load() != 1 {
				b.Fatalf("%s: origin requests = %d, want 1", name, base.n.Load())
			}
		}
		do[name](b)
	}
	for _, name := range names {
		b.Run(name+"-1KiB", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				do[name](b)
			}
		})
	}
	// ratio-<name>-1KiB alternates one memstore hit and one of name per
	// iteration, so that load from other processes weighs on both alike.
	for _, name := range names[1:] {
		b.Run("ratio-"+name+"-1KiB", func(b *testing.B) {
			var mem, tier time.Duration
			for b.Loop() {
				t0 := time.Now()
				do["memstore"](b)
				t1 := time.Now()
				do[name](b)
				t2 := time.Now()
				mem += t1.Sub(t0)
				tier += t2.Sub(t1)
			}
			b.ReportMetric(float64(tier)/float64(mem), "tiered/memstore")
		})
	}
}

// A tiered store's lease is its L2's: over the shared Redis, two processes'
// tiered stores (each with its own L1) and a plain redisstore under the
// same prefix see one exclusive lease on a key, and Release reaches L2.
func TestTieredLease(t *testing.T) {
	prefix := testPrefix(t)
	client := testClient(t)
	t.Cleanup(func() { dropLeases(context.Background(), client, prefix); dropPrefix(client, prefix) })
	a, b := newProcess(t, prefix), newProcess(t, prefix)
	direct, err := redisstore.New(t.Context(), client, &redisstore.Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	la, lb := a.store.(core.Leaser), b.store.(core.Leaser)
	ctx := t.Context()
	tok, ok, err := la.Lease(ctx, "k", time.Minute)
	if err != nil || !ok || tok == "" {
		t.Fatalf("process a: Lease = %q, %v, %v; want the lease", tok, ok, err)
	}
	for _, tc := range []struct {
		name string
		l    core.Leaser
	}{{"process b (tiered)", lb}, {"redisstore", direct}, {"process a again", la}} {
		if tok2, ok, err := tc.l.Lease(ctx, "k", time.Minute); err != nil || ok {
			t.Errorf("%s: Lease = %q, %v, %v while a holds it; want ok false, no error", tc.name, tok2, ok, err)
		}
	}
	if keys := rawKeys(t, client, prefix); !slices.Contains(keys, prefix+"~lease~k") {
		t.Errorf("raw keys %q; want L2's lease key %q", keys, prefix+"~lease~k")
	}
	if err := lb.Release(ctx, "k", "not-the-token"); err != nil {
		t.Errorf("Release with another token: %v", err)
	}
	if _, ok, _ := direct.Lease(ctx, "k", time.Minute); ok {
		t.Error("a Release with another token ended a's lease")
	}
	if err := la.Release(ctx, "k", tok); err != nil {
		t.Fatalf("process a: Release: %v", err)
	}
	tokB, ok, err := lb.Lease(ctx, "k", time.Minute)
	if err != nil || !ok {
		t.Fatalf("process b: Lease after a's Release = %v, %v; want the lease", ok, err)
	}
	if err := lb.Release(ctx, "k", tokB); err != nil {
		t.Errorf("process b: Release: %v", err)
	}
}

// TestTieredCrossProcessCoalescing: the recommended multi-replica setup,
// tiered(memstore, redisstore) in every process, coalesces a cold URL's
// misses across 4 processes × 25 goroutines into one origin request
// through L2's lease, with waiters that poll and with waiters woken by
// L2's invalidations (Publish, which tiered also subscribes to).
func TestTieredCrossProcessCoalescing(t *testing.T) {
	for _, publish := range []bool{false, true} {
		name := "Tiered"
		if publish {
			name = "Tiered_Publish"
		}
		t.Run(name, func(t *testing.T) {
			var client redis.UniversalClient
			tg := conformance.CrossProcessTarget{
				Name: "tiered(memstore, Redis) " + name,
				Open: func(ctx context.Context, t *testing.T, ns string) (core.Store, error) {
					c := testClient(t)
					if client == nil {
						client = c // the first, closed after Drop
					}
					l2, err := redisstore.New(ctx, c, &redisstore.Options{KeyPrefix: "hoardtest:" + ns + ":", Publish: publish})
					if err != nil {
						return nil, err
					}
					l1, err := memstore.New(nil)
					if err != nil {
						return nil, err
					}
					return tiered.New(l1, l2, nil)
				},
				Drop: func(ctx context.Context, ns string) error {
					prefix := "hoardtest:" + ns + ":"
					return errors.Join(dropPrefix(client, prefix), dropLeases(ctx, client, prefix))
				},
			}
			if rep := conformance.RunCrossProcessCoalescing(t, tg, conformance.DefaultCrossProcessLoad()); rep.Name != "" {
				t.Log(rep)
			}
		})
	}
}
