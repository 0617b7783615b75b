package sqlite

import (
	"context"
	"database/sql/driver"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"
)

// maxCachedStmts bounds the prepared statements one connection keeps. The
// store's queries are constant strings (a few dozen in all), so the bound is
// never reached in practice; past it a query is prepared for one use, as
// without the cache.
const maxCachedStmts = 256

// connector opens modernc.org/sqlite connections wrapped in a per-connection
// statement cache. database/sql over this driver prepares every query anew
// (parsing the SQL text, planning it), which was a fifth to a third of the
// server's CPU; a statement prepared once per connection and reset between
// uses costs only its binding and stepping.
type connector struct {
	dsn    string
	d      sqlite.Driver
	opened *atomic.Uint64 // if set, counts the connections opened
}

func (c *connector) Connect(context.Context) (driver.Conn, error) {
	inner, err := c.d.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	if c.opened != nil {
		c.opened.Add(1)
	}
	return &cachedConn{inner: inner.(innerConn), stmts: make(map[string]*cachedStmt)}, nil
}

func (c *connector) Driver() driver.Driver { return &c.d }

// innerConn is what cachedConn needs of a modernc.org/sqlite connection.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.SessionResetter
	driver.Validator
	driver.Pinger
}

// stmtConn is what a cached statement must offer.
type stmtConn interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

type cachedStmt struct {
	st stmtConn
	// busy is set while rows read from st are open: SQLite steps one
	// statement through one result at a time, so a second use of the same
	// query before those rows close (a query inside a loop over another
	// result of the same text) gets a statement of its own.
	busy bool
}

// cachedConn is one SQLite connection and its prepared statements.
// database/sql uses a connection from one goroutine at a time (calls on it,
// rows' Close included, hold the connection's lock), so the map needs no
// lock of its own; the mutex only guards against a driver that would not.
type cachedConn struct {
	inner innerConn
	mu    sync.Mutex
	stmts map[string]*cachedStmt
}

var (
	_ driver.Conn               = (*cachedConn)(nil)
	_ driver.ConnBeginTx        = (*cachedConn)(nil)
	_ driver.ConnPrepareContext = (*cachedConn)(nil)
	_ driver.ExecerContext      = (*cachedConn)(nil)
	_ driver.QueryerContext     = (*cachedConn)(nil)
	_ driver.SessionResetter    = (*cachedConn)(nil)
	_ driver.Validator          = (*cachedConn)(nil)
	_ driver.Pinger             = (*cachedConn)(nil)
)

// take returns the cached statement for query, preparing it on first use,
// marked busy; nil when the query must run uncached (already busy, cache
// full, or not a single statement the driver can keep).
func (c *cachedConn) take(ctx context.Context, query string) (*cachedStmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil, nil
		}
		cs.busy = true
		return cs, nil
	}
	if len(c.stmts) >= maxCachedStmts {
		return nil, nil
	}
	st, err := c.inner.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	sc, ok := st.(stmtConn)
	if !ok {
		st.Close()
		return nil, nil
	}
	cs := &cachedStmt{st: sc, busy: true}
	c.stmts[query] = cs
	return cs, nil
}

func (c *cachedConn) release(cs *cachedStmt) {
	c.mu.Lock()
	cs.busy = false
	c.mu.Unlock()
}

func (c *cachedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.inner.ExecContext(ctx, query, args)
	}
	defer c.release(cs)
	return cs.st.ExecContext(ctx, args)
}

func (c *cachedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.inner.QueryContext(ctx, query, args)
	}
	rows, err := cs.st.QueryContext(ctx, args)
	if err != nil {
		c.release(cs)
		return nil, err
	}
	return &cachedRows{Rows: rows, c: c, cs: cs}, nil
}

// cachedRows frees its statement for the next use when closed.
type cachedRows struct {
	driver.Rows
	c    *cachedConn
	cs   *cachedStmt
	done bool
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if !r.done {
		r.done = true
		r.c.release(r.cs)
	}
	return err
}

func (c *cachedConn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }
func (c *cachedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.inner.PrepareContext(ctx, query)
}
func (c *cachedConn) Begin() (driver.Tx, error) {
	return c.inner.BeginTx(context.Background(), driver.TxOptions{})
}
func (c *cachedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.inner.BeginTx(ctx, opts)
}
func (c *cachedConn) ResetSession(ctx context.Context) error { return c.inner.ResetSession(ctx) }
func (c *cachedConn) IsValid() bool                          { return c.inner.IsValid() }
func (c *cachedConn) Ping(ctx context.Context) error         { return c.inner.Ping(ctx) }

// Close finalizes the cached statements, then closes the connection
// (SQLite refuses to close a connection with statements left).
func (c *cachedConn) Close() error {
	c.mu.Lock()
	for q, cs := range c.stmts {
		cs.st.Close()
		delete(c.stmts, q)
	}
	c.mu.Unlock()
	return c.inner.Close()
}
