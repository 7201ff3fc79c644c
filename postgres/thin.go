package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hookbox/hookbox"
)

var _ hookbox.ThinStore = (*Store)(nil)

// insertFetches stores the fetches of the thin events of rows, new in the
// transaction tx: done with FetchedBody when the full event came with it,
// pending otherwise.
func insertFetches(ctx context.Context, tx pgx.Tx, rows []insertRow) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	ids, states, bodies := make([]string, n), make([]string, n), make([][]byte, n)
	fetched, updated := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	for i, r := range rows {
		ids[i], states[i], bodies[i] = r.ev.ID, string(hookbox.FetchPending), []byte{}
		fetched[i], updated[i] = pgTime(time.Time{}), r.received
		if r.ev.FetchedBody != nil {
			states[i], bodies[i], fetched[i] = string(hookbox.FetchDone), r.ev.FetchedBody, r.received
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO thin_fetches (event_id, state, body, fetched_at, updated_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::timestamptz[], $5::timestamptz[])`,
		ids, states, bodies, fetched, updated)
	return err
}

const fetchColumns = `f.event_id, e.context, f.state, f.attempts, f.next_attempt_at, f.last_error, f.fetched_at, GREATEST(e.received_at, e.replayed_at)`

func scanFetch(row scanner, body bool) (hookbox.Fetch, error) {
	var (
		f                       hookbox.Fetch
		state                   string
		attempts                int32
		next, fetched, received pgtype.Timestamptz
	)
	dest := []any{&f.EventID, &f.Context, &state, &attempts, &next, &f.LastError, &fetched, &received}
	if body {
		dest = append(dest, &f.Body)
	}
	if err := row.Scan(dest...); err != nil {
		return f, err
	}
	f.State = hookbox.FetchState(state)
	f.Attempts = int(attempts)
	f.NextAttemptAt = goTime(next)
	f.FetchedAt = goTime(fetched)
	f.ReceivedAt = goTime(received)
	if body && f.State != hookbox.FetchDone {
		f.Body = nil
	}
	return f, nil
}

// ClaimFetches takes up to limit due pending fetches for owner, skipping
// the rows another replica is claiming at the same moment (FOR UPDATE SKIP
// LOCKED): their next_attempt_at becomes the end of the lease, so no
// replica finds them due before it ends.
func (s *Store) ClaimFetches(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]hookbox.Fetch, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if owner == "" || lease <= 0 || !validText(owner) {
		return nil, hookbox.Errorf(hookbox.EINVALID, "claim fetches: owner and a positive lease are required")
	}
	if limit <= 0 {
		return nil, nil
	}
	if !inRange(now) || !inRange(now.Add(lease)) {
		return nil, hookbox.Errorf(hookbox.EINVALID, "claim fetches: time out of range")
	}
	var out []hookbox.Fetch
	err := s.inTx(ctx, "claim fetches", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH due AS (
				SELECT event_id FROM thin_fetches
				WHERE state = 'pending' AND next_attempt_at <= $3
				ORDER BY next_attempt_at LIMIT $4
				FOR UPDATE SKIP LOCKED)
			UPDATE thin_fetches f SET next_attempt_at = $1, lease_owner = $2, updated_at = $3
			FROM due, events e WHERE f.event_id = due.event_id AND e.id = f.event_id
			RETURNING `+fetchColumns,
			pgTime(now.Add(lease)), owner, pgTime(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			f, err := scanFetch(rows, false)
			if err != nil {
				return err
			}
			out = append(out, f)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, unavailable("claim fetches", err)
	}
	return out, nil
}

// CompleteFetch records a claimed fetch's outcome in one transaction; a
// stored body (or a given-up fetch) also makes the event due now when it
// is pending, and wakes the workers of every replica.
func (s *Store) CompleteFetch(ctx context.Context, r hookbox.FetchResult) error {
	if s.closed.Load() {
		return errClosed
	}
	if r.EventID == "" || r.Owner == "" {
		return hookbox.Errorf(hookbox.EINVALID, "complete fetch: event id and owner are required")
	}
	if !inRange(r.Now) || !inRange(r.NextAttemptAt) {
		return hookbox.Errorf(hookbox.EINVALID, "complete fetch: time out of range")
	}
	if !validText(r.EventID) || !validText(r.Owner) {
		return hookbox.Errorf(hookbox.ECONFLICT, "fetch of %q is not claimed by %q", r.EventID, r.Owner)
	}
	errText := strings.ToValidUTF8(strings.ReplaceAll(r.Error, "\x00", "?"), "?")
	if len(errText) > 500 {
		errText = strings.ToValidUTF8(errText[:500], "")
	}
	conflict := errors.New("conflict")
	err := s.inTx(ctx, "complete fetch", func(tx pgx.Tx) error {
		var tag interface{ RowsAffected() int64 }
		var err error
		if r.Body != nil {
			tag, err = tx.Exec(ctx, `UPDATE thin_fetches SET state = 'fetched', body = $1, fetched_at = $2,
				last_error = '', lease_owner = '', next_attempt_at = '-infinity', updated_at = $2
				WHERE event_id = $3 AND lease_owner = $4 AND state = 'pending'`, r.Body, pgTime(r.Now), r.EventID, r.Owner)
		} else {
			state, next := hookbox.FetchPending, pgTime(r.NextAttemptAt)
			if r.GiveUp {
				state, next = hookbox.FetchFailed, pgTime(time.Time{})
			}
			tag, err = tx.Exec(ctx, `UPDATE thin_fetches SET state = $1, attempts = attempts + 1, last_error = $2,
				lease_owner = '', next_attempt_at = $3, updated_at = $4
				WHERE event_id = $5 AND lease_owner = $6 AND state = 'pending'`,
				string(state), errText, next, pgTime(r.Now), r.EventID, r.Owner)
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return conflict
		}
		if r.Body == nil && !r.GiveUp {
			return nil
		}
		t, err := tx.Exec(ctx, `UPDATE events SET next_attempt_at = $1
			WHERE id = $2 AND state = 'pending' AND next_attempt_at > $1`, pgTime(r.Now), r.EventID)
		if err != nil {
			return err
		}
		if t.RowsAffected() > 0 {
			_, err = tx.Exec(ctx, notifySQL, Channel, s.schema)
		}
		return err
	})
	if errors.Is(err, conflict) {
		return hookbox.Errorf(hookbox.ECONFLICT, "fetch of %q is not claimed by %q", r.EventID, r.Owner)
	}
	if err != nil {
		return unavailable("complete fetch", err)
	}
	return nil
}

// FindFetch returns the fetch of a thin event, body included.
func (s *Store) FindFetch(ctx context.Context, eventID string) (*hookbox.Fetch, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if !validText(eventID) {
		return nil, hookbox.Errorf(hookbox.ENOTFOUND, "no fetch for event %q", eventID)
	}
	var f hookbox.Fetch
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		var err error
		f, err = scanFetch(conn.QueryRow(ctx, `SELECT `+fetchColumns+`, f.body
			FROM thin_fetches f JOIN events e ON e.id = f.event_id WHERE f.event_id = $1`, eventID), true)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hookbox.Errorf(hookbox.ENOTFOUND, "no fetch for event %q", eventID)
	}
	if err != nil {
		return nil, dbError("find fetch", err)
	}
	return &f, nil
}

// CountFetches counts the fetches in each state.
func (s *Store) CountFetches(ctx context.Context) (map[hookbox.FetchState]int, error) {
	out := make(map[hookbox.FetchState]int, len(hookbox.FetchStates))
	for _, st := range hookbox.FetchStates {
		out[st] = 0
	}
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT state, count(*) FROM thin_fetches GROUP BY state`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st string
			var n int64
			if err := rows.Scan(&st, &n); err != nil {
				return err
			}
			out[hookbox.FetchState(st)] = int(n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, dbError("count fetches", err)
	}
	return out, nil
}
