package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/pgstore"
)

// TestCrossProcessCoalescing: 4 processes × 25 goroutines on one cold URL
// through one PostgreSQL (waiters polling, and woken by LISTEN/NOTIFY)
// cost one origin request; a crashed holder's lease
// delays a request by the wait bound at most. The figures go to
// BENCHMARKS.md ("Coalescing across processes").
func TestCrossProcessCoalescing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		notify bool
	}{
		{"PostgreSQL", false},
		{"PostgreSQL_Notify", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pool *pgxpool.Pool
			tg := conformance.CrossProcessTarget{
				Name: tc.name,
				Open: func(ctx context.Context, t *testing.T, ns string) (core.Store, error) {
					p := newPool(t)
					if pool == nil {
						pool = p // the first, closed after Drop
					}
					return pgstore.New(ctx, p, &pgstore.Options{Table: ns, Notify: tc.notify})
				},
				Drop: func(_ context.Context, ns string) error { return dropTableSet(pool, ns) },
			}
			if rep := conformance.RunCrossProcessCoalescing(t, tg, conformance.DefaultCrossProcessLoad()); rep.Name != "" {
				t.Log(rep)
			}
		})
	}
}

// The leases table is made by the first Lease (a store that never leases
// has none), and a Release before it is harmless.
func TestLeaseTableCreatedOnFirstUse(t *testing.T) {
	pool := newPool(t)
	table := uniqueTable()
	st := newStore(t, pool, &pgstore.Options{Table: table})
	ctx := t.Context()
	exists := func() bool {
		var ok bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table+"_leases").Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if exists() {
		t.Fatal("the leases table exists before any Lease")
	}
	if err := st.Release(ctx, "k", "x"); err != nil {
		t.Fatalf("Release without a leases table: %v", err)
	}
	tok, ok, err := st.Lease(ctx, "k", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Lease without a leases table: ok %v, error %v", ok, err)
	}
	if !exists() {
		t.Error("no leases table after a Lease")
	}
	if _, ok, _ := st.Lease(ctx, "k", time.Minute); ok {
		t.Error("a second Lease took a held lease")
	}
	if err := st.Release(ctx, "k", tok); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.Lease(ctx, "k", time.Minute); !ok {
		t.Error("Lease after Release: ok false")
	}
}

// The first Leases of a new store, made at once by several processes, all
// succeed: CREATE TABLE IF NOT EXISTS is not safe against a concurrent
// creation (it fails with a unique violation in pg_type), so the leases
// table is created under an advisory lock. Found by the cross-process check
// (4 processes warming up at once): three lease errors per process.
func TestLeaseTableCreatedConcurrently(t *testing.T) {
	table := uniqueTable()
	const n = 8
	stores := make([]*pgstore.Store, n)
	for i := range stores {
		stores[i] = newStore(t, newPool(t), &pgstore.Options{Table: table}) // a pool each: a process each
	}
	errs := make([]error, n)
	start := make(chan struct{})
	done := make(chan int, n)
	for i, st := range stores {
		go func() {
			<-start
			_, _, errs[i] = st.Lease(t.Context(), fmt.Sprintf("k%d", i), time.Minute)
			done <- i
		}()
	}
	close(start)
	for range n {
		<-done
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("Lease %d: %v", i, err)
		}
	}
}
