package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
	"github.com/hoardhttp/hoard/stores/pgstore"
	"github.com/hoardhttp/hoard/stores/tiered"
)

// events collects a subscription's events.
type events chan core.Invalidation

// subscribe subscribes to st's invalidations for the rest of the test.
func subscribe(t *testing.T, st *pgstore.Store) events {
	t.Helper()
	ch := make(events, 1024)
	stop, err := st.Subscribe(t.Context(), func(ev core.Invalidation) {
		select {
		case ch <- ev:
		default:
			t.Errorf("event %+v dropped: the test does not read them", ev)
		}
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(stop)
	return ch
}

// next returns the next event, failing the test after a bound far above
// any delivery time.
func (ch events) next(t *testing.T) core.Invalidation {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no invalidation event within 10 s")
		return core.Invalidation{}
	}
}

// none checks that no event arrives within d.
func (ch events) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Errorf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

// notifyingPair returns two stores over the same new tables, both with
// Notify: two processes' views of one cache.
func notifyingPair(t *testing.T, pool *pgxpool.Pool) (a, b *pgstore.Store) {
	t.Helper()
	table := uniqueTable()
	a = newStore(t, pool, &pgstore.Options{Table: table, Notify: true})
	b, err := pgstore.New(t.Context(), pool, &pgstore.Options{Table: table, Notify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

func TestSubscribeNeedsNotify(t *testing.T) {
	st := newStore(t, newPool(t), nil)
	if st.Notifies() {
		t.Error("Notifies() = true without Options.Notify")
	}
	if _, err := st.Subscribe(t.Context(), func(core.Invalidation) {}); !errors.Is(err, core.ErrNotSupported) {
		t.Errorf("Subscribe without Notify = %v, want core.ErrNotSupported", err)
	}
}

func TestInvalidationChannelName(t *testing.T) {
	long := strings.Repeat("s", 40) + "." + strings.Repeat("t", 40)
	for _, tc := range []struct {
		table, want string
	}{
		{"hoard", "hoard_invalidations"},
		{"cache.http", "cache.http_invalidations"},
		{strings.Repeat("t", 40), strings.Repeat("t", 40) + "_invalidations"},
		{strings.Repeat("t", 49), strings.Repeat("t", 49) + "_invalidations"}, // 63 bytes
	} {
		if got := pgstore.ChannelName(tc.table); got != tc.want {
			t.Errorf("channel of %q = %q, want %q", tc.table, got, tc.want)
		}
	}
	got := pgstore.ChannelName(long)
	if !strings.HasPrefix(got, "hoard_inv_") || len(got) > 63 {
		t.Errorf("channel of a %d-byte table name = %q, want hoard_inv_<hash> of at most 63 bytes", len(long), got)
	}
	if other := pgstore.ChannelName(long + "x"); other == got {
		t.Errorf("two long table names share the channel %q", got)
	}
}

// TestNotifyEvents: every change made through one store reaches the
// other's subscription, after it is visible, as the keys it changed (or
// "all" for a clear, or a change too large for one payload); the
// subscribing store's own changes are not reported.
func TestNotifyEvents(t *testing.T) {
	pool := newPool(t)
	ctx := t.Context()
	a, b := notifyingPair(t, pool)
	if a.InvalidationChannel() != b.InvalidationChannel() || !a.Notifies() {
		t.Fatalf("channels %q and %q, Notifies %v", a.InvalidationChannel(), b.InvalidationChannel(), a.Notifies())
	}
	ch := subscribe(t, b)
	key := func(ev core.Invalidation) string {
		t.Helper()
		if ev.Kind != core.InvalidateKey {
			t.Fatalf("event %+v, want InvalidateKey", ev)
		}
		return ev.Key
	}
	meta := core.Meta{URL: "https://example.com/a", Method: "GET", Status: 200}
	binary := "\x00\xff key with spaces\n"
	for _, k := range []string{"k1", binary} {
		if err := a.Set(ctx, k, []byte("v"), meta); err != nil {
			t.Fatal(err)
		}
		if got := key(ch.next(t)); got != k {
			t.Errorf("Set(%q) reported key %q", k, got)
		}
		// The change is visible by the time its event arrives.
		if v, err := b.Get(ctx, k); err != nil || string(v) != "v" {
			t.Errorf("B's Get(%q) after the event = %q, %v", k, v, err)
		}
	}
	if err := a.Delete(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if got := key(ch.next(t)); got != "k1" {
		t.Errorf("Delete reported key %q", got)
	}
	// An expired Set is a delete.
	if err := a.Set(ctx, binary, []byte("v"), core.Meta{Expires: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := key(ch.next(t)); got != binary {
		t.Errorf("an expired Set reported key %q", got)
	}
	// DeleteURL reports the keys it deleted, in one notification.
	for _, k := range []string{"u1", "u2", "u3"} {
		if err := a.Set(ctx, k, []byte("v"), core.Meta{URL: "https://example.com/u", Method: "GET", Status: 200}); err != nil {
			t.Fatal(err)
		}
		ch.next(t)
	}
	if n, err := a.DeleteURL(ctx, "https://example.com/u"); err != nil || n != 3 {
		t.Fatalf("DeleteURL = %d, %v", n, err)
	}
	var got []string
	for range 3 {
		got = append(got, key(ch.next(t)))
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"u1", "u2", "u3"}) {
		t.Errorf("DeleteURL reported %q, want u1, u2, u3", got)
	}
	// More keys than one payload holds: every key may have changed.
	long := strings.Repeat("x", 500)
	for i := range 20 {
		if err := a.Set(ctx, fmt.Sprint(long, i), []byte("v"), core.Meta{URL: "https://example.com/many"}); err != nil {
			t.Fatal(err)
		}
		ch.next(t)
	}
	if n, err := a.DeleteURL(ctx, "https://example.com/many"); err != nil || n != 20 {
		t.Fatalf("DeleteURL = %d, %v", n, err)
	}
	if ev := ch.next(t); ev.Kind != core.InvalidateAll {
		t.Errorf("DeleteURL of 20 keys of 500 bytes (over %d bytes of payload) reported %+v, want InvalidateAll", pgstore.MaxPayload, ev)
	}
	if err := a.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := ch.next(t); ev.Kind != core.InvalidateAll {
		t.Errorf("Clear reported %+v, want InvalidateAll", ev)
	}
	// B's own changes are not reported to B.
	if err := b.Set(ctx, "own", []byte("v"), meta); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "own"); err != nil {
		t.Fatal(err)
	}
	ch.none(t, 200*time.Millisecond)
}

// TestNotifyListenerPings: an idle listener pings its connection and
// keeps delivering.
func TestNotifyListenerPings(t *testing.T) {
	t.Cleanup(pgstore.SetListenerTiming(10*time.Millisecond, 50*time.Millisecond, time.Second))
	pool := newPool(t)
	a, b := notifyingPair(t, pool)
	ch := subscribe(t, b)
	time.Sleep(100 * time.Millisecond) // several pings
	ch.none(t, 0)
	if err := a.Set(t.Context(), "k", []byte("v"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if ev := ch.next(t); ev.Kind != core.InvalidateKey || ev.Key != "k" {
		t.Errorf("after idle pings: event %+v, want InvalidateKey k", ev)
	}
}

// TestNotifyLostConnection: terminating the listener's backend
// (pg_terminate_backend) is reported as SubscriptionLost at once, the
// listener reconnects and reports SubscriptionRestored, and changes are
// delivered again. It logs how long the loss took to be reported.
func TestNotifyLostConnection(t *testing.T) {
	// No ping meanwhile: the listener's last statement stays its LISTEN,
	// by which terminateListener finds it.
	t.Cleanup(pgstore.SetListenerTiming(time.Minute, 50*time.Millisecond, time.Second))
	pool := newPool(t)
	ctx := t.Context()
	a, b := notifyingPair(t, pool)
	ch := subscribe(t, b)
	var took []time.Duration
	for range 3 {
		start := time.Now()
		if n := terminateListener(t, pool, b.InvalidationChannel()); n != 1 {
			t.Fatalf("terminated %d listener backends, want 1", n)
		}
		if ev := ch.next(t); ev.Kind != core.SubscriptionLost {
			t.Fatalf("after pg_terminate_backend: event %+v, want SubscriptionLost", ev)
		}
		took = append(took, time.Since(start))
		if ev := ch.next(t); ev.Kind != core.SubscriptionRestored {
			t.Fatalf("after the loss: event %+v, want SubscriptionRestored", ev)
		}
		if err := a.Set(ctx, "k", []byte("v"), core.Meta{}); err != nil {
			t.Fatal(err)
		}
		if ev := ch.next(t); ev.Kind != core.InvalidateKey || ev.Key != "k" {
			t.Errorf("after the restoration: event %+v, want InvalidateKey k", ev)
		}
	}
	t.Logf("loss reported %v after pg_terminate_backend returned", took)
}

// TestNotifyCloseEndsSubscription: closing the store ends its
// subscriptions, each told SubscriptionLost, and a closed store cannot
// subscribe.
func TestNotifyCloseEndsSubscription(t *testing.T) {
	pool := newPool(t)
	a, b := notifyingPair(t, pool)
	ch := subscribe(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if ev := ch.next(t); ev.Kind != core.SubscriptionLost {
		t.Errorf("after Close: event %+v, want SubscriptionLost", ev)
	}
	if err := a.Set(t.Context(), "k", []byte("v"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	ch.none(t, 200*time.Millisecond)
	if _, err := b.Subscribe(t.Context(), func(core.Invalidation) {}); !errors.Is(err, pgstore.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want pgstore.ErrClosed", err)
	}
}

// terminateListener terminates the backends listening on channel (the
// session whose last statement was its LISTEN) and returns how many.
func terminateListener(t *testing.T, pool *pgxpool.Pool, channel string) int {
	t.Helper()
	var n int
	err := pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query = $1 AND pid <> pg_backend_pid()`, `LISTEN "`+channel+`"`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTieredCoherence runs conformance.RunTieredCoherence over
// LISTEN/NOTIFY: process B is this test binary run again.
func TestTieredCoherence(t *testing.T) {
	u := pgURL(t)
	dsn := func(ns, params string) string {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		return u + sep + "table=hoard_test_" + ns + params
	}
	conformance.RunTieredCoherence(t, conformance.TieredCoherence{
		OpenL2: func(ctx context.Context, ns, role string) (core.Store, error) {
			return core.OpenStore(ctx, dsn(ns, "&notify=true&application_name=hoardcoh-"+role+"-"+ns))
		},
		OpenSilent: func(ctx context.Context, ns string) (core.Store, error) {
			return core.OpenStore(ctx, dsn(ns, ""))
		},
		// B's listener, not its pool's connections: the session of B
		// whose last statement is its LISTEN or a ping.
		KillChannel: func(ctx context.Context, ns string) (int, error) {
			var n int
			err := newPool(t).QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = $1 AND (query LIKE 'LISTEN %' OR query = '-- ping')`, "hoardcoh-B-"+ns).Scan(&n)
			return n, err
		},
		Cleanup: func(ctx context.Context, ns string) error {
			pool, err := pgxpool.New(ctx, u)
			if err != nil {
				return err
			}
			defer pool.Close()
			return dropTableSet(pool, "hoard_test_"+ns)
		},
	})
}

// TestTieredDSN: a tiered:// DSN over a notifying pgstore opens a tiered
// store subscribed to its invalidations (whose L1 copies then live
// DefaultMaxL1AgeInvalidated).
func TestTieredDSN(t *testing.T) {
	u := pgURL(t)
	table := uniqueTable()
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	for _, tc := range []struct {
		params string
		want   time.Duration
	}{
		{"&notify=true", tiered.DefaultMaxL1AgeInvalidated},
		{"", tiered.DefaultMaxL1Age},
	} {
		st, err := core.OpenStore(t.Context(), "tiered://?l2="+url.QueryEscape(u+sep+"table="+table+tc.params))
		if err != nil {
			t.Fatal(err)
		}
		ts, ok := st.(*tiered.StreamStore)
		if !ok {
			t.Fatalf("OpenStore(tiered://...) = %T, want *tiered.StreamStore", st)
		}
		if got := ts.MaxL1Age(); got != tc.want {
			t.Errorf("l2 with %q: MaxL1Age = %v, want %v", tc.params, got, tc.want)
		}
		if err := ts.Close(); err != nil {
			t.Error(err)
		}
	}
	pool := newPool(t)
	dropTables(t, pool, table)
}

// tieredHarness gives the conformance suite tiered stores (a memstore in
// front of a notifying store over fresh tables).
type tieredHarness struct{ *harness }

func (h tieredHarness) MakeStore(ctx context.Context) (core.Store, error) {
	table, err := takeTable(ctx, h.pool)
	if err != nil {
		return nil, err
	}
	st, err := pgstore.New(ctx, h.pool, &pgstore.Options{Table: table, MaxBytes: 4 << 30, Notify: true})
	if err != nil {
		returnTables([]string{table})
		return nil, err
	}
	r := &recyclingStore{Store: st, table: table}
	h.mu.Lock()
	h.stores = append(h.stores, r)
	h.mu.Unlock()
	l1, err := memstore.New(nil)
	if err != nil {
		return nil, err
	}
	return tiered.New(l1, r, nil)
}

// TestConformanceTiered runs the store suite over a memstore in front of a
// notifying store (subscribed, streaming through L2).
func TestConformanceTiered(t *testing.T) {
	conformance.RunStoreTests(t, func(ctx context.Context, t *testing.T) (conformance.StoreHarness, error) {
		h, err := newHarness(ctx, t)
		if err != nil {
			return nil, err
		}
		return tieredHarness{h.(*harness)}, nil
	})
}

// BenchmarkSetNotify is a 1 KiB Set without and with Options.Notify (the
// pg_notify in the same pipelined transaction), each on tables of its own;
// ratio alternates one of each per iteration and reports notify/plain.
func BenchmarkSetNotify(b *testing.B) {
	pool := newPool(b)
	value := []byte(strings.Repeat("x", 1<<10))
	stores := map[string]*pgstore.Store{
		"plain":  newStore(b, pool, &pgstore.Options{SweepInterval: -1}),
		"notify": newStore(b, pool, &pgstore.Options{SweepInterval: -1, Notify: true}),
	}
	set := func(b *testing.B, name string, i int) {
		if err := stores[name].Set(b.Context(), fmt.Sprint("k", i%100), value, core.Meta{}); err != nil {
			b.Fatal(err)
		}
	}
	for _, name := range []string{"plain", "notify"} {
		b.Run(name+"-1KiB", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				set(b, name, i)
			}
		})
	}
	b.Run("ratio-1KiB", func(b *testing.B) {
		var plain, notify time.Duration
		for i := 0; b.Loop(); i++ {
			t0 := time.Now()
			set(b, "plain", i)
			t1 := time.Now()
			set(b, "notify", i)
			plain += t1.Sub(t0)
			notify += time.Since(t1)
		}
		b.ReportMetric(float64(notify)/float64(plain), "notify/plain")
	})
}
