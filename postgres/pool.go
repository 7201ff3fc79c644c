package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// pool is a small pool of pgx connections: at most max open at a time,
// idle ones reused last-in first-out, broken ones dropped and replaced by
// a new dial on the next acquire. That is all the Store needs of pgxpool,
// whose puddle dependency go.mod does not list; it can replace this file
// without changing anything else.
//
// A connection that failed is closed by pgx itself (a network error, a
// canceled context, the server going away); release drops it, so the pool
// reconnects by itself when the database returns. A connection idle for
// longer than pingIdle is pinged before reuse, so the first query after
// an outage does not run on a dead socket.
type pool struct {
	cfg      *pgx.ConnConfig
	slots    chan struct{} // one token per connection open or being opened
	pingIdle time.Duration

	mu     sync.Mutex
	idle   []idleConn // most recently released last
	closed bool
}

type idleConn struct {
	conn  *pgx.Conn
	since time.Time
}

// pingIdle is pgxpool's default: an idle connection is checked before
// reuse once it has been idle this long.
const pingIdle = time.Second

// pingTimeout bounds the check of an idle connection.
const pingTimeout = 2 * time.Second

var errPoolClosed = errors.New("pool closed")

func newPool(cfg *pgx.ConnConfig, max int) *pool {
	return &pool{cfg: cfg, slots: make(chan struct{}, max), pingIdle: pingIdle}
}

// acquire returns a connection ready for a query, waiting for a free slot
// while max connections are in use. The caller must release it.
func (p *pool) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			<-p.slots
			return nil, errPoolClosed
		}
		var ic idleConn
		if n := len(p.idle); n > 0 {
			ic = p.idle[n-1]
			p.idle[n-1] = idleConn{}
			p.idle = p.idle[:n-1]
		}
		p.mu.Unlock()

		if ic.conn == nil {
			conn, err := pgx.ConnectConfig(ctx, p.cfg)
			if err != nil {
				<-p.slots
				return nil, err
			}
			return conn, nil
		}
		if ic.conn.IsClosed() {
			continue
		}
		if time.Since(ic.since) >= p.pingIdle {
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := ic.conn.Ping(pctx)
			cancel()
			if err != nil {
				closeConn(ic.conn)
				if ctx.Err() != nil {
					<-p.slots
					return nil, ctx.Err()
				}
				continue
			}
		}
		return ic.conn, nil
	}
}

// release gives conn back. A connection that is closed, busy, or inside a
// transaction (its statement failed midway) is not reused.
func (p *pool) release(conn *pgx.Conn) {
	reuse := !conn.IsClosed() && !conn.PgConn().IsBusy() && conn.PgConn().TxStatus() == 'I'
	p.mu.Lock()
	if reuse && !p.closed {
		p.idle = append(p.idle, idleConn{conn: conn, since: time.Now()})
		conn = nil
	}
	p.mu.Unlock()
	if conn != nil {
		closeConn(conn)
	}
	<-p.slots
}

// close closes the idle connections and makes acquire fail; connections in
// use are closed when they are released.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, ic := range idle {
		closeConn(ic.conn)
	}
}

// closeConn closes conn, sending Terminate when the socket still works,
// without waiting long for a server that does not answer.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
