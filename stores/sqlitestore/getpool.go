package sqlitestore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// getSQL is Get's query: the value of a live key with what checks it.
const getSQL = `SELECT expires, sum, value FROM entries WHERE key = ? AND (expires = 0 OR expires > ?)`

// errNoRow is what getPool.lookup returns for a missing or expired key.
var errNoRow = errors.New("sqlitestore: no such row")

// getPool holds the reader connections Get runs its one query on, opened
// through the driver itself rather than database/sql, each with getSQL
// prepared on it.
//
// Through database/sql a hit cost 2.6 times a bare SELECT of the same row
// (issue 13): the store's reads run under the core's per-operation deadline,
// and for a query under a context that can end database/sql starts a
// goroutine to watch it (Rows.awaitDone) and the driver another (to
// interrupt the statement), besides database/sql's own bookkeeping (the
// Stmt's per-connection statements, argument conversion, Rows, Row, Scan's
// conversions) — about 40 allocations per hit. Here a hit takes a free
// connection (a channel receive), binds, steps, reads one row and resets the
// statement. The context is honoured as before, where it could have an
// effect: a done context fails the read before it starts and after it ends
// (the driver's interrupt only ever stopped the statement between steps of
// its virtual machine, never inside a lock wait or a read from the file, and
// a point query's work is in those), and waiting for a free connection ends
// with the context.
type getPool struct {
	drv  driver.Driver
	dsn  string
	max  int32
	free chan *getConn // idle connections; capacity max

	open   atomic.Int32 // connections open, idle or in use
	closed atomic.Bool
}

// getConn is one connection of a getPool.
type getConn struct {
	conn driver.Conn
	stmt driver.Stmt
	q    driver.StmtQueryContext // stmt
	args [2]driver.NamedValue
	dest [3]driver.Value
}

func newGetPool(drv driver.Driver, dsn string, max int) *getPool {
	return &getPool{drv: drv, dsn: dsn, max: int32(max), free: make(chan *getConn, max)}
}

// dial opens a connection and prepares getSQL on it.
func (p *getPool) dial() (*getConn, error) {
	conn, err := p.drv.Open(p.dsn)
	if err != nil {
		return nil, err
	}
	var stmt driver.Stmt
	if pc, ok := conn.(driver.ConnPrepareContext); ok {
		stmt, err = pc.PrepareContext(context.Background(), getSQL)
	} else {
		stmt, err = conn.Prepare(getSQL)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	q, ok := stmt.(driver.StmtQueryContext)
	if !ok {
		stmt.Close()
		conn.Close()
		return nil, fmt.Errorf("sqlitestore: the driver's statements (%T) do not implement driver.StmtQueryContext", stmt)
	}
	c := &getConn{conn: conn, stmt: stmt, q: q}
	c.args[0].Ordinal, c.args[1].Ordinal = 1, 2
	return c, nil
}

// take returns an idle connection, opens one while fewer than max are
// open, or waits for one to be put back until ctx is done.
func (p *getPool) take(ctx context.Context) (*getConn, error) {
	select {
	case c := <-p.free:
		return c, nil
	default:
	}
	if p.open.Add(1) <= p.max {
		c, err := p.dial()
		if err != nil {
			p.open.Add(-1)
			return nil, err
		}
		return c, nil
	}
	p.open.Add(-1)
	select {
	case c := <-p.free:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put gives c back to the pool, or closes it when broken is set (it met an
// error, which a fresh connection may not) or the pool is closed.
func (p *getPool) put(c *getConn, broken bool) {
	if broken || p.closed.Load() {
		p.discard(c)
		return
	}
	p.free <- c // never blocks: at most max connections are open
	// close sets closed before it drains free: either it drained c, or c
	// was put back after and closed is seen set here.
	if p.closed.Load() {
		_ = p.drain()
	}
}

// discard closes c, which is not in the pool.
func (p *getPool) discard(c *getConn) {
	p.open.Add(-1)
	_ = c.close()
}

func (c *getConn) close() error {
	return errors.Join(c.stmt.Close(), c.conn.Close())
}

// close closes the idle connections and makes put close those in use.
func (p *getPool) close() error {
	p.closed.Store(true)
	return p.drain()
}

// drain closes the idle connections.
func (p *getPool) drain() error {
	var errs []error
	for {
		select {
		case c := <-p.free:
			p.open.Add(-1)
			errs = append(errs, c.close())
		default:
			return errors.Join(errs...)
		}
	}
}

// lookup runs getSQL for key kb at time now (Unix ns). A missing or expired
// key gives errNoRow. value is the driver's own copy of the column, which
// the driver never touches again (TestBlobKeepsDriverBytes).
func (p *getPool) lookup(ctx context.Context, kb []byte, now int64) (value []byte, exp, sum int64, err error) {
	c, err := p.take(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	c.args[0].Value, c.args[1].Value = kb, now
	// No context that can end: the driver would start a goroutine to watch
	// it (see getPool).
	rows, err := c.q.QueryContext(context.Background(), c.args[:])
	if err == nil {
		err = rows.Next(c.dest[:])
		if err == nil {
			value, exp, sum, err = getRow(c.dest[:])
		} else if errors.Is(err, io.EOF) {
			err = errNoRow
		}
		err = cmpErr(err, rows.Close())
	}
	c.args[0].Value, c.args[1].Value = nil, nil
	clear(c.dest[:]) // the pool keeps no value alive
	p.put(c, err != nil && err != errNoRow)
	return value, exp, sum, err
}

// getRow converts a row of getSQL.
func getRow(dest []driver.Value) (value []byte, exp, sum int64, err error) {
	exp, ok1 := dest[0].(int64)
	sum, ok2 := dest[1].(int64)
	if !ok1 || !ok2 {
		return nil, 0, 0, fmt.Errorf("sqlitestore: an entry row holds expires %T and sum %T, not integers", dest[0], dest[1])
	}
	switch v := dest[2].(type) {
	case []byte:
		value = v
	case string:
		value = []byte(v)
	case nil:
	default:
		return nil, 0, 0, fmt.Errorf("sqlitestore: a BLOB column holds a %T", v)
	}
	return value, exp, sum, nil
}
