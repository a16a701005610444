package sqlitestore

import (
	"context"
	"errors"
	"sync/atomic"
)

// getSQL is Get's query: the value of a live key with what checks it.
const getSQL = `SELECT expires, sum, value FROM entries WHERE key = ? AND (expires = 0 OR expires > ?)`

// chunkSQL is a stream reader's query: one chunk of a stream with its
// checksum.
const chunkSQL = `SELECT sum, data FROM chunks WHERE stream_id = ? AND seq = ?`

// errNoRow is what getPool.lookup returns for a missing or expired key.
var errNoRow = errors.New("sqlitestore: no such row")

// getPool holds the reader connections Get runs its one query on: SQLite
// handles of their own (libConn, made with the library modernc.org/sqlite
// drives, from the readers' DSN), each with getSQL prepared on it, beside
// the database/sql pool the other reads use.
//
// Through database/sql a hit cost 2.6 times a bare SELECT of the same row
// (issue 13): the store's reads run under the core's per-operation deadline,
// and for a query under a context that can end database/sql starts a
// goroutine to watch it (Rows.awaitDone) and the driver another (to
// interrupt the statement), besides database/sql's bookkeeping (the Stmt's
// per-connection statements, argument conversion, Rows, Row, Scan) and the
// driver's (column names fetched per query, every value boxed): 34 more
// allocations per hit than now. Here a hit takes a free connection (a
// channel receive), binds, steps, reads two integers and copies the value
// once, and resets the statement.
//
// The context is honoured as before, where it could have an effect: a done
// context fails the read before it starts and after it ends (the driver's
// interrupt only ever stopped a statement between steps of SQLite's virtual
// machine, never inside a lock wait or a read from the file, where a point
// query spends its time), and waiting for a free connection ends with it.
//
// A second getPool, with chunkSQL prepared, serves the chunk reads of
// streams: each reader copies its chunks into one buffer of its own, where
// database/sql's driver made a new 256 KiB slice per chunk (a 1 GiB replay
// left 1 GiB of garbage behind it, and its peak RSS moved with how far the
// collector lagged).
type getPool struct {
	dsn   string
	query string // the query prepared on every connection
	max   int32
	free  chan *getConn // idle connections; capacity max

	open   atomic.Int32 // connections open, idle or in use
	closed atomic.Bool
}

// getConn is one connection of a getPool: the SQLite library's own handle,
// with the pool's query prepared (see conn.go).
type getConn = libConn

// newGetPool returns a pool of at most max connections to the database of
// dsn, each with query prepared: getSQL or chunkSQL.
func newGetPool(dsn, query string, max int) *getPool {
	return &getPool{dsn: dsn, query: query, max: int32(max), free: make(chan *getConn, max)}
}

// dial opens a connection and prepares the pool's query on it.
func (p *getPool) dial() (*getConn, error) { return openLibConn(p.dsn, p.query) }

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

// lookup runs getSQL for key kb at time now (Unix ns) on a connection it
// takes from the pool. On success it returns the connection still on the
// row, view the value in SQLite's memory (nil when empty): the caller hands
// the connection back with done once it has used view. A missing or expired
// key gives errNoRow; on any error the connection is back already.
func (p *getPool) lookup(ctx context.Context, kb []byte, now int64) (c *getConn, view []byte, exp, sum int64, err error) {
	if c, err = p.take(ctx); err != nil {
		return nil, nil, 0, 0, err
	}
	if view, exp, sum, err = c.row(kb, now); err != nil {
		p.done(c, err)
		return nil, nil, 0, 0, err
	}
	return c, view, exp, sum, nil
}

// done ends the statement c was left on and gives c back, closing it after
// an error a fresh connection may not meet (not a miss, not busy).
func (p *getPool) done(c *getConn, err error) {
	c.reset()
	p.put(c, err != nil && err != errNoRow && !isBusy(err))
}

// chunk runs chunkSQL for chunk seq of stream id (a pool made with chunkSQL),
// copying the chunk into dst when it has room for it; a missing chunk gives
// errNoRow.
func (p *getPool) chunk(ctx context.Context, id, seq int64, dst []byte) (data []byte, sum int64, err error) {
	c, err := p.take(ctx)
	if err != nil {
		return nil, 0, err
	}
	data, sum, err = c.chunk(id, seq, dst)
	p.done(c, err)
	return data, sum, err
}
