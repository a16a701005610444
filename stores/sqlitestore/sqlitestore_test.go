package sqlitestore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

// harness makes a fresh database file per store in the test's temporary
// directory (or, with memory set, a fresh in-memory database).
type harness struct {
	dir    string
	memory bool
	n      atomic.Int64
}

func (h *harness) MakeStore(ctx context.Context) (core.Store, error) {
	path := sqlitestore.Memory
	if !h.memory {
		path = filepath.Join(h.dir, fmt.Sprintf("store-%d.db", h.n.Add(1)))
	}
	// 4 GiB: the 1 GiB body of the large-body check, with room to spare.
	return sqlitestore.New(ctx, &sqlitestore.Options{Path: path, MaxBytes: 4 << 30})
}

func (h *harness) Capabilities() conformance.Capabilities {
	return conformance.Capabilities{NativeTTL: true, List: true, Clear: true, Streaming: true, StreamSeek: true, MaxValueSize: 16 << 20}
}

func (h *harness) Close() {}

func TestConformance(t *testing.T) {
	conformance.RunStoreTests(t, func(_ context.Context, t *testing.T) (conformance.StoreHarness, error) {
		return &harness{dir: t.TempDir()}, nil
	})
}

// TestConformanceMemory runs the store and stream clauses (not the HTTP
// scenarios and the 1 GiB body, which TestConformance runs over files) on
// in-memory databases.
func TestConformanceMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	conformance.RunStoreTests(t, func(_ context.Context, t *testing.T) (conformance.StoreHarness, error) {
		if strings.Contains(t.Name(), "/EndToEnd/") || strings.HasSuffix(t.Name(), "/LargeBody") {
			t.Skip("the HTTP scenarios and the 1 GiB body run over files in TestConformance")
		}
		return &harness{memory: true}, nil
	})
}

func TestNewOptions(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		opts     *sqlitestore.Options
		wantMax  int64
		wantPath string // "" for memory
		wantErr  string
	}{
		{name: "nil is in memory", opts: nil, wantMax: sqlitestore.DefaultMaxBytes},
		{name: "zero options", opts: &sqlitestore.Options{}, wantMax: sqlitestore.DefaultMaxBytes},
		{name: ":memory:", opts: &sqlitestore.Options{Path: ":memory:", MaxBytes: 1 << 20}, wantMax: 1 << 20},
		{name: "file", opts: &sqlitestore.Options{Path: filepath.Join(dir, "a.db")}, wantMax: sqlitestore.DefaultMaxBytes, wantPath: filepath.Join(dir, "a.db")},
		{name: "file with odd name", opts: &sqlitestore.Options{Path: filepath.Join(dir, "a b?c#d%20.db")}, wantMax: sqlitestore.DefaultMaxBytes, wantPath: filepath.Join(dir, "a b?c#d%20.db")},
		{name: "all fields", opts: &sqlitestore.Options{Path: filepath.Join(dir, "b.db"), MaxBytes: 5000, SweepInterval: -1, BusyTimeout: time.Second}, wantMax: 5000, wantPath: filepath.Join(dir, "b.db")},
		{name: "negative MaxBytes", opts: &sqlitestore.Options{MaxBytes: -1}, wantErr: "sqlitestore: MaxBytes"},
		{name: "negative BusyTimeout", opts: &sqlitestore.Options{BusyTimeout: -time.Second}, wantErr: "sqlitestore: BusyTimeout"},
		{name: "missing directories are created", opts: &sqlitestore.Options{Path: filepath.Join(dir, "no", "such", "dir", "c.db")}, wantMax: sqlitestore.DefaultMaxBytes, wantPath: filepath.Join(dir, "no", "such", "dir", "c.db")},
		{name: "a directory", opts: &sqlitestore.Options{Path: dir}, wantErr: "is a directory"},
		{name: "under a file", opts: &sqlitestore.Options{Path: filepath.Join(notDir, "c.db")}, wantErr: "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlitestore.New(t.Context(), tc.opts)
			if tc.wantErr != "" {
				if err == nil {
					s.Close()
					t.Fatalf("New succeeded, want an error containing %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New error = %q, want it to contain %q", err, tc.wantErr)
				}
				if !errors.Is(err, core.ErrInvalidConfig) {
					t.Errorf("New error = %q, want one wrapping core.ErrInvalidConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer s.Close()
			if got := s.MaxBytes(); got != tc.wantMax {
				t.Errorf("MaxBytes() = %d, want %d", got, tc.wantMax)
			}
			if got := s.Path(); got != tc.wantPath {
				t.Errorf("Path() = %q, want %q", got, tc.wantPath)
			}
			set(t, s, "k", []byte("v"), core.Meta{})
			if got := get(t, s, "k"); string(got) != "v" {
				t.Errorf("Get = %q, want v", got)
			}
		})
	}
}

// TestNewCreatesDirectory: New creates the missing directories of the
// database file, as filestore creates its directory (mode 0700), instead of
// failing with SQLite's "unable to open database file".
func TestNewCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := open(t, &sqlitestore.Options{Path: filepath.Join(dir, "cache.db")})
	set(t, s, "k", []byte("v"), core.Meta{})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("New made %v, want a directory with mode 0700", fi.Mode())
	}
}

func TestNewCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := sqlitestore.New(ctx, &sqlitestore.Options{Path: dbPath(t)}); !errors.Is(err, context.Canceled) || !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("New with a cancelled context: error = %v, want context.Canceled and core.ErrUnavailable", err)
	}
	if _, err := core.OpenStore(ctx, "sqlite:///:memory:"); !errors.Is(err, context.Canceled) || !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("OpenStore with a cancelled context: error = %v, want context.Canceled and core.ErrUnavailable", err)
	}
}

func TestPersists(t *testing.T) {
	path := dbPath(t)
	ctx := t.Context()
	s, err := sqlitestore.New(ctx, &sqlitestore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	meta := core.Meta{URL: "https://example.com/a", Method: "GET", Status: 200, Created: time.Unix(1700000000, 5), Expires: time.Now().Add(time.Hour)}
	set(t, s, "k", []byte("persisted"), meta)
	writeStream(t, s, "k", []byte("stream body"), meta)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = open(t, &sqlitestore.Options{Path: path})
	if got := get(t, s, "k"); string(got) != "persisted" {
		t.Errorf("Get after reopening = %q, want %q", got, "persisted")
	}
	if got, err := readStream(s, "k"); err != nil || string(got) != "stream body" {
		t.Errorf("stream after reopening = %q, %v", got, err)
	}
	for item, err := range s.List(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if !item.Meta.Created.Equal(meta.Created) || !item.Meta.Expires.Equal(meta.Expires) {
			t.Errorf("listed times = %v, %v; want %v, %v", item.Meta.Created, item.Meta.Expires, meta.Created, meta.Expires)
		}
	}
}

// sqlDB opens the store's file directly, for checks below the API.
func sqlDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func count(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestNewerSchemaIsRefused(t *testing.T) {
	path := dbPath(t)
	s := open(t, &sqlitestore.Options{Path: path})
	set(t, s, "k", []byte("v"), core.Meta{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := sqlDB(t, path)
	if _, err := db.Exec(`PRAGMA user_version = 7`); err != nil {
		t.Fatal(err)
	}
	_, err := sqlitestore.New(t.Context(), &sqlitestore.Options{Path: path})
	want := fmt.Sprintf("sqlitestore: database schema version 7 is newer than this package supports (%d)", sqlitestore.SchemaVersion)
	if err == nil || err.Error() != want {
		t.Fatalf("New of a newer schema: error = %v, want %q", err, want)
	}
	if !errors.Is(err, sqlitestore.ErrNewerSchema) || !errors.Is(err, core.ErrInvalidConfig) {
		t.Errorf("error %v does not match ErrNewerSchema and core.ErrInvalidConfig", err)
	}
	var sve *sqlitestore.SchemaVersionError
	if !errors.As(err, &sve) || sve.Found != 7 || sve.Supported != sqlitestore.SchemaVersion {
		t.Errorf("error %#v, want a *SchemaVersionError{7, %d}", err, sqlitestore.SchemaVersion)
	}
	// The file was not touched.
	if n := count(t, db, `PRAGMA user_version`); n != 7 {
		t.Errorf("user_version = %d after the refused open, want 7", n)
	}
}

func TestForeignDatabaseIsRefused(t *testing.T) {
	tests := []struct {
		name  string
		setup []string
		want  string
	}{
		{"other application", []string{`PRAGMA application_id = 42`, `CREATE TABLE t (x)`}, "is not a hoard cache"},
		{"other versioned schema", []string{`PRAGMA user_version = 1`, `CREATE TABLE t (x)`}, "is not a hoard cache"},
		{"table name taken", []string{`CREATE TABLE entries (x)`}, "creating the schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := dbPath(t)
			db := sqlDB(t, path)
			for _, q := range tc.setup {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			s, err := sqlitestore.New(t.Context(), &sqlitestore.Options{Path: path})
			if err == nil {
				s.Close()
				t.Fatal("New of a foreign database succeeded")
			}
			if !strings.HasPrefix(err.Error(), "sqlitestore: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, core.ErrInvalidConfig) {
				t.Errorf("error = %q, want one wrapping core.ErrInvalidConfig", err)
			}
		})
	}
}

func TestSchema(t *testing.T) {
	path := dbPath(t)
	open(t, &sqlitestore.Options{Path: path}).Close()
	db := sqlDB(t, path)
	if n := count(t, db, `PRAGMA user_version`); n != sqlitestore.SchemaVersion {
		t.Errorf("user_version = %d, want %d", n, sqlitestore.SchemaVersion)
	}
	if n := count(t, db, `PRAGMA auto_vacuum`); n != 2 {
		t.Errorf("auto_vacuum = %d, want 2 (incremental)", n)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	cols := map[string]bool{}
	rows, err := db.Query(`SELECT name FROM pragma_table_info('entries')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		rows.Scan(&c)
		cols[c] = true
	}
	rows.Close()
	for _, c := range []string{"key", "value", "expires", "url", "method", "status", "size", "created", "accessed"} {
		if !cols[c] {
			t.Errorf("entries has no column %q", c)
		}
	}
	// The queries that need an index use one.
	plans := []struct {
		query, index string
	}{
		{`SELECT key FROM entries WHERE url = 'x'`, "entries_url"},
		{`SELECT rowid FROM entries WHERE expires > 0 AND expires <= 5 LIMIT 10`, "entries_expires"},
		{`SELECT key, accessed FROM entries ORDER BY accessed LIMIT 32`, "entries_accessed"},
		{`SELECT key FROM entries WHERE key > x'00' ORDER BY key LIMIT 10`, "sqlite_autoindex_entries_1"},
		{`SELECT rowid FROM chunks WHERE stream_id = 3 LIMIT 16`, "sqlite_autoindex_chunks_1"},
	}
	for _, p := range plans {
		rows, err := db.Query(`EXPLAIN QUERY PLAN ` + p.query)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "; "), p.index) {
			t.Errorf("plan of %s = %q, want it to use %s", p.query, plan, p.index)
		}
	}
}

func TestOpenStore(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cache.db")
	tests := []struct {
		name    string
		dsn     string
		want    sqlitestore.Options
		wantErr []string
	}{
		{name: "absolute path", dsn: "sqlite://" + file, want: sqlitestore.Options{Path: file}},
		{name: "all parameters", dsn: "sqlite://" + file + "?max_bytes=1GiB&sweep_interval=1m&busy_timeout=2s",
			want: sqlitestore.Options{Path: file, MaxBytes: 1 << 30, SweepInterval: time.Minute, BusyTimeout: 2 * time.Second}},
		{name: "escaped path", dsn: "sqlite://" + filepath.ToSlash(dir) + "/a%20b%3Fc.db", want: sqlitestore.Options{Path: filepath.Join(dir, "a b?c.db")}},
		{name: "sweep off", dsn: "sqlite://" + file + "?sweep_interval=off", want: sqlitestore.Options{Path: file, SweepInterval: -1}},
		{name: "zero means default", dsn: "sqlite://" + file + "?max_bytes=0&sweep_interval=0&busy_timeout=0", want: sqlitestore.Options{Path: file}},
		{name: "memory, three slashes", dsn: "sqlite:///:memory:", want: sqlitestore.Options{Path: ":memory:"}},
		{name: "memory, two slashes", dsn: "sqlite://:memory:?max_bytes=10MB", want: sqlitestore.Options{Path: ":memory:", MaxBytes: 10e6}},
		{name: "memory, opaque", dsn: "sqlite::memory:", want: sqlitestore.Options{Path: ":memory:"}},
		{name: "upper-case scheme", dsn: "SQLITE:///:memory:", want: sqlitestore.Options{Path: ":memory:"}},
		{name: "windows drive", dsn: "sqlite:///C:/cache/app.db", want: sqlitestore.Options{Path: windowsDrivePath}},
		{name: "missing directories", dsn: "sqlite://" + filepath.ToSlash(dir) + "/new/sub/cache.db", want: sqlitestore.Options{Path: filepath.Join(dir, "new", "sub", "cache.db")}},

		{name: "relative path", dsn: "sqlite:rel/cache.db?max_bytes=1KiB", wantErr: []string{"sqlitestore:", `"sqlite:rel/cache.db?max_bytes=1KiB"`, "relative path", "sqlite:///absolute/path"}},
		{name: "relative dot", dsn: "sqlite:./cache.db", wantErr: []string{"relative path"}},
		{name: "relative, two slashes", dsn: "sqlite://cache.db", wantErr: []string{"sqlitestore:", "no host", `"cache.db"`}},

		{name: "no path", dsn: "sqlite://", wantErr: []string{"sqlitestore:", `"sqlite://"`, "no path"}},
		{name: "root", dsn: "sqlite:///", wantErr: []string{"sqlitestore:", "no path"}},
		{name: "directory", dsn: "sqlite://" + dir + "/", wantErr: []string{"sqlitestore:", "directory"}},
		{name: "host", dsn: "sqlite://localhost/tmp/x.db", wantErr: []string{"sqlitestore:", "no host", "localhost"}},
		{name: "user", dsn: "sqlite://user:secret@/tmp/x.db", wantErr: []string{"sqlitestore:", "user information"}},
		{name: "fragment", dsn: "sqlite:///tmp/x.db#frag", wantErr: []string{"sqlitestore:", "fragment"}},
		{name: "unknown parameter", dsn: "sqlite:///tmp/x.db?max_bytes=1MiB&journal_mode=delete", wantErr: []string{"sqlitestore:", `"journal_mode"`, "max_bytes, sweep_interval, busy_timeout"}},
		{name: "two unknown parameters", dsn: "sqlite:///tmp/x.db?zeta=1&alpha=2", wantErr: []string{`"alpha", "zeta"`}},
		{name: "driver parameter", dsn: "sqlite:///tmp/x.db?_pragma=foo", wantErr: []string{`"_pragma"`}},
		{name: "bad size", dsn: "sqlite:///tmp/x.db?max_bytes=lots", wantErr: []string{"max_bytes", "lots"}},
		{name: "negative size", dsn: "sqlite:///tmp/x.db?max_bytes=-1", wantErr: []string{"max_bytes"}},
		{name: "bad interval", dsn: "sqlite:///tmp/x.db?sweep_interval=often", wantErr: []string{"sweep_interval", "often"}},
		{name: "negative interval", dsn: "sqlite:///tmp/x.db?sweep_interval=-1m", wantErr: []string{"sweep_interval", "negative"}},
		{name: "bad busy timeout", dsn: "sqlite:///tmp/x.db?busy_timeout=5", wantErr: []string{"busy_timeout", "missing unit"}},
		{name: "repeated parameter", dsn: "sqlite:///tmp/x.db?max_bytes=1MiB&max_bytes=2MiB", wantErr: []string{"max_bytes", "2 times"}},
		{name: "bad query", dsn: "sqlite:///tmp/x.db?max_bytes=%zz", wantErr: []string{"sqlitestore:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sqlitestore.ParseDSN(tc.dsn)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("ParseDSN(%q) = %+v, want an error", tc.dsn, got)
				}
				for _, sub := range tc.wantErr {
					if !strings.Contains(err.Error(), sub) {
						t.Errorf("ParseDSN(%q) error = %q, want it to contain %q", tc.dsn, err, sub)
					}
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q reveals the password", err)
				}
				if !errors.Is(err, core.ErrInvalidConfig) {
					t.Errorf("ParseDSN(%q) error = %q, want one wrapping core.ErrInvalidConfig", tc.dsn, err)
				}
				// core.OpenStore gives the same error.
				st, oerr := core.OpenStore(t.Context(), tc.dsn)
				if oerr == nil {
					st.(*sqlitestore.Store).Close()
					t.Errorf("OpenStore(%q) succeeded", tc.dsn)
				} else if oerr.Error() != err.Error() || !errors.Is(oerr, core.ErrInvalidConfig) {
					t.Errorf("OpenStore(%q) error = %q, want ParseDSN's, wrapping core.ErrInvalidConfig", tc.dsn, oerr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDSN(%q): %v", tc.dsn, err)
			}
			if *got != tc.want {
				t.Errorf("ParseDSN(%q) = %+v, want %+v", tc.dsn, *got, tc.want)
			}
			if tc.want.Path == windowsDrivePath {
				return // not a path to create here
			}
			st, err := core.OpenStore(t.Context(), tc.dsn)
			if err != nil {
				t.Fatalf("OpenStore(%q): %v", tc.dsn, err)
			}
			s, ok := st.(*sqlitestore.Store)
			if !ok {
				t.Fatalf("OpenStore(%q) = %T, want *sqlitestore.Store", tc.dsn, st)
			}
			defer s.Close()
			wantMax := tc.want.MaxBytes
			if wantMax == 0 {
				wantMax = sqlitestore.DefaultMaxBytes
			}
			if s.MaxBytes() != wantMax {
				t.Errorf("MaxBytes() = %d, want %d", s.MaxBytes(), wantMax)
			}
			set(t, s, "k", []byte("v"), core.Meta{})
			if got := get(t, s, "k"); string(got) != "v" {
				t.Errorf("Get = %q, want v", got)
			}
		})
	}
}

// windowsDrivePath is the path of sqlite:///C:/cache/app.db: a drive letter
// on Windows, an absolute path elsewhere.
var windowsDrivePath = func() string {
	if runtime.GOOS == "windows" {
		return "C:/cache/app.db"
	}
	return "/C:/cache/app.db"
}()

func TestRegisteredScheme(t *testing.T) {
	for _, s := range core.RegisteredSchemes() {
		if s == sqlitestore.Scheme {
			return
		}
	}
	t.Errorf("scheme %q is not registered (have %v)", sqlitestore.Scheme, core.RegisteredSchemes())
}

func TestEmptyValueIsAHit(t *testing.T) {
	s := open(t, nil)
	for _, v := range [][]byte{nil, {}} {
		set(t, s, "empty", v, core.Meta{})
		got := get(t, s, "empty")
		if got == nil || len(got) != 0 {
			t.Errorf("Get of an empty value = %#v, want a non-nil empty slice", got)
		}
	}
}

func TestSizeIsRecorded(t *testing.T) {
	s := open(t, nil)
	set(t, s, "k", []byte("12345"), core.Meta{Size: 999})
	for item, err := range s.List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if item.Meta.Size != 5 {
			t.Errorf("listed Size = %d, want len(value) = 5", item.Meta.Size)
		}
	}
	if n, err := s.Size(t.Context()); err != nil || n != 5 {
		t.Errorf("Size() = %d, %v; want 5", n, err)
	}
}

func TestListPages(t *testing.T) {
	s := open(t, nil)
	const n = 700 // more than two pages
	for i := range n {
		set(t, s, fmt.Sprintf("k%04d", i), []byte{byte(i)}, core.Meta{})
	}
	i := 0
	for item, err := range s.List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("k%04d", i); item.Key != want {
			t.Fatalf("item %d = %q, want %q", i, item.Key, want)
		}
		i++
		if i == n/2 {
			// Writes during the iteration are fine.
			set(t, s, "k0000", []byte("x"), core.Meta{})
		}
	}
	if i != n {
		t.Errorf("List yielded %d keys, want %d", i, n)
	}
	// Stopping early is fine.
	for range s.List(t.Context()) {
		break
	}
}

func TestDeleteURL(t *testing.T) {
	s := open(t, nil)
	for i, u := range []string{"https://a/", "https://a/", "https://b/"} {
		key := fmt.Sprintf("k%d", i)
		set(t, s, key, []byte(key), core.Meta{URL: u})
		writeStream(t, s, key, []byte("body "+key), core.Meta{URL: u})
	}
	n, err := s.DeleteURL(t.Context(), "https://a/")
	if err != nil || n != 2 {
		t.Fatalf("DeleteURL = %d, %v; want 2", n, err)
	}
	wantMiss(t, s, "k0")
	wantMiss(t, s, "k1")
	if _, err := readStream(s, "k0"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("stream of a key deleted by URL: %v, want core.ErrNotFound", err)
	}
	if got := get(t, s, "k2"); string(got) != "k2" {
		t.Errorf("Get(k2) = %q", got)
	}
	if n, err := s.DeleteURL(t.Context(), "https://none/"); err != nil || n != 0 {
		t.Errorf("DeleteURL of an unknown URL = %d, %v; want 0, nil", n, err)
	}
}

// TestSweep checks that the sweep deletes expired rows, with an injected
// clock.
func TestSweep(t *testing.T) {
	c := newClock()
	path := dbPath(t)
	s := openClock(t, &sqlitestore.Options{Path: path, SweepInterval: -1}, c, time.Hour)
	ctx := t.Context()
	for i := range 1200 { // more than two sweep batches
		exp := c.Now().Add(time.Minute)
		if i%2 == 0 {
			exp = c.Now().Add(time.Hour)
		}
		set(t, s, fmt.Sprintf("k%04d", i), []byte("v"), core.Meta{Expires: exp})
	}
	writeStream(t, s, "short", make([]byte, 3*sqlitestore.ChunkSize), core.Meta{Expires: c.Now().Add(time.Minute)})
	writeStream(t, s, "long", []byte("long"), core.Meta{Expires: c.Now().Add(time.Hour)})
	c.Advance(2 * time.Minute)
	wantMiss(t, s, "k0001")
	if _, err := readStream(s, "short"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("expired stream: %v, want core.ErrNotFound", err)
	}
	db := sqlDB(t, path)
	if n := count(t, db, `SELECT count(*) FROM entries`); n != 1200 {
		t.Errorf("%d rows before the sweep, want 1200", n)
	}
	if err := s.Sweep(ctx); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM entries`); n != 600 {
		t.Errorf("%d rows after the sweep, want 600", n)
	}
	if n := count(t, db, `SELECT count(*) FROM chunks`); n != 1 {
		t.Errorf("%d chunks after the sweep, want 1 (the live stream's)", n)
	}
	if got := get(t, s, "k0000"); string(got) != "v" {
		t.Errorf("live entry after sweep = %q", got)
	}
	if got, err := readStream(s, "long"); err != nil || string(got) != "long" {
		t.Errorf("live stream after sweep = %q, %v", got, err)
	}
	if size, err := s.Size(ctx); err != nil || size != 600+4 {
		t.Errorf("Size() = %d, %v; want %d", size, err, 600+4)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
}

// TestSweepReturnsSpace checks that the file shrinks once a large stream is
// deleted and swept (incremental auto-vacuum).
func TestSweepReturnsSpace(t *testing.T) {
	path := dbPath(t)
	s := open(t, &sqlitestore.Options{Path: path, SweepInterval: -1})
	ctx := t.Context()
	writeStream(t, s, "big", make([]byte, 32*sqlitestore.ChunkSize), core.Meta{})
	db := sqlDB(t, path)
	pages := count(t, db, `PRAGMA page_count`)
	if err := s.Delete(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `PRAGMA freelist_count`); n != 0 {
		t.Errorf("%d free pages after the sweep, want 0", n)
	}
	if after := count(t, db, `PRAGMA page_count`); after > pages/4 {
		t.Errorf("%d pages after deleting 8 MiB and sweeping, %d before", after, pages)
	}
}

// TestAccessTimesAreBatched checks that a hit writes nothing, and that the
// recorded access times reach the database in one flush.
func TestAccessTimesAreBatched(t *testing.T) {
	c := newClock()
	path := dbPath(t)
	s := openClock(t, &sqlitestore.Options{Path: path, SweepInterval: -1}, c, time.Hour)
	set(t, s, "a", []byte("a"), core.Meta{})
	set(t, s, "b", []byte("b"), core.Meta{})
	db := sqlDB(t, path)
	dataVersion := func() int {
		// data_version changes when another connection commits.
		return count(t, db, `PRAGMA data_version`)
	}
	before := dataVersion()
	c.Advance(time.Minute)
	for range 100 {
		get(t, s, "a")
	}
	if after := dataVersion(); after != before {
		t.Errorf("hits wrote to the database (data_version %d → %d)", before, after)
	}
	if err := s.FlushAccessTimes(t.Context()); err != nil {
		t.Fatal(err)
	}
	var a, b int64
	if err := db.QueryRow(`SELECT (SELECT accessed FROM entries WHERE key = x'61'), (SELECT accessed FROM entries WHERE key = x'62')`).Scan(&a, &b); err != nil {
		t.Fatal(err)
	}
	if a != c.Now().UnixNano() || b >= a {
		t.Errorf("accessed a = %d, b = %d; want a = %d > b", a, b, c.Now().UnixNano())
	}
}

func TestClosed(t *testing.T) {
	ctx := t.Context()
	s, err := sqlitestore.New(ctx, &sqlitestore.Options{Path: dbPath(t)})
	if err != nil {
		t.Fatal(err)
	}
	set(t, s, "k", []byte("v"), core.Meta{})
	w, err := s.CreateStream(ctx, "s", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ops := []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "k"); return err }},
		{"Set", func() error { return s.Set(ctx, "k", []byte("v"), core.Meta{}) }},
		{"Delete", func() error { return s.Delete(ctx, "k") }},
		{"Clear", func() error { return s.Clear(ctx) }},
		{"Sweep", func() error { return s.Sweep(ctx) }},
		{"List", func() error {
			for _, err := range s.List(ctx) {
				return err
			}
			return nil
		}},
		{"CreateStream", func() error { _, err := s.CreateStream(ctx, "k", core.Meta{}); return err }},
		{"OpenStream", func() error { _, _, err := s.OpenStream(ctx, "k"); return err }},
		{"stream Commit", func() error {
			if _, err := w.Write(make([]byte, sqlitestore.ChunkSize)); err != nil {
				return err
			}
			return w.Commit()
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			if err := op.do(); !errors.Is(err, sqlitestore.ErrClosed) {
				t.Errorf("%s after Close = %v, want sqlitestore.ErrClosed", op.name, err)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

// TestGetCopiesOnce checks that a Get allocates about one copy of the
// value (the driver's, out of SQLite's memory), not two: database/sql's
// clone of a []byte scan is gone. Streams' chunk reads scan the same way.
func TestGetCopiesOnce(t *testing.T) {
	const size = 64 << 10
	s := open(t, &sqlitestore.Options{SweepInterval: -1})
	value := payload("copies", size)
	set(t, s, "k", value, core.Meta{})
	if got := get(t, s, "k"); !bytes.Equal(got, value) {
		t.Fatal("Get returned other bytes than were set")
	}
	const n = 50
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		if got := get(t, s, "k"); len(got) != size {
			t.Fatalf("Get: %d bytes, want %d", len(got), size)
		}
	}
	runtime.ReadMemStats(&after)
	perGet := (after.TotalAlloc - before.TotalAlloc) / n
	if limit := uint64(size + 8<<10); perGet > limit {
		t.Errorf("a Get of %d bytes allocates %d bytes, want at most %d (one copy and change)", size, perGet, limit)
	}
	t.Logf("a Get of %d bytes allocates %d bytes", size, perGet)
}
