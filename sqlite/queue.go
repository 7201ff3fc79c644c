package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/hookbox/hookbox"
)

// claimDueSQL selects the ids of up to ?2 events due at ?1, in claim order.
//
// It reads the partial index events_queue, which is in claim order: no
// sort, and the scan stops after ?2 rows whatever the backlog. A delivering
// event's next_attempt_at is its lease_until, so one range of that index
// holds both the due pending events and the expired leases; the last term
// keeps the leases that end exactly at ?1 (a lease held until t is still
// held at t).
//
// The first term repeats the index's WHERE verbatim: SQLite uses a partial
// index only for a query whose WHERE contains the index's terms. INDEXED BY
// because the planner, without statistics, prefers events_state_next_attempt
// (two equality ranges, then a sort of every due row); it also makes the
// query fail, rather than silently scan, if the index ever stops matching.
const claimDueSQL = `SELECT id FROM events INDEXED BY events_queue
WHERE state IN ('pending', 'delivering')
	AND next_attempt_at <= ?1
	AND (state = 'pending' OR lease_until < ?1)
ORDER BY next_attempt_at, received_at
LIMIT ?2`

// claimSQL leases the events whose ids are in the JSON array ?5.
const claimSQL = `UPDATE events
SET state = 'delivering', lease_owner = ?1, lease_until = ?2, next_attempt_at = ?3, updated_at = ?4
WHERE id IN (SELECT value FROM json_each(?5))
RETURNING ` + listColumns + `, ` + bodyColumn

// deliveryColumns are the columns scanDelivery reads, in order.
const deliveryColumns = `event_id, destination, state, attempts, next_attempt_at, last_error, updated_at`

// claimDeliveriesSQL reads the delivery rows of the events whose ids are in
// the JSON array ?1.
const claimDeliveriesSQL = `SELECT ` + deliveryColumns + ` FROM deliveries
WHERE event_id IN (SELECT value FROM json_each(?1))
ORDER BY event_id, destination`

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

// leasesSQL reads the leases of up to n events (the ids in the VALUES list;
// NULL rows match nothing).
func leasesSQL(n int) string {
	return `SELECT id, state, lease_owner FROM events WHERE id IN (` + valuesSQL(n, 1) + `)`
}

// insertAttemptsSQL appends up to n attempts to the log, in their order
// (ids are the recording order).
func insertAttemptsSQL(n int) string {
	return `INSERT INTO attempts (
	event_id, destination, number, started_at, duration_us, status_code, error, response, ok
) SELECT * FROM (` + valuesSQL(n, 9) + `) WHERE column1 IS NOT NULL`
}

// upsertDeliveriesSQL stores the states of up to n (event, destination)
// pairs; a pair listed twice keeps its last state. (The WHERE clause also
// keeps the parser from reading ON CONFLICT as a join constraint.)
func upsertDeliveriesSQL(n int) string {
	return `INSERT INTO deliveries (` + deliveryColumns + `)
SELECT * FROM (` + valuesSQL(n, 7) + `) WHERE column1 IS NOT NULL
ON CONFLICT (event_id, destination) DO UPDATE SET
	state = excluded.state,
	attempts = excluded.attempts,
	next_attempt_at = excluded.next_attempt_at,
	last_error = excluded.last_error,
	updated_at = excluded.updated_at`
}

// aggregatesSQL derives the state of up to n events (id, completion time)
// from all of their delivery rows (no rows: no destination wanted the
// event, so it is delivered), counts their attempts, and releases their
// leases, stamped with the completion time.
func aggregatesSQL(n int) string {
	return `UPDATE events SET
	state = CASE
		WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id AND d.state = 'pending') THEN 'pending'
		WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id AND d.state = 'dead') THEN 'dead'
		ELSE 'delivered'
	END,
	next_attempt_at = coalesce((SELECT min(d.next_attempt_at) FROM deliveries d WHERE d.event_id = events.id AND d.state = 'pending'), 0),
	attempts = (SELECT count(*) FROM attempts a WHERE a.event_id = events.id),
	lease_owner = '',
	lease_until = 0,
	updated_at = u.column2
FROM (` + valuesSQL(n, 2) + `) AS u
WHERE events.id = u.column1`
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

// ClaimEvents leases up to limit due events to owner until now+lease and
// returns them, oldest due first (by NextAttemptAt, then ReceivedAt), with
// their bodies and every delivery row, delivered ones included so that the
// worker skips those destinations.
//
// The claim is one transaction on the writer connection: claims in this
// process never run at once, and another process waits for SQLite's write
// lock, so no two callers receive the same event while its lease holds.
// The lease end is now+lease truncated to the microsecond; while the event
// is delivering its NextAttemptAt is that lease end (when the queue looks
// at it again if the worker never reports). Durable on return.
//
// A limit <= 0 claims nothing. EINVALID for an empty owner, a lease <= 0 or
// a zero now; EUNAVAILABLE when the store is closed or the database fails.
func (s *Store) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookbox.Claim, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	l, err := newLease(owner, now, lease)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	st, err := s.stmts(ctx)
	if err != nil {
		return nil, unavailable("claim events", err)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, unavailable("claim events: begin", err)
	}
	defer tx.Rollback()

	rows, err := tx.StmtContext(ctx, st.claimDue).QueryContext(ctx, l.now, limit)
	if err != nil {
		return nil, unavailable("claim events", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, unavailable("claim events", err)
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, unavailable("claim events", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	claims, err := l.claim(ctx, tx, st, ids)
	if err != nil {
		return nil, unavailable("claim events", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, unavailable("claim events: commit", err)
	}
	return claims, nil
}

// ClaimEvent leases the event id to owner until now+lease whatever its
// NextAttemptAt (sync mode), and returns it as ClaimEvents does.
//
// ENOTFOUND when no such event exists; ECONFLICT when it is delivered or
// dead, or delivering under a lease that has not expired (at now the lease
// still holds if it ends at now or later). The lease is not reentrant: a
// live lease conflicts even when owner holds it, so two requests of one
// process never deliver the same event at once. EINVALID and EUNAVAILABLE
// as for ClaimEvents.
func (s *Store) ClaimEvent(ctx context.Context, id, owner string, now time.Time, lease time.Duration) (*hookbox.Claim, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	l, err := newLease(owner, now, lease)
	if err != nil {
		return nil, err
	}
	st, err := s.stmts(ctx)
	if err != nil {
		return nil, unavailable("claim event", err)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, unavailable("claim event: begin", err)
	}
	defer tx.Rollback()

	var (
		state, holder string
		until         int64
	)
	err = tx.StmtContext(ctx, st.lease).QueryRowContext(ctx, id).Scan(&state, &holder, &until)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, hookbox.Errorf(hookbox.ENOTFOUND, "event %q not found", id)
	case err != nil:
		return nil, unavailable("claim event", err)
	}
	switch hookbox.State(state) {
	case hookbox.StateDelivered, hookbox.StateDead:
		return nil, hookbox.Errorf(hookbox.ECONFLICT, "event %q is %s", id, state)
	case hookbox.StateDelivering:
		if until >= l.now {
			return nil, hookbox.Errorf(hookbox.ECONFLICT, "event %q is leased", id)
		}
	}
	claims, err := l.claim(ctx, tx, st, []string{id})
	if err != nil {
		return nil, unavailable("claim event", err)
	}
	if len(claims) != 1 {
		return nil, unavailable("claim event", fmt.Errorf("event %q: %d rows claimed", id, len(claims)))
	}
	if err := tx.Commit(); err != nil {
		return nil, unavailable("claim event: commit", err)
	}
	return claims[0], nil
}

// lease is a claim's owner and times, as stored.
type lease struct {
	owner string
	now   int64 // the caller's now, untruncated: compared, never stored
	at    int64 // now as stored, for updated_at
	until int64 // now+lease as stored
}

func newLease(owner string, now time.Time, d time.Duration) (lease, error) {
	switch {
	case owner == "":
		return lease{}, hookbox.Errorf(hookbox.EINVALID, "claim: owner is empty")
	case d <= 0:
		return lease{}, hookbox.Errorf(hookbox.EINVALID, "claim: lease %v is not positive", d)
	case now.IsZero():
		return lease{}, hookbox.Errorf(hookbox.EINVALID, "claim: now is zero")
	}
	n, ok1 := filterTime(now)
	at, ok2 := storedTime(now)
	until, ok3 := storedTime(now.Add(d))
	if !ok1 || !ok2 || !ok3 {
		return lease{}, hookbox.Errorf(hookbox.EINVALID, "claim: time out of range")
	}
	return lease{owner: owner, now: n, at: at, until: until}, nil
}

// claim leases the events ids inside tx and returns them in the order of
// ids, with their deliveries. Ids that do not exist are left out.
func (l lease) claim(ctx context.Context, tx *sql.Tx, st *queueStmts, ids []string) ([]*hookbox.Claim, error) {
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := tx.StmtContext(ctx, st.claim).QueryContext(ctx, l.owner, l.until, l.until, l.at, string(idsJSON))
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*hookbox.Claim, len(ids))
	for rows.Next() {
		ev, err := scanEvent(rows, true)
		if err != nil {
			rows.Close()
			return nil, err
		}
		byID[ev.ID] = &hookbox.Claim{Event: ev, Owner: l.owner, LeaseUntil: loadTime(l.until)}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}

	rows, err = tx.StmtContext(ctx, st.claimDeliveries).QueryContext(ctx, string(idsJSON))
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		if c := byID[d.EventID]; c != nil {
			c.Deliveries = append(c.Deliveries, d)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}

	claims := make([]*hookbox.Claim, 0, len(byID))
	for _, id := range ids {
		if c := byID[id]; c != nil {
			claims = append(claims, c)
		}
	}
	return claims, nil
}

// CompleteClaim records c.Attempts, upserts c.Deliveries, derives the
// event's state from all of its delivery rows (any pending: pending, due at
// the earliest of them; else any dead: dead; else, or with no delivery rows
// at all, delivered), sets its Attempts to the number of attempts recorded
// for it, and releases the lease, in one transaction. Durable on return.
//
// The owner holds the lease while the event is delivering under its name,
// even past the lease end if no one has claimed the event since: the work
// is done and recording it beats delivering again. ECONFLICT, and nothing
// written, when the event is not delivering under c.Owner (another worker
// claimed it after the lease expired, it was released or replayed, or it
// does not exist). EINVALID, and nothing written, for an empty EventID or
// Owner, a zero Now, an attempt or delivery of another event (an empty
// EventID means c's), an empty Destination, an attempt Number < 1 or a
// negative Duration, a delivery State other than pending, delivered or
// dead, or a time out of range. A zero delivery UpdatedAt is stored as
// Now. Attempt times and durations are kept to the microsecond, the
// Response byte for byte.
//
// It is CompleteClaims of one completion.
func (s *Store) CompleteClaim(ctx context.Context, c hookbox.Completion) error {
	errs, err := s.CompleteClaims(ctx, []hookbox.Completion{c})
	if err != nil {
		return err
	}
	return errs[0]
}

// CompleteClaims records each completion of cs as CompleteClaim does, in
// order, all in one transaction on the writer: one commit (one fsync) for
// the batch, with statements prepared once per Store.
//
// errs has one entry per completion: nil, or its own ECONFLICT or
// EINVALID, and then nothing of it is written. Every completion is
// validated before the transaction, against every constraint of the
// schema; should the database still reject a completion's row (a
// constraint this validation missed), the transaction is rolled back and
// run again without it, which gets EINVALID. A non-nil err (EUNAVAILABLE:
// the store is closed, ctx is done, the database fails) means nothing was
// written. An empty cs returns an empty errs.
func (s *Store) CompleteClaims(ctx context.Context, cs []hookbox.Completion) ([]error, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	errs := make([]error, len(cs))
	args := make([]completion, len(cs))
	todo := 0
	for i, c := range cs {
		if args[i], errs[i] = completionArgs(c); errs[i] == nil {
			todo++
		}
	}
	return s.completeClaims(ctx, cs, args, errs, todo)
}

// completeClaims records the completions of cs whose errs entry is nil
// (todo of them), validated into args, and sets their errs entries.
//
// The batch is one transaction of a few statements whatever its size:
// one read of the leases, then the attempts, the deliveries and the
// events' aggregates of the completions whose owner holds the lease, each
// kind written by one multi-row statement. Should the database reject a
// row, the batch runs again one completion at a time, which tells whose
// row it was: that completion gets EINVALID and the batch runs once more
// without it.
func (s *Store) completeClaims(ctx context.Context, cs []hookbox.Completion, args []completion, errs []error, todo int) ([]error, error) {
	if todo == 0 {
		return errs, nil
	}
	st, err := s.stmts(ctx)
	if err != nil {
		return nil, unavailable("complete claims", err)
	}
	results, err := s.completeBatch(ctx, st, cs, args, errs)
	for err != nil {
		if !isConstraint(err) {
			return nil, unavailable("complete claims", err)
		}
		var bad int
		results, bad, err = s.completeEach(ctx, st, cs, args, errs)
		if err != nil && bad >= 0 && isConstraint(err) {
			errs[bad] = &hookbox.Error{Code: hookbox.EINVALID,
				Message: fmt.Sprintf("complete claim of %q: rejected by the database", cs[bad].EventID), Err: err}
			if todo--; todo == 0 {
				return errs, nil
			}
			results, err = s.completeBatch(ctx, st, cs, args, errs)
		} else if err != nil {
			return nil, unavailable("complete claims", err)
		}
	}
	for i, r := range results {
		if errs[i] == nil {
			errs[i] = r
		}
	}
	return errs, nil
}

// completeBatch runs one transaction recording the completions of cs
// whose errs entry is nil, as a few multi-row statements, and returns each
// one's ECONFLICT or nil. On an error nothing is written.
func (s *Store) completeBatch(ctx context.Context, st *queueStmts, cs []hookbox.Completion, args []completion, errs []error) ([]error, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()

	// The leases, read first: only then is anything written.
	var ids [][]any
	for i, c := range cs {
		if errs[i] == nil {
			ids = append(ids, []any{c.EventID})
		}
	}
	exists := make(map[string]bool, len(ids))
	held := make(map[string]string, len(ids)) // delivering event -> lease owner
	err = forChunks(ids, 1, func(size int, args []any) error {
		rows, err := tx.StmtContext(ctx, st.leases[size]).QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, state, owner string
			if err := rows.Scan(&id, &state, &owner); err != nil {
				return err
			}
			exists[id] = true
			if hookbox.State(state) == hookbox.StateDelivering {
				held[id] = owner
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("leases: %w", err)
	}

	results := make([]error, len(cs))
	var attempts, deliveries, aggregates [][]any
	for i, c := range cs {
		if errs[i] != nil {
			continue
		}
		if owner, ok := held[c.EventID]; !ok || owner != c.Owner {
			results[i] = conflict(c, exists[c.EventID])
			continue
		}
		// This completion releases the lease: a later one of the same
		// event in the batch conflicts, as it would after a CompleteClaim.
		delete(held, c.EventID)
		attempts = append(attempts, args[i].attempts...)
		deliveries = append(deliveries, args[i].deliveries...)
		aggregates = append(aggregates, []any{c.EventID, args[i].now})
	}
	if len(aggregates) == 0 {
		return results, nil // nothing to write
	}
	if err := execChunks(ctx, tx, &st.attempts, attempts, 9); err != nil {
		return nil, fmt.Errorf("attempts: %w", err)
	}
	if err := execChunks(ctx, tx, &st.deliveries, deliveries, 7); err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	if err := execChunks(ctx, tx, &st.aggregates, aggregates, 2); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return results, nil
}

// conflict is the ECONFLICT of a completion whose owner does not hold the
// lease.
func conflict(c hookbox.Completion, exists bool) error {
	if !exists {
		return hookbox.Errorf(hookbox.ECONFLICT, "event %q: no lease held by %q (no such event)", c.EventID, c.Owner)
	}
	return hookbox.Errorf(hookbox.ECONFLICT, "event %q: no lease held by %q", c.EventID, c.Owner)
}

// completeEach is completeBatch one completion at a time, the slow path
// that tells which completion a failing statement belonged to: it returns
// its index (-1 for BEGIN or COMMIT) with the error.
func (s *Store) completeEach(ctx context.Context, st *queueStmts, cs []hookbox.Completion, args []completion, errs []error) (results []error, bad int, err error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, -1, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	lease := tx.StmtContext(ctx, st.lease)
	results = make([]error, len(cs))
	for i, c := range cs {
		if errs[i] != nil {
			continue
		}
		var (
			state, owner string
			until        int64
		)
		err := lease.QueryRowContext(ctx, c.EventID).Scan(&state, &owner, &until)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			results[i] = conflict(c, false)
			continue
		case err != nil:
			return nil, i, fmt.Errorf("event %q: lease: %w", c.EventID, err)
		case hookbox.State(state) != hookbox.StateDelivering || owner != c.Owner:
			results[i] = conflict(c, true)
			continue
		}
		if err := execChunks(ctx, tx, &st.attempts, args[i].attempts, 9); err != nil {
			return nil, i, fmt.Errorf("event %q: attempts: %w", c.EventID, err)
		}
		if err := execChunks(ctx, tx, &st.deliveries, args[i].deliveries, 7); err != nil {
			return nil, i, fmt.Errorf("event %q: deliveries: %w", c.EventID, err)
		}
		if err := execChunks(ctx, tx, &st.aggregates, [][]any{{c.EventID, args[i].now}}, 2); err != nil {
			return nil, i, fmt.Errorf("event %q: event: %w", c.EventID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, -1, fmt.Errorf("commit: %w", err)
	}
	return results, -1, nil
}

// completion is a validated Completion: the arguments of each attempt
// insert and delivery upsert, and Now as stored.
type completion struct {
	attempts, deliveries [][]any
	now                  int64
}

// completionArgs validates c and returns its statements' arguments.
func completionArgs(c hookbox.Completion) (completion, error) {
	attempts, deliveries, now, err := completionRows(c)
	return completion{attempts: attempts, deliveries: deliveries, now: now}, err
}

// completionRows validates c and returns the arguments of each attempt
// insert and delivery upsert, and c.Now as stored.
func completionRows(c hookbox.Completion) (attempts, deliveries [][]any, now int64, err error) {
	invalid := func(format string, args ...any) ([][]any, [][]any, int64, error) {
		return nil, nil, 0, hookbox.Errorf(hookbox.EINVALID, "complete claim of %q: %s", c.EventID, fmt.Sprintf(format, args...))
	}
	if c.EventID == "" || c.Owner == "" || c.Now.IsZero() {
		return invalid("event id, owner and now are required")
	}
	now, ok := storedTime(c.Now)
	if !ok {
		return invalid("now out of range")
	}
	for i, a := range c.Attempts {
		switch {
		case a.EventID != "" && a.EventID != c.EventID:
			return invalid("attempt %d is of event %q", i, a.EventID)
		case a.Destination == "":
			return invalid("attempt %d: destination is empty", i)
		case a.Number < 1:
			return invalid("attempt %d: number %d < 1", i, a.Number)
		case a.Duration < 0:
			return invalid("attempt %d: negative duration", i)
		}
		started, ok := storedTime(a.StartedAt)
		if !ok {
			return invalid("attempt %d: started_at out of range", i)
		}
		response := []byte(a.Response)
		if response == nil {
			response = []byte{} // NOT NULL: a nil slice would bind as NULL
		}
		attempts = append(attempts, []any{
			c.EventID, a.Destination, int64(a.Number), started, a.Duration.Microseconds(),
			int64(a.StatusCode), a.Error, response, a.OK,
		})
	}
	for i, d := range c.Deliveries {
		switch {
		case d.EventID != "" && d.EventID != c.EventID:
			return invalid("delivery %d is of event %q", i, d.EventID)
		case d.Destination == "":
			return invalid("delivery %d: destination is empty", i)
		case d.State != hookbox.StatePending && d.State != hookbox.StateDelivered && d.State != hookbox.StateDead:
			return invalid("delivery %d: state %q", i, d.State)
		case d.Attempts < 0:
			return invalid("delivery %d: negative attempts", i)
		}
		next, ok1 := storedTime(d.NextAttemptAt)
		updated, ok2 := storedTime(d.UpdatedAt)
		if !ok1 || !ok2 {
			return invalid("delivery %d: time out of range", i)
		}
		if updated == 0 {
			updated = now
		}
		deliveries = append(deliveries, []any{
			c.EventID, d.Destination, string(d.State), int64(d.Attempts), next, d.LastError, updated,
		})
	}
	return attempts, deliveries, now, nil
}

// ReleaseClaims puts the events among ids that are delivering under owner
// back to pending, without counting an attempt, and returns how many. The
// Queue gives it no clock, so a released event's NextAttemptAt is zero (as
// soon as possible): it is due whatever the claimer's now. UpdatedAt comes
// from Options.NowFunc. EINVALID for an empty owner; EUNAVAILABLE when the
// store is closed or the database fails.
func (s *Store) ReleaseClaims(ctx context.Context, owner string, ids []string) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	if owner == "" {
		return 0, hookbox.Errorf(hookbox.EINVALID, "release claims: owner is empty")
	}
	if len(ids) == 0 {
		return 0, nil
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return 0, fmt.Errorf("release claims: %w", err)
	}
	at, ok := storedTime(s.now())
	if !ok {
		return 0, fmt.Errorf("release claims: clock out of range")
	}
	res, err := s.writer.ExecContext(ctx, `UPDATE events
		SET state = 'pending', next_attempt_at = 0, lease_owner = '', lease_until = 0, updated_at = ?
		WHERE id IN (SELECT value FROM json_each(?)) AND state = 'delivering' AND lease_owner = ?`,
		at, string(idsJSON), owner)
	if err != nil {
		return 0, unavailable("release claims", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, unavailable("release claims", err)
	}
	return int(n), nil
}

// ReplayEvents puts the events f selects back to pending, due at now, with
// ReplayedAt = now (their retry window starts again), and returns how many.
// Every delivery row that is not delivered gets a fresh retry budget
// (Attempts 0, due at now); an event that was delivered gets every one of
// its delivery rows back to pending, so that every destination receives it
// again. Events under a live lease (delivering, lease ending at now or
// later) are skipped; an expired lease is replayed and its worker's
// completion then fails with ECONFLICT. Attempts already recorded stay.
//
// f.IDs, when set, selects exactly those events (unknown ids are ignored);
// otherwise f.State (required), f.Type (exact or "prefix*") and f.Since
// select. One transaction. EINVALID for a filter with neither IDs nor
// State, an unknown State or a time out of range; EUNAVAILABLE when the
// store is closed or the database fails.
func (s *Store) ReplayEvents(ctx context.Context, f hookbox.ReplayFilter, now time.Time) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	nowCmp, ok1 := filterTime(now)
	at, ok2 := storedTime(now)
	if now.IsZero() || !ok1 || !ok2 {
		return 0, hookbox.Errorf(hookbox.EINVALID, "replay: now is zero or out of range")
	}
	var (
		where []string
		args  []any
	)
	switch {
	case len(f.IDs) > 0:
		idsJSON, err := json.Marshal(f.IDs)
		if err != nil {
			return 0, fmt.Errorf("replay: %w", err)
		}
		where = append(where, "id IN (SELECT value FROM json_each(?))")
		args = append(args, string(idsJSON))
	case f.State == "":
		return 0, hookbox.Errorf(hookbox.EINVALID, "replay: select events by id or by state")
	case !f.State.Valid():
		return 0, hookbox.Errorf(hookbox.EINVALID, "replay: unknown state %q", f.State)
	default:
		where = append(where, "state = ?")
		args = append(args, string(f.State))
		where, args = whereType(where, args, f.Type)
		if !f.Since.IsZero() {
			since, ok := filterTime(f.Since)
			if !ok {
				return 0, hookbox.Errorf(hookbox.EINVALID, "replay: since out of range")
			}
			where = append(where, "received_at >= ?")
			args = append(args, since)
		}
	}
	where = append(where, "NOT (state = 'delivering' AND lease_until >= ?)")
	args = append(args, nowCmp)
	// A body that retention emptied leaves nothing to send.
	where = append(where, "(SELECT length(b.body) FROM event_bodies b WHERE b.id = events.body_id) > 0")
	selected := strings.Join(where, " AND ")

	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, unavailable("replay: begin", err)
	}
	defer tx.Rollback()
	// Deliveries first, while events.state still tells which events were
	// delivered.
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries
		SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
		WHERE event_id IN (SELECT id FROM events WHERE `+selected+`)
			AND (state <> 'delivered'
				OR (SELECT e.state FROM events e WHERE e.id = deliveries.event_id) = 'delivered')`,
		append([]any{at, at}, args...)...); err != nil {
		return 0, unavailable("replay: deliveries", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE events
		SET state = 'pending', next_attempt_at = ?, replayed_at = ?, updated_at = ?, lease_owner = '', lease_until = 0
		WHERE `+selected, append([]any{at, at, at}, args...)...)
	if err != nil {
		return 0, unavailable("replay: events", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, unavailable("replay: events", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, unavailable("replay: commit", err)
	}
	return int(n), nil
}

// FindDeliveries returns the delivery rows of an event, by destination
// (compared as bytes); none for an unknown event. It reads from the reader
// pool. EUNAVAILABLE when the store is closed; an uncoded error when the
// database fails.
func (s *Store) FindDeliveries(ctx context.Context, eventID string) ([]hookbox.Delivery, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE event_id = ? ORDER BY destination`, eventID)
	if err != nil {
		return nil, fmt.Errorf("find deliveries: %w", err)
	}
	defer rows.Close()
	var ds []hookbox.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("find deliveries: %w", err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find deliveries: %w", err)
	}
	return ds, nil
}

func scanDelivery(row scanner) (hookbox.Delivery, error) {
	var (
		d                   hookbox.Delivery
		state               string
		attempts, next, upd int64
	)
	if err := row.Scan(&d.EventID, &d.Destination, &state, &attempts, &next, &d.LastError, &upd); err != nil {
		return d, err
	}
	d.State = hookbox.State(state)
	d.Attempts = int(attempts)
	d.NextAttemptAt = loadTime(next)
	d.UpdatedAt = loadTime(upd)
	return d, nil
}

// FindAttempts returns the attempts of an event, oldest StartedAt first,
// ties in recording order; none for an unknown event. It reads from the
// reader pool. EUNAVAILABLE when the store is closed; an uncoded error when
// the database fails.
func (s *Store) FindAttempts(ctx context.Context, eventID string) ([]hookbox.Attempt, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT
		event_id, destination, number, started_at, duration_us, status_code, error, response, ok
		FROM attempts WHERE event_id = ? ORDER BY started_at, id`, eventID)
	if err != nil {
		return nil, fmt.Errorf("find attempts: %w", err)
	}
	defer rows.Close()
	var as []hookbox.Attempt
	for rows.Next() {
		var (
			a                            hookbox.Attempt
			number, started, dur, status int64
			response                     []byte
			ok                           bool
		)
		if err := rows.Scan(&a.EventID, &a.Destination, &number, &started, &dur, &status, &a.Error, &response, &ok); err != nil {
			return nil, fmt.Errorf("find attempts: %w", err)
		}
		a.Number = int(number)
		a.StartedAt = loadTime(started)
		a.Duration = time.Duration(dur) * time.Microsecond
		a.StatusCode = int(status)
		a.Response = string(response)
		a.OK = ok
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find attempts: %w", err)
	}
	return as, nil
}

// The prune statements walk events_received from the oldest event up to
// the bound, a batch at a time. "+state" keeps SQLite from choosing
// events_state_next_attempt instead, which would walk every delivered
// event, old or new. An event replayed since the bound is kept: a replay
// starts its life again (a dead event replayed and dead again must not
// vanish with its new attempts). Emptied bodies keep their rows, so the
// body batches move on from the last (received_at, id) done.
// pruneBatch is how many events one prune transaction handles (a variable
// for the tests).
var pruneBatch = 2000

const (
	pruneRowsSQL = `DELETE FROM events WHERE rowid IN (
	SELECT rowid FROM events WHERE +state IN ('delivered', 'dead') AND received_at < ?1 AND replayed_at < ?1
	ORDER BY received_at LIMIT ?2)`
	pruneBodyIDsSQL = `SELECT received_at, id, body_id FROM events
WHERE +state = 'delivered' AND received_at < ?1 AND replayed_at < ?1 AND (received_at, id) > (?2, ?3)
ORDER BY received_at, id LIMIT ?4`
	pruneBodiesSQL = `UPDATE event_bodies SET body = x'' WHERE id IN (SELECT value FROM json_each(?)) AND length(body) > 0`
)

// PruneEvents deletes the delivered and dead events received before
// rowBefore, with their deliveries and attempts (ON DELETE CASCADE), then
// empties the body of the delivered events received before bodyBefore
// that still have one; the emptied rows stay, so their ids still dedupe.
// A zero bound prunes nothing of its kind. Pending and delivering events
// are never touched. Returns how many bodies were emptied and how many
// rows deleted (disjoint counts), also when a batch fails (EUNAVAILABLE:
// what was committed stays done). Batches of pruneBatch events, each its
// own transaction; EINVALID for a bound out of range, EUNAVAILABLE when the
// store is closed or the database fails.
func (s *Store) PruneEvents(ctx context.Context, bodyBefore, rowBefore time.Time) (bodies, rows int, err error) {
	if s.closed.Load() {
		return 0, 0, errClosed
	}
	bound := func(t time.Time) (int64, bool, error) {
		if t.IsZero() {
			return 0, false, nil
		}
		ns, ok := filterTime(t)
		if !ok {
			return 0, false, hookbox.Errorf(hookbox.EINVALID, "prune: bound out of range")
		}
		return ns, true, nil
	}
	bodyNS, pruneBodies, err := bound(bodyBefore)
	if err != nil {
		return 0, 0, err
	}
	rowNS, pruneRows, err := bound(rowBefore)
	if err != nil {
		return 0, 0, err
	}
	if !pruneBodies && !pruneRows {
		return 0, 0, nil
	}
	// Batches, each its own transaction, so that webhooks, which share
	// the one writer, wait for a batch at most and never for a whole
	// sweep (the first one on a large store, or after --keep-ids was
	// lowered). What was done is counted even when a later batch fails.
	if pruneRows {
		for {
			n, err := s.pruneTx(ctx, func(tx *sql.Tx) (int, error) {
				return affected(tx.ExecContext(ctx, pruneRowsSQL, rowNS, pruneBatch))
			})
			rows += n
			if err != nil {
				return bodies, rows, unavailable("prune: rows", err)
			}
			if n < pruneBatch {
				break
			}
		}
	}
	if pruneBodies {
		var afterAt int64 = -1 << 63
		afterID := ""
		for {
			more := false
			n, err := s.pruneTx(ctx, func(tx *sql.Tx) (int, error) {
				rs, err := tx.QueryContext(ctx, pruneBodyIDsSQL, bodyNS, afterAt, afterID, pruneBatch)
				if err != nil {
					return 0, err
				}
				var ids []int64
				for rs.Next() {
					var id int64
					if err := rs.Scan(&afterAt, &afterID, &id); err != nil {
						rs.Close()
						return 0, err
					}
					ids = append(ids, id)
				}
				if err := errors.Join(rs.Err(), rs.Close()); err != nil {
					return 0, err
				}
				more = len(ids) == pruneBatch
				if len(ids) == 0 {
					return 0, nil
				}
				idsJSON, err := json.Marshal(ids)
				if err != nil {
					return 0, err
				}
				return affected(tx.ExecContext(ctx, pruneBodiesSQL, string(idsJSON)))
			})
			bodies += n
			if err != nil {
				return bodies, rows, unavailable("prune: bodies", err)
			}
			if !more {
				break
			}
		}
	}
	return bodies, rows, nil
}

// affected returns the rows a statement changed.
func affected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// pruneTx runs one prune batch in its own write transaction.
func (s *Store) pruneTx(ctx context.Context, batch func(*sql.Tx) (int, error)) (int, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	n, err := batch(tx)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return n, nil
}

// countEventsSQL counts the events of each state and finds the oldest
// pending one in one statement, so one snapshot. It runs at every metrics
// scrape, so it must not decode every row: the total is a count of the
// table (a walk of the event-id index's entries, no row is read), each
// live state and dead is a range of the covering events_state_next_attempt
// index, and delivered, the bulk of a store, is what remains. The oldest
// unsettled event (pending or delivering) reads those two ranges only. On a store of 1M delivered and 80k
// pending events this took 55-68 ms where a GROUP BY over the whole table,
// reading received_at from every row, took 392-625 ms (one sitting).
const countEventsSQL = `SELECT
	(SELECT count(*) FROM events),
	(SELECT count(*) FROM events WHERE state = 'pending'),
	(SELECT count(*) FROM events WHERE state = 'delivering'),
	(SELECT count(*) FROM events WHERE state = 'dead'),
	(SELECT min(received_at) FROM events WHERE state IN ('pending', 'delivering'))`

// CountEvents returns the number of events in each state, with an entry
// (maybe 0) for every state of hookbox.States, and the receive time of the
// oldest pending or delivering event (zero if none), from one snapshot of the reader
// pool (countEventsSQL). EUNAVAILABLE when the store is closed; an uncoded
// error when the database fails.
func (s *Store) CountEvents(ctx context.Context) (map[hookbox.State]int, time.Time, error) {
	if s.closed.Load() {
		return nil, time.Time{}, errClosed
	}
	var (
		total, pending, delivering, dead int
		oldestNS                         *int64
	)
	err := s.reader.QueryRowContext(ctx, countEventsSQL).Scan(&total, &pending, &delivering, &dead, &oldestNS)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("count events: %w", err)
	}
	// The schema's CHECK admits the four states only, so the rest of the
	// table is delivered.
	counts := hookbox.CountStates(total, pending, delivering, dead)
	var oldest time.Time
	if oldestNS != nil {
		oldest = loadTime(*oldestNS)
	}
	return counts, oldest, nil
}
