// Package sqlitestore is a persistent core.Store in a SQLite database file,
// through the pure-Go driver modernc.org/sqlite (no cgo: cross-compiling
// keeps working). It is meant to be shared by many goroutines and by several
// processes on one machine without "database is locked" errors, to keep
// large bodies out of memory, and to stay within a size bound.
//
// # Options
//
// New takes an *Options; nil means defaults (an in-memory database).
//
//	| Options field | DSN parameter  | default | meaning                                         |
//	|---------------|----------------|---------|-------------------------------------------------|
//	| Path          | the DSN path   | memory  | database file, created if missing               |
//	| MaxBytes      | max_bytes      | 1 GiB   | bound on stored values + streams (LRU eviction) |
//	| SweepInterval | sweep_interval | 1m      | background sweep period; negative / off: none   |
//	| BusyTimeout   | busy_timeout   | 5s      | wait for another connection's or process's lock |
//
// # URLs
//
// Importing the package registers the scheme "sqlite" with
// core.RegisterStore, so core.OpenStore accepts
//
//	sqlite:///var/cache/app/cache.db?max_bytes=1GiB&sweep_interval=1m
//	sqlite:///C:/cache/app.db (on Windows)
//	sqlite:///:memory:
//	sqlite://:memory:
//	sqlite::memory:
//
// The path must be absolute, as in every file-based DSN of hoard (file://
// too): a relative one (sqlite:cache.db) would depend on the working
// directory of whatever starts the program, and is an error. New takes a
// relative Options.Path, resolved against the working directory when the
// store opens. max_bytes takes the sizes core.ParseSize understands
// ("1GiB", "500MB"); sweep_interval and busy_timeout take Go durations
// ("30s", "1m"), and sweep_interval=off disables the background sweep. 0
// means the default. A host, user information, a fragment, a repeated
// parameter or any parameter not listed above is an error.
//
// # Opening and errors
//
// New (and so core.OpenStore) creates the missing directories of the file
// (mode 0700, as filestore does), opens it and checks or creates its schema
// before it returns. Its errors, and those of ParseDSN, wrap
// core.ErrInvalidConfig for a DSN or option that is wrong and for a file
// that cannot be this store's (a directory, permission denied, a file that
// is not a hoard cache, a newer schema: *SchemaVersionError), and
// core.ErrUnavailable when the file cannot be used now (another process
// holds its lock beyond BusyTimeout, an I/O error, a full disk, a context
// that ended). Errors of operations are prefixed "sqlitestore:" and carry
// the operation and the key.
//
// # In memory
//
// Path "" or ":memory:" opens a private in-memory database that lives until
// Close. It uses SQLite's memdb VFS under a random name
// (file:/hoard-<random>?vfs=memdb), which shares one database among the
// store's writer and reader connections with SQLite's ordinary locking. (A shared-cache
// ":memory:" database would also share it, but its table locks fail at once
// with SQLITE_LOCKED instead of waiting for the busy timeout.) There is no
// WAL in memory: readers and the writer take turns, waiting on the busy
// timeout.
//
// # Schema
//
// One table holds the entries: key (primary key, compared bytewise), deletion
// time, URL, method, status, size, creation and last-access times, a
// checksum and the value, with indexes on the deletion time (expiry sweep),
// the last-access time (eviction) and the URL (DeleteURL). Streams are rows
// of a streams table, their bodies chunks of 256 KiB in a chunks table keyed
// by (stream id, sequence number), each with its own checksum. A stats row,
// kept by triggers, counts the stored bytes. The schema version is PRAGMA
// user_version (SchemaVersion); a file written by a newer version is refused
// with a *SchemaVersionError ("database schema version N is newer than this
// package supports (M)"), and a SQLite file that is not a hoard cache (PRAGMA
// application_id) is refused too. A file of schema version 1 (before
// checksums) is emptied when it is opened and continues as version 2: its
// rows have nothing to verify them by, and a cache loses nothing it cannot
// fetch again. Upgrade every process that shares a file together; a process
// still running version 1 fails its writes after the upgrade.
//
// # Integrity
//
// Every entry row carries the CRC-32C of its key, deletion time and value,
// and every stream chunk the CRC-32C of its stream id, position and data. A
// row that fails its check makes Get return an error wrapping
// core.ErrCorrupt, which the cache counts in Stats().CorruptErrors, deletes
// and treats as a miss; a chunk that fails makes the stream reader's Read
// fail the same way before it returns any of the chunk's bytes. The other
// columns of a row (URL, method, status, times) feed List and DeleteURL and
// are not covered. SQLite's own page checks remain: see IntegrityCheck.
//
// # Concurrency
//
// A *Store is safe for concurrent use. Files use WAL mode, so readers never
// wait for the writer. Writes go through one connection (a *sql.DB limited
// to one open connection; a pool serves reads) and run as BEGIN IMMEDIATE
// transactions, so two writers of one process queue in Go instead of
// competing for SQLite's lock, and a transaction never needs to upgrade a
// read lock (the cause of most "database is locked" errors). Against other
// processes on the same file, a connection waits up to BusyTimeout for the
// lock, and a transaction that still finds the database busy is retried a
// few times with a growing pause. Durability is synchronous=NORMAL: a
// process crash loses nothing that was committed; a power cut may lose the
// last transactions, never the file's consistency.
//
// # Size and eviction
//
// Values and committed streams count their length against MaxBytes. Each
// write that takes the total over the bound deletes, in the same
// transaction, expired entries and streams first, then the least recently
// used keys (value and stream together) until it fits; the bound therefore holds for every process sharing the
// file. A value larger than MaxBytes is not stored (Set deletes the key and
// returns nil); a stream larger than MaxBytes fails with ErrTooLarge.
//
// Recency is the last-access time. A hit does not write it at once: Get and
// OpenStream record the key in memory, and the times are written in one
// transaction every two seconds (sooner when thousands are pending, before
// an eviction, and on Close). A hit therefore performs no write.
//
// # Expiry and the sweep
//
// Get, List and OpenStream do not return what is past its Meta.Expires. A
// background sweep every SweepInterval deletes expired entries and streams
// in transactions of at most 512 rows, collects the chunks of deleted,
// replaced and aborted streams 16 chunks (4 MiB) per transaction, takes
// for the remains of a crashed writer the streams that have received no
// write for an hour and the committed streams more than five minutes old
// whose key has no value (a process that died between committing a stream
// and writing its value, the core's order), and returns free pages to the
// file system (the database uses incremental auto-vacuum); each run does at
// most 64 transactions of each kind, so its cost is bounded and other
// writers interleave. Sweep does the same to the end, on demand.
//
// # Streams
//
// The store implements core.Streamer, so bodies of any size neither pass
// through memory nor meet SQLite's 1 GB limit on one value. CreateStream
// allocates a fresh stream id that no key refers to; each 256 KiB chunk is
// written in its own short transaction, so a long download never holds the
// writer for long; Commit is one short transaction that points the key at
// the new stream and marks the previous stream garbage (its chunks are
// deleted later, in the background). Abort marks the stream garbage. A crash
// while writing leaves a stream no key refers to, and a crash after Commit
// but before the value is written a stream with no value; the sweep removes
// both.
// A reader loads one chunk at a time; while it is open the collector of its
// Store leaves the stream's chunks alone, so it finishes the bytes it
// started with even if the stream is replaced or deleted meanwhile (a
// reader in another process may fail with ErrStreamGone instead; stream ids
// are never reused, so no reader ever mixes two streams). A stream follows
// its key's value:
// Delete, Clear, eviction and a Set with a past Meta.Expires remove both,
// and Set gives the key's stream the value's Meta.Expires.
//
// After Close every method returns ErrClosed.
package sqlitestore
