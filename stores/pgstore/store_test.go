package pgstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/pgstore"
)

// newClockStore is newStore with an injected clock and stream grace.
func newClockStore(t *testing.T, pool *pgxpool.Pool, opts *pgstore.Options, c *conformance.Clock, grace time.Duration) *pgstore.Store {
	t.Helper()
	o := pgstore.Options{SweepInterval: -1}
	if opts != nil {
		o = *opts
	}
	if o.Table == "" {
		o.Table = uniqueTable()
	}
	st, err := pgstore.NewWithClock(t.Context(), pool, &o, c.Now, grace)
	if err != nil {
		t.Fatalf("NewWithClock: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		dropTables(t, pool, o.Table)
	})
	return st
}

func count(t *testing.T, pool *pgxpool.Pool, query string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestExpiryNeverServedAndSwept(t *testing.T) {
	pool := newPool(t)
	c := conformance.NewClock()
	table := uniqueTable()
	st := newClockStore(t, pool, &pgstore.Options{Table: table, SweepInterval: -1}, c, time.Hour)
	ctx := t.Context()
	exp := core.Meta{URL: "https://example.com/e", Method: "GET", Status: 200, Expires: c.Now().Add(time.Minute)}
	if err := st.Set(ctx, "e", []byte("soon gone"), exp); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, "keep", []byte("forever"), core.Meta{URL: "https://example.com/k", Method: "GET", Status: 200}); err != nil {
		t.Fatal(err)
	}
	w, err := st.CreateStream(ctx, "e", exp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("stream body")); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	c.Advance(2 * time.Minute)
	// Not swept yet: the row is there, and still never served.
	if n := count(t, pool, `SELECT count(*) FROM `+table); n != 2 {
		t.Fatalf("rows before the sweep = %d, want 2", n)
	}
	if _, err := st.Get(ctx, "e"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get of an expired, unswept entry: %v, want ErrNotFound", err)
	}
	if _, _, err := st.OpenStream(ctx, "e"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("OpenStream of an expired, unswept stream: %v, want ErrNotFound", err)
	}
	for it, err := range st.List(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if it.Key == "e" {
			t.Error("List yields an expired entry")
		}
	}
	if err := st.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM `+table); n != 1 {
		t.Errorf("rows after the sweep = %d, want 1", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM `+table+`_streams`); n != 0 {
		t.Errorf("streams after the sweep = %d, want 0", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM `+table+`_chunks`); n != 0 {
		t.Errorf("chunks after the sweep = %d, want 0", n)
	}
	if size, err := st.Size(ctx); err != nil || size != int64(len("forever")) {
		t.Errorf("Size = %d, %v; want %d", size, err, len("forever"))
	}
}

func TestLRUEviction(t *testing.T) {
	pool := newPool(t)
	c := conformance.NewClock()
	st := newClockStore(t, pool, &pgstore.Options{MaxBytes: 1000, SweepInterval: -1}, c, time.Hour)
	ctx := t.Context()
	val := bytes.Repeat([]byte("x"), 300)
	set := func(k string) {
		t.Helper()
		c.Advance(time.Second)
		if err := st.Set(ctx, k, val, core.Meta{URL: "https://example.com/" + k, Method: "GET", Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	set("a")
	set("b")
	set("c")
	// a is read after b and c were written: b is now the least recently
	// used, and the fourth value evicts it.
	c.Advance(time.Second)
	if _, err := st.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	set("d")
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		_, err := st.Get(ctx, k)
		if got := err == nil; got != want {
			t.Errorf("after eviction, Get(%q) present = %v (%v), want %v", k, got, err, want)
		}
	}
	if size, err := st.Size(ctx); err != nil || size > 1000 {
		t.Errorf("Size = %d, %v; want at most MaxBytes 1000", size, err)
	}
	// A value larger than MaxBytes is not stored and deletes the key.
	if err := st.Set(ctx, "a", bytes.Repeat([]byte("y"), 1001), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "a"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get after a value over MaxBytes: %v, want ErrNotFound", err)
	}
	// A stream counts against the cap too, and evicts values.
	w, err := st.CreateStream(ctx, "s", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("z"), 900)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if size, err := st.Size(ctx); err != nil || size > 1000 {
		t.Errorf("Size after a stream = %d, %v; want at most 1000", size, err)
	}
	w, err = st.CreateStream(ctx, "big", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("z"), 1001)); !errors.Is(err, pgstore.ErrTooLarge) {
		t.Errorf("writing a stream over MaxBytes: %v, want ErrTooLarge", err)
	}
	if err := w.Commit(); !errors.Is(err, pgstore.ErrTooLarge) {
		t.Errorf("Commit after ErrTooLarge: %v, want ErrTooLarge", err)
	}
}

func TestCorruptRowAndChunk(t *testing.T) {
	pool := newPool(t)
	table := uniqueTable()
	st := newStore(t, pool, &pgstore.Options{Table: table, SweepInterval: -1})
	ctx := t.Context()
	if err := st.Set(ctx, "k", []byte("value"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789"), pgstore.ChunkSize/5) // two chunks
	w, err := st.CreateStream(ctx, "k", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE `+table+` SET value = 'valuX'`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "k"); !errors.Is(err, core.ErrCorrupt) || errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get of a changed row: %v, want ErrCorrupt", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE `+table+`_chunks SET data = overlay(data placing '\x00'::bytea from 7) WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	r, _, err := st.OpenStream(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("reading a stream with a changed chunk: %v, want ErrCorrupt", err)
	}
	if len(got) != pgstore.ChunkSize {
		t.Errorf("read %d bytes before the bad chunk, want the first chunk (%d)", len(got), pgstore.ChunkSize)
	}
}

func TestAbandonedAndOrphanStreamsReclaimed(t *testing.T) {
	pool := newPool(t)
	c := conformance.NewClock()
	table := uniqueTable()
	const grace = time.Minute
	st := newClockStore(t, pool, &pgstore.Options{Table: table}, c, grace)
	ctx := t.Context()
	// A writer that stops writing (its process died) ...
	abandoned, err := st.CreateStream(ctx, "abandoned", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := abandoned.Write(bytes.Repeat([]byte("a"), pgstore.ChunkSize+1)); err != nil {
		t.Fatal(err)
	}
	// ... and a committed stream whose value was never written.
	orphan, err := st.CreateStream(ctx, "orphan", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orphan.Write([]byte("o")); err != nil {
		t.Fatal(err)
	}
	if err := orphan.Commit(); err != nil {
		t.Fatal(err)
	}
	// Within the grace periods the sweep leaves both alone.
	if err := st.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM `+table+`_streams`); n != 2 {
		t.Fatalf("streams within the grace periods = %d, want 2", n)
	}
	c.Advance(max(grace, pgstore.OrphanGrace) + time.Second)
	if err := st.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM `+table+`_streams`); n != 0 {
		t.Errorf("streams after the grace periods = %d, want 0", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM `+table+`_chunks`); n != 0 {
		t.Errorf("chunks after the grace periods = %d, want 0", n)
	}
	// The abandoned writer learns it when it writes again.
	_, err = abandoned.Write(bytes.Repeat([]byte("a"), pgstore.ChunkSize))
	if err == nil || !strings.Contains(err.Error(), "abandoned") {
		t.Errorf("writing to a collected stream: %v, want an error saying it was abandoned", err)
	}
	_ = abandoned.Abort()
}

func TestSchemaVersion(t *testing.T) {
	pool := newPool(t)
	ctx := t.Context()
	table := uniqueTable()
	st := newStore(t, pool, &pgstore.Options{Table: table})
	if err := st.Set(ctx, "k", []byte("v"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	// Opening the same tables again keeps what they hold.
	again := newStore(t, pool, &pgstore.Options{Table: table})
	if v, err := again.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get through a second store = %q, %v", v, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE `+table+`_meta SET version = $1`, pgstore.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	_, err := pgstore.New(ctx, pool, &pgstore.Options{Table: table})
	var sv *pgstore.SchemaVersionError
	if !errors.As(err, &sv) || !errors.Is(err, pgstore.ErrNewerSchema) || !errors.Is(err, core.ErrInvalidConfig) {
		t.Fatalf("New over a newer schema: %v, want a *SchemaVersionError that is ErrNewerSchema and ErrInvalidConfig", err)
	}
	if sv.Found != pgstore.SchemaVersion+1 || sv.Supported != pgstore.SchemaVersion || !strings.Contains(err.Error(), "newer") {
		t.Errorf("SchemaVersionError = %+v (%v)", sv, err)
	}

	// A table of the same name that is not a store's is refused, untouched.
	foreign := uniqueTable()
	if _, err := pool.Exec(ctx, `CREATE TABLE `+foreign+` (id int)`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTables(t, pool, foreign) })
	_, err = pgstore.New(ctx, pool, &pgstore.Options{Table: foreign})
	if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "not a hoard store") {
		t.Errorf("New over a foreign table: %v, want ErrInvalidConfig saying it is not a hoard store", err)
	}
}

func TestSchemaQualifiedTable(t *testing.T) {
	pool := newPool(t)
	ctx := t.Context()
	schema := uniqueTable()
	if _, err := pool.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("dropping the test schema: %v", err)
		}
	})
	st, err := pgstore.New(ctx, pool, &pgstore.Options{Table: schema + ".cache"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, "k", []byte("v"), core.Meta{URL: "https://example.com/", Method: "GET", Status: 200}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM `+schema+`.cache`); n != 1 {
		t.Errorf("rows in %s.cache = %d, want 1", schema, n)
	}
	if err := st.DropTables(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM pg_tables WHERE schemaname = '`+schema+`'`); n != 0 {
		t.Errorf("tables left in the schema after DropTables = %d, want 0", n)
	}
}

func TestOptionsRefused(t *testing.T) {
	pool := newPool(t)
	for _, tc := range []struct {
		opts pgstore.Options
		want string
	}{
		{pgstore.Options{Table: "1abc"}, "not a name"},
		{pgstore.Options{Table: "a-b"}, "not a name"},
		{pgstore.Options{Table: `x"; DROP TABLE y; --`}, "not a name"},
		{pgstore.Options{Table: strings.Repeat("t", 41)}, "at most 40"},
		{pgstore.Options{Table: "bad-schema.t"}, "schema"},
		{pgstore.Options{MaxBytes: -1}, "MaxBytes"},
		{pgstore.Options{StreamTimeout: -time.Second}, "StreamTimeout"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := pgstore.New(t.Context(), pool, &tc.opts)
			if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%+v) = %v; want ErrInvalidConfig mentioning %q", tc.opts, err, tc.want)
			}
		})
	}
}

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn     string
		want    pgstore.Options
		wantErr string
	}{
		{dsn: "postgres://u@h/db", want: pgstore.Options{}},
		{dsn: "postgresql://u@h:5433/db?sslmode=disable&table=c.http&max_bytes=64MiB&sweep_interval=30s&stream_timeout=1m&lazy=true&notify=true",
			want: pgstore.Options{Table: "c.http", MaxBytes: 64 << 20, SweepInterval: 30 * time.Second, StreamTimeout: time.Minute, Lazy: true, Notify: true}},
		{dsn: "postgres://h/db?sweep_interval=off", want: pgstore.Options{SweepInterval: -1}},
		{dsn: "redis://h/0", wantErr: `scheme "redis"`},
		{dsn: "postgres://h/db?max_bytes=lots", wantErr: "max_bytes"},
		{dsn: "postgres://h/db?sweep_interval=-1s", wantErr: "negative"},
		{dsn: "postgres://h/db?lazy=maybe", wantErr: "want true or false"},
		{dsn: "postgres://h/db?notify=yes", wantErr: "parameter notify: want true or false"},
		{dsn: "postgres://h/db?table=a&table=b", wantErr: "given 2 times"},
		{dsn: "postgres://h/db?table=no-dash", wantErr: "not a name"},
		{dsn: "postgres://h/db?sslmode=sometimes", wantErr: "hoard parameters: lazy, max_bytes"},
		{dsn: "postgres://u:hunter2@h/db?sslmode=sometimes", wantErr: "xxxxx"},
		{dsn: "postgres://h/db#frag", wantErr: "fragment"},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			got, err := pgstore.ParseDSN(tc.dsn)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, core.ErrInvalidConfig) {
					t.Fatalf("ParseDSN = %+v, %v; want an ErrInvalidConfig containing %q", got, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != tc.want {
				t.Errorf("ParseDSN = %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestOpenStoreByDSN(t *testing.T) {
	base := pgURL(t)
	pool := newPool(t)
	table := uniqueTable()
	t.Cleanup(func() { dropTables(t, pool, table) })
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	st, err := core.OpenStore(t.Context(), base+sep+"table="+table+"&max_bytes=1MiB&sweep_interval=off")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := st.Set(ctx, "k", []byte("v"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if v, err := st.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if err := st.(io.Closer).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "k"); !errors.Is(err, pgstore.ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	// A server setting PostgreSQL does not know (a misspelt hoard
	// parameter, sent on as one) is a configuration error that lists the
	// hoard parameters.
	_, err = core.OpenStore(ctx, base+sep+"table="+table+"&max_byte=1MiB")
	if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "hoard parameters") {
		t.Errorf("OpenStore with max_byte: %v; want ErrInvalidConfig listing the hoard parameters", err)
	}
}

func TestOpenUnavailable(t *testing.T) {
	for name, addr := range map[string]string{
		"refused": conformance.ClosedAddr(t),
		"hanging": conformance.HangingServer(t),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			start := time.Now()
			_, err := core.OpenStore(ctx, "postgres://postgres@"+addr+"/test?sslmode=disable")
			if !errors.Is(err, core.ErrUnavailable) {
				t.Errorf("OpenStore against a %s server: %v, want ErrUnavailable", name, err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("OpenStore took %v with a 2 s context", took)
			}
			// Lazy: nothing is contacted, and the first operation fails
			// instead.
			st, err := core.OpenStore(t.Context(), "postgres://postgres@"+addr+"/test?sslmode=disable&lazy=true")
			if err != nil {
				t.Fatalf("lazy OpenStore: %v", err)
			}
			defer st.(io.Closer).Close()
			octx, ocancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer ocancel()
			if _, err := st.Get(octx, "k"); err == nil || errors.Is(err, core.ErrNotFound) {
				t.Errorf("Get on a lazy store without a server: %v, want an error", err)
			}
		})
	}
	t.Run("no database", func(t *testing.T) {
		u := pgURL(t)
		i := strings.LastIndex(u, "/test")
		if i < 0 {
			t.Skip("HOARD_TEST_POSTGRES_URL does not name the database test")
		}
		_, err := core.OpenStore(t.Context(), u[:i]+"/hoard_no_such_db_"+strconv.Itoa(time.Now().Nanosecond())+u[i+len("/test"):])
		if !errors.Is(err, core.ErrInvalidConfig) {
			t.Errorf("OpenStore of a missing database: %v, want ErrInvalidConfig", err)
		}
	})
}

func TestLazyCreatesTablesOnFirstUse(t *testing.T) {
	pool := newPool(t)
	table := uniqueTable()
	st := newStore(t, pool, &pgstore.Options{Table: table, Lazy: true})
	if n := count(t, pool, `SELECT count(*) FROM pg_tables WHERE tablename = '`+table+`'`); n != 0 {
		t.Fatalf("a lazy New created the tables")
	}
	if err := st.Set(t.Context(), "k", []byte("v"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM `+table); n != 1 {
		t.Errorf("rows after the first Set = %d, want 1", n)
	}
}

func TestListFilterPushDown(t *testing.T) {
	pool := newPool(t)
	st := newStore(t, pool, nil)
	ctx := t.Context()
	for i, u := range []string{"https://a.example/x", "https://a.example/y", "http://b.example/x", "https://a.example\u00e9/z"} {
		m := core.Meta{URL: u, Method: []string{"GET", "HEAD"}[i%2], Status: 200 + i}
		if err := st.Set(ctx, "k"+strconv.Itoa(i), []byte("v"), m); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		f    core.ListFilter
		want string
	}{
		{core.ListFilter{URLPrefixes: []string{"https://a.example/"}}, "k0 k1"},
		{core.ListFilter{URLPrefixes: []string{"https://a.example"}}, "k0 k1 k3"},
		{core.ListFilter{URLPrefixes: []string{"https://a.example\u00e9"}}, "k3"},
		{core.ListFilter{URLPrefixes: []string{"http://b.example/", "https://a.example/y"}}, "k1 k2"},
		{core.ListFilter{Method: "HEAD"}, "k1 k3"},
		{core.ListFilter{Statuses: []int{200, 202}}, "k0 k2"},
		{core.ListFilter{URLPrefixes: []string{"https://a.example/"}, Method: "GET"}, "k0"},
	} {
		var got []string
		for it, err := range st.ListFilter(ctx, tc.f) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, it.Key)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("ListFilter(%+v) = %v, want %s", tc.f, got, tc.want)
		}
	}
}
