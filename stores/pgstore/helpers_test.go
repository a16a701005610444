package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	if err := dropTableSet(pool, table); err != nil {
		t.Errorf("dropping the test tables: %v", err)
	}
}

func dropTableSet(pool *pgxpool.Pool, table string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := pool.Exec(ctx, `SELECT set_config('synchronous_commit', 'off', true);
		DROP TABLE IF EXISTS `+table+`, `+table+`_streams, `+table+`_chunks, `+table+`_meta, `+table+`_leases;
		DROP FUNCTION IF EXISTS `+table+`_count_entries(), `+table+`_count_streams()`, pgx.QueryExecModeSimpleProtocol)
	return err
}

// recycled holds the table sets the conformance harnesses have finished
// with, emptied and handed to the next store: creating the tables of a
// store is a few dozen catalog changes, and the suite makes hundreds of
// stores. TestMain drops them all when the tests end.
var recycled struct {
	mu   sync.Mutex
	free []string
	all  []string
}

// takeTable returns the table name of a fresh, empty store: a recycled
// set, emptied, or a new name (whose tables New creates).
func takeTable(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	recycled.mu.Lock()
	var table string
	if n := len(recycled.free); n > 0 {
		table = recycled.free[n-1]
		recycled.free = recycled.free[:n-1]
	} else {
		table = uniqueTable()
		recycled.all = append(recycled.all, table)
	}
	recycled.mu.Unlock()
	_, err := pool.Exec(ctx, `SELECT set_config('synchronous_commit', 'off', true);
		DO $$ BEGIN
			IF to_regclass('`+table+`_meta') IS NOT NULL THEN
				DELETE FROM `+table+`; DELETE FROM `+table+`_streams; DELETE FROM `+table+`_chunks;
				IF to_regclass('`+table+`_leases') IS NOT NULL THEN
					DELETE FROM `+table+`_leases;
				END IF;
				UPDATE `+table+`_meta SET bytes = 0;
			END IF;
		END $$`, pgx.QueryExecModeSimpleProtocol)
	return table, err
}

// returnTables gives table sets whose stores are closed back for reuse.
func returnTables(tables []string) {
	recycled.mu.Lock()
	recycled.free = append(recycled.free, tables...)
	recycled.mu.Unlock()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if u := os.Getenv("HOARD_TEST_POSTGRES_URL"); u != "" && len(recycled.all) > 0 {
		pool, err := pgxpool.New(context.Background(), u)
		if err == nil {
			for _, table := range recycled.all {
				if derr := dropTableSet(pool, table); derr != nil {
					err = derr
				}
			}
			pool.Close()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "dropping the recycled test tables: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
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
	pool   *pgxpool.Pool
	mu     sync.Mutex
	stores []*recyclingStore
}

func newHarness(_ context.Context, t *testing.T) (conformance.StoreHarness, error) {
	pool, err := pgxpool.New(context.Background(), pgURL(t))
	if err != nil {
		return nil, err
	}
	return &harness{pool: pool}, nil
}

func (h *harness) MakeStore(ctx context.Context) (core.Store, error) {
	table, err := takeTable(ctx, h.pool)
	if err != nil {
		return nil, err
	}
	// 4 GiB: the 1 GiB body of the large-body check, with room to spare.
	st, err := pgstore.New(ctx, h.pool, &pgstore.Options{Table: table, MaxBytes: 4 << 30})
	if err != nil {
		returnTables([]string{table})
		return nil, err
	}
	r := &recyclingStore{Store: st, table: table}
	h.mu.Lock()
	h.stores = append(h.stores, r)
	h.mu.Unlock()
	return r, nil
}

// recyclingStore is a store whose Close gives its tables back for the next
// store (the suite closes every store it makes when its subtest ends).
type recyclingStore struct {
	*pgstore.Store
	table    string
	returned bool
}

// Close closes the store and gives its tables back, once.
func (r *recyclingStore) Close() error {
	err := r.Store.Close()
	if !r.returned {
		r.returned = true
		returnTables([]string{r.table})
	}
	return err
}

func (h *harness) Capabilities() conformance.Capabilities {
	// Get filters on the deletion time with the store's clock, so an entry
	// stops being returned at Meta.Expires, swept or not.
	return conformance.Capabilities{NativeTTL: true, List: true, Clear: true, Streaming: true, StreamSeek: true, MaxValueSize: 16 << 20}
}

func (h *harness) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.stores {
		if err := r.Close(); err != nil { // closed by the suite already, normally
			log.Printf("closing a conformance store: %v", err)
		}
	}
	h.stores = nil
	h.pool.Close()
}
