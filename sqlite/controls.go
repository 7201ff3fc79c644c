package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookbox/hookbox"
)

// DestinationStates returns the stored state of every destination that
// has one.
func (s *Store) DestinationStates(ctx context.Context) (map[string]hookbox.DestinationState, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT name, paused_at, breaker_open_at, probe_at FROM destinations`)
	if err != nil {
		return nil, fmt.Errorf("destination states: %w", err)
	}
	defer rows.Close()
	out := map[string]hookbox.DestinationState{}
	for rows.Next() {
		var name string
		var paused, open, probe int64
		if err := rows.Scan(&name, &paused, &open, &probe); err != nil {
			return nil, fmt.Errorf("destination states: %w", err)
		}
		out[name] = hookbox.DestinationState{PausedAt: loadTime(paused), BreakerOpenAt: loadTime(open), ProbeAt: loadTime(probe)}
	}
	return out, rows.Err()
}

// SetBreaker opens or closes the breaker of destination name.
func (s *Store) SetBreaker(ctx context.Context, name string, open bool, probeAt, now time.Time) (bool, error) {
	if s.closed.Load() {
		return false, errClosed
	}
	at, ok1 := storedTime(now)
	probe, ok2 := storedTime(probeAt)
	if name == "" || now.IsZero() || !ok1 || !ok2 || (open && probeAt.IsZero()) {
		return false, hookbox.Errorf(hookbox.EINVALID, "breaker: a destination, a time and a probe time are required")
	}
	var res sql.Result
	var err error
	if open {
		res, err = s.writer.ExecContext(ctx, `INSERT INTO destinations (name, breaker_open_at, probe_at, updated_at) VALUES (?1, ?2, ?3, ?2)
			ON CONFLICT (name) DO UPDATE SET breaker_open_at = ?2, probe_at = ?3, updated_at = ?2
			WHERE destinations.breaker_open_at = 0`, name, at, probe)
	} else {
		res, err = s.writer.ExecContext(ctx, `UPDATE destinations SET breaker_open_at = 0, probe_at = 0, updated_at = ?2
			WHERE name = ?1 AND breaker_open_at <> 0`, name, at)
	}
	if err != nil {
		return false, unavailable("set breaker", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, unavailable("set breaker", err)
	}
	return n > 0, nil
}

// ProbeBreaker makes one parked delivery of destination name due as the
// probe of its open breaker, when the probe time has come.
func (s *Store) ProbeBreaker(ctx context.Context, name string, next, now time.Time) (string, error) {
	if s.closed.Load() {
		return "", errClosed
	}
	at, ok1 := storedTime(now)
	nextAt, ok2 := storedTime(next)
	if name == "" || now.IsZero() || next.IsZero() || !ok1 || !ok2 {
		return "", hookbox.Errorf(hookbox.EINVALID, "probe: a destination and times are required")
	}
	// Read first: an open breaker whose probe time has come, with a
	// parked delivery; the writer is taken only then.
	const parked = `SELECT d.event_id FROM deliveries d INDEXED BY deliveries_held JOIN events e ON e.id = d.event_id
		WHERE d.hold_reason <> '' AND d.hold_reason IN ('breaker', 'breaker+released') AND d.destination = ?1 AND d.state = 'pending'
		ORDER BY d.updated_at, d.attempts, e.created, e.id LIMIT 1`
	const due = `SELECT 1 FROM destinations WHERE name = ?1 AND breaker_open_at <> 0 AND probe_at <= ?2`
	q := `SELECT (` + parked + `) WHERE EXISTS (` + due + `)`
	candidate := func(row *sql.Row) (string, error) {
		var id sql.NullString
		if err := row.Scan(&id); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", err
		}
		return id.String, nil
	}
	id, err := candidate(s.reader.QueryRowContext(ctx, q, name, at))
	if err != nil || id == "" {
		return "", err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return "", unavailable("probe breaker: begin", err)
	}
	defer tx.Rollback()
	// Again under the write lock: another process may have probed.
	if id, err = candidate(tx.QueryRowContext(ctx, q, name, at)); err != nil || id == "" {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE destinations SET probe_at = ?2, updated_at = ?3 WHERE name = ?1`, name, nextAt, at); err != nil {
		return "", unavailable("probe breaker: destination", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET hold_reason = CASE WHEN hold_reason = 'breaker+released' THEN 'probe+released' ELSE 'probe' END, next_attempt_at = ?3, updated_at = ?3
		WHERE event_id = ?1 AND destination = ?2`, id, name, at); err != nil {
		return "", unavailable("probe breaker: delivery", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE events SET next_attempt_at = ?2, updated_at = ?2
		WHERE id = ?1 AND state = 'pending'`, id, at); err != nil {
		return "", unavailable("probe breaker: event", err)
	}
	if err := tx.Commit(); err != nil {
		return "", unavailable("probe breaker: commit", err)
	}
	return id, nil
}

// TakeRate takes one send from the rate limit of destination name.
func (s *Store) TakeRate(ctx context.Context, name string, lim hookbox.RateLimit, wait time.Duration, now time.Time) (time.Time, bool, error) {
	if s.closed.Load() {
		return time.Time{}, false, errClosed
	}
	at, ok := storedTime(now)
	if name == "" || now.IsZero() || !ok || lim.Rate <= 0 {
		return time.Time{}, false, hookbox.Errorf(hookbox.EINVALID, "rate: a destination, a time and a rate are required")
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return time.Time{}, false, unavailable("take rate: begin", err)
	}
	defer tx.Rollback()
	var tat, next int64
	err = tx.QueryRowContext(ctx, `SELECT rate_tat, rate_next FROM destinations WHERE name = ?1`, name).Scan(&tat, &next)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, unavailable("take rate", err)
	}
	send, granted, st := lim.Take(hookbox.RateState{TAT: loadTime(tat), Next: loadTime(next)}, now, wait)
	tat, _ = storedTime(st.TAT)
	next, _ = storedTime(st.Next)
	if _, err := tx.ExecContext(ctx, `INSERT INTO destinations (name, rate_tat, rate_next, updated_at) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (name) DO UPDATE SET rate_tat = ?2, rate_next = ?3`, name, tat, next, at); err != nil {
		return time.Time{}, false, unavailable("take rate: write", err)
	}
	if err := tx.Commit(); err != nil {
		return time.Time{}, false, unavailable("take rate: commit", err)
	}
	return send, granted, nil
}

// CountParked returns the pending deliveries parked for their destination,
// per destination and hold reason (the deliveries_held index alone).
func (s *Store) CountParked(ctx context.Context) (map[string]map[string]int, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT destination, hold_reason, count(*) FROM deliveries INDEXED BY deliveries_held
		WHERE hold_reason <> '' AND hold_reason IN ('paused', 'breaker', 'probe', 'paused+released', 'breaker+released', 'probe+released') AND state = 'pending' GROUP BY destination, hold_reason`)
	if err != nil {
		return nil, fmt.Errorf("count parked: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]int{}
	for rows.Next() {
		var d, reason string
		var n int
		if err := rows.Scan(&d, &reason, &n); err != nil {
			return nil, fmt.Errorf("count parked: %w", err)
		}
		if out[d] == nil {
			out[d] = map[string]int{}
		}
		park, _ := hookbox.ParkedAs(reason) // a released delivery parked counts as parked
		out[d][park] += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count parked: %w", err)
	}
	return out, nil
}
