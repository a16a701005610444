package sqlitestore

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver of the writer and the readers
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/internal/storekit"
)

// Scheme is the DSN scheme the package registers with core.RegisterStore:
// core.OpenStore(ctx, "sqlite:///var/cache/app.db") opens a *Store.
const Scheme = "sqlite"

// Memory is the Options.Path that selects an in-memory database.
const Memory = ":memory:"

// Defaults applied to zero Options fields.
const (
	// DefaultMaxBytes bounds the sum of stored values and streams: 1 GiB.
	DefaultMaxBytes int64 = 1 << 30
	// DefaultSweepInterval is how often expired rows are swept: 1 minute.
	DefaultSweepInterval = time.Minute
	// DefaultBusyTimeout is how long a connection waits for another
	// connection's (or process's) lock before SQLite reports it busy: 5 s.
	DefaultBusyTimeout = 5 * time.Second
)

const (
	// chunkSize is the size of one stored piece of a stream.
	chunkSize = 256 << 10
	// flushEvery is how often recorded accesses are written.
	flushEvery = 2 * time.Second
	// maxTouched is the number of recorded accesses that triggers an early
	// flush.
	maxTouched = 4096
	// touchBatch is the most access times written in one transaction.
	touchBatch = 1024
	// streamGrace is how long a stream may go without a write before the
	// sweep takes it for the remains of a crashed writer.
	streamGrace = time.Hour
	// orphanGrace is how long a committed stream may go without a value
	// under its key before the sweep takes it for the remains of a writer
	// that died between committing the stream and writing the value. The
	// core writes the value immediately after the commit, so a few minutes
	// leave room for a slow write.
	orphanGrace = 5 * time.Minute
	// sweepBatch is the number of rows one sweep transaction deletes.
	sweepBatch = 512
	// gcChunks is the number of chunks one collector transaction deletes.
	gcChunks = 16
	// vacuumPages is the number of free pages one transaction releases.
	vacuumPages = 4096
	// backgroundBatches bounds the transactions of one background sweep or
	// collection run; the rest waits for the next run.
	backgroundBatches = 64
	// maxAttempts bounds the retries of a transaction that finds the
	// database busy after the busy timeout.
	maxAttempts = 8
	// listPage is the number of entries List reads per query.
	listPage = 256
)

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("sqlitestore: closed")

// ErrTooLarge is returned by a stream's Write (and Commit) once the stream
// is larger than the store's MaxBytes.
var ErrTooLarge = errors.New("sqlitestore: stream larger than MaxBytes")

// ErrStreamGone is returned by a stream reader whose stream was deleted or
// replaced before it was read to the end.
var ErrStreamGone = errors.New("sqlitestore: stream deleted or replaced while it was read")

// errNotFound is what a miss returns, built once.
var errNotFound = fmt.Errorf("sqlitestore: %w", core.ErrNotFound)

// errCorruptRow and errCorruptChunk report data that fails its checksum.
var (
	errCorruptRow   = fmt.Errorf("row fails its CRC-32C: %w", core.ErrCorrupt)
	errCorruptChunk = fmt.Errorf("stream chunk fails its CRC-32C: %w", core.ErrCorrupt)
)

// valueSum is the checksum of an entry row (storekit.ValueSum), over the
// deletion time in Unix ns.
func valueSum(key []byte, expires int64, value []byte) int64 {
	return storekit.ValueSum(key, expires, value)
}

// Options configures a Store. A nil *Options means all defaults: an
// in-memory database of at most DefaultMaxBytes. Each field is mirrored by a
// DSN parameter (see the package documentation).
type Options struct {
	// Path is the database file, created with its missing directories if
	// needed; a relative path is resolved against the working directory.
	// "" or Memory (":memory:") selects a private in-memory database that
	// lives until Close.
	// DSN: the path, as in sqlite:///var/cache/app.db or sqlite:///:memory:.
	Path string
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
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection or process before retrying. 0 means DefaultBusyTimeout; a
	// negative value is an error.
	// DSN parameter: busy_timeout (a Go duration such as 5s).
	BusyTimeout time.Duration
}

// Store is a core.Store in a SQLite database. It also implements
// core.Lister, core.Clearer, core.Streamer and io.Closer. Create it with
// New; the zero value is not usable.
type Store struct {
	path        string // "" for an in-memory database
	maxBytes    int64
	sweepEvery  time.Duration
	busyTimeout time.Duration
	now         func() time.Time
	grace       time.Duration
	flushEvery  time.Duration

	w *sql.DB // the writer: one connection
	r *sql.DB // the readers: a pool

	get     *getPool  // Get's readers, besides r
	chunks  *getPool  // the chunk reads of streams (getpool.go)
	setStmt *sql.Stmt // on w

	closed atomic.Bool

	touched storekit.Touches[int64] // last accesses (Unix ns) not yet written
	pins    storekit.Pins           // streams open readers of this Store read

	base      context.Context // New's ctx without its cancellation
	bgCancel  context.CancelFunc
	bgDone    chan struct{}
	flushKick chan struct{}
	gcKick    chan struct{}
}

var (
	_ core.Store      = (*Store)(nil)
	_ core.Lister     = (*Store)(nil)
	_ core.Clearer    = (*Store)(nil)
	_ core.Streamer   = (*Store)(nil)
	_ core.ViewGetter = (*Store)(nil)
	_ io.Closer       = (*Store)(nil)
)

func init() {
	core.RegisterStore(Scheme, openURL)
}

// config holds what tests may change besides Options.
type config struct {
	now        func() time.Time
	grace      time.Duration
	flushEvery time.Duration
}

// New opens (creating it if needed) the database opts describes; nil opts
// means an in-memory database with the defaults. It fails with a
// *SchemaVersionError when the file was written by a newer schema. Close the
// store to stop its background goroutine and release the database.
func New(ctx context.Context, opts *Options) (*Store, error) {
	return newStore(ctx, opts, config{now: time.Now, grace: streamGrace, flushEvery: flushEvery})
}

func newStore(ctx context.Context, opts *Options, cfg config) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, core.Unavailable(fmt.Errorf("sqlitestore: open: %w", err))
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case o.MaxBytes < 0:
		return nil, core.InvalidConfig(fmt.Errorf("sqlitestore: MaxBytes is %d; want 0 (the default) or more", o.MaxBytes))
	case o.BusyTimeout < 0:
		return nil, core.InvalidConfig(fmt.Errorf("sqlitestore: BusyTimeout is %v; want 0 (the default) or more", o.BusyTimeout))
	}
	s := &Store{
		maxBytes:    o.MaxBytes,
		sweepEvery:  o.SweepInterval,
		busyTimeout: o.BusyTimeout,
		now:         cfg.now,
		grace:       cfg.grace,
		flushEvery:  cfg.flushEvery,
		base:        context.WithoutCancel(ctx),
		bgDone:      make(chan struct{}),
		flushKick:   make(chan struct{}, 1),
		gcKick:      make(chan struct{}, 1),
	}
	if s.maxBytes == 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.sweepEvery == 0 {
		s.sweepEvery = DefaultSweepInterval
	}
	if s.busyTimeout == 0 {
		s.busyTimeout = DefaultBusyTimeout
	}
	writerDSN, readerDSN, err := s.dsns(o.Path)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	if err := s.prepareDir(); err != nil {
		return nil, err
	}
	if s.w, err = sql.Open("sqlite", writerDSN); err != nil {
		return nil, core.InvalidConfig(fmt.Errorf("sqlitestore: open %s: %w", s.name(), err))
	}
	// One writer connection: writes of this process queue in database/sql
	// instead of competing for SQLite's lock; other processes are kept
	// apart by BEGIN IMMEDIATE, the busy timeout and write's retries.
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.migrate(ctx); err != nil {
		s.w.Close()
		return nil, s.openErr(ctx, err)
	}
	if s.r, err = sql.Open("sqlite", readerDSN); err != nil {
		s.w.Close()
		return nil, core.InvalidConfig(fmt.Errorf("sqlitestore: open %s: %w", s.name(), err))
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	s.r.SetConnMaxLifetime(0)
	s.r.SetConnMaxIdleTime(0)
	s.get = newGetPool(readerDSN, getSQL, readers)
	s.chunks = newGetPool(readerDSN, chunkSQL, readers)
	// One connection of each pool now, so that a database the library
	// cannot read fails New, not the first Get.
	for _, p := range []*getPool{s.get, s.chunks} {
		c, derr := p.dial()
		if derr != nil {
			err = derr
			break
		}
		p.open.Add(1)
		p.put(c, false)
	}
	if err == nil {
		s.setStmt, err = s.w.PrepareContext(ctx,
			`INSERT INTO entries (key, expires, url, method, status, size, created, accessed, sum, value)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET expires = excluded.expires, url = excluded.url,
				method = excluded.method, status = excluded.status, size = excluded.size,
				created = excluded.created, accessed = excluded.accessed, sum = excluded.sum,
				value = excluded.value`)
	}
	if err != nil {
		s.get.close()
		s.chunks.close()
		s.r.Close()
		s.w.Close()
		return nil, s.openErr(ctx, err)
	}
	s.pins.Released = func() { kick(s.gcKick) }
	bg, cancel := context.WithCancel(s.base)
	s.bgCancel = cancel
	go s.background(bg)
	return s, nil
}

// readerCacheKiB is the page cache of each reader connection, in KiB
// (PRAGMA cache_size, negative for KiB), instead of SQLite's 2 MiB: a stream
// read walks its chunks' overflow pages through whichever pooled reader runs
// the query, so with the default every reader's cache filled with pages read
// once, and a 1 GiB replay peaked at 27-34 MiB RSS instead of 25 (issue 13).
// Hot entries' pages stay in the operating system's page cache.
const readerCacheKiB = 256

// dsns returns the driver DSNs of the writer and the readers.
func (s *Store) dsns(path string) (writer, reader string, err error) {
	busy := fmt.Sprintf("busy_timeout(%d)", max(1, s.busyTimeout.Milliseconds()))
	wq := url.Values{"_pragma": {busy, "synchronous(NORMAL)", "auto_vacuum(INCREMENTAL)"}, "_txlock": {"immediate"}}
	rq := url.Values{"_pragma": {busy, "query_only(1)", fmt.Sprintf("cache_size(-%d)", readerCacheKiB)}}
	var u url.URL
	if path == "" || path == Memory {
		// SQLite's memdb VFS shares a database among the connections that
		// open the same name starting with "/", with ordinary locking (so
		// the busy timeout applies), unlike a shared-cache ":memory:"
		// database, whose table locks fail at once with SQLITE_LOCKED. The
		// database lives as long as one connection is open: the writer's
		// is never closed before Close.
		var b [12]byte
		_, _ = rand.Read(b[:]) // never fails
		u = url.URL{Scheme: "file", Opaque: "/hoard-" + hex.EncodeToString(b[:])}
		wq.Set("vfs", "memdb")
		rq.Set("vfs", "memdb")
	} else {
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", "", fmt.Errorf("sqlitestore: path %q: %w", path, err)
		}
		s.path = abs
		p := filepath.ToSlash(abs)
		if !strings.HasPrefix(p, "/") {
			p = "/" + p // a Windows drive letter: file:///C:/...
		}
		u = url.URL{Scheme: "file", Path: p}
		wq.Add("_pragma", "journal_mode(WAL)")
	}
	u.RawQuery = wq.Encode()
	writer = u.String()
	u.RawQuery = rq.Encode()
	reader = u.String()
	return writer, reader, nil
}

// name describes the database in errors.
func (s *Store) name() string {
	if s.path == "" {
		return "in-memory database"
	}
	return s.path
}

// prepareDir creates the missing directories of the database file (mode
// 0700, as filestore's), so that a new cache path works at once, and
// refuses a path that names a directory, which SQLite would report as
// "unable to open database file".
func (s *Store) prepareDir() error {
	if s.path == "" {
		return nil
	}
	if fi, err := os.Stat(s.path); err == nil && fi.IsDir() {
		return core.InvalidConfig(fmt.Errorf("sqlitestore: open %s: is a directory, not a database file", s.path))
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return openClass(fmt.Errorf("sqlitestore: open %s: creating its directory: %w", s.path, err))
	}
	return nil
}

// openErr wraps an error of New once, and classifies it.
func (s *Store) openErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return core.Unavailable(fmt.Errorf("sqlitestore: open %s: %w", s.name(), cerr))
	}
	if !strings.HasPrefix(err.Error(), "sqlitestore: ") {
		err = fmt.Errorf("sqlitestore: open %s: %w", s.name(), err)
	}
	return openClass(err)
}

// openClass classifies an error met while the store opens. The database
// cannot be used right now (another process holds its lock beyond the busy
// timeout, an I/O error, a full disk, a context that ended): unavailable.
// Anything else (a path that cannot be a database, permission denied, a
// file that is not a hoard cache or has a newer schema) will not go away by
// itself: a configuration error.
func openClass(err error) error {
	if isBusy(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return core.Unavailable(err)
	}
	if code, ok := sqliteCode(err); ok {
		switch code & 0xff {
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL:
			return core.Unavailable(err)
		}
		return core.InvalidConfig(err)
	}
	for _, cfg := range []error{fs.ErrPermission, fs.ErrExist, syscall.ENOTDIR, syscall.EROFS, syscall.ENAMETOOLONG, syscall.ELOOP, syscall.EINVAL} {
		if errors.Is(err, cfg) {
			return core.InvalidConfig(err)
		}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return core.Unavailable(err) // an I/O error of the file system
	}
	return core.InvalidConfig(err)
}

// Path reports the absolute path of the database file, or "" for an
// in-memory database.
func (s *Store) Path() string { return s.path }

// MaxBytes reports the size bound of the store in bytes.
func (s *Store) MaxBytes() int64 { return s.maxBytes }

// Get returns a copy of the value stored under key. A missing or expired key
// gives an error wrapping core.ErrNotFound; a row that fails its checksum
// (the key, the deletion time and the value, CRC-32C) an error wrapping
// core.ErrCorrupt, which the cache counts and deletes. The access is
// recorded in memory and written later, in one transaction with others: a
// hit performs no write.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	now := nanos(s.now())
	c, view, err := s.lookup(ctx, key, now)
	if err != nil {
		return nil, err
	}
	v := make([]byte, len(view)) // an empty value is a hit: not nil
	copy(v, view)
	s.get.done(c, nil)
	s.touch(key, now)
	return v, nil
}

// GetView implements core.ViewGetter: it is Get, lending fn the value in
// SQLite's memory, where Get copies it out. The row's read transaction
// stays open while fn runs.
func (s *Store) GetView(ctx context.Context, key string, fn func(value []byte) error) error {
	now := nanos(s.now())
	c, view, err := s.lookup(ctx, key, now)
	if err != nil {
		return err
	}
	if view == nil {
		view = []byte{}
	}
	err = fn(view)
	s.get.done(c, nil)
	s.touch(key, now)
	return err
}

// ViewStore implements core.ViewGetter.
func (s *Store) ViewStore() core.Store { return s }

// lookup looks key up at now for Get and GetView, with retries while the
// database is busy, and checks the row it finds. On success it returns the
// reader connection still on the row and view, the value in SQLite's memory
// (nil when empty): the caller ends with s.get.done(c, nil).
func (s *Store) lookup(ctx context.Context, key string, now int64) (c *getConn, view []byte, err error) {
	if err := s.check(ctx, "get", key); err != nil {
		return nil, nil, err
	}
	kb := []byte(key)
	var exp, sum int64
	backoff := time.Millisecond
	for attempt := 1; ; attempt++ {
		c, view, exp, sum, err = s.get.lookup(ctx, kb, now)
		if err == nil || attempt == maxAttempts || !isBusy(err) {
			break
		}
		if err = pause(ctx, &backoff); err != nil {
			break
		}
	}
	if err == nil || err == errNoRow {
		// The read ran on a context that cannot end (see getPool); one
		// that ended meanwhile fails it, as the driver's interrupt did.
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
	}
	switch {
	case err == nil && valueSum(kb, exp, view) != sum:
		err = wrap("get", key, errCorruptRow)
	case err == errNoRow:
		return nil, nil, errNotFound
	case err != nil:
		err = s.fail(ctx, "get", key, err)
	}
	if err != nil {
		if c != nil {
			s.get.done(c, nil)
		}
		return nil, nil, err
	}
	return c, view, nil
}

// Set stores value under key with meta, replacing any previous value, in
// one transaction that also evicts the least recently used entries when the
// store is over MaxBytes. A meta.Expires that is not in the future deletes
// the key (and its stream). meta.Size is recorded as len(value). A value
// larger than MaxBytes is not stored: Set deletes the key and returns nil.
// A stream of key, if any, takes meta.Expires as its own deletion time.
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
	exp, nowN := nanos(meta.Expires), nanos(now)
	var gc bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		gc = false
		if _, err := tx.StmtContext(ctx, s.setStmt).ExecContext(ctx,
			kb, exp, meta.URL, meta.Method, meta.Status, size, nanos(meta.Created), nowN,
			valueSum(kb, exp, value), value); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE streams SET expires = ? WHERE key = ? AND state = 1`, exp, kb); err != nil {
			return err
		}
		var err error
		gc, err = s.evict(ctx, tx, kb)
		return err
	})
	if err != nil {
		return s.fail(ctx, "set", key, err)
	}
	if gc {
		kick(s.gcKick)
	}
	return nil
}

// Delete removes key's value and stream. Deleting a missing key is not an
// error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, "delete", key); err != nil {
		return err
	}
	return s.del(ctx, "delete", key)
}

// del deletes key's value and stream for op.
func (s *Store) del(ctx context.Context, op, key string) error {
	kb := []byte(key)
	var gc bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		gc, err = deleteKey(ctx, tx, kb)
		return err
	})
	if err != nil {
		return s.fail(ctx, op, key, err)
	}
	if gc {
		kick(s.gcKick)
	}
	return nil
}

// deleteKey deletes the value of key and makes its stream garbage; gc
// reports whether there was a stream.
func deleteKey(ctx context.Context, tx *sql.Tx, kb []byte) (gc bool, err error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE key = ?`, kb); err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx,
		`UPDATE streams SET state = 2, key = NULL, touched = 0 WHERE key = ? AND state = 1`, kb)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// DeleteURL deletes every entry whose Meta.URL is url (with their streams)
// and reports how many it deleted.
func (s *Store) DeleteURL(ctx context.Context, url string) (int, error) {
	if err := s.check(ctx, "delete URL", url); err != nil {
		return 0, err
	}
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `SELECT key FROM entries WHERE url = ?`, url)
		if err != nil {
			return err
		}
		var keys [][]byte
		for rows.Next() {
			var k []byte
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := deleteKey(ctx, tx, k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, s.fail(ctx, "delete URL", url, err)
	}
	if n > 0 {
		kick(s.gcKick)
	}
	return n, nil
}

// List yields every live key with its Meta, sorted by key (bytewise), a page
// at a time: entries written while it runs may or may not appear. Expired
// entries are not yielded. Keys that hold only a stream are not listed. On
// error (a cancelled ctx, a closed store) List yields a zero core.Listed
// with the error and stops.
func (s *Store) List(ctx context.Context) iter.Seq2[core.Listed, error] {
	return s.ListFilter(ctx, core.ListFilter{})
}

// ListFilter is List restricted to the items f selects, with an SQL WHERE
// on the url (a range over its index per prefix), method and status
// columns, so that only those rows are read (core.FilterLister).
func (s *Store) ListFilter(ctx context.Context, f core.ListFilter) iter.Seq2[core.Listed, error] {
	where, args := listWhere(f)
	return func(yield func(core.Listed, error) bool) {
		after := []byte{}
		for {
			if err := s.check(ctx, "list", ""); err != nil {
				yield(core.Listed{}, err)
				return
			}
			page, err := s.listPage(ctx, after, where, args)
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
// arguments for f.
func listWhere(f core.ListFilter) (string, []any) {
	var b strings.Builder
	var args []any
	if len(f.URLPrefixes) > 0 {
		b.WriteString(" AND (")
		for i, p := range f.URLPrefixes {
			if i > 0 {
				b.WriteString(" OR ")
			}
			// url compares byte by byte (BINARY collation): every URL with
			// the prefix p sorts in [p, the next string after all of them).
			if hi, ok := prefixEnd(p); ok {
				b.WriteString("(url >= ? AND url < ?)")
				args = append(args, p, hi)
			} else {
				b.WriteString("url >= ?")
				args = append(args, p)
			}
		}
		b.WriteString(")")
	}
	if f.Method != "" {
		b.WriteString(" AND method = ?")
		args = append(args, f.Method)
	}
	if len(f.Statuses) > 0 {
		b.WriteString(" AND status IN (")
		for i, st := range f.Statuses {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("?")
			args = append(args, st)
		}
		b.WriteString(")")
	}
	return b.String(), args
}

// prefixEnd returns the least string greater than every string that starts
// with p, or false when there is none (p is empty or all 0xff bytes).
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// listPage reads the live entries whose keys sort after after and that
// match where (see listWhere).
func (s *Store) listPage(ctx context.Context, after []byte, where string, args []any) ([]core.Listed, error) {
	var page []core.Listed
	err := s.read(ctx, func() error {
		page = page[:0]
		q := append([]any{after, nanos(s.now())}, args...)
		rows, err := s.r.QueryContext(ctx,
			`SELECT key, expires, url, method, status, size, created FROM entries
			WHERE key > ? AND (expires = 0 OR expires > ?)`+where+` ORDER BY key LIMIT `+strconv.Itoa(listPage), q...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				key              []byte
				expires, created int64
				it               core.Listed
			)
			if err := rows.Scan(&key, &expires, &it.Meta.URL, &it.Meta.Method, &it.Meta.Status, &it.Meta.Size, &created); err != nil {
				return err
			}
			it.Key = string(key)
			it.Meta.Expires = fromNanos(expires)
			it.Meta.Created = fromNanos(created)
			page = append(page, it)
		}
		return rows.Err()
	})
	return page, err
}

// Clear removes every entry and stream. Stream bodies are released by the
// background collector in short transactions.
func (s *Store) Clear(ctx context.Context) error {
	if err := s.check(ctx, "clear", ""); err != nil {
		return err
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM entries`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE streams SET state = 2, key = NULL, touched = 0 WHERE state = 1`)
		return err
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
	err := s.read(ctx, func() error {
		return s.r.QueryRowContext(ctx, `SELECT bytes FROM stats WHERE id = 1`).Scan(&n)
	})
	if err != nil {
		return 0, s.fail(ctx, "size", "", err)
	}
	return n, nil
}

// IntegrityCheck runs SQLite's integrity check on the database and returns
// an error describing the first problems it reports, or nil.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	if err := s.check(ctx, "integrity check", ""); err != nil {
		return err
	}
	var problems []string
	err := s.read(ctx, func() error {
		problems = problems[:0]
		rows, err := s.r.QueryContext(ctx, `PRAGMA integrity_check(10)`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				return err
			}
			if line != "ok" {
				problems = append(problems, line)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return s.fail(ctx, "integrity check", "", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlitestore: integrity check of %s: %s", s.name(), strings.Join(problems, "; "))
	}
	return nil
}

// Close stops the background sweep, writes the recorded access times and
// closes the database. After Close every other method returns ErrClosed, and
// open stream readers and writers fail; closing again returns nil.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.bgCancel()
	<-s.bgDone
	err := s.flushTouches(s.base)
	err = errors.Join(err, s.get.close(), s.chunks.close(), s.setStmt.Close(), s.r.Close(), s.w.Close())
	if err != nil {
		return fmt.Errorf("sqlitestore: close %s: %w", s.name(), err)
	}
	return nil
}

// check reports a done ctx or a closed store before an operation.
func (s *Store) check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return wrap(op, key, err)
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// fail wraps an operation's error once, preferring ctx's error and
// ErrClosed to what the driver made of them.
func (s *Store) fail(ctx context.Context, op, key string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = cerr
	}
	if s.closed.Load() && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("%w (%v)", ErrClosed, err)
	}
	return wrap(op, key, err)
}

func wrap(op, key string, err error) error {
	if key == "" {
		return fmt.Errorf("sqlitestore: %s: %w", op, err)
	}
	return fmt.Errorf("sqlitestore: %s %q: %w", op, key, err)
}

// write runs fn in a write transaction (BEGIN IMMEDIATE, on the single
// writer connection) and commits it. When SQLite reports the database busy
// or locked after its busy timeout (another process holds the lock), the
// whole transaction is retried with a bounded backoff; fn must therefore be
// safe to run again.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return retry(ctx, func() error {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// read runs fn, retrying it like write when the database is busy (a reader
// can meet a lock while a WAL file is recovered or reset).
func (s *Store) read(ctx context.Context, fn func() error) error {
	return retry(ctx, fn)
}

func retry(ctx context.Context, fn func() error) error {
	backoff := time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt == maxAttempts || !isBusy(err) {
			return err
		}
		if err := pause(ctx, &backoff); err != nil {
			return err
		}
	}
}

// pause waits *backoff before a retry, then doubles it (up to 250 ms); it
// returns ctx's error if ctx ends first.
func pause(ctx context.Context, backoff *time.Duration) error {
	t := time.NewTimer(*backoff)
	select {
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	case <-t.C:
	}
	*backoff = min(2**backoff, 250*time.Millisecond)
	return nil
}

// isBusy reports whether err is SQLITE_BUSY or SQLITE_LOCKED (in any of
// their extended forms).
func isBusy(err error) bool {
	code, ok := sqliteCode(err)
	if !ok {
		return false
	}
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// evict brings the stored bytes under MaxBytes in the caller's transaction:
// expired entries and streams first, then the least recently used keys
// (the recorded accesses are written before choosing, so that recency is
// current) — never keep, the key being written, whose value or stream was
// just replaced and must not be the victim of its own write. gc reports
// whether a stream became garbage.
func (s *Store) evict(ctx context.Context, tx *sql.Tx, keep []byte) (gc bool, err error) {
	total, err := storedBytes(ctx, tx)
	if err != nil || total <= s.maxBytes {
		return false, err
	}
	// Expired rows go first: they are dead weight until the sweep.
	now := nanos(s.now())
	if _, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE rowid IN (
		SELECT rowid FROM entries WHERE expires > 0 AND expires <= ? LIMIT ?)`, now, sweepBatch); err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, `UPDATE streams SET state = 2, key = NULL, touched = 0 WHERE id IN (
		SELECT id FROM streams WHERE state = 1 AND expires > 0 AND expires <= ? LIMIT ?)`, now, sweepBatch)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, err
	} else if n > 0 {
		gc = true
	}
	if total, err = storedBytes(ctx, tx); err != nil || total <= s.maxBytes {
		return gc, err
	}
	if err := applyTouches(ctx, tx, s.touched.Take()); err != nil {
		return gc, err
	}
	for total > s.maxBytes {
		victims, err := lruKeys(ctx, tx)
		if err != nil {
			return gc, err
		}
		progress := false
		for _, k := range victims {
			if bytes.Equal(k, keep) {
				continue
			}
			progress = true
			g, err := deleteKey(ctx, tx, k)
			if err != nil {
				return gc, err
			}
			gc = gc || g
			if total, err = storedBytes(ctx, tx); err != nil {
				return gc, err
			}
			if total <= s.maxBytes {
				break
			}
		}
		if !progress {
			break // only the key being written is left: it alone exceeds the cap
		}
	}
	return gc, nil
}

func storedBytes(ctx context.Context, tx *sql.Tx) (int64, error) {
	var n int64
	err := tx.QueryRowContext(ctx, `SELECT bytes FROM stats WHERE id = 1`).Scan(&n)
	return n, err
}

// lruKeys returns up to 32 keys, least recently used first, among values and
// streams.
func lruKeys(ctx context.Context, tx *sql.Tx) ([][]byte, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT key FROM (
			SELECT * FROM (SELECT key, accessed FROM entries ORDER BY accessed LIMIT 32)
			UNION ALL
			SELECT * FROM (SELECT key, accessed FROM streams WHERE state = 1 ORDER BY accessed LIMIT 32)
		) ORDER BY accessed LIMIT 32`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys [][]byte
	seen := map[string]bool{}
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		if !seen[string(k)] {
			seen[string(k)] = true
			keys = append(keys, k)
		}
	}
	return keys, rows.Err()
}

// touch records an access to key at now (Unix ns), to be written later.
func (s *Store) touch(key string, now int64) {
	if s.touched.Touch(key, now) >= maxTouched {
		kick(s.flushKick)
	}
}

// flushTouches writes the recorded accesses, touchBatch per transaction.
func (s *Store) flushTouches(ctx context.Context) error {
	m := s.touched.Take()
	batch := make(map[string]int64, min(len(m), touchBatch))
	var errs []error
	flush := func() {
		if err := s.write(ctx, func(tx *sql.Tx) error { return applyTouches(ctx, tx, batch) }); err != nil {
			errs = append(errs, err)
		}
		clear(batch)
	}
	for k, t := range m {
		batch[k] = t
		if len(batch) == touchBatch {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlitestore: writing access times: %w", err)
	}
	return nil
}

// applyTouches writes access times in tx.
func applyTouches(ctx context.Context, tx *sql.Tx, m map[string]int64) error {
	if len(m) == 0 {
		return nil
	}
	ue, err := tx.PrepareContext(ctx, `UPDATE entries SET accessed = ?1 WHERE key = ?2 AND accessed < ?1`)
	if err != nil {
		return err
	}
	defer ue.Close()
	us, err := tx.PrepareContext(ctx, `UPDATE streams SET accessed = ?1 WHERE key = ?2 AND state = 1 AND accessed < ?1`)
	if err != nil {
		return err
	}
	defer us.Close()
	for k, t := range m {
		kb := []byte(k)
		if _, err := ue.ExecContext(ctx, t, kb); err != nil {
			return err
		}
		if _, err := us.ExecContext(ctx, t, kb); err != nil {
			return err
		}
	}
	return nil
}

// kick wakes the background goroutine without waiting.
func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// background writes access times, sweeps and collects garbage streams until
// ctx is done.
func (s *Store) background(ctx context.Context) {
	defer close(s.bgDone)
	flushT := time.NewTicker(s.flushEvery)
	defer flushT.Stop()
	var sweepC <-chan time.Time
	if s.sweepEvery > 0 {
		t := time.NewTicker(s.sweepEvery)
		defer t.Stop()
		sweepC = t.C
	}
	logErr := func(what string, err error) {
		if err != nil && ctx.Err() == nil {
			slog.WarnContext(ctx, "sqlitestore: background "+what+" failed", "db", s.name(), "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-flushT.C:
			logErr("access time flush", s.flushTouches(ctx))
		case <-s.flushKick:
			logErr("access time flush", s.flushTouches(ctx))
		case <-sweepC:
			more, err := s.sweep(ctx, backgroundBatches)
			logErr("sweep", err)
			if more {
				kick(s.gcKick)
			}
		case <-s.gcKick:
			more, err := s.collect(ctx, backgroundBatches)
			logErr("stream collection", err)
			if more {
				kick(s.gcKick)
			}
		}
	}
}

// Sweep deletes every expired entry and stream and the chunks of streams
// that are deleted, were abandoned by a writer (a crashed process) more than
// an hour ago, or were committed more than five minutes ago without a value
// ever written for their key (a process that died between the two), and
// returns free pages to the file system. It runs in
// short transactions, so other writers interleave. The background sweep
// (Options.SweepInterval) does the same with a bounded number of
// transactions per run.
func (s *Store) Sweep(ctx context.Context) error {
	if err := s.check(ctx, "sweep", ""); err != nil {
		return err
	}
	if err := s.flushTouches(ctx); err != nil {
		return s.fail(ctx, "sweep", "", err)
	}
	if _, err := s.sweep(ctx, -1); err != nil {
		return s.fail(ctx, "sweep", "", err)
	}
	return nil
}

// sweep runs at most maxTx transactions of each kind (unbounded when
// negative); more reports whether work is left.
func (s *Store) sweep(ctx context.Context, maxTx int) (more bool, err error) {
	now := s.now()
	nowN := nanos(now)
	steps := []struct {
		query string
		args  []any
	}{
		{`DELETE FROM entries WHERE rowid IN (
			SELECT rowid FROM entries WHERE expires > 0 AND expires <= ? LIMIT ?)`,
			[]any{nowN, sweepBatch}},
		{`UPDATE streams SET state = 2, key = NULL, touched = 0 WHERE id IN (
			SELECT id FROM streams WHERE state = 1 AND expires > 0 AND expires <= ? LIMIT ?)`,
			[]any{nowN, sweepBatch}},
		{`UPDATE streams SET state = 2, touched = 0 WHERE id IN (
			SELECT id FROM streams WHERE state = 0 AND touched < ? LIMIT ?)`,
			[]any{nanos(now.Add(-s.grace)), sweepBatch}},
		// Committed streams whose key has no value (touched is the commit
		// time of a committed stream).
		{`UPDATE streams SET state = 2, key = NULL, touched = 0 WHERE id IN (
			SELECT id FROM streams WHERE state = 1 AND touched < ?
				AND NOT EXISTS (SELECT 1 FROM entries WHERE entries.key = streams.key) LIMIT ?)`,
			[]any{nanos(now.Add(-orphanGrace)), sweepBatch}},
	}
	for _, st := range steps {
		for i := 0; ; i++ {
			if maxTx >= 0 && i == maxTx {
				more = true
				break
			}
			var n int64
			err := s.write(ctx, func(tx *sql.Tx) error {
				res, err := tx.ExecContext(ctx, st.query, st.args...)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return more, err
			}
			if n < sweepBatch {
				break
			}
		}
	}
	m, err := s.collect(ctx, maxTx)
	if err != nil {
		return more || m, err
	}
	v, err := s.vacuum(ctx, maxTx)
	return more || m || v, err
}

// collect deletes the chunks of garbage streams that no reader of this
// Store has open, gcChunks per transaction, and then the streams, for at
// most maxTx transactions (unbounded when negative); more reports whether
// such garbage is left.
func (s *Store) collect(ctx context.Context, maxTx int) (more bool, err error) {
	for i := 0; maxTx < 0 || i < maxTx; i++ {
		pinned := pinnedArgs(s.pins.IDs())
		query := `SELECT id FROM streams WHERE state = 2 LIMIT 1`
		if len(pinned) > 0 {
			query = `SELECT id FROM streams WHERE state = 2 AND id NOT IN (?` +
				strings.Repeat(", ?", len(pinned)-1) + `) LIMIT 1`
		}
		// Look with a reader first, so that a wake-up with nothing to do
		// costs no write transaction.
		var id int64
		err := s.read(ctx, func() error { return s.r.QueryRowContext(ctx, query, pinned...).Scan(&id) })
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		// A reader pins a stream before checking that it is committed, so
		// a stream that was garbage when we read it and is not pinned now
		// can no longer be pinned.
		if s.pins.Pinned(id) {
			continue
		}
		err = s.write(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM chunks WHERE rowid IN (
				SELECT rowid FROM chunks WHERE stream_id = ? AND
					(SELECT state FROM streams WHERE id = ?) = 2 LIMIT ?)`, id, id, gcChunks)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n > 0 {
				return err
			}
			_, err = tx.ExecContext(ctx, `DELETE FROM streams WHERE id = ? AND state = 2`, id)
			return err
		})
		if err != nil {
			return false, err
		}
	}
	return true, nil
}

// vacuum returns free pages to the file system, vacuumPages per
// transaction, for at most maxTx transactions (unbounded when negative).
func (s *Store) vacuum(ctx context.Context, maxTx int) (more bool, err error) {
	if s.path == "" {
		return false, nil
	}
	prev := int64(math.MaxInt64)
	for i := 0; maxTx < 0 || i < maxTx; i++ {
		var free int64
		err := s.write(ctx, func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil || free == 0 {
				return err
			}
			// The pragma frees one page per step: read it to the end.
			rows, err := tx.QueryContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, vacuumPages))
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			return errors.Join(rows.Err(), rows.Close())
		})
		if err != nil || free <= vacuumPages || free >= prev {
			return false, err // done, or a file without incremental auto-vacuum
		}
		prev = free
	}
	return true, nil
}

// nanos converts t to Unix nanoseconds, 0 for the zero time, clamped to the
// range an int64 holds.
func nanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minTime):
		return 1
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minTime = time.Unix(0, 1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// fromNanos is the inverse of nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// StoreTimeout implements core.TimeoutHinter: a local database file gets 2s
// per operation (a commit waiting on a busy writer or an fsync on a loaded
// disk can take longer than a network store's bound, yet a disk that hangs
// still fails open).
func (s *Store) StoreTimeout() time.Duration { return 2 * time.Second }

// blob is a BLOB column scanned without database/sql's copy. Scanning into
// a *[]byte clones the driver's value, so a hit used to copy the body twice
// (SQLite's memory → the driver's slice → database/sql's clone). A Scanner
// receives the driver's value itself; modernc.org/sqlite makes a fresh
// slice for every BLOB of every row (it copies out of SQLite's memory) and
// never touches it again, so the slice may be kept: one copy per read.
// TestBlobKeepsDriverBytes checks that property of the driver.
type blob []byte

// Scan implements sql.Scanner.
func (b *blob) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*b = nil
	case []byte:
		*b = v
	case string:
		*b = []byte(v)
	default:
		return fmt.Errorf("sqlitestore: a BLOB column holds a %T", src)
	}
	return nil
}
