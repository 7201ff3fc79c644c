package postgres

import (
	"context"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Listen timing.
const (
	// listenBackoffMin and listenBackoffMax bound the wait between two
	// attempts to re-establish the listening connection; the wait doubles
	// from the first to the second while the database stays away.
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
	// listenCheck is how long the listening connection may stay silent
	// before it is pinged: a connection cut without a FIN or RST (a
	// network partition) is noticed within listenCheck+pingTimeout.
	listenCheck = 15 * time.Second
)

// Listen calls wake whenever events may have become due on the store's
// schema, from any Store, on any replica: on each notification of Channel
// (sent when a transaction that inserted new events, released claims or
// replayed events commits), and once each time the listening connection
// is established, first and after a reconnection, because events may have
// arrived while nothing listened. Wakes are hints, not counts: several
// commits may produce one wake, and a wake may find nothing due.
//
// Listen holds one dedicated connection, outside the pool, and blocks
// until ctx is done or the store is closed, then returns nil. When the
// connection is lost (the database restarts, the backend is terminated,
// the network fails) it reconnects with a backoff of 100 ms doubling up to
// 5 s, calling OnListenErrorFunc with each failure. Callers keep polling as
// the fallback while it is down.
//
// wake is called from Listen's goroutine and must not block: a
// non-blocking send on a channel of capacity 1 (deliver.Worker.Wake) is the
// intended use.
//
// Run it in its own goroutine: go s.Listen(ctx, worker.Wake). It fails at
// once with EINVALID for a nil wake and EUNAVAILABLE when the store is
// already closed. It is the store's hookbox.Notifier.
func (s *Store) Listen(ctx context.Context, wake func()) error {
	if wake == nil {
		return hookbox.Errorf(hookbox.EINVALID, "listen: nil wake func")
	}
	if s.closed.Load() {
		return errClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	backoff := listenBackoffMin
	for {
		listened, err := s.listen(ctx, wake)
		if ctx.Err() != nil {
			return nil
		}
		if listened {
			backoff = listenBackoffMin
		}
		if s.opts.OnListenErrorFunc != nil {
			s.opts.OnListenErrorFunc(err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

// listen runs one listening connection until it fails or ctx is done.
// listened reports whether LISTEN succeeded.
func (s *Store) listen(ctx context.Context, wake func()) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return false, err
	}
	defer closeConn(conn)
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return false, err
	}
	wake()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if n.Channel == Channel && n.Payload == s.schema {
				wake()
			}
		case ctx.Err() != nil:
			return true, ctx.Err()
		case pgconn.Timeout(err) && !conn.IsClosed():
			// Silence: make sure the connection still carries notifications.
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, err
			}
		default:
			return true, err
		}
	}
}
