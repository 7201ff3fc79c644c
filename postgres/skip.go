package postgres

import (
	"context"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
)

// skipSQL settles the events whose ids are in $1 that are dead, or pending
// with a delivery row (a leased event is delivering, so left alone): their
// pending and dead deliveries become delivered with skip_reason $2, and
// the events delivered, at $3. The selected rows are locked in id order,
// as a replay locks them.
const skipSQL = `WITH sel AS (
	SELECT id FROM events
	WHERE id = ANY($1::text[])
		AND (state = 'dead' OR (state = 'pending' AND EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)))
	ORDER BY id
	FOR UPDATE
), settle AS (
	UPDATE deliveries d
	SET state = 'delivered', skip_reason = $2, next_attempt_at = '-infinity', updated_at = $3
	FROM sel
	WHERE d.event_id = sel.id AND d.state IN ('pending', 'dead')
)
UPDATE events e
SET state = 'delivered', next_attempt_at = '-infinity', updated_at = $3
FROM sel
WHERE e.id = sel.id`

// SkipEvents settles the events ids that are dead, or pending with a
// delivery row, without sending them: their pending and dead deliveries
// become delivered with skip_reason reason, and the events delivered. One
// transaction; returns how many events were skipped. EINVALID for no ids,
// an empty reason, text PostgreSQL cannot hold or a zero now; EUNAVAILABLE
// when the store is closed or the database cannot answer.
func (s *Store) SkipEvents(ctx context.Context, ids []string, reason string, now time.Time) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	switch {
	case len(ids) == 0 || reason == "" || !validText(reason):
		return 0, hookbox.Errorf(hookbox.EINVALID, "skip: ids and a reason (text) are required")
	case now.IsZero() || !inRange(now):
		return 0, hookbox.Errorf(hookbox.EINVALID, "skip: now is zero or out of range")
	}
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if validText(id) {
			valid = append(valid, id) // others are never stored
		}
	}
	var n int
	err := s.inTx(ctx, "skip events", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, skipSQL, valid, reason, pgTime(now))
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, dbError("skip events", err)
	}
	return n, nil
}

// blockedSQL is the condition on events that hold their ordered key dead.
const blockedSQL = `state = 'dead' AND order_key <> '' AND NOT order_skip_dead`

// CountBlocked returns, per destination, the number of ordered keys held
// by an event dead at that destination. EUNAVAILABLE when the store is
// closed or the database cannot answer.
func (s *Store) CountBlocked(ctx context.Context) (map[string]int, error) {
	counts := make(map[string]int)
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT d.destination, count(DISTINCT e.order_key)
			FROM events e JOIN deliveries d ON d.event_id = e.id AND d.state = 'dead'
			WHERE e.state = 'dead' AND e.order_key <> '' AND NOT e.order_skip_dead
			GROUP BY d.destination`)
		if err != nil {
			return err
		}
		var (
			dest string
			n    int64
		)
		_, err = pgx.ForEachRow(rows, []any{&dest, &n}, func() error {
			counts[dest] = int(n)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, dbError("count blocked", err)
	}
	return counts, nil
}
