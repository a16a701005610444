package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/pgstore"
)

// pgURL returns the server the tests use, skipping (or failing, under
// HOARD_REQUIRE_SERVICES=1) when HOARD_TEST_POSTGRES_URL is unset
// (scripts/services.sh env exports it).
func pgURL(t testing.TB) string {
	t.Helper()
	return conformance.RequireService(t, "HOARD_TEST_POSTGRES_URL")
}

// uniqueTable returns a fresh table name: the tests of this package never
// meet another test's (or program's) tables.
func uniqueTable() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "hoard_test_" + hex.EncodeToString(b[:])
}

// newPool returns a pool of the test server, closed when the test ends.
func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// dropTables drops the tables of table (and their functions), that the
// test created, bounded in time.
func dropTables(t testing.TB, pool *pgxpool.Pool, table string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, stmt := range []string{
		`DROP TABLE IF EXISTS ` + table + `, ` + table + `_streams, ` + table + `_chunks, ` + table + `_meta`,
		`DROP FUNCTION IF EXISTS ` + table + `_count_entries(), ` + table + `_count_streams()`,
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Errorf("dropping the test tables: %v", err)
		}
	}
}

// newStore makes a store over fresh tables of pool (opts.Table is set when
// empty), closed and dropped when the test ends.
func newStore(t testing.TB, pool *pgxpool.Pool, opts *pgstore.Options) *pgstore.Store {
	t.Helper()
	o := pgstore.Options{}
	if opts != nil {
		o = *opts
	}
	if o.Table == "" {
		o.Table = uniqueTable()
	}
	st, err := pgstore.New(t.Context(), pool, &o)
	if err != nil {
		t.Fatalf("pgstore.New: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		dropTables(t, pool, o.Table)
	})
	return st
}

// harness gives the conformance suite stores over fresh tables of one
// pool, and drops them at Close.
type harness struct {
	t      testing.TB
	pool   *pgxpool.Pool
	mu     sync.Mutex
	tables []string
}

func newHarness(_ context.Context, t *testing.T) (conformance.StoreHarness, error) {
	pool, err := pgxpool.New(context.Background(), pgURL(t))
	if err != nil {
		return nil, err
	}
	return &harness{t: t, pool: pool}, nil
}

func (h *harness) MakeStore(ctx context.Context) (core.Store, error) {
	table := uniqueTable()
	h.mu.Lock()
	h.tables = append(h.tables, table)
	h.mu.Unlock()
	// 4 GiB: the 1 GiB body of the large-body check, with room to spare.
	return pgstore.New(ctx, h.pool, &pgstore.Options{Table: table, MaxBytes: 4 << 30})
}

func (h *harness) Capabilities() conformance.Capabilities {
	// Get filters on the deletion time with the store's clock, so an entry
	// stops being returned at Meta.Expires, swept or not.
	return conformance.Capabilities{NativeTTL: true, List: true, Clear: true, Streaming: true, MaxValueSize: 16 << 20}
}

func (h *harness) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, table := range h.tables {
		dropTables(h.t, h.pool, table)
	}
	h.pool.Close()
}
