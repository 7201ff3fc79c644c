package postgres

import (
	"context"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
)

// heldFilterSQL selects the events with a held delivery, at the
// destination of its two parameters when that is not ”.
const heldFilterSQL = `EXISTS (SELECT 1 FROM deliveries d
	WHERE d.event_id = events.id AND d.hold_reason <> '' AND d.hold_reason NOT IN ('released', 'paused', 'breaker', 'probe', 'paused+released', 'breaker+released', 'probe+released') AND d.state = 'pending'
		AND ($? = '' OR d.destination = $?))`

// releaseSQL makes the held deliveries of destination $1 (of the events
// $2; all when $2 is NULL) due at $3 with hold_reason 'released', and their
// events due at $3.
const releaseSQL = `WITH held AS (
	SELECT d.event_id FROM deliveries d
	WHERE d.hold_reason <> '' AND d.hold_reason NOT IN ('released', 'paused', 'breaker', 'probe', 'paused+released', 'breaker+released', 'probe+released') AND d.state = 'pending' AND d.destination = $1
		AND ($2::text[] IS NULL OR d.event_id = ANY($2::text[]))
	ORDER BY d.event_id
	FOR UPDATE
), evs AS (
	UPDATE events e SET next_attempt_at = $3, updated_at = $3
	FROM held WHERE e.id = held.event_id AND e.state = 'pending'
)
UPDATE deliveries d SET hold_reason = 'released', next_attempt_at = $3, updated_at = $3
FROM held WHERE d.event_id = held.event_id AND d.destination = $1`

// ReleaseHeld makes the held deliveries of destination (of the events
// ids; every held one when ids is nil) due at now with HoldReason
// hookbox.HoldReleased, and their events due at now, in one transaction.
// Returns how many events were released. EINVALID for an empty
// destination or a zero now; EUNAVAILABLE when the store is closed or the
// database cannot answer.
func (s *Store) ReleaseHeld(ctx context.Context, destination string, ids []string, now time.Time) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	if destination == "" || !validText(destination) || now.IsZero() || !inRange(now) {
		return 0, hookbox.Errorf(hookbox.EINVALID, "release: a destination and a time are required")
	}
	var arg []string
	if ids != nil {
		arg = make([]string, 0, len(ids))
		for _, id := range ids {
			if validText(id) {
				arg = append(arg, id)
			}
		}
	}
	var n int
	err := s.inTx(ctx, "release held", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, releaseSQL, destination, arg, pgTime(now))
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, dbError("release held", err)
	}
	return n, nil
}

// CountHeld returns the number of held deliveries per destination.
func (s *Store) CountHeld(ctx context.Context) (map[string]int, error) {
	counts := map[string]int{}
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT destination, count(*) FROM deliveries
			WHERE hold_reason <> '' AND hold_reason NOT IN ('released', 'paused', 'breaker', 'probe', 'paused+released', 'breaker+released', 'probe+released') AND state = 'pending' GROUP BY destination`)
		if err != nil {
			return err
		}
		var (
			d string
			n int64
		)
		_, err = pgx.ForEachRow(rows, []any{&d, &n}, func() error {
			counts[d] = int(n)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, dbError("count held", err)
	}
	return counts, nil
}
