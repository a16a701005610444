// Package pgstore is a hoard store (core.Store) in PostgreSQL tables, over
// a pgx v5 connection pool. Every process that uses the same tables shares
// the cache.
//
// # Opening
//
// New takes a *pgxpool.Pool (which stays the caller's) and *Options; Open
// and core.OpenStore take a DSN, a PostgreSQL connection URI with the hoard
// parameters added, and make a pool of their own that Close closes:
//
//	postgres://app@db.internal:5432/app?sslmode=verify-full&table=http_cache&max_bytes=4GiB
//
// The hoard parameters, each mirroring an Options field:
//
//   - table: the entries table (Options.Table, default "hoard"), optionally
//     qualified by a schema ("cache.http"); the store also owns
//     table_streams, table_chunks and table_meta, and two trigger functions.
//   - max_bytes: the cap on stored values and streams (default 1GiB).
//   - sweep_interval: how often expired rows are deleted (default 1m; off).
//   - stream_timeout: the bound of each chunk read or write (default 30s).
//   - lazy: true to open without contacting the server.
//   - notify: true to send every change on a NOTIFY channel and enable
//     Subscribe (see Invalidations below).
//
// Every other parameter goes to the driver: libpq's (sslmode,
// connect_timeout, application_name, ...) and pgxpool's (pool_max_conns,
// ...). A parameter neither knows is sent to the server as a setting, which
// refuses it: the open fails with core.ErrInvalidConfig listing the hoard
// parameters.
//
// Opening pings the server and checks the tables, bounded by the caller's
// context and, when it has no deadline, by core.DefaultOpenTimeout. Missing
// tables are created (in one transaction, under an advisory lock, so two
// processes starting at once do not race). Errors wrap core.ErrInvalidConfig
// (bad options; credentials, database or statements refused; tables of a
// newer schema version, a *SchemaVersionError; a table of that name that is
// not a store's) or core.ErrUnavailable (no answer in time; a server
// starting, shutting down or out of connections). No error shows the DSN's
// password.
//
// # Layout
//
// One row per entry in the entries table: key bytea, value bytea, url text
// (COLLATE "C", so a URL prefix is a range of its index), method, status,
// created, expires (timestamptz, NULL for none), size, the last access and
// a CRC-32C of the key, deletion time and value. Indexes on expires, on
// the last access (eviction) and on url (listing and DeleteURL). The meta
// table records the schema version (SchemaVersion) and the total size of
// values and committed streams, kept exact by statement triggers.
//
// # Semantics
//
// A hit is one SELECT and writes nothing: the access time is recorded in
// memory and written in batches. Get never returns an expired row, swept
// or not; the background sweep deletes them. Set is one round trip (a
// pipelined transaction); beyond MaxBytes the least recently used values
// and streams are evicted, expired ones first. The cache's writes commit
// with synchronous_commit off: a server crash may lose the last moments of
// them, never the consistency of the rest. The tables themselves are
// created with a synchronous commit, so that a crash right after a store's
// first Open does not take them.
//
// Bodies above the core's stream threshold are streams: rows of 1 MiB in
// the chunks table, each with a CRC-32C of its stream id, position and
// data, written one statement per chunk and committed atomically, read one
// chunk at a time, so memory stays bounded whatever the body size. A row
// or chunk that fails its checksum is reported as core.ErrCorrupt (the
// core deletes it and treats it as a miss). The sweep also reclaims the
// chunks of streams whose writer stopped writing more than an hour ago and
// of streams committed more than five minutes ago without a value.
//
// ListFilter (core.FilterLister) turns URL prefixes, the method and the
// status codes into an SQL WHERE, so a filtered listing reads only the
// matching rows. Clear and DropTables touch only this store's tables.
//
// # Leases
//
// The Store implements core.Leaser, for core.WithLeaseWait (identical
// misses in different processes cost one origin request): a lease is a row
// of the UNLOGGED table named after the entries' table with "_leases"
// appended (key, token, expiry), created by the first Lease and dropped
// with the other tables. Lease is one INSERT ... ON CONFLICT DO UPDATE that
// takes the row only when it has lapsed (by the server's clock_timestamp);
// Release deletes by token; lapsed rows are swept by Lease, at most once
// a minute. Rows rather than advisory locks: a row works from any pooled
// connection and lapses by itself. A tiered store (package stores/tiered)
// in front of this one leases through it.
//
// # Invalidations
//
// With Options.Notify (notify=true), every Set, Delete, DeleteURL and Clear
// also calls pg_notify in its own transaction, so the notification is
// delivered once the change is committed and visible, and never for a
// change that rolled back. The channel is the table's name followed by
// "_invalidations" (InvalidationChannel). Subscribe implements
// core.Invalidator on a dedicated LISTEN connection: a tiered store
// (package stores/tiered) in front of this one drops its in-process copy
// of a key another process changed. A change of more keys than fit in one
// notification (8000 bytes) is reported as "every key may have changed";
// a lost listener connection is reported at once, and reopened with a
// backoff from 50 ms to 5 s; an idle one is pinged every 5 s.
package pgstore
