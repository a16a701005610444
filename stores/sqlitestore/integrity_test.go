package sqlitestore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

// integrityEnv is a cache over a file store, an origin that always answers
// the same body, and a direct connection to the file for damaging it.
type integrityEnv struct {
	t     *testing.T
	s     *sqlitestore.Store
	db    *sql.DB
	c     *core.Cache
	body  []byte
	calls int
}

func newIntegrityEnv(t *testing.T, body []byte, opts ...core.Option) *integrityEnv {
	path := dbPath(t)
	e := &integrityEnv{t: t, body: body}
	e.s = open(t, &sqlitestore.Options{Path: path, SweepInterval: -1})
	e.db = sqlDB(t, path)
	c, err := core.New(e.s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e.c = c
	return e
}

func (e *integrityEnv) send(r *http.Request) (*http.Response, error) {
	e.calls++
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Cache-Control": {"max-age=3600"}, "Content-Length": {strconv.Itoa(len(e.body))}},
		Body:          io.NopCloser(bytes.NewReader(e.body)),
		ContentLength: int64(len(e.body)), Request: r}, nil
}

func (e *integrityEnv) req() *http.Request {
	r, err := http.NewRequest(http.MethodGet, "http://example.test/item", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// fetch runs one request through the cache and reads its body.
func (e *integrityEnv) fetch() (core.Info, []byte, error) {
	resp, err := e.c.Do(e.req(), e.send)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return core.InfoOf(resp), b, err
}

// stored makes sure the entry is stored (fetching it when it is not) and
// returns its key.
func (e *integrityEnv) stored() string {
	e.t.Helper()
	info, b, err := e.fetch()
	if err != nil || !bytes.Equal(b, e.body) {
		e.t.Fatalf("fetch: %d bytes, %v", len(b), err)
	}
	if !info.FromCache {
		if info, _, _ = e.fetch(); !info.FromCache {
			e.t.Fatalf("the response is not stored (%+v)", info)
		}
	}
	return info.Key
}

func (e *integrityEnv) exec(query string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(query, args...); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
}

// TestFlippedRowIsCorrupt flips bits of a stored row in the database file
// (every byte of the value, every bit of the checksum and of the deletion
// time, every byte of the key): none is served, and each flip the store can
// see under the key is counted in Stats().CorruptErrors and the row deleted.
// Without a checksum the default codec served 93 of 100 value flips.
func TestFlippedRowIsCorrupt(t *testing.T) {
	e := newIntegrityEnv(t, []byte("a response body of a few dozen bytes, stored in one row"))
	ctx := context.Background()
	key := e.stored()
	var value []byte
	if err := e.db.QueryRow(`SELECT value FROM entries WHERE key = ?`, []byte(key)).Scan(&value); err != nil {
		t.Fatal(err)
	}
	type flip struct {
		what  string
		apply func(key []byte)
	}
	var flips []flip
	for i := range len(value) {
		flips = append(flips, flip{"value byte " + strconv.Itoa(i), func(k []byte) {
			var v []byte
			if err := e.db.QueryRow(`SELECT value FROM entries WHERE key = ?`, k).Scan(&v); err != nil {
				t.Fatal(err)
			}
			v[i%len(v)] ^= 1 << (i % 8) // a re-stored entry may differ in length by a byte or two
			e.exec(`UPDATE entries SET value = ? WHERE key = ?`, v, k)
		}})
	}
	// SQLite has no XOR: a ^ b = (a | b) - (a & b).
	for bit := range 32 {
		flips = append(flips, flip{"checksum bit " + strconv.Itoa(bit), func(k []byte) {
			e.exec(`UPDATE entries SET sum = (sum | (1 << ?1)) - (sum & (1 << ?1)) WHERE key = ?2`, bit, k)
		}})
	}
	for bit := range 63 {
		flips = append(flips, flip{"expires bit " + strconv.Itoa(bit), func(k []byte) {
			e.exec(`UPDATE entries SET expires = (expires | (1 << ?1)) - (expires & (1 << ?1)) WHERE key = ?2`, bit, k)
		}})
	}
	served, counted := 0, 0
	for _, f := range flips {
		key = e.stored()
		kb := []byte(key)
		before := e.c.Stats().CorruptErrors
		f.apply(kb)
		res, err := e.c.Lookup(ctx, e.req())
		if err != nil {
			t.Fatal(err)
		}
		if res.Response != nil && res.Response.Body != nil {
			res.Response.Body.Close()
		}
		if res.State != core.Miss {
			served++
			t.Errorf("%s: Lookup state %v, want a miss", f.what, res.State)
			continue
		}
		rows := count(t, e.db, `SELECT count(*) FROM entries WHERE key = ?`, kb)
		if e.c.Stats().CorruptErrors == before+1 {
			counted++
			if rows != 0 {
				t.Errorf("%s: counted as corrupt, but the row is still there", f.what)
			}
			continue
		}
		// Not seen: only a deletion time moved into the past hides a row.
		if _, err := e.s.Get(ctx, key); rows != 0 && !errors.Is(err, core.ErrNotFound) {
			t.Errorf("%s: a miss not counted as corrupt, and Get says %v", f.what, err)
		}
		if !strings.HasPrefix(f.what, "expires") {
			t.Errorf("%s: not counted in Stats().CorruptErrors", f.what)
		}
		e.exec(`DELETE FROM entries WHERE key = ?`, kb)
	}
	if served != 0 {
		t.Errorf("%d of %d flipped rows were served", served, len(flips))
	}
	t.Logf("%d flips, %d counted as corrupt", len(flips), counted)

	// A flipped key: the row no longer answers its key, and read under the
	// key it now has it is corrupt.
	key = e.stored()
	for i := range len(key) {
		bad := []byte(key)
		bad[i] ^= 1 << (i % 8)
		e.exec(`UPDATE entries SET key = ? WHERE key = ?`, bad, []byte(key))
		if _, err := e.s.Get(ctx, key); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("key byte %d flipped: Get of the old key: %v, want core.ErrNotFound", i, err)
		}
		if v, err := e.s.Get(ctx, string(bad)); !errors.Is(err, core.ErrCorrupt) {
			t.Errorf("key byte %d flipped: Get of the new key: %d bytes, %v; want an error wrapping core.ErrCorrupt", i, len(v), err)
		}
		e.exec(`UPDATE entries SET key = ? WHERE key = ?`, []byte(key), bad)
	}
}

// TestFlippedChunkIsCorrupt flips bytes and checksum bits of the chunks of
// a streamed body in the database file: no damaged byte reaches the caller.
// A damaged first chunk makes the request a miss (the core reads it when it
// opens the stream); a later one ends the body early with an error wrapping
// core.ErrCorrupt. Each is counted in Stats().CorruptErrors and the key
// deleted.
func TestFlippedChunkIsCorrupt(t *testing.T) {
	body := payload("chunks", 3*sqlitestore.ChunkSize+1000)
	e := newIntegrityEnv(t, body, core.WithStreamThreshold(1024))
	type flip struct {
		what  string
		seq   int // the first chunk damaged
		apply func(id int64)
	}
	var flips []flip
	for seq := range 4 {
		n := sqlitestore.ChunkSize
		if seq == 3 {
			n = 1000 + 16 // the stream also holds the core's 16-byte stream id
		}
		for _, off := range []int{0, 1, 15, 16, 17, n / 3, n / 2, n - 2, n - 1} {
			flips = append(flips, flip{"chunk " + strconv.Itoa(seq) + " byte " + strconv.Itoa(off), seq, func(id int64) {
				var data []byte
				if err := e.db.QueryRow(`SELECT data FROM chunks WHERE stream_id = ? AND seq = ?`, id, seq).Scan(&data); err != nil {
					t.Fatal(err)
				}
				data[off] ^= 1 << (off % 8)
				e.exec(`UPDATE chunks SET data = ? WHERE stream_id = ? AND seq = ?`, data, id, seq)
			}})
		}
		for _, bit := range []int{0, 7, 13, 31} {
			flips = append(flips, flip{"chunk " + strconv.Itoa(seq) + " checksum bit " + strconv.Itoa(bit), seq, func(id int64) {
				e.exec(`UPDATE chunks SET sum = (sum | (1 << ?1)) - (sum & (1 << ?1)) WHERE stream_id = ?2 AND seq = ?3`, bit, id, seq)
			}})
		}
		if seq == 3 {
			continue // the last chunk has no peer of its size to swap with
		}
		other := (seq + 1) % 3
		flips = append(flips, flip{"chunk " + strconv.Itoa(seq) + " swapped with chunk " + strconv.Itoa(other), min(seq, other), func(id int64) {
			// Swap this chunk with another of the same size, each row
			// keeping its data and its checksum.
			e.exec(`UPDATE chunks SET seq = -1 WHERE stream_id = ? AND seq = ?`, id, seq)
			e.exec(`UPDATE chunks SET seq = ? WHERE stream_id = ? AND seq = ?`, seq, id, other)
			e.exec(`UPDATE chunks SET seq = ? WHERE stream_id = ? AND seq = -1`, other, id)
		}})
	}
	served := 0
	for _, f := range flips {
		key := e.stored()
		var id int64
		if err := e.db.QueryRow(`SELECT id FROM streams WHERE key = ? AND state = 1`, []byte(key)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		before := e.c.Stats().CorruptErrors
		f.apply(id)
		info, got, err := e.fetch()
		switch {
		case !bytes.HasPrefix(body, got):
			served++
			t.Errorf("%s: the caller got %d bytes that are not the body's", f.what, len(got))
		case len(got) == len(body) && err == nil && info.FromCache:
			served++
			t.Errorf("%s: served from the damaged stream without an error", f.what)
		case f.seq == 0 && (info.FromCache || err != nil || len(got) != len(body)):
			t.Errorf("%s: FromCache %v, %d bytes, %v; want a miss with the whole body", f.what, info.FromCache, len(got), err)
		case f.seq > 0 && !errors.Is(err, core.ErrCorrupt):
			t.Errorf("%s: body ended with %v, want an error wrapping core.ErrCorrupt", f.what, err)
		}
		if n := e.c.Stats().CorruptErrors; n != before+1 {
			t.Errorf("%s: Stats().CorruptErrors grew by %d, want 1", f.what, n-before)
		}
		if n := count(t, e.db, `SELECT count(*) FROM streams WHERE id = ? AND state = 1`, id); n != 0 {
			t.Errorf("%s: the damaged stream is still the key's stream", f.what)
		}
	}
	if served != 0 {
		t.Errorf("%d of %d flipped chunks were served", served, len(flips))
	}
}

// schemaV1 is the layout of schema version 1 as it was released (without
// checksums), to test the upgrade.
var schemaV1 = []string{
	`CREATE TABLE entries (key BLOB NOT NULL PRIMARY KEY, expires INTEGER NOT NULL, url TEXT NOT NULL,
		method TEXT NOT NULL, status INTEGER NOT NULL, size INTEGER NOT NULL, created INTEGER NOT NULL,
		accessed INTEGER NOT NULL, value BLOB NOT NULL)`,
	`CREATE INDEX entries_expires ON entries (expires) WHERE expires > 0`,
	`CREATE INDEX entries_accessed ON entries (accessed)`,
	`CREATE INDEX entries_url ON entries (url)`,
	`CREATE TABLE streams (id INTEGER PRIMARY KEY AUTOINCREMENT, key BLOB UNIQUE, state INTEGER NOT NULL,
		size INTEGER NOT NULL DEFAULT 0, expires INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL DEFAULT 0,
		accessed INTEGER NOT NULL DEFAULT 0, touched INTEGER NOT NULL DEFAULT 0)`,
	`CREATE INDEX streams_state ON streams (state, touched)`,
	`CREATE TABLE chunks (stream_id INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,
		PRIMARY KEY (stream_id, seq))`,
	`CREATE TABLE stats (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER NOT NULL)`,
	`INSERT INTO stats (id, bytes) VALUES (1, 0)`,
	`CREATE TRIGGER entries_insert AFTER INSERT ON entries BEGIN
		UPDATE stats SET bytes = bytes + NEW.size WHERE id = 1; END`,
	`PRAGMA application_id = 1752129906`,
	`PRAGMA user_version = 1`,
}

// TestUpgradeFromSchemaV1: a version 1 file, whose rows have no checksum to
// be verified by, is emptied and upgraded when it is opened; stream ids go on
// after the old ones (a process still running version 1 may be reading one).
func TestUpgradeFromSchemaV1(t *testing.T) {
	path := dbPath(t)
	db := sqlDB(t, path)
	for _, q := range schemaV1 {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, q := range []string{
		`INSERT INTO entries VALUES (x'6b', 0, 'u', 'GET', 200, 5, 0, 0, x'0102030405')`,
		`INSERT INTO streams (id, key, state, size) VALUES (41, x'6b', 1, 3)`,
		`INSERT INTO chunks VALUES (41, 0, x'010203')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s := open(t, &sqlitestore.Options{Path: path, SweepInterval: -1})
	if n := count(t, db, `PRAGMA user_version`); n != sqlitestore.SchemaVersion {
		t.Errorf("user_version = %d after the upgrade, want %d", n, sqlitestore.SchemaVersion)
	}
	for _, table := range []string{"entries", "streams", "chunks"} {
		if n := count(t, db, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%d rows left in %s after the upgrade; want none", n, table)
		}
	}
	ctx := context.Background()
	if _, err := s.Get(ctx, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get of a version 1 row: %v, want core.ErrNotFound", err)
	}
	if size, err := s.Size(ctx); err != nil || size != 0 {
		t.Errorf("Size after the upgrade = %d, %v; want 0", size, err)
	}
	set(t, s, "k", []byte("new"), core.Meta{})
	if got := get(t, s, "k"); string(got) != "new" {
		t.Errorf("Get after the upgrade = %q", got)
	}
	writeStream(t, s, "k", []byte("body"), core.Meta{})
	if id := count(t, db, `SELECT id FROM streams WHERE key = x'6b' AND state = 1`); id <= 41 {
		t.Errorf("the first stream after the upgrade has id %d; want one after the old streams' 41", id)
	}
	if got, err := readStream(s, "k"); err != nil || string(got) != "body" {
		t.Errorf("stream after the upgrade: %q, %v", got, err)
	}
}
