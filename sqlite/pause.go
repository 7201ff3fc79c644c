package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/hookbox/hookbox"
)

// PauseDestination pauses or resumes the destination name (upserted in
// destinations). EINVALID for an empty name or a zero now.
func (s *Store) PauseDestination(ctx context.Context, name string, paused bool, now time.Time) error {
	if s.closed.Load() {
		return errClosed
	}
	at, ok := storedTime(now)
	if name == "" || now.IsZero() || !ok {
		return hookbox.Errorf(hookbox.EINVALID, "pause: a destination and a time are required")
	}
	var pausedAt int64
	if paused {
		pausedAt = at
	}
	_, err := s.writer.ExecContext(ctx, `INSERT INTO destinations (name, paused_at, updated_at) VALUES (?1, ?2, ?3)
		ON CONFLICT (name) DO UPDATE SET paused_at = CASE WHEN ?2 = 0 THEN 0 WHEN destinations.paused_at <> 0 THEN destinations.paused_at ELSE ?2 END,
			updated_at = ?3`, name, pausedAt, at)
	if err != nil {
		return unavailable("pause destination", err)
	}
	return nil
}

// PausedDestinations returns the paused destinations and since when.
func (s *Store) PausedDestinations(ctx context.Context) (map[string]time.Time, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT name, paused_at FROM destinations WHERE paused_at <> 0`)
	if err != nil {
		return nil, fmt.Errorf("paused destinations: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var name string
		var at int64
		if err := rows.Scan(&name, &at); err != nil {
			return nil, fmt.Errorf("paused destinations: %w", err)
		}
		out[name] = loadTime(at)
	}
	return out, rows.Err()
}

// ReleasePaused makes the deliveries of destination parked by a pause or
// by its breaker (when the breaker is closed) due at now, and their events. It reads first (the deliveries_held index) and
// takes the writer only when there is something to release.
func (s *Store) ReleasePaused(ctx context.Context, destination string, now time.Time) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	at, ok := storedTime(now)
	if destination == "" || now.IsZero() || !ok {
		return 0, hookbox.Errorf(hookbox.EINVALID, "release paused: a destination and a time are required")
	}
	const parked = `SELECT event_id FROM deliveries INDEXED BY deliveries_held
		WHERE hold_reason <> '' AND hold_reason IN ('paused', 'breaker', 'paused+released', 'breaker+released') AND destination = ?1 AND state = 'pending'
			AND (hold_reason IN ('paused', 'paused+released') OR NOT EXISTS (SELECT 1 FROM destinations WHERE name = ?1 AND breaker_open_at <> 0))`
	var one int
	err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM (`+parked+` LIMIT 1)`, destination).Scan(&one)
	if err != nil {
		return 0, fmt.Errorf("release paused: %w", err)
	}
	if one == 0 {
		return 0, nil
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, unavailable("release paused: begin", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE events SET next_attempt_at = ?2, updated_at = ?2
		WHERE state = 'pending' AND id IN (`+parked+`)`, destination, at); err != nil {
		return 0, unavailable("release paused: events", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE deliveries SET hold_reason = CASE WHEN hold_reason IN ('paused+released', 'breaker+released') THEN 'released' ELSE '' END, next_attempt_at = ?2, updated_at = ?2
		WHERE (event_id, destination) IN (SELECT event_id, ?1 FROM (`+parked+`))`, destination, at)
	if err != nil {
		return 0, unavailable("release paused: deliveries", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, unavailable("release paused", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, unavailable("release paused: commit", err)
	}
	return int(n), nil
}
