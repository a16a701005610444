package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SchemaVersion is the version of the database layout this package writes
// and reads, recorded in the file with PRAGMA user_version. A file with a
// higher version (made by a newer release) is refused with a
// *SchemaVersionError; a file with version 0 is initialised.
//
// Version 2 added a CRC-32C checksum to every entry row and stream chunk. A
// version 1 file is upgraded by emptying it: its rows carry no checksum to
// verify them by, and a cache loses nothing it cannot fetch again.
const SchemaVersion = 2

// applicationID marks a SQLite file as a hoard cache (PRAGMA
// application_id): the bytes "hoar".
const applicationID = 0x686f6172

// ErrNewerSchema is matched (with errors.Is) by the error New returns for a
// database whose schema version is newer than SchemaVersion.
var ErrNewerSchema = errors.New("sqlitestore: database schema is newer than this package supports")

// SchemaVersionError is returned by New when the database was written by a
// newer schema than this package supports. It matches ErrNewerSchema.
type SchemaVersionError struct {
	// Found is the schema version recorded in the database.
	Found int
	// Supported is SchemaVersion.
	Supported int
}

// Error implements error.
func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("sqlitestore: database schema version %d is newer than this package supports (%d)", e.Found, e.Supported)
}

// Is reports whether target is ErrNewerSchema.
func (e *SchemaVersionError) Is(target error) bool { return target == ErrNewerSchema }

// schema creates the current layout (version 2).
//
//   - entries holds one row per key. Times are Unix nanoseconds, 0 meaning
//     none. sum is the CRC-32C of the key, the deletion time and the value
//     (see valueSum). The value comes last, so that reading the other
//     columns (List, eviction) does not walk a large value's overflow
//     pages.
//   - streams holds one row per stream: state 0 while it is being written
//     (key NULL, touched = time of the last chunk), 1 once committed (key
//     set, touched = time of the commit), 2 when it is garbage (deleted,
//     replaced, expired, aborted or abandoned) and its chunks wait for the
//     collector. AUTOINCREMENT means an id is never reused, so a reader of a
//     deleted stream can never read the chunks of a newer one.
//   - chunks holds stream bodies in pieces of chunkSize bytes, each with the
//     CRC-32C of its stream id, sequence number and data (see chunkSum).
//   - stats holds the total size of committed values and streams, kept
//     exact by triggers in the same transactions that change it, for every
//     process that writes the file.
var schema = []string{
	`CREATE TABLE entries (
		key      BLOB    NOT NULL PRIMARY KEY,
		expires  INTEGER NOT NULL,
		url      TEXT    NOT NULL,
		method   TEXT    NOT NULL,
		status   INTEGER NOT NULL,
		size     INTEGER NOT NULL,
		created  INTEGER NOT NULL,
		accessed INTEGER NOT NULL,
		sum      INTEGER NOT NULL,
		value    BLOB    NOT NULL
	)`,
	`CREATE INDEX entries_expires ON entries (expires) WHERE expires > 0`,
	// Least-recently-used eviction.
	`CREATE INDEX entries_accessed ON entries (accessed)`,
	// Deleting by URL (DeleteURL).
	`CREATE INDEX entries_url ON entries (url)`,
	`CREATE TABLE streams (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		key      BLOB    UNIQUE,
		state    INTEGER NOT NULL,
		size     INTEGER NOT NULL DEFAULT 0,
		expires  INTEGER NOT NULL DEFAULT 0,
		created  INTEGER NOT NULL DEFAULT 0,
		accessed INTEGER NOT NULL DEFAULT 0,
		touched  INTEGER NOT NULL DEFAULT 0
	)`,
	`CREATE INDEX streams_state ON streams (state, touched)`,
	`CREATE INDEX streams_expires ON streams (expires) WHERE state = 1 AND expires > 0`,
	`CREATE INDEX streams_accessed ON streams (accessed) WHERE state = 1`,
	`CREATE TABLE chunks (
		stream_id INTEGER NOT NULL,
		seq       INTEGER NOT NULL,
		sum       INTEGER NOT NULL,
		data      BLOB    NOT NULL,
		PRIMARY KEY (stream_id, seq)
	)`,
	`CREATE TABLE stats (
		id    INTEGER PRIMARY KEY CHECK (id = 1),
		bytes INTEGER NOT NULL
	)`,
	`INSERT INTO stats (id, bytes) VALUES (1, 0)`,
	`CREATE TRIGGER entries_insert AFTER INSERT ON entries BEGIN
		UPDATE stats SET bytes = bytes + NEW.size WHERE id = 1;
	END`,
	`CREATE TRIGGER entries_delete AFTER DELETE ON entries BEGIN
		UPDATE stats SET bytes = bytes - OLD.size WHERE id = 1;
	END`,
	`CREATE TRIGGER entries_update AFTER UPDATE OF size ON entries BEGIN
		UPDATE stats SET bytes = bytes - OLD.size + NEW.size WHERE id = 1;
	END`,
	`CREATE TRIGGER streams_update AFTER UPDATE OF state, size ON streams BEGIN
		UPDATE stats SET bytes = bytes
			- (CASE WHEN OLD.state = 1 THEN OLD.size ELSE 0 END)
			+ (CASE WHEN NEW.state = 1 THEN NEW.size ELSE 0 END)
		WHERE id = 1;
	END`,
	`CREATE TRIGGER streams_delete AFTER DELETE ON streams WHEN OLD.state = 1 BEGIN
		UPDATE stats SET bytes = bytes - OLD.size WHERE id = 1;
	END`,
	fmt.Sprintf(`PRAGMA application_id = %d`, applicationID),
	fmt.Sprintf(`PRAGMA user_version = %d`, SchemaVersion),
}

// migrate checks the schema version of the database, creates the schema in
// an empty one and upgrades an older one, in one write transaction (so two
// processes opening a file at once do not both change it).
func (s *Store) migrate(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var version, appID int
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil {
			return err
		}
		var lastStream int64
		switch {
		case version > SchemaVersion:
			return &SchemaVersionError{Found: version, Supported: SchemaVersion}
		case appID != 0 && appID != applicationID:
			return fmt.Errorf("sqlitestore: %s is not a hoard cache (application_id %#x)", s.name(), appID)
		case version == SchemaVersion && appID == applicationID:
			return nil
		case version == 1 && appID == applicationID:
			var err error
			if lastStream, err = dropV1(ctx, tx); err != nil {
				return fmt.Errorf("sqlitestore: upgrading %s from schema version 1: %w", s.name(), err)
			}
		case version != 0:
			return fmt.Errorf("sqlitestore: %s has schema version %d but is not a hoard cache", s.name(), version)
		}
		for _, stmt := range schema {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("sqlitestore: creating the schema in %s: %w", s.name(), err)
			}
		}
		if lastStream > 0 {
			// New stream ids continue after the old ones, so that a reader
			// of an old stream in a process that still runs version 1 never
			// meets a new stream's chunks under the id it reads.
			if _, err := tx.ExecContext(ctx, `DELETE FROM sqlite_sequence WHERE name = 'streams';
				INSERT INTO sqlite_sequence (name, seq) VALUES ('streams', ?)`, lastStream); err != nil {
				return fmt.Errorf("sqlitestore: upgrading %s from schema version 1: %w", s.name(), err)
			}
		}
		return nil
	})
}

// dropV1 empties a version 1 database, whose rows have no checksums, and
// returns the last stream id it had used. The tables are dropped (their
// triggers and indexes with them) rather than emptied row by row; the freed
// pages go back to the file system through the sweep's incremental vacuum.
func dropV1(ctx context.Context, tx *sql.Tx) (lastStream int64, err error) {
	err = tx.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = 'streams'`).Scan(&lastStream)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	for _, table := range []string{"entries", "streams", "chunks", "stats"} {
		if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+table); err != nil {
			return 0, err
		}
	}
	return lastStream, nil
}
