package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookbox/hookbox"
)

// heldFilterSQL selects the events with a held delivery, at the
// destination of its two parameters when that is not ” (a lookup of the
// deliveries key per event).
const heldFilterSQL = `EXISTS (SELECT 1 FROM deliveries d
	WHERE d.event_id = events.id AND d.hold_reason <> '' AND d.hold_reason NOT IN ('released', 'paused', 'breaker', 'probe', 'paused+released', 'breaker+released', 'probe+released') AND d.state = 'pending'
		AND (? = '' OR d.destination = ?))`

// ReleaseHeld makes the held deliveries of destination (of the events ids;
// every held one when ids is nil) due at now with HoldReason
// hookbox.HoldReleased, and their events due at now, in one transaction.
// Returns how many events were released. EINVALID for an empty
// destination or a zero now; EUNAVAILABLE when the store is closed or the
// database fails.
func (s *Store) ReleaseHeld(ctx context.Context, destination string, ids []string, now time.Time) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	at, ok := storedTime(now)
	if destination == "" || now.IsZero() || !ok {
		return 0, hookbox.Errorf(hookbox.EINVALID, "release: a destination and a time are required")
	}
	idsJSON := "null"
	if ids != nil {
		b, err := json.Marshal(ids)
		if err != nil {
			return 0, fmt.Errorf("release: %w", err)
		}
		idsJSON = string(b)
	}
	// The held deliveries of the destination among ids, before they change.
	const held = `SELECT d.event_id FROM deliveries d INDEXED BY deliveries_held
		WHERE d.hold_reason <> '' AND d.hold_reason NOT IN ('released', 'paused', 'breaker', 'probe', 'paused+released', 'breaker+released', 'probe+released') AND d.state = 'pending' AND d.destination = ?1
			AND (?2 = 'null' OR d.event_id IN (SELECT value FROM json_each(?2)))`
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, unavailable("release: begin", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE events SET next_attempt_at = ?3, updated_at = ?3
		WHERE state = 'pending' AND id IN (`+held+`)`, destination, idsJSON, at); err != nil {
		return 0, unavailable("release: events", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE deliveries SET hold_reason = 'released', next_attempt_at = ?3, updated_at = ?3
		WHERE (event_id, destination) IN (SELECT event_id, ?1 FROM (`+held+`))`, destination, idsJSON, at)
	if err != nil {
		return 0, unavailable("release: deliveries", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, unavailable("release", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, unavailable("release: commit", err)
	}
	return int(n), nil
}

// CountHeld returns the number of held deliveries per destination (the
// deliveries_held index alone).
func (s *Store) CountHeld(ctx context.Context) (map[string]int, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT destination, count(*) FROM deliveries INDEXED BY deliveries_held
		WHERE hold_reason <> '' AND hold_reason NOT IN ('released', 'paused', 'breaker', 'probe', 'paused+released', 'breaker+released', 'probe+released') AND state = 'pending' GROUP BY destination`)
	if err != nil {
		return nil, fmt.Errorf("count held: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var d string
		var n int
		if err := rows.Scan(&d, &n); err != nil {
			return nil, fmt.Errorf("count held: %w", err)
		}
		counts[d] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count held: %w", err)
	}
	return counts, nil
}
