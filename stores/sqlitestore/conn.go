package sqlitestore

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unsafe"

	"modernc.org/libc"
	"modernc.org/libc/sys/types"
	sqlite3 "modernc.org/sqlite/lib"
)

// libConn is a reader connection made with the SQLite library itself (the
// library modernc.org/sqlite drives), with one query prepared on it, for the
// one query of a hit: no database/sql, no driver.Rows, no boxed values, no
// column names fetched per query. It is used by one goroutine at a time.
type libConn struct {
	tls  *libc.TLS
	db   uintptr // sqlite3*
	stmt uintptr // sqlite3_stmt*
	key  uintptr // C buffer the key is bound from (SQLITE_STATIC)
	kcap int
}

// openLibConn opens the database of the driver DSN dsn (a file: URI, whose
// vfs parameter SQLite reads itself) as modernc.org/sqlite would — the same
// flags, extended result codes, the _pragma parameters run busy_timeout
// first — and prepares query.
func openLibConn(dsn, query string) (c *libConn, err error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, err
	}
	pragmas := u.Query()["_pragma"]
	sort.SliceStable(pragmas, func(i, j int) bool {
		return strings.HasPrefix(strings.ToLower(pragmas[i]), "busy_timeout") &&
			!strings.HasPrefix(strings.ToLower(pragmas[j]), "busy_timeout")
	})
	c = &libConn{tls: libc.NewTLS()}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	pdb := c.tls.Alloc(8)
	defer c.tls.Free(8)
	*(*uintptr)(cmem(pdb)) = 0
	name, err := libc.CString(dsn)
	if err != nil {
		return nil, err
	}
	rc := sqlite3.Xsqlite3_open_v2(c.tls, name, pdb, sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_CREATE|
		sqlite3.SQLITE_OPEN_FULLMUTEX|sqlite3.SQLITE_OPEN_URI, 0)
	libc.Xfree(c.tls, name)
	c.db = *(*uintptr)(cmem(pdb))
	if rc != sqlite3.SQLITE_OK {
		return nil, c.err(rc)
	}
	if rc := sqlite3.Xsqlite3_extended_result_codes(c.tls, c.db, 1); rc != sqlite3.SQLITE_OK {
		return nil, c.err(rc)
	}
	for _, p := range pragmas {
		if err := c.exec("pragma " + p); err != nil {
			return nil, err
		}
	}
	q, err := libc.CString(query)
	if err != nil {
		return nil, err
	}
	pstmt := c.tls.Alloc(8)
	defer c.tls.Free(8)
	*(*uintptr)(cmem(pstmt)) = 0
	rc = sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, q, -1, pstmt, 0)
	libc.Xfree(c.tls, q)
	if rc != sqlite3.SQLITE_OK {
		return nil, c.err(rc)
	}
	c.stmt = *(*uintptr)(cmem(pstmt))
	return c, nil
}

// exec runs sql, which returns no rows.
func (c *libConn) exec(sql string) error {
	p, err := libc.CString(sql)
	if err != nil {
		return err
	}
	rc := sqlite3.Xsqlite3_exec(c.tls, c.db, p, 0, 0, 0)
	libc.Xfree(c.tls, p)
	if rc != sqlite3.SQLITE_OK {
		return c.err(rc)
	}
	return nil
}

// row runs the prepared getSQL for kb and now (a connection of Get's pool)
// and leaves the statement on the row found: view is the value in SQLite's
// memory (nil when empty), valid until reset. A missing row gives errNoRow.
// Whatever the outcome, the caller calls reset next.
func (c *libConn) row(kb []byte, now int64) (view []byte, exp, sum int64, err error) {
	if len(kb) > c.kcap {
		if c.key != 0 {
			libc.Xfree(c.tls, c.key)
		}
		n := max(64, len(kb))
		if c.key = libc.Xmalloc(c.tls, types.Size_t(n)); c.key == 0 {
			c.kcap = 0
			return nil, 0, 0, fmt.Errorf("sqlitestore: cannot allocate %d bytes for a key", n)
		}
		c.kcap = n
	}
	copy(unsafe.Slice((*byte)(cmem(c.key)), len(kb)), kb)
	if rc := sqlite3.Xsqlite3_bind_blob(c.tls, c.stmt, 1, c.key, int32(len(kb)), 0); rc != sqlite3.SQLITE_OK {
		return nil, 0, 0, c.err(rc)
	}
	if rc := sqlite3.Xsqlite3_bind_int64(c.tls, c.stmt, 2, now); rc != sqlite3.SQLITE_OK {
		return nil, 0, 0, c.err(rc)
	}
	switch rc := sqlite3.Xsqlite3_step(c.tls, c.stmt); rc {
	case sqlite3.SQLITE_ROW:
		exp = sqlite3.Xsqlite3_column_int64(c.tls, c.stmt, 0)
		sum = sqlite3.Xsqlite3_column_int64(c.tls, c.stmt, 1)
		view, err = c.blobView(2)
	case sqlite3.SQLITE_DONE:
		err = errNoRow
	default:
		err = c.err(rc)
	}
	return view, exp, sum, err
}

// reset ends the statement row left running, and with it the read
// transaction; its result repeats step's error.
func (c *libConn) reset() { sqlite3.Xsqlite3_reset(c.tls, c.stmt) }

// chunk runs the prepared chunkSQL for stream id and chunk seq, copying the
// chunk into dst when it has room for it (into a new slice otherwise); a
// missing row gives errNoRow. The caller calls reset next.
func (c *libConn) chunk(id, seq int64, dst []byte) (data []byte, sum int64, err error) {
	if rc := sqlite3.Xsqlite3_bind_int64(c.tls, c.stmt, 1, id); rc != sqlite3.SQLITE_OK {
		return nil, 0, c.err(rc)
	}
	if rc := sqlite3.Xsqlite3_bind_int64(c.tls, c.stmt, 2, seq); rc != sqlite3.SQLITE_OK {
		return nil, 0, c.err(rc)
	}
	switch rc := sqlite3.Xsqlite3_step(c.tls, c.stmt); rc {
	case sqlite3.SQLITE_ROW:
		sum = sqlite3.Xsqlite3_column_int64(c.tls, c.stmt, 0)
		data, err = c.blob(1, dst)
	case sqlite3.SQLITE_DONE:
		err = errNoRow
	default:
		err = c.err(rc)
	}
	return data, sum, err
}

// blob returns a copy of column i of the current row, in dst when it has
// room for it (in a new slice otherwise); nil for NULL.
func (c *libConn) blob(i int32, dst []byte) ([]byte, error) {
	view, err := c.blobView(i)
	if err != nil || view == nil {
		return nil, err
	}
	v := dst[:0]
	if cap(v) < len(view) {
		v = make([]byte, len(view))
	}
	v = v[:len(view)]
	copy(v, view)
	return v, nil
}

// blobView returns column i of the current row in SQLite's memory, valid
// until the statement steps or resets: nil for NULL and for an empty value.
func (c *libConn) blobView(i int32) ([]byte, error) {
	switch t := sqlite3.Xsqlite3_column_type(c.tls, c.stmt, i); t {
	case sqlite3.SQLITE_BLOB, sqlite3.SQLITE_TEXT:
		p := sqlite3.Xsqlite3_column_blob(c.tls, c.stmt, i)
		n := int(sqlite3.Xsqlite3_column_bytes(c.tls, c.stmt, i))
		if n == 0 {
			return nil, nil
		}
		return unsafe.Slice((*byte)(cmem(p)), n), nil
	case sqlite3.SQLITE_NULL:
		return nil, nil
	default:
		return nil, fmt.Errorf("sqlitestore: a BLOB column holds SQLite type %d", t)
	}
}

// close releases c.
func (c *libConn) close() error {
	var err error
	if c.stmt != 0 {
		sqlite3.Xsqlite3_finalize(c.tls, c.stmt)
		c.stmt = 0
	}
	if c.db != 0 {
		if rc := sqlite3.Xsqlite3_close_v2(c.tls, c.db); rc != sqlite3.SQLITE_OK {
			err = c.err(rc)
		}
		c.db = 0
	}
	if c.key != 0 {
		libc.Xfree(c.tls, c.key)
		c.key = 0
	}
	if c.tls != nil {
		c.tls.Close()
		c.tls = nil
	}
	return err
}

// err is the error of result code rc, worded as modernc.org/sqlite words
// it.
func (c *libConn) err(rc int32) error {
	str := libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	msg := str
	if c.db != 0 {
		msg = libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db))
	}
	if msg != str {
		msg = str + ": " + msg
	}
	return &libError{code: int(rc), msg: fmt.Sprintf("%s (%d)", msg, rc)}
}

// cmem is the address p of C memory (allocated by the library, outside the
// Go heap, never moved) as a pointer. Converting through a variable's
// address rather than unsafe.Pointer(p) says that p is not a Go pointer
// hidden in an integer, which is what go vet's unsafeptr check looks for.
func cmem(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

// libError is an error of a libConn: a SQLite result code and its message.
type libError struct {
	code int
	msg  string
}

func (e *libError) Error() string { return e.msg }

// Code returns the SQLite result code, as *sqlite.Error's Code does.
func (e *libError) Code() int { return e.code }

// sqliteCode returns the SQLite result code err carries (a *sqlite.Error's
// or a libError's), if any.
func sqliteCode(err error) (int, bool) {
	var ce interface{ Code() int }
	if !errors.As(err, &ce) {
		return 0, false
	}
	return ce.Code(), true
}
