package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/internal/storekit"
)

// Defaults applied to zero Options fields.
const (
	// DefaultTable is the name of the entries table; the store's other
	// tables are named after it (hoard_streams, hoard_chunks, hoard_meta).
	DefaultTable = "hoard"
	// DefaultMaxBytes bounds the sum of stored values and streams: 1 GiB.
	DefaultMaxBytes int64 = 1 << 30
	// DefaultSweepInterval is how often expired rows are swept: 1 minute.
	DefaultSweepInterval = time.Minute
	// DefaultStreamTimeout bounds each database operation of a stream
	// writer or reader (one chunk): 30 s.
	DefaultStreamTimeout = 30 * time.Second
)

const (
	// chunkSize is the size of one stored piece of a stream.
	chunkSize = 1 << 20
	// flushEvery is how often recorded accesses are written.
	flushEvery = 2 * time.Second
	// maxTouched is the number of recorded accesses that triggers an early
	// flush.
	maxTouched = 4096
	// touchBatch is the most access times written in one statement.
	touchBatch = 1024
	// streamGrace is how long a stream may go without a write before the
	// sweep takes it for the remains of a crashed writer.
	streamGrace = time.Hour
	// orphanGrace is how long a committed stream may go without a value
	// under its key before the sweep takes it for the remains of a writer
	// that died between committing the stream and writing the value (the
	// core writes the value right after the commit).
	orphanGrace = 5 * time.Minute
	// sweepBatch is the number of rows one sweep statement deletes.
	sweepBatch = 512
	// backgroundBatches bounds the statements of each kind of one
	// background sweep run; the rest waits for the next run.
	backgroundBatches = 64
	// listPage is the number of entries List reads per query.
	listPage = 256
	// victims is the number of least recently used keys eviction reads at
	// a time.
	victims = 64
	// maxAttempts bounds the retries of a transaction that PostgreSQL
	// aborted for a deadlock or a serialization failure.
	maxAttempts = 4
)

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("pgstore: closed")

// ErrTooLarge is returned by a stream's Write (and Commit) once the stream
// is larger than the store's MaxBytes.
var ErrTooLarge = errors.New("pgstore: stream larger than MaxBytes")

// ErrStreamGone is returned by a stream reader whose stream was deleted or
// replaced, and collected by another process, before it was read to the
// end.
var ErrStreamGone = errors.New("pgstore: stream deleted or replaced while it was read")

// errNotFound is what a miss returns, built once.
var errNotFound = fmt.Errorf("pgstore: %w", core.ErrNotFound)

// errCorruptRow and errCorruptChunk report data that fails its checksum.
var (
	errCorruptRow   = fmt.Errorf("row fails its CRC-32C: %w", core.ErrCorrupt)
	errCorruptChunk = fmt.Errorf("stream chunk fails its CRC-32C: %w", core.ErrCorrupt)
)

// valueSum is the checksum of an entry row (storekit.ValueSum), over the
// deletion time in Unix µs (0 for none): what is stored is exactly what it
// covers.
func valueSum(key []byte, expires int64, value []byte) int64 {
	return storekit.ValueSum(key, expires, value)
}

// Options configures a Store. A nil *Options means all defaults. Each field
// is mirrored by a DSN parameter (see the package documentation).
type Options struct {
	// Table is the name of the entries table, optionally qualified by a
	// schema ("cache.hoard"); the store also creates Table_streams,
	// Table_chunks and Table_meta beside it. A name is letters, digits and
	// underscores, not starting with a digit, at most 40 bytes (the schema
	// at most 63). "" means DefaultTable.
	// DSN parameter: table.
	Table string
	// MaxBytes bounds the sum of the sizes of the stored values and
	// streams; the least recently used entries are evicted to stay under
	// it. 0 means DefaultMaxBytes; a negative value is an error.
	// DSN parameter: max_bytes (for example max_bytes=1GiB).
	MaxBytes int64
	// SweepInterval is how often a background sweep deletes expired
	// entries and streams and the remains of abandoned streams. 0 means
	// DefaultSweepInterval; a negative value disables the background sweep
	// (call Sweep yourself).
	// DSN parameter: sweep_interval (a Go duration such as 1m, or off).
	SweepInterval time.Duration
	// StreamTimeout bounds each database operation of a stream writer or
	// reader (one chunk), which run on contexts without the request's
	// deadline. 0 means DefaultStreamTimeout; a negative value is an error.
	// DSN parameter: stream_timeout (a Go duration such as 30s).
	StreamTimeout time.Duration
	// Lazy makes New contact nothing: the tables are checked (and created)
	// by the first operation that needs them, and by the background loop
	// until the server answers.
	// DSN parameter: lazy=true.
	Lazy bool
	// Notify makes every Set, Delete, DeleteURL and Clear also send a
	// notification (pg_notify, in the same transaction) on the channel
	// InvalidationChannel names, and enables Subscribe (core.Invalidator),
	// with which a tiered store in front of this one drops the copies
	// another process changed. Set it in every process that writes the
	// tables, or a subscriber misses their changes.
	// DSN parameter: notify=true.
	Notify bool
}

// Store is a core.Store in PostgreSQL tables. It also implements
// core.Lister, core.FilterLister, core.Clearer, core.Streamer and
// io.Closer. Create it with New or Open; the zero value is not usable.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	n        names
	q        queries

	maxBytes      int64
	sweepEvery    time.Duration
	streamTimeout time.Duration
	now           func() time.Time
	grace         time.Duration
	flushEvery    time.Duration
	where         string // the server, for messages ("" when unknown)

	closed atomic.Bool

	leaseSwept atomic.Int64 // Unix nanoseconds of the last sweep of lapsed leases (lease.go)

	readyMu sync.Mutex
	ready   atomic.Bool // the tables are known to exist at this version

	touched storekit.Touches[time.Time] // last accesses not yet written
	pins    storekit.Pins               // streams open readers of this Store read

	base      context.Context // New's ctx without its cancellation
	bgCancel  context.CancelFunc
	bgDone    chan struct{}
	flushKick chan struct{}
	gcKick    chan struct{}

	notify    bool      // Options.Notify
	channel   string    // the NOTIFY channel (notify.go)
	id        string    // this Store value's id in its notifications
	listeners listeners // the Subscribe listeners, ended by Close
}

var (
	_ core.Store        = (*Store)(nil)
	_ core.Lister       = (*Store)(nil)
	_ core.FilterLister = (*Store)(nil)
	_ core.Clearer      = (*Store)(nil)
	_ core.Streamer     = (*Store)(nil)
	_ core.ViewGetter   = (*Store)(nil)
	_ io.Closer         = (*Store)(nil)
)

// queries are the statements of one store, with its table names.
type queries struct {
	lock, get, set, setStreamExpires, bytes string
	delEntry, delStream                     string
	list                                    string
	touchEntries, touchStreams              string
}

func newQueries(n names) queries {
	return queries{
		lock: `SELECT bytes FROM ` + n.meta + ` WHERE id = 1 FOR UPDATE`,
		get:  `SELECT expires, sum, value FROM ` + n.entries + ` WHERE key = $1 AND (expires IS NULL OR expires > $2)`,
		set: `INSERT INTO ` + n.entries + ` (key, value, url, method, status, created, expires, size, accessed, sum)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, url = excluded.url, method = excluded.method,
				status = excluded.status, created = excluded.created, expires = excluded.expires,
				size = excluded.size, accessed = excluded.accessed, sum = excluded.sum`,
		setStreamExpires: `UPDATE ` + n.streams + ` SET expires = $2 WHERE key = $1 AND state = 1`,
		bytes:            `SELECT bytes FROM ` + n.meta + ` WHERE id = 1`,
		delEntry:         `DELETE FROM ` + n.entries + ` WHERE key = ANY($1)`,
		delStream:        `UPDATE ` + n.streams + ` SET state = 2, key = NULL, touched = $2 WHERE key = ANY($1) AND state = 1`,
		list: `SELECT key, expires, url, method, status, size, created FROM ` + n.entries + `
			WHERE key > $1 AND (expires IS NULL OR expires > $2)`,
		touchEntries: `UPDATE ` + n.entries + ` AS e SET accessed = v.a FROM unnest($1::bytea[], $2::timestamptz[]) AS v(k, a)
			WHERE e.key = v.k AND e.accessed < v.a`,
		touchStreams: `UPDATE ` + n.streams + ` AS s SET accessed = v.a FROM unnest($1::bytea[], $2::timestamptz[]) AS v(k, a)
			WHERE s.key = v.k AND s.state = 1 AND s.accessed < v.a`,
	}
}

// config holds what tests may change besides Options.
type config struct {
	now        func() time.Time
	grace      time.Duration
	flushEvery time.Duration
	where      string
}

func defaultConfig() config {
	return config{now: time.Now, grace: streamGrace, flushEvery: flushEvery}
}

// New returns a Store in the tables opts names, over pool (which stays the
// caller's: Close does not close it). Unless opts.Lazy, it checks the
// server and the tables' schema version, creating the tables when they are
// missing, bounded by ctx and, when ctx has no deadline, by
// core.DefaultOpenTimeout. Its errors wrap core.ErrInvalidConfig (invalid
// options; the server refused the credentials, the database or a
// statement; tables of a newer schema, see *SchemaVersionError) or
// core.ErrUnavailable (the server could not be reached in time). Close the
// store to stop its background goroutine.
func New(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Store, error) {
	return newStore(ctx, pool, opts, defaultConfig())
}

// tableName matches a table or schema name the store accepts.
var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// resolve applies the defaults to opts and checks them.
func resolve(opts *Options) (Options, string, string, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	schema, table, qualified := strings.Cut(o.Table, ".")
	if !qualified {
		schema, table = "", o.Table
	}
	switch {
	case qualified && (!tableName.MatchString(schema) || len(schema) > 63):
		return o, "", "", fmt.Errorf("pgstore: Table %q: the schema %q is not a name of letters, digits and underscores of at most 63 bytes", o.Table, schema)
	case !tableName.MatchString(table) || len(table) > 40:
		return o, "", "", fmt.Errorf("pgstore: Table %q: %q is not a name of letters, digits and underscores, not starting with a digit, of at most 40 bytes", o.Table, table)
	case o.MaxBytes < 0:
		return o, "", "", fmt.Errorf("pgstore: MaxBytes is %d; want 0 (the default) or more", o.MaxBytes)
	case o.StreamTimeout < 0:
		return o, "", "", fmt.Errorf("pgstore: StreamTimeout is %v; want 0 (the default) or more", o.StreamTimeout)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.StreamTimeout == 0 {
		o.StreamTimeout = DefaultStreamTimeout
	}
	return o, schema, table, nil
}

func newStore(ctx context.Context, pool *pgxpool.Pool, opts *Options, cfg config) (*Store, error) {
	if pool == nil {
		return nil, core.InvalidConfig(errors.New("pgstore: New: nil pool"))
	}
	if err := ctx.Err(); err != nil {
		return nil, core.Unavailable(fmt.Errorf("pgstore: open: %w", err))
	}
	o, schema, table, err := resolve(opts)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	n := newNames(schema, table)
	s := &Store{
		pool:          pool,
		n:             n,
		q:             newQueries(n),
		maxBytes:      o.MaxBytes,
		sweepEvery:    o.SweepInterval,
		streamTimeout: o.StreamTimeout,
		now:           cfg.now,
		grace:         cfg.grace,
		flushEvery:    cfg.flushEvery,
		where:         cfg.where,
		base:          context.WithoutCancel(ctx),
		bgDone:        make(chan struct{}),
		flushKick:     make(chan struct{}, 1),
		gcKick:        make(chan struct{}, 1),
		notify:        o.Notify,
		channel:       channelName(n.table),
		id:            newID(),
	}
	if !o.Lazy {
		if err := s.open(ctx); err != nil {
			return nil, err
		}
	}
	s.pins.Released = func() { kick(s.gcKick) }
	bg, cancel := context.WithCancel(s.base)
	s.bgCancel = cancel
	go s.background(bg)
	return s, nil
}

// open checks the server and the tables, bounded by core.OpenContext.
func (s *Store) open(ctx context.Context) error {
	octx, cancel := core.OpenContext(ctx)
	defer cancel()
	if err := s.pool.Ping(octx); err != nil {
		return s.openErr(octx, "checking the server", err)
	}
	if err := s.ensure(octx); err != nil {
		return s.openErr(octx, "checking the tables", err)
	}
	return nil
}

// ensure checks (and creates) the tables once per Store.
func (s *Store) ensure(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if s.ready.Load() {
		return nil
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	s.ready.Store(true)
	return nil
}

// openErr wraps an error met while opening once, naming the server, and
// classifies it: a server that answered and refused (credentials, a missing
// database, a newer schema, a statement) is a configuration error; one
// that could not be reached or did not answer in time, or is starting,
// shutting down or out of connections, is unavailable.
func (s *Store) openErr(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", cerr, err)
	}
	where := ""
	if s.where != "" {
		where = " at " + s.where
	}
	if !strings.HasPrefix(err.Error(), "pgstore: ") {
		err = fmt.Errorf("pgstore: %s%s: %w", what, where, err)
	}
	var (
		pe *pgconn.PgError
		sv *SchemaVersionError
	)
	switch {
	case errors.As(err, &sv):
		return core.InvalidConfig(err)
	case ctx.Err() != nil:
		return core.Unavailable(err)
	case errors.As(err, &pe):
		switch pe.Code[:2] {
		case "08", "53", "57", "58": // connection, resources, operator intervention, system
			return core.Unavailable(err)
		}
		if pe.Code == "42704" { // unrecognized configuration parameter: a DSN parameter PostgreSQL took for a setting
			err = fmt.Errorf("%w (hoard parameters: %s; any other DSN parameter must be a libpq or pgxpool one, or a server setting)",
				err, strings.Join(dsnParams, ", "))
		}
		return core.InvalidConfig(err)
	case strings.Contains(err.Error(), "pgstore: table "):
		return core.InvalidConfig(err) // not a hoard store
	}
	return core.Unavailable(err)
}

// micros is t as Unix microseconds (PostgreSQL's resolution), 0 for the
// zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// ts is the timestamptz argument of t: NULL for the zero time, else t at
// microsecond resolution, so that what is stored is exactly what the
// checksum covers.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return time.UnixMicro(t.UnixMicro())
}

// fromTS is the inverse of ts for a scanned column.
func fromTS(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// Get returns the value of key, or an error wrapping core.ErrNotFound when
// it has none or its deletion time has passed (an expired row is never
// returned, swept or not), or core.ErrCorrupt when the row fails its
// checksum. It reads with one SELECT and writes nothing: the access time
// used by eviction is recorded in memory and written in batches.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	now := s.now()
	rows, view, err := s.lookup(ctx, key, now)
	if err != nil {
		return nil, err
	}
	v := make([]byte, len(view)) // an empty value is a hit: not nil
	copy(v, view)
	if err := s.endLookup(ctx, key, rows); err != nil {
		return nil, err
	}
	s.touch(key, now)
	return v, nil
}

// GetView implements core.ViewGetter: it is Get, lending fn the value in
// pgx's receive buffer (when the pool reads results in the binary format,
// as it does unless configured for the simple protocol), where Get copies
// it out.
func (s *Store) GetView(ctx context.Context, key string, fn func(value []byte) error) error {
	now := s.now()
	rows, view, err := s.lookup(ctx, key, now)
	if err != nil {
		return err
	}
	if view == nil {
		view = []byte{}
	}
	err = fn(view)
	if eerr := s.endLookup(ctx, key, rows); err == nil {
		err = eerr
	}
	if err == nil {
		s.touch(key, now)
	}
	return err
}

// ViewStore implements core.ViewGetter.
func (s *Store) ViewStore() core.Store { return s }

// lookup reads key's row at now for Get and GetView and checks it. On
// success it returns the rows still on the row, and view, the value in
// pgx's receive buffer (nil when empty) or, for a result in the text
// format, a decoded copy: the caller ends with endLookup.
func (s *Store) lookup(ctx context.Context, key string, now time.Time) (pgx.Rows, []byte, error) {
	if err := s.check(ctx, "get", key); err != nil {
		return nil, nil, err
	}
	kb := []byte(key)
	rows, err := s.pool.Query(ctx, s.q.get, kb, now)
	if err != nil {
		return nil, nil, s.fail(ctx, "get", key, err)
	}
	if !rows.Next() {
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, s.fail(ctx, "get", key, err)
		}
		return nil, nil, errNotFound
	}
	var (
		exp  *time.Time
		sum  int64
		view []byte
	)
	if rows.FieldDescriptions()[2].Format == pgx.BinaryFormatCode {
		err = rows.Scan(&exp, &sum, nil)
		view = rows.RawValues()[2]
	} else {
		err = rows.Scan(&exp, &sum, &view)
	}
	if err != nil {
		rows.Close()
		return nil, nil, s.fail(ctx, "get", key, err)
	}
	if valueSum(kb, micros(fromTS(exp)), view) != sum {
		rows.Close()
		return nil, nil, wrap("get", key, errCorruptRow)
	}
	return rows, view, nil
}

// endLookup closes the rows of a lookup, reporting an error the end of the
// result brought.
func (s *Store) endLookup(ctx context.Context, key string, rows pgx.Rows) error {
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.fail(ctx, "get", key, err)
	}
	return nil
}

// Set stores value under key with meta, replacing any previous value, in
// one round trip (a pipelined transaction that locks the size counter,
// writes the row and carries meta.Expires over to the key's stream), then
// evicts the least recently used entries when the store is over MaxBytes.
// A meta.Expires that is not in the future deletes the key (and its
// stream). meta.Size is recorded as len(value). A value larger than
// MaxBytes is not stored: Set deletes the key and returns nil.
func (s *Store) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	if err := s.check(ctx, "set", key); err != nil {
		return err
	}
	now := s.now()
	size := int64(len(value))
	if (!meta.Expires.IsZero() && !meta.Expires.After(now)) || size > s.maxBytes {
		return s.del(ctx, "set", key)
	}
	if value == nil {
		value = []byte{} // NULL is not a value
	}
	kb := []byte(key)
	exp := ts(meta.Expires)
	b := newBatch()
	b.Queue(s.q.lock)
	b.Queue(s.q.set, kb, value, meta.URL, meta.Method, meta.Status, ts(meta.Created), exp, size, now,
		valueSum(kb, micros(meta.Expires), value))
	b.Queue(s.q.setStreamExpires, kb, exp)
	s.queueNotify(b, kb)
	b.Queue(s.q.bytes)
	var total int64
	err := s.batch(ctx, b, func(br pgx.BatchResults) error {
		for range s.queued(3) {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return br.QueryRow().Scan(&total)
	})
	if err != nil {
		return s.fail(ctx, "set", key, err)
	}
	if total > s.maxBytes {
		if err := s.evict(ctx, kb); err != nil {
			return s.fail(ctx, "set", key, fmt.Errorf("evicting: %w", err))
		}
	}
	return nil
}

// asyncCommit makes the transaction it runs in commit without waiting for
// its WAL record to reach the disk (synchronous_commit = off, for this
// transaction only). A cache can afford it: a server crash loses at most
// the last moments of cache writes (three times wal_writer_delay), never
// the consistency of what remains, and each write saves a disk flush.
const asyncCommit = `SELECT set_config('synchronous_commit', 'off', true)`

// newBatch returns a batch that starts with asyncCommit; batch skips its
// result.
func newBatch() *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(asyncCommit)
	return b
}

// batch sends b, made by newBatch (and run by PostgreSQL as one implicit
// transaction), and reads the results of what the caller queued with
// read, retrying the whole batch after a deadlock or a serialization
// failure.
func (s *Store) batch(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	return retry(ctx, func() error {
		br := s.pool.SendBatch(ctx, b)
		_, err := br.Exec()
		if err == nil {
			err = read(br)
		}
		return errors.Join(err, br.Close())
	})
}

// begin starts a transaction that commits asynchronously (asyncCommit)
// and, with lock, has locked the size counter, whose value it returns.
func (s *Store) begin(ctx context.Context, lock bool) (pgx.Tx, int64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if lock {
		b := newBatch()
		b.Queue(s.q.lock)
		br := tx.SendBatch(ctx, b)
		_, err = br.Exec()
		if err == nil {
			err = br.QueryRow().Scan(&total)
		}
		err = errors.Join(err, br.Close())
	} else {
		_, err = tx.Exec(ctx, asyncCommit)
	}
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, 0, err
	}
	return tx, total, nil
}

// write runs fn in a transaction that first locks the size counter (every
// transaction that may change it does, in that order, so writers never
// deadlock), retrying it after a deadlock or a serialization failure; fn
// must therefore be safe to run again. total is the counter at the start.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx, total int64) error) error {
	return retry(ctx, func() error {
		tx, total, err := s.begin(ctx, true)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		if err := fn(tx, total); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}

// retry runs fn until it succeeds, fails otherwise than by a deadlock or a
// serialization failure, or maxAttempts are spent.
func retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		var pe *pgconn.PgError
		if err == nil || attempt == maxAttempts || !errors.As(err, &pe) || (pe.Code != "40P01" && pe.Code != "40001") {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Delete removes key's value and stream. Deleting a missing key is not an
// error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, "delete", key); err != nil {
		return err
	}
	return s.del(ctx, "delete", key)
}

// del deletes key's value and stream for op, in one round trip.
func (s *Store) del(ctx context.Context, op, key string) error {
	keys := [][]byte{[]byte(key)}
	b := newBatch()
	b.Queue(s.q.lock)
	b.Queue(s.q.delEntry, keys)
	s.queueNotify(b, keys[0])
	b.Queue(s.q.delStream, keys, s.now())
	var streams int64
	err := s.batch(ctx, b, func(br pgx.BatchResults) error {
		for range s.queued(2) {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		tag, err := br.Exec()
		streams = tag.RowsAffected()
		return err
	})
	if err != nil {
		return s.fail(ctx, op, key, err)
	}
	s.forget(key)
	if streams > 0 {
		kick(s.gcKick)
	}
	return nil
}

// deleteKeys deletes the values of keys and makes their streams garbage in
// tx; gc reports whether there was a stream.
func (s *Store) deleteKeys(ctx context.Context, tx pgx.Tx, keys [][]byte) (gc bool, err error) {
	if _, err := tx.Exec(ctx, s.q.delEntry, keys); err != nil {
		return false, err
	}
	tag, err := tx.Exec(ctx, s.q.delStream, keys, s.now())
	return tag.RowsAffected() > 0, err
}

// DeleteURL deletes every entry whose Meta.URL is url (with their streams)
// and reports how many it deleted.
func (s *Store) DeleteURL(ctx context.Context, url string) (int, error) {
	if err := s.check(ctx, "delete URL", url); err != nil {
		return 0, err
	}
	var n int
	err := s.write(ctx, func(tx pgx.Tx, _ int64) error {
		rows, err := tx.Query(ctx, `SELECT key FROM `+s.n.entries+` WHERE url = $1`, url)
		if err != nil {
			return err
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return err
		}
		n = len(keys)
		if _, err = s.deleteKeys(ctx, tx, keys); err != nil {
			return err
		}
		return s.notifyTx(ctx, tx, false, keys...)
	})
	if err != nil {
		return 0, s.fail(ctx, "delete URL", url, err)
	}
	if n > 0 {
		kick(s.gcKick)
	}
	return n, nil
}

// List yields every live key with its Meta, sorted by key (bytewise), a
// page at a time: entries written while it runs may or may not appear.
// Expired entries are not yielded. Keys that hold only a stream are not
// listed. On error (a cancelled ctx, a closed store) List yields a zero
// core.Listed with the error and stops.
func (s *Store) List(ctx context.Context) iter.Seq2[core.Listed, error] {
	return s.ListFilter(ctx, core.ListFilter{})
}

// ListFilter is List restricted to the items f selects, with an SQL WHERE
// on the url (a range of its index per prefix), method and status columns,
// so that only those rows leave the server (core.FilterLister).
func (s *Store) ListFilter(ctx context.Context, f core.ListFilter) iter.Seq2[core.Listed, error] {
	where, args := listWhere(f, 3)
	query := s.q.list + where + ` ORDER BY key LIMIT ` + strconv.Itoa(listPage)
	return func(yield func(core.Listed, error) bool) {
		after := []byte{}
		for {
			if err := s.check(ctx, "list", ""); err != nil {
				yield(core.Listed{}, err)
				return
			}
			page, err := s.listPage(ctx, query, append([]any{after, s.now()}, args...))
			if err != nil {
				yield(core.Listed{}, s.fail(ctx, "list", "", err))
				return
			}
			for _, it := range page {
				if !yield(it, nil) {
					return
				}
			}
			if len(page) < listPage {
				return
			}
			after = []byte(page[len(page)-1].Key)
		}
	}
}

// listWhere is the SQL condition (starting with " AND", or empty) and its
// arguments for f, numbered from $first.
func listWhere(f core.ListFilter, first int) (string, []any) {
	var b strings.Builder
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(first+len(args)-1)
	}
	if len(f.URLPrefixes) > 0 {
		b.WriteString(" AND (")
		for i, p := range f.URLPrefixes {
			if i > 0 {
				b.WriteString(" OR ")
			}
			// url compares byte by byte (COLLATE "C"): every URL with the
			// prefix p sorts in [p, the least string after all of them).
			if hi, ok := prefixEnd(p); ok {
				fmt.Fprintf(&b, "(url >= %s AND url < %s)", arg(p), arg(hi))
			} else {
				fmt.Fprintf(&b, "url >= %s", arg(p))
			}
		}
		b.WriteString(")")
	}
	if f.Method != "" {
		fmt.Fprintf(&b, " AND method = %s", arg(f.Method))
	}
	if len(f.Statuses) > 0 {
		fmt.Fprintf(&b, " AND status = ANY(%s::integer[])", arg(f.Statuses))
	}
	return b.String(), args
}

// prefixEnd returns the least string greater than every string that starts
// with p, or false when there is none. It increments the last byte below
// 0x7f (so that the result stays valid UTF-8 for a text parameter), and
// gives up on a prefix of bytes at 0x7f or above only (a non-ASCII tail),
// which then costs an open range, still correct.
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0x7f {
			b[i]++
			return string(b[:i+1]), true
		}
		if b[i] >= 0x80 {
			return "", false
		}
	}
	return "", false
}

// listPage reads one page of the listing query.
func (s *Store) listPage(ctx context.Context, query string, args []any) ([]core.Listed, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (core.Listed, error) {
		var (
			key              []byte
			expires, created *time.Time
			status           int32
			it               core.Listed
		)
		if err := row.Scan(&key, &expires, &it.Meta.URL, &it.Meta.Method, &status, &it.Meta.Size, &created); err != nil {
			return it, err
		}
		it.Key = string(key)
		it.Meta.Status = int(status)
		it.Meta.Expires = fromTS(expires)
		it.Meta.Created = fromTS(created)
		return it, nil
	})
}

// Clear removes every entry and stream of this store (its tables only).
// Stream bodies are released by the background collector.
func (s *Store) Clear(ctx context.Context) error {
	if err := s.check(ctx, "clear", ""); err != nil {
		return err
	}
	err := s.write(ctx, func(tx pgx.Tx, _ int64) error {
		if _, err := tx.Exec(ctx, `DELETE FROM `+s.n.entries); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE `+s.n.streams+` SET state = 2, key = NULL, touched = $1 WHERE state = 1`, s.now()); err != nil {
			return err
		}
		return s.notifyTx(ctx, tx, true)
	})
	if err != nil {
		return s.fail(ctx, "clear", "", err)
	}
	s.touched.Clear()
	kick(s.gcKick)
	return nil
}

// Size reports the sum of the sizes of the stored values and committed
// streams, in bytes, as counted against MaxBytes (expired entries count
// until the sweep deletes them).
func (s *Store) Size(ctx context.Context) (int64, error) {
	if err := s.check(ctx, "size", ""); err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, s.q.bytes).Scan(&n); err != nil {
		return 0, s.fail(ctx, "size", "", err)
	}
	return n, nil
}

// DropTables removes the store's tables and functions from the database,
// with everything stored in them, and closes the store (and the pool of a
// store made by Open). It is for tests and tools that made a store of their
// own; the tables of other stores (other Options.Table) are not touched.
func (s *Store) DropTables(ctx context.Context) error {
	if !s.stop() {
		return ErrClosed
	}
	var err error
	for _, stmt := range s.n.dropStatements() {
		if _, err = s.pool.Exec(ctx, stmt); err != nil {
			err = wrap("drop tables", s.n.table, err)
			break
		}
	}
	if s.ownsPool {
		s.pool.Close()
	}
	return err
}

// Close stops the background goroutine and writes the recorded access
// times; a store made by Open (or core.OpenStore) also closes its pool.
// After Close every other method returns ErrClosed, and open stream readers
// and writers fail; closing again returns nil.
func (s *Store) Close() error {
	if !s.stop() {
		return nil
	}
	var err error
	if s.ready.Load() {
		ctx, cancel := core.OpenContext(s.base)
		err = s.flushTouches(ctx)
		cancel()
	}
	if s.ownsPool {
		s.pool.Close()
	}
	if err != nil {
		return fmt.Errorf("pgstore: close %s: %w", s.n.table, err)
	}
	return nil
}

// stop marks the store closed and stops its background goroutine; false
// means it was closed already.
func (s *Store) stop() bool {
	if !s.closed.CompareAndSwap(false, true) {
		return false
	}
	s.bgCancel()
	<-s.bgDone
	s.listeners.close()
	return true
}

// check reports a done ctx or a closed store before an operation, and
// makes sure the tables exist (for a store opened lazily).
func (s *Store) check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return wrap(op, key, err)
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if !s.ready.Load() {
		if err := s.ensure(ctx); err != nil {
			return s.fail(ctx, op, key, err)
		}
	}
	return nil
}

// fail wraps an operation's error once, preferring ctx's error and
// ErrClosed to what the driver made of them.
func (s *Store) fail(ctx context.Context, op, key string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", cerr, err)
	}
	if s.closed.Load() && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("%w (%w)", ErrClosed, err)
	}
	return wrap(op, key, err)
}

func wrap(op, key string, err error) error {
	if key == "" {
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	return fmt.Errorf("pgstore: %s %q: %w", op, key, err)
}

// kick wakes the background goroutine without waiting.
func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
