package postgres

import (
	"context"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// PauseDestination pauses or resumes the destination name (upserted in
// destinations). EINVALID for an empty name or a zero now.
func (s *Store) PauseDestination(ctx context.Context, name string, paused bool, now time.Time) error {
	if name == "" || !validText(name) || now.IsZero() || !inRange(now) {
		return hookbox.Errorf(hookbox.EINVALID, "pause: a destination and a time are required")
	}
	pausedAt := pgTime(time.Time{})
	if paused {
		pausedAt = pgTime(now)
	}
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `INSERT INTO destinations (name, paused_at, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET
				paused_at = CASE WHEN NOT $4 THEN '-infinity'::timestamptz
					WHEN destinations.paused_at <> '-infinity' THEN destinations.paused_at ELSE $2 END,
				updated_at = $3`, name, pausedAt, pgTime(now), paused)
		return err
	})
	if err != nil {
		return dbError("pause destination", err)
	}
	return nil
}

// PausedDestinations returns the paused destinations and since when.
func (s *Store) PausedDestinations(ctx context.Context) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT name, paused_at FROM destinations WHERE paused_at <> '-infinity'`)
		if err != nil {
			return err
		}
		var (
			name string
			at   pgtype.Timestamptz
		)
		_, err = pgx.ForEachRow(rows, []any{&name, &at}, func() error {
			out[name] = goTime(at)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, dbError("paused destinations", err)
	}
	return out, nil
}

// releasePausedSQL makes the deliveries of destination $1 parked by a
// pause or an open breaker due at $2, and their events.
const releasePausedSQL = `WITH parked AS (
	SELECT d.event_id FROM deliveries d
	WHERE d.hold_reason <> '' AND d.hold_reason IN ('paused', 'breaker', 'paused+released', 'breaker+released') AND d.destination = $1 AND d.state = 'pending'
		AND (d.hold_reason IN ('paused', 'paused+released') OR NOT EXISTS (SELECT 1 FROM destinations WHERE name = $1 AND breaker_open_at <> '-infinity'))
	ORDER BY d.event_id
	FOR UPDATE
), evs AS (
	UPDATE events e SET next_attempt_at = $2, updated_at = $2
	FROM parked WHERE e.id = parked.event_id AND e.state = 'pending'
)
UPDATE deliveries d SET hold_reason = CASE WHEN d.hold_reason IN ('paused+released', 'breaker+released') THEN 'released' ELSE '' END, next_attempt_at = $2, updated_at = $2
FROM parked WHERE d.event_id = parked.event_id AND d.destination = $1`

// ReleasePaused makes the deliveries of destination parked by a pause due
// at now, and their events. It reads first and writes only when there is
// something to release.
func (s *Store) ReleasePaused(ctx context.Context, destination string, now time.Time) (int, error) {
	if destination == "" || !validText(destination) || now.IsZero() || !inRange(now) {
		return 0, hookbox.Errorf(hookbox.EINVALID, "release paused: a destination and a time are required")
	}
	var any bool
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries
			WHERE hold_reason <> '' AND hold_reason IN ('paused', 'breaker', 'paused+released', 'breaker+released') AND destination = $1 AND state = 'pending'
				AND (hold_reason IN ('paused', 'paused+released') OR NOT EXISTS (SELECT 1 FROM destinations WHERE name = $1 AND breaker_open_at <> '-infinity')))`, destination).Scan(&any)
	})
	if err != nil {
		return 0, dbError("release paused", err)
	}
	if !any {
		return 0, nil
	}
	var n int
	err = s.inTx(ctx, "release paused", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, releasePausedSQL, destination, pgTime(now))
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, dbError("release paused", err)
	}
	return n, nil
}
