package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// The statements that record completions take the batch's completions as
// arrays: $1 their index in the batch, $2 their event ids, $3 their
// owners. The recorded CTE picks those that record: for each event, the
// first completion (in batch order) whose owner holds the lease, as
// successive CompleteClaim calls would. The events are locked first
// (leasesSQL), so every statement of the batch picks the same ones, and
// CompleteClaims tells which from the leases it read.
const recordedCTE = `WITH recorded AS (
	SELECT DISTINCT ON (c.id) c.idx
	FROM unnest($1::int8[], $2::text[], $3::text[]) AS c (idx, id, owner)
	JOIN events e ON e.id = c.id AND e.state = 'delivering' AND e.lease_owner = c.owner
	ORDER BY c.id, c.idx
)
`

// leasesSQL locks the events of $1 in id order (concurrent batches lock
// in the same order) and returns their leases.
const leasesSQL = `SELECT id, state, lease_owner FROM events WHERE id = ANY($1) ORDER BY id FOR UPDATE`

// insertAttemptsSQL appends the attempts of the recorded completions ($4:
// the completion of each attempt) in the order of the arrays, so that ids
// (the recording order) break ties on started_at as the workers listed
// them.
const insertAttemptsSQL = recordedCTE + `INSERT INTO attempts (
	event_id, destination, number, started_at, duration_us, status_code, error, response, ok
)
SELECT event_id, destination, number, started_at, duration_us, status_code, error, response, ok
FROM unnest(
	$4::int8[], $5::text[], $6::text[], $7::int8[], $8::timestamptz[], $9::int8[], $10::int8[], $11::text[], $12::bytea[], $13::bool[]
) WITH ORDINALITY AS a (idx, event_id, destination, number, started_at, duration_us, status_code, error, response, ok, n)
WHERE a.idx IN (SELECT idx FROM recorded)
ORDER BY n`

// upsertDeliveriesSQL stores the delivery rows of the recorded
// completions ($4: the completion of each row); a completion lists a
// destination once (completionArgs keeps the last), and one statement
// cannot upsert a row twice.
const upsertDeliveriesSQL = recordedCTE + `INSERT INTO deliveries (` + deliveryColumns + `)
SELECT event_id, destination, state, attempts, next_attempt_at, last_error, updated_at, skip_reason, hold_reason
FROM unnest(
	$4::int8[], $5::text[], $6::text[], $7::text[], $8::int8[], $9::timestamptz[], $10::text[], $11::timestamptz[], $12::text[], $13::text[]
) AS d (idx, event_id, destination, state, attempts, next_attempt_at, last_error, updated_at, skip_reason, hold_reason)
WHERE d.idx IN (SELECT idx FROM recorded)
ON CONFLICT (event_id, destination) DO UPDATE SET
	state = excluded.state,
	attempts = excluded.attempts,
	next_attempt_at = excluded.next_attempt_at,
	last_error = excluded.last_error,
	updated_at = excluded.updated_at,
	skip_reason = excluded.skip_reason,
	hold_reason = excluded.hold_reason`

// completeSQL derives the aggregate state of the events of the recorded
// completions from all of their delivery rows, as the hookbox.Queue
// comment describes (no rows: no destination wanted the event, so it is
// delivered), counts their attempts, and releases their leases, stamped
// with the completion's now ($4, one per completion).
const completeSQL = recordedCTE + `UPDATE events e
SET state = CASE
		WHEN agg.pending THEN 'pending'
		WHEN agg.dead THEN 'dead'
		ELSE 'delivered'
	END,
	next_attempt_at = coalesce(agg.next, '-infinity'),
	attempts = (SELECT count(*) FROM attempts a WHERE a.event_id = e.id),
	lease_owner = '',
	lease_until = '-infinity',
	updated_at = c.now
FROM unnest($1::int8[], $2::text[], $4::timestamptz[]) AS c (idx, id, now)
CROSS JOIN LATERAL (
	SELECT bool_or(d.state = 'pending') AS pending,
		bool_or(d.state = 'dead') AS dead,
		min(d.next_attempt_at) FILTER (WHERE d.state = 'pending') AS next
	FROM deliveries d
	WHERE d.event_id = c.id
) agg
WHERE e.id = c.id AND c.idx IN (SELECT idx FROM recorded)`

// CompleteClaim records c.Attempts, upserts c.Deliveries, derives the
// event's state from all of its delivery rows (any pending: StatePending,
// due at the earliest of them; else any dead: StateDead; else, or with no
// delivery rows at all, StateDelivered), sets its Attempts to the number
// of attempts recorded for it, and releases the lease, in one transaction.
// Committed on return.
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
// dead, negative delivery Attempts, or a time out of range. EUNAVAILABLE
// when the store is closed or the database cannot answer.
//
// A destination reported twice keeps its last delivery. A zero delivery
// UpdatedAt is stored as Now. Attempt times and durations are kept to the
// microsecond, the Response byte for byte; attempt and delivery errors
// with invalid UTF-8 replaced and U+0000 removed (PostgreSQL text holds
// neither).
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
// order, all in one transaction and one round trip: a pgx.Batch, run by
// PostgreSQL as one implicit transaction, that locks the batch's events
// and reads their leases, then writes every attempt, every delivery and
// every event's aggregate with one statement each, for the completions
// whose owner holds the lease.
//
// errs has one entry per completion: nil, or its own ECONFLICT or
// EINVALID, and then nothing of it is written. Every completion is
// validated before the transaction, against every constraint of the
// schema; should the database still reject a row (a constraint this
// validation missed), the batch is run again with each completion under
// its own savepoint, and the one rejected gets EINVALID. A non-nil err
// (EUNAVAILABLE when the store is closed or the database cannot answer)
// means nothing was written. An empty cs returns an empty errs.
func (s *Store) CompleteClaims(ctx context.Context, cs []hookbox.Completion) ([]error, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	errs := make([]error, len(cs))
	args := make([]completion, len(cs))
	for i, c := range cs {
		args[i], errs[i] = completionArgs(c)
	}
	return s.completeClaims(ctx, cs, args, errs)
}

// completeClaims records the completions of cs whose errs entry is nil,
// validated into args, and sets their errs entries.
func (s *Store) completeClaims(ctx context.Context, cs []hookbox.Completion, args []completion, errs []error) ([]error, error) {
	var (
		ids   []string
		batch completion
	)
	for i, c := range cs {
		if errs[i] == nil {
			ids = append(ids, c.EventID)
			batch.add(int64(i), c, &args[i])
		}
	}
	if len(ids) == 0 {
		return errs, nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	var results []error
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue(leasesSQL, ids)
		batch.queue(b)
		br := conn.SendBatch(ctx, b)
		rows, err := br.Query()
		if err == nil {
			results, err = leaseResults(rows, cs, errs)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil && isConstraint(err) {
		// Find the completion the database rejects.
		err = s.inTx(ctx, "complete claims", func(tx pgx.Tx) error {
			var err error
			results, err = completeIsolated(ctx, tx, cs, args, errs, ids)
			return err
		})
	}
	if err != nil {
		return nil, dbError("complete claims", err)
	}
	for i, r := range results {
		if errs[i] == nil {
			errs[i] = r
		}
	}
	return errs, nil
}

// leaseResults reads the rows of leasesSQL and returns the outcome of each
// completion of cs whose errs entry is nil: nil when it records (the
// recorded CTE's choice), else ECONFLICT.
func leaseResults(rows pgx.Rows, cs []hookbox.Completion, errs []error) ([]error, error) {
	exists := make(map[string]bool, len(cs))
	held := make(map[string]string, len(cs)) // delivering event -> lease owner
	var id, state, owner string
	if _, err := pgx.ForEachRow(rows, []any{&id, &state, &owner}, func() error {
		exists[id] = true
		if hookbox.State(state) == hookbox.StateDelivering {
			held[id] = owner
		}
		return nil
	}); err != nil {
		return nil, err
	}
	results := make([]error, len(cs))
	for i, c := range cs {
		if errs[i] != nil {
			continue
		}
		if owner, ok := held[c.EventID]; !ok || owner != c.Owner {
			if !exists[c.EventID] {
				results[i] = hookbox.Errorf(hookbox.ECONFLICT, "event %q: not leased by %q (no such event)", c.EventID, c.Owner)
			} else {
				results[i] = hookbox.Errorf(hookbox.ECONFLICT, "event %q: not leased by %q", c.EventID, c.Owner)
			}
			continue
		}
		// This completion releases the lease: a later one of the same
		// event in the batch conflicts, as it would after a CompleteClaim.
		delete(held, c.EventID)
	}
	return results, nil
}

// completeIsolated records, inside tx, the completions of cs whose errs
// entry is nil, each under its own savepoint: one that the database
// rejects with a constraint violation gets EINVALID instead of failing
// the batch. ids are their event ids, sorted, without repeats.
func completeIsolated(ctx context.Context, tx pgx.Tx, cs []hookbox.Completion, args []completion, errs []error, ids []string) ([]error, error) {
	rows, err := tx.Query(ctx, leasesSQL, ids)
	if err != nil {
		return nil, err
	}
	results, err := leaseResults(rows, cs, errs)
	if err != nil {
		return nil, err
	}
	for i, c := range cs {
		if errs[i] != nil || results[i] != nil {
			continue
		}
		var one completion
		one.add(int64(i), c, &args[i])
		b := &pgx.Batch{}
		one.queue(b)
		sp, err := tx.Begin(ctx)
		if err != nil {
			return nil, err
		}
		err = sp.SendBatch(ctx, b).Close()
		if err == nil {
			err = sp.Commit(ctx)
		}
		if err != nil {
			if !isConstraint(err) {
				return nil, err
			}
			if rerr := sp.Rollback(ctx); rerr != nil {
				return nil, rerr
			}
			results[i] = &hookbox.Error{Code: hookbox.EINVALID,
				Message: fmt.Sprintf("completion of %q: rejected by the database", c.EventID), Err: err}
		}
	}
	return results, nil
}

// queue adds the statements that record c's completions to b.
func (c *completion) queue(b *pgx.Batch) {
	cs := &c.completions
	if a := &c.attempts; len(a.ids) > 0 {
		b.Queue(insertAttemptsSQL, cs.idxs, cs.ids, cs.owners,
			a.idxs, a.ids, a.dests, a.numbers, a.started, a.durations, a.codes, a.errors, a.responses, a.oks)
	}
	if d := &c.deliveries; len(d.ids) > 0 {
		b.Queue(upsertDeliveriesSQL, cs.idxs, cs.ids, cs.owners,
			d.idxs, d.ids, d.dests, d.states, d.attempts, d.next, d.errors, d.updated, d.skips, d.holds)
	}
	b.Queue(completeSQL, cs.idxs, cs.ids, cs.owners, cs.nows)
}

// isConstraint reports whether err is an integrity constraint violation
// (SQLSTATE class 23): a row's data refused, not the database failing.
func isConstraint(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "23")
}

// completion holds validated completions as the columns of the statements
// that record them: one completion from completionArgs, or a batch of
// them (add), each row tagged with its completion's index in the batch.
type completion struct {
	completions struct {
		idxs        []int64
		ids, owners []string
		nows        []pgtype.Timestamptz
	}
	attempts struct {
		idxs               []int64
		ids, dests, errors []string
		numbers, durations []int64
		started            []pgtype.Timestamptz
		codes              []int64
		responses          [][]byte
		oks                []bool
	}
	deliveries struct {
		idxs                                     []int64
		ids, dests, states, errors, skips, holds []string
		attempts                                 []int64
		next, updated                            []pgtype.Timestamptz
	}
}

// add appends completion idx of a batch, c validated into o, to b.
func (b *completion) add(idx int64, c hookbox.Completion, o *completion) {
	bc := &b.completions
	bc.idxs, bc.ids, bc.owners, bc.nows = append(bc.idxs, idx), append(bc.ids, c.EventID), append(bc.owners, c.Owner), append(bc.nows, pgTime(c.Now))
	a, oa := &b.attempts, &o.attempts
	for range oa.ids {
		a.idxs = append(a.idxs, idx)
	}
	a.ids, a.dests, a.errors = append(a.ids, oa.ids...), append(a.dests, oa.dests...), append(a.errors, oa.errors...)
	a.numbers, a.durations = append(a.numbers, oa.numbers...), append(a.durations, oa.durations...)
	a.started, a.codes = append(a.started, oa.started...), append(a.codes, oa.codes...)
	a.responses, a.oks = append(a.responses, oa.responses...), append(a.oks, oa.oks...)
	d, od := &b.deliveries, &o.deliveries
	for range od.ids {
		d.idxs = append(d.idxs, idx)
	}
	d.ids, d.dests, d.states, d.errors = append(d.ids, od.ids...), append(d.dests, od.dests...), append(d.states, od.states...), append(d.errors, od.errors...)
	d.attempts, d.next, d.updated = append(d.attempts, od.attempts...), append(d.next, od.next...), append(d.updated, od.updated...)
	d.skips, d.holds = append(d.skips, od.skips...), append(d.holds, od.holds...)
}

// completionArgs validates c and returns its rows.
func completionArgs(c hookbox.Completion) (completion, error) {
	var out completion
	if c.EventID == "" || !validText(c.EventID) {
		return out, hookbox.Errorf(hookbox.EINVALID, "completion: event id %q: want non-empty text", c.EventID)
	}
	if c.Owner == "" || !validText(c.Owner) {
		return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: owner %q: want non-empty text", c.EventID, c.Owner)
	}
	if c.Now.IsZero() || !inRange(c.Now) {
		return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: now is zero or out of range", c.EventID)
	}
	a := &out.attempts
	for _, at := range c.Attempts {
		if at.EventID != "" && at.EventID != c.EventID {
			return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: attempt of event %q", c.EventID, at.EventID)
		}
		if at.Destination == "" || !validText(at.Destination) {
			return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: attempt destination %q: want non-empty text", c.EventID, at.Destination)
		}
		if !inRange(at.StartedAt) {
			return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: attempt time out of range", c.EventID)
		}
		if at.Number < 1 {
			return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: attempt number %d < 1", c.EventID, at.Number)
		}
		if at.Duration < 0 {
			return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: negative attempt duration", c.EventID)
		}
		a.ids, a.dests, a.numbers = append(a.ids, c.EventID), append(a.dests, at.Destination), append(a.numbers, int64(at.Number))
		a.started, a.durations = append(a.started, pgTime(at.StartedAt)), append(a.durations, at.Duration.Microseconds())
		a.codes, a.errors = append(a.codes, int64(at.StatusCode)), append(a.errors, cleanText(at.Error))
		a.responses = append(a.responses, append([]byte{}, at.Response...)) // never nil: NOT NULL
		a.oks = append(a.oks, at.OK)
	}
	if len(c.Deliveries) > 0 {
		// The last report of a destination wins: one statement cannot
		// upsert a row twice.
		last := make(map[string]int, len(c.Deliveries))
		for i, d := range c.Deliveries {
			if d.EventID != "" && d.EventID != c.EventID {
				return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: delivery of event %q", c.EventID, d.EventID)
			}
			if d.Destination == "" || !validText(d.Destination) {
				return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: delivery destination %q: want non-empty text", c.EventID, d.Destination)
			}
			switch d.State {
			case hookbox.StatePending, hookbox.StateDelivered, hookbox.StateDead:
			default:
				return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: delivery state %q: want pending, delivered or dead", c.EventID, d.State)
			}
			if d.Attempts < 0 {
				return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: negative delivery attempts", c.EventID)
			}
			if d.HoldReason != "" && d.State == hookbox.StateDelivered {
				return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: delivery delivered but held", c.EventID)
			}
			if d.SkipReason != "" && d.State != hookbox.StateDelivered {
				return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: delivery skipped but %s", c.EventID, d.State)
			}
			if !inRange(d.NextAttemptAt) || !inRange(d.UpdatedAt) {
				return out, hookbox.Errorf(hookbox.EINVALID, "completion of %q: delivery time out of range", c.EventID)
			}
			last[d.Destination] = i
		}
		dl := &out.deliveries
		for i, d := range c.Deliveries {
			if last[d.Destination] != i {
				continue
			}
			at := d.UpdatedAt
			if at.IsZero() {
				at = c.Now
			}
			dl.ids, dl.dests, dl.states = append(dl.ids, c.EventID), append(dl.dests, d.Destination), append(dl.states, string(d.State))
			dl.attempts, dl.next, dl.errors = append(dl.attempts, int64(d.Attempts)), append(dl.next, pgTime(d.NextAttemptAt)), append(dl.errors, cleanText(d.LastError))
			dl.updated, dl.skips = append(dl.updated, pgTime(at)), append(dl.skips, cleanText(d.SkipReason))
			dl.holds = append(dl.holds, cleanText(d.HoldReason))
		}
	}
	return out, nil
}

// cleanText returns s as PostgreSQL text can hold it: invalid UTF-8
// replaced by U+FFFD, U+0000 removed.
func cleanText(s string) string {
	if validText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
