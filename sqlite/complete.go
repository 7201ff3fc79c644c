package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hookbox/hookbox"
)

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
SELECT * FROM (` + valuesSQL(n, 9) + `) WHERE column1 IS NOT NULL
ON CONFLICT (event_id, destination) DO UPDATE SET
	state = excluded.state,
	attempts = excluded.attempts,
	next_attempt_at = excluded.next_attempt_at,
	last_error = excluded.last_error,
	updated_at = excluded.updated_at,
	skip_reason = excluded.skip_reason,
	hold_reason = excluded.hold_reason`
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
	if err := execChunks(ctx, tx, &st.deliveries, deliveries, 9); err != nil {
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
		if err := execChunks(ctx, tx, &st.deliveries, args[i].deliveries, 9); err != nil {
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
		case d.SkipReason != "" && d.State != hookbox.StateDelivered:
			return invalid("delivery %d: skipped but %s", i, d.State)
		case d.HoldReason != "" && d.State == hookbox.StateDelivered:
			return invalid("delivery %d: delivered but held (%q)", i, d.HoldReason)
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
			c.EventID, d.Destination, string(d.State), int64(d.Attempts), next, d.LastError, updated, d.SkipReason, d.HoldReason,
		})
	}
	return attempts, deliveries, now, nil
}
