package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"weak"

	"github.com/hookbox/hookbox"
)

// deliveryColumns are the columns scanDelivery reads, in order.
const deliveryColumns = `event_id, destination, state, attempts, next_attempt_at, last_error, updated_at, skip_reason, hold_reason`

// leaseSQL reads the lease of one event, for ClaimEvent and CompleteClaims.
const leaseSQL = `SELECT state, lease_owner, lease_until FROM events WHERE id = ?`

// The statements of CompleteClaims write many rows each: a VALUES list of
// a fixed number of rows, prepared once for each size of rowChunks and
// filled with NULL rows up to that size, which the statements skip. A
// batch of n rows takes one statement when n <= 64: the cost of a
// statement (binding, database/sql, the VDBE program's start) is paid per
// batch rather than per completion.
var rowChunks = [...]int{1, 2, 4, 8, 16, 32, 64}

// valuesSQL returns a VALUES list of n rows of cols parameters.
func valuesSQL(n, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return "VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// queueStmts are the queue's statements, prepared once per Store on the
// writer and reused by every transaction: tx.StmtContext finds each one
// already prepared on the writer's single connection (and prepares it
// again on a new connection, should the driver have replaced it).
// Executed directly, SQLite parses and plans a statement at every
// execution, which made recording a completion cost more CPU than
// delivering the event.
//
// They are kept beside the Store, in a table keyed by a weak pointer to
// it, so that the queue's statements live in this file: a cleanup drops
// the entry when the Store is collected, and the writer's Close closes
// the prepared statements with its connection.
type queueStmts struct {
	mu       sync.Mutex // held while preparing
	prepared bool

	claimDue, claim, claimDeliveries, lease *sql.Stmt
	// By size, as rowChunks.
	leases, attempts, deliveries, aggregates chunked
}

// chunked are the statements of one kind, by number of rows (rowChunks).
type chunked [len(rowChunks)]*sql.Stmt

var queueStmtsOf = struct {
	sync.Mutex
	m map[weak.Pointer[Store]]*queueStmts
}{m: make(map[weak.Pointer[Store]]*queueStmts)}

// stmts returns s's queue statements, preparing them on first use. It
// must not be called inside a writer transaction: preparing needs the
// writer's only connection.
func (s *Store) stmts(ctx context.Context) (*queueStmts, error) {
	key := weak.Make(s)
	queueStmtsOf.Lock()
	q := queueStmtsOf.m[key]
	if q == nil {
		q = &queueStmts{}
		queueStmtsOf.m[key] = q
		runtime.AddCleanup(s, func(k weak.Pointer[Store]) {
			queueStmtsOf.Lock()
			delete(queueStmtsOf.m, k)
			queueStmtsOf.Unlock()
		}, key)
	}
	queueStmtsOf.Unlock()

	q.mu.Lock()
	defer q.mu.Unlock()
	if q.prepared {
		return q, nil
	}
	type prep struct {
		stmt  **sql.Stmt
		query string
	}
	preps := []prep{
		{&q.claimDue, claimDueSQL},
		{&q.claim, claimSQL},
		{&q.claimDeliveries, claimDeliveriesSQL},
		{&q.lease, leaseSQL},
	}
	for i, n := range rowChunks {
		preps = append(preps,
			prep{&q.leases[i], leasesSQL(n)},
			prep{&q.attempts[i], insertAttemptsSQL(n)},
			prep{&q.deliveries[i], upsertDeliveriesSQL(n)},
			prep{&q.aggregates[i], aggregatesSQL(n)},
		)
	}
	var done []*sql.Stmt
	for _, p := range preps {
		st, err := s.writer.PrepareContext(ctx, p.query)
		if err != nil {
			for _, st := range done {
				st.Close()
			}
			return nil, fmt.Errorf("prepare: %w", err)
		}
		done = append(done, st)
		*p.stmt = st
	}
	q.prepared = true
	return q, nil
}

// forChunks calls fn with rows (each of cols values) cut in chunks of at
// most the largest of rowChunks, each padded with NULL rows to a size of
// rowChunks, and the index of that size.
func forChunks(rows [][]any, cols int, fn func(size int, args []any) error) error {
	var args []any
	for len(rows) > 0 {
		size := len(rowChunks) - 1
		for i, n := range rowChunks {
			if n >= len(rows) {
				size = i
				break
			}
		}
		take := min(rowChunks[size], len(rows))
		args = args[:0]
		for _, r := range rows[:take] {
			args = append(args, r...)
		}
		for len(args) < rowChunks[size]*cols {
			args = append(args, nil)
		}
		if err := fn(size, args); err != nil {
			return err
		}
		rows = rows[take:]
	}
	return nil
}

// execChunks runs the statements of kind in tx over rows.
func execChunks(ctx context.Context, tx *sql.Tx, kind *chunked, rows [][]any, cols int) error {
	return forChunks(rows, cols, func(size int, args []any) error {
		_, err := tx.StmtContext(ctx, kind[size]).ExecContext(ctx, args...)
		return err
	})
}

func scanDelivery(row scanner) (hookbox.Delivery, error) {
	var (
		d                   hookbox.Delivery
		state               string
		attempts, next, upd int64
	)
	if err := row.Scan(&d.EventID, &d.Destination, &state, &attempts, &next, &d.LastError, &upd, &d.SkipReason, &d.HoldReason); err != nil {
		return d, err
	}
	d.State = hookbox.State(state)
	d.Attempts = int(attempts)
	d.NextAttemptAt = loadTime(next)
	d.UpdatedAt = loadTime(upd)
	return d, nil
}
