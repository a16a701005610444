package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// SchemaVersion is the version of the table layout this package writes and
// reads, recorded in the row of the store's meta table (Options.Table +
// "_meta"). Tables with a higher version (made by a newer release) are
// refused with a *SchemaVersionError; missing tables are created.
const SchemaVersion = 1

// ErrNewerSchema is matched (with errors.Is) by the error New returns for
// tables whose schema version is newer than SchemaVersion.
var ErrNewerSchema = errors.New("pgstore: table schema is newer than this package supports")

// SchemaVersionError is returned by New when the store's tables were
// written by a newer schema than this package supports. It matches
// ErrNewerSchema.
type SchemaVersionError struct {
	// Table is the store's table (Options.Table).
	Table string
	// Found is the schema version recorded in the meta table.
	Found int
	// Supported is SchemaVersion.
	Supported int
}

// Error implements error.
func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("pgstore: table %s has schema version %d, newer than this package supports (%d); use a newer hoard or another table",
		e.Table, e.Found, e.Supported)
}

// Is reports whether target is ErrNewerSchema.
func (e *SchemaVersionError) Is(target error) bool { return target == ErrNewerSchema }

// names are the quoted, schema-qualified names of a store's tables and
// functions, and the bare names of its indexes (which live in the schema of
// their table).
type names struct {
	table   string // as the user gave it, for messages
	entries string
	streams string
	chunks  string
	meta    string
	leases  string
	fnEnt   string
	fnStr   string
	bare    string // the table name without schema, the prefix of index names
}

func newNames(schema, table string) names {
	id := func(suffix string) string {
		if schema == "" {
			return pgx.Identifier{table + suffix}.Sanitize()
		}
		return pgx.Identifier{schema, table + suffix}.Sanitize()
	}
	shown := table
	if schema != "" {
		shown = schema + "." + table
	}
	return names{
		table:   shown,
		entries: id(""),
		streams: id("_streams"),
		chunks:  id("_chunks"),
		meta:    id("_meta"),
		leases:  id("_leases"),
		fnEnt:   id("_count_entries"),
		fnStr:   id("_count_streams"),
		bare:    table,
	}
}

// ddl returns the statements that create the current layout (version 1).
//
//   - The entries table holds one row per key: the value, what the cache
//     records about it (url, method, status, created, expires, size), the
//     last access (for least-recently-used eviction) and sum, the CRC-32C of
//     the key, the deletion time and the value (see valueSum). Times are
//     timestamptz, NULL meaning none; url compares byte by byte (COLLATE
//     "C"), so a URL prefix is a range of its index.
//   - The streams table holds one row per stream: state 0 while it is being
//     written (key NULL, touched = time of the last chunk), 1 once committed
//     (key set, touched = time of the commit), 2 when it is garbage
//     (deleted, replaced, expired, aborted or abandoned) and its chunks wait
//     for the collector. Identity ids are never reused, so a reader of a
//     collected stream can never read a newer stream's chunks.
//   - The chunks table holds stream bodies in pieces of chunkSize bytes, each
//     with the CRC-32C of its stream id, sequence number and data (see
//     chunkSum); stored uncompressed (bodies are mostly compressed already).
//   - The meta table holds the schema version and the total size of the
//     committed values and streams, kept exact by statement triggers in the
//     transactions that change it. Every transaction that may change the
//     total locks this row first, so writers never deadlock over it.
func (n names) ddl() []string {
	idx := func(suffix string) string { return pgx.Identifier{n.bare + suffix}.Sanitize() }
	return []string{
		`CREATE TABLE ` + n.entries + ` (
			key      bytea       NOT NULL PRIMARY KEY,
			value    bytea       NOT NULL,
			url      text        COLLATE "C" NOT NULL,
			method   text        NOT NULL,
			status   integer     NOT NULL,
			created  timestamptz,
			expires  timestamptz,
			size     bigint      NOT NULL,
			accessed timestamptz NOT NULL,
			sum      bigint      NOT NULL
		)`,
		`CREATE INDEX ` + idx("_expires") + ` ON ` + n.entries + ` (expires) WHERE expires IS NOT NULL`,
		`CREATE INDEX ` + idx("_accessed") + ` ON ` + n.entries + ` (accessed)`,
		`CREATE INDEX ` + idx("_url") + ` ON ` + n.entries + ` (url)`,
		`CREATE TABLE ` + n.streams + ` (
			id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			key      bytea       UNIQUE,
			state    smallint    NOT NULL,
			size     bigint      NOT NULL DEFAULT 0,
			expires  timestamptz,
			created  timestamptz,
			accessed timestamptz,
			touched  timestamptz NOT NULL
		)`,
		`CREATE INDEX ` + idx("_streams_state") + ` ON ` + n.streams + ` (state, touched)`,
		`CREATE INDEX ` + idx("_streams_expires") + ` ON ` + n.streams + ` (expires) WHERE state = 1 AND expires IS NOT NULL`,
		`CREATE INDEX ` + idx("_streams_accessed") + ` ON ` + n.streams + ` (accessed) WHERE state = 1`,
		`CREATE TABLE ` + n.chunks + ` (
			stream_id bigint  NOT NULL,
			seq       integer NOT NULL,
			sum       bigint  NOT NULL,
			data      bytea   NOT NULL,
			PRIMARY KEY (stream_id, seq)
		)`,
		`ALTER TABLE ` + n.chunks + ` ALTER COLUMN data SET STORAGE EXTERNAL`,
		`CREATE TABLE ` + n.meta + ` (
			id      integer PRIMARY KEY CHECK (id = 1),
			version integer NOT NULL,
			bytes   bigint  NOT NULL
		)`,
		fmt.Sprintf(`INSERT INTO %s (id, version, bytes) VALUES (1, %d, 0)`, n.meta, SchemaVersion),
		// The statement triggers add what a statement changed to the total,
		// and leave the meta row alone when it changed nothing (access
		// times, chunk writes), so that those need no lock on it.
		`CREATE FUNCTION ` + n.fnEnt + `() RETURNS trigger LANGUAGE plpgsql AS $f$
		DECLARE d bigint := 0;
		BEGIN
			IF TG_OP IN ('INSERT', 'UPDATE') THEN
				d := d + (SELECT coalesce(sum(size), 0) FROM new_rows);
			END IF;
			IF TG_OP IN ('DELETE', 'UPDATE') THEN
				d := d - (SELECT coalesce(sum(size), 0) FROM old_rows);
			END IF;
			IF d <> 0 THEN
				UPDATE ` + n.meta + ` SET bytes = bytes + d WHERE id = 1;
			END IF;
			RETURN NULL;
		END $f$`,
		`CREATE FUNCTION ` + n.fnStr + `() RETURNS trigger LANGUAGE plpgsql AS $f$
		DECLARE d bigint := 0;
		BEGIN
			IF TG_OP IN ('INSERT', 'UPDATE') THEN
				d := d + (SELECT coalesce(sum(size), 0) FROM new_rows WHERE state = 1);
			END IF;
			IF TG_OP IN ('DELETE', 'UPDATE') THEN
				d := d - (SELECT coalesce(sum(size), 0) FROM old_rows WHERE state = 1);
			END IF;
			IF d <> 0 THEN
				UPDATE ` + n.meta + ` SET bytes = bytes + d WHERE id = 1;
			END IF;
			RETURN NULL;
		END $f$`,
		`CREATE TRIGGER count_insert AFTER INSERT ON ` + n.entries + ` REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ` + n.fnEnt + `()`,
		`CREATE TRIGGER count_update AFTER UPDATE ON ` + n.entries + ` REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ` + n.fnEnt + `()`,
		`CREATE TRIGGER count_delete AFTER DELETE ON ` + n.entries + ` REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ` + n.fnEnt + `()`,
		`CREATE TRIGGER count_update AFTER UPDATE ON ` + n.streams + ` REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ` + n.fnStr + `()`,
		`CREATE TRIGGER count_delete AFTER DELETE ON ` + n.streams + ` REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ` + n.fnStr + `()`,
		`COMMENT ON TABLE ` + n.meta + ` IS 'hoard HTTP cache (stores/pgstore): schema version and stored bytes'`,
	}
}

// migrate checks the schema version of the store's tables and creates them
// when they are missing, in one transaction under an advisory lock on the
// table name (so two processes opening a new store at once do not both
// create it). Tables that exist are checked without a transaction.
func (s *Store) migrate(ctx context.Context) error {
	var metaExists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.n.meta).Scan(&metaExists); err != nil {
		return err
	}
	if metaExists {
		return s.checkVersion(ctx, s.pool)
	}
	// Unlike the cache's writes, the layout commits synchronously: a server
	// crash right after an asynchronous commit of it lost the tables, and a
	// store only creates them when it opens, so every later call failed
	// until the program opened the store again (TestFaultServerStopped).
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('hoard pgstore ' || $1, 0))`, s.n.entries); err != nil {
		return err
	}
	var entriesExists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL`,
		s.n.meta, s.n.entries).Scan(&metaExists, &entriesExists); err != nil {
		return err
	}
	switch {
	case metaExists: // created meanwhile by another process
		return s.checkVersion(ctx, tx)
	case entriesExists:
		return fmt.Errorf("pgstore: table %s exists but is not a hoard store (it has no %s_meta table); choose another table name", s.n.table, s.n.table)
	}
	// One round trip for the whole layout: a multi-statement simple query
	// (the extended protocol would describe each statement before the
	// tables it names exist).
	if _, err := tx.Exec(ctx, strings.Join(s.n.ddl(), ";\n"), pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("pgstore: creating the tables of %s: %w", s.n.table, err)
	}
	return tx.Commit(ctx)
}

// checkVersion reads the schema version of existing tables and refuses a
// newer one.
func (s *Store) checkVersion(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) error {
	var version int
	if err := db.QueryRow(ctx, `SELECT version FROM `+s.n.meta+` WHERE id = 1`).Scan(&version); err != nil {
		return fmt.Errorf("pgstore: table %s_meta is not a hoard store's (reading its schema version: %w)", s.n.table, err)
	}
	switch {
	case version > SchemaVersion:
		return &SchemaVersionError{Table: s.n.table, Found: version, Supported: SchemaVersion}
	case version < 1:
		return fmt.Errorf("pgstore: table %s_meta records schema version %d; not a hoard store", s.n.table, version)
	}
	return nil // version == SchemaVersion: the only one there has been
}

// dropStatements drop the store's tables and functions (the triggers and
// indexes go with them).
func (n names) dropStatements() []string {
	return []string{
		`DROP TABLE IF EXISTS ` + n.entries + `, ` + n.streams + `, ` + n.chunks + `, ` + n.meta + `, ` + n.leases,
		`DROP FUNCTION IF EXISTS ` + n.fnEnt + `(), ` + n.fnStr + `()`,
	}
}
