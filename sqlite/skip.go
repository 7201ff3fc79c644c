package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookbox/hookbox"
)

// skippableSQL selects, among the events whose ids are in the JSON array
// ?1, those SkipEvents settles: dead ones, and pending ones that some
// destination has tried (a leased event is delivering, so left alone).
const skippableSQL = `id IN (SELECT value FROM json_each(?1))
	AND (state = 'dead' OR (state = 'pending' AND EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)))`

// SkipEvents settles the events ids that are dead, or pending with a
// delivery row, without sending them: their pending and dead deliveries
// become delivered with skip_reason reason, and the events delivered. One
// transaction; returns how many events were skipped. EINVALID for no ids,
// an empty reason or a zero now; EUNAVAILABLE when the store is closed or
// the database fails.
func (s *Store) SkipEvents(ctx context.Context, ids []string, reason string, now time.Time) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	at, ok := storedTime(now)
	switch {
	case len(ids) == 0 || reason == "":
		return 0, hookbox.Errorf(hookbox.EINVALID, "skip: ids and a reason are required")
	case now.IsZero() || !ok:
		return 0, hookbox.Errorf(hookbox.EINVALID, "skip: now is zero or out of range")
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return 0, fmt.Errorf("skip: %w", err)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, unavailable("skip: begin", err)
	}
	defer tx.Rollback()
	// Deliveries first, while events.state still selects.
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries
		SET state = 'delivered', skip_reason = ?2, next_attempt_at = 0, updated_at = ?3
		WHERE state IN ('pending', 'dead')
			AND event_id IN (SELECT id FROM events WHERE `+skippableSQL+`)`,
		string(idsJSON), reason, at); err != nil {
		return 0, unavailable("skip: deliveries", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE events
		SET state = 'delivered', next_attempt_at = 0, updated_at = ?2
		WHERE `+skippableSQL, string(idsJSON), at)
	if err != nil {
		return 0, unavailable("skip: events", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, unavailable("skip: events", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, unavailable("skip: commit", err)
	}
	return int(n), nil
}

// blockedSQL is the filter of the events that hold their ordered key dead.
const blockedSQL = `state = 'dead' AND order_key <> '' AND order_skip_dead = 0`

// countBlockedSQL counts the keys held dead per destination. It reads
// the dead events only (events_dead, whose WHERE its first term is).
const countBlockedSQL = `SELECT d.destination, count(DISTINCT e.order_key)
	FROM events e JOIN deliveries d ON d.event_id = e.id AND d.state = 'dead'
	WHERE e.state = 'dead' AND e.order_key <> '' AND e.order_skip_dead = 0
	GROUP BY d.destination`

// CountBlocked returns, per destination, the number of ordered keys held
// by an event dead at that destination. EUNAVAILABLE when the store is
// closed; an uncoded error when the database fails.
func (s *Store) CountBlocked(ctx context.Context) (map[string]int, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	rows, err := s.reader.QueryContext(ctx, countBlockedSQL)
	if err != nil {
		return nil, fmt.Errorf("count blocked: %w", err)
	}
	defer rows.Close()
	counts := make(map[string]int)
	for rows.Next() {
		var dest string
		var n int
		if err := rows.Scan(&dest, &n); err != nil {
			return nil, fmt.Errorf("count blocked: %w", err)
		}
		counts[dest] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count blocked: %w", err)
	}
	return counts, nil
}
