package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookbox/hookbox"
)

var _ hookbox.ThinStore = (*Store)(nil)

// insertFetch stores the fetch of thin event ev, inside InsertEvents's
// transaction, right after ev's row went in: done with ev.FetchedBody when
// the full event came with it, pending otherwise.
func insertFetch(ctx context.Context, tx *sql.Tx, ev *hookbox.Event) error {
	received, _ := storedTime(ev.ReceivedAt) // checked by insertArgs
	state, body, fetched := hookbox.FetchPending, []byte{}, int64(0)
	if ev.FetchedBody != nil {
		state, body, fetched = hookbox.FetchDone, ev.FetchedBody, received
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO thin_fetches (event_id, state, body, fetched_at, updated_at)
		VALUES (?, ?, ?, ?, ?)`, ev.ID, string(state), body, fetched, received)
	return err
}

// fetchColumns are the columns of a Fetch without its body, from
// thin_fetches f joined to its events e.
const fetchColumns = `f.event_id, e.context, f.state, f.attempts, f.next_attempt_at, f.last_error, f.fetched_at, max(e.received_at, e.replayed_at)`

func scanFetch(row scanner, body bool) (hookbox.Fetch, error) {
	var (
		f                       hookbox.Fetch
		state                   string
		attempts, next, fetched int64
		received                int64
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
	f.NextAttemptAt = loadTime(next)
	f.FetchedAt = loadTime(fetched)
	f.ReceivedAt = loadTime(received)
	if body && f.State != hookbox.FetchDone {
		f.Body = nil
	}
	return f, nil
}

// ClaimFetches takes up to limit due pending fetches for owner: their
// next_attempt_at becomes the end of the lease, so no other caller finds
// them due before it ends. One statement on the writer connection, which
// serialises every claim.
func (s *Store) ClaimFetches(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]hookbox.Fetch, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if owner == "" || lease <= 0 {
		return nil, hookbox.Errorf(hookbox.EINVALID, "claim fetches: owner and a positive lease are required")
	}
	if limit <= 0 {
		return nil, nil
	}
	at, ok1 := storedTime(now)
	until, ok2 := storedTime(now.Add(lease))
	if !ok1 || !ok2 {
		return nil, hookbox.Errorf(hookbox.EINVALID, "claim fetches: time out of range")
	}
	rows, err := s.writer.QueryContext(ctx, `UPDATE thin_fetches
		SET next_attempt_at = ?1, lease_owner = ?2, updated_at = ?3
		WHERE event_id IN (SELECT event_id FROM thin_fetches INDEXED BY thin_fetches_due
			WHERE state = 'pending' AND next_attempt_at <= ?3 ORDER BY next_attempt_at LIMIT ?4)
		RETURNING event_id`, until, owner, at, limit)
	if err != nil {
		return nil, unavailable("claim fetches", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, unavailable("claim fetches", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, unavailable("claim fetches", err)
	}
	out := make([]hookbox.Fetch, 0, len(ids))
	for _, id := range ids {
		f, err := scanFetch(s.writer.QueryRowContext(ctx, `SELECT `+fetchColumns+`
			FROM thin_fetches f JOIN events e ON e.id = f.event_id WHERE f.event_id = ?`, id), false)
		if err != nil {
			return nil, unavailable("claim fetches", err)
		}
		out = append(out, f)
	}
	return out, nil
}

// CompleteFetch records a claimed fetch's outcome in one transaction; a
// stored body also makes the event due now when it is pending.
func (s *Store) CompleteFetch(ctx context.Context, r hookbox.FetchResult) error {
	if s.closed.Load() {
		return errClosed
	}
	if r.EventID == "" || r.Owner == "" {
		return hookbox.Errorf(hookbox.EINVALID, "complete fetch: event id and owner are required")
	}
	now, ok1 := storedTime(r.Now)
	next, ok2 := storedTime(r.NextAttemptAt)
	if !ok1 || !ok2 {
		return hookbox.Errorf(hookbox.EINVALID, "complete fetch: time out of range")
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("complete fetch: begin", err)
	}
	defer tx.Rollback()
	var res sql.Result
	switch {
	case r.Body != nil:
		res, err = tx.ExecContext(ctx, `UPDATE thin_fetches SET state = 'fetched', body = ?, fetched_at = ?,
			last_error = '', lease_owner = '', next_attempt_at = 0, updated_at = ?
			WHERE event_id = ? AND lease_owner = ? AND state = 'pending'`, r.Body, now, now, r.EventID, r.Owner)
	default:
		state := hookbox.FetchPending
		if r.GiveUp {
			state, next = hookbox.FetchFailed, 0
		}
		res, err = tx.ExecContext(ctx, `UPDATE thin_fetches SET state = ?, attempts = attempts + 1, last_error = ?,
			lease_owner = '', next_attempt_at = ?, updated_at = ?
			WHERE event_id = ? AND lease_owner = ? AND state = 'pending'`,
			string(state), cleanError(r.Error), next, now, r.EventID, r.Owner)
	}
	if err != nil {
		return unavailable("complete fetch", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return unavailable("complete fetch", err)
	} else if n == 0 {
		return hookbox.Errorf(hookbox.ECONFLICT, "fetch of %q is not claimed by %q", r.EventID, r.Owner)
	}
	if r.Body != nil || r.GiveUp {
		// The destinations that wait for the full event (deferred
		// deliveries) are tried now: with it, or to go dead without it.
		if _, err := tx.ExecContext(ctx, `UPDATE events SET next_attempt_at = ?
			WHERE id = ? AND state = 'pending' AND next_attempt_at > ?`, now, r.EventID, now); err != nil {
			return unavailable("complete fetch: wake event", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return unavailable("complete fetch: commit", err)
	}
	return nil
}

// FindFetch returns the fetch of a thin event, body included.
func (s *Store) FindFetch(ctx context.Context, eventID string) (*hookbox.Fetch, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	f, err := scanFetch(s.reader.QueryRowContext(ctx, `SELECT `+fetchColumns+`, f.body
		FROM thin_fetches f JOIN events e ON e.id = f.event_id WHERE f.event_id = ?`, eventID), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hookbox.Errorf(hookbox.ENOTFOUND, "no fetch for event %q", eventID)
	}
	if err != nil {
		return nil, fmt.Errorf("find fetch: %w", err)
	}
	return &f, nil
}

// CountFetches counts the fetches in each state.
func (s *Store) CountFetches(ctx context.Context) (map[hookbox.FetchState]int, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	out := make(map[hookbox.FetchState]int, len(hookbox.FetchStates))
	for _, st := range hookbox.FetchStates {
		out[st] = 0
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT state, count(*) FROM thin_fetches GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count fetches: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count fetches: %w", err)
		}
		out[hookbox.FetchState(st)] = n
	}
	return out, rows.Err()
}

// cleanError is a fetch error as stored: short, valid UTF-8.
func cleanError(s string) string {
	const max = 500
	if len(s) > max {
		s = s[:max]
	}
	return string([]rune(s)) // invalid bytes become U+FFFD
}
