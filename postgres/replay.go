package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
)

// ReplayEvents puts the selected events back to StatePending, due now,
// with ReplayedAt now (the start of a new retry window) and a fresh retry
// budget (Attempts = 0, due now) for every destination that is not
// delivered; a selected event that is StateDelivered has every destination
// reset, so it is sent to all of them again. A thin event whose fetch was
// given up (hookbox.FetchFailed) has it pending again, due now, with fresh
// attempts, so that its deliver: event destinations wait for a new fetch
// instead of going dead again. Events whose lease holds
// (StateDelivering, lease not expired before now) are skipped. The
// event's own Attempts, a total, is kept. Returns how many events were
// replayed; when any were, the transaction notifies Channel.
//
// f.IDs, when set, selects exactly those events; otherwise f.State
// selects, narrowed by f.Type (exact, or a prefix ending in "*") and
// f.Since (received at or after).
//
// Committed on return. EINVALID for a filter with neither IDs nor State,
// an unknown State, or a time out of range; EUNAVAILABLE when the store is
// closed or the database cannot answer.
func (s *Store) ReplayEvents(ctx context.Context, f hookbox.ReplayFilter, now time.Time) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	if now.IsZero() || !inRange(now) {
		return 0, hookbox.Errorf(hookbox.EINVALID, "replay: time out of range")
	}
	var w where
	w.arg(now.Truncate(time.Microsecond)) // $1
	w.arg(ceilMicro(now))                 // $2
	switch {
	case len(f.IDs) > 0:
		ids := slices.DeleteFunc(slices.Clone(f.IDs), func(id string) bool { return !validText(id) })
		w.add("id = ANY($?)", ids)
	case f.State == "":
		return 0, hookbox.Errorf(hookbox.EINVALID, "replay: empty filter: want ids or a state")
	case !f.State.Valid():
		return 0, hookbox.Errorf(hookbox.EINVALID, "replay: unknown state %q", f.State)
	default:
		w.add("state = $?", string(f.State))
		if f.Type != "" && !w.addType(f.Type) {
			return 0, nil
		}
		if !f.Since.IsZero() {
			if !inRange(f.Since) {
				return 0, hookbox.Errorf(hookbox.EINVALID, "replay: since out of range")
			}
			w.add("received_at >= $?", ceilMicro(f.Since))
		}
	}
	w.add("NOT (state = 'delivering' AND lease_until >= $2)")
	w.add("octet_length(body) > 0") // retention emptied it: nothing to send
	q := `WITH sel AS (
		SELECT id, state FROM events` + w.sql() + `
		ORDER BY id
		FOR UPDATE
	), reset AS (
		UPDATE deliveries d
		SET state = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1, skip_reason = '',
			hold_reason = CASE WHEN d.hold_reason <> '' THEN 'released' ELSE '' END
		FROM sel
		WHERE d.event_id = sel.id AND (d.state <> 'delivered' OR sel.state = 'delivered')
	), refetch AS (
		UPDATE thin_fetches f
		SET state = 'pending', attempts = 0, next_attempt_at = $1, last_error = '', lease_owner = '', updated_at = $1
		FROM sel
		WHERE f.event_id = sel.id AND f.state = 'failed'
	)
	UPDATE events e
	SET state = 'pending', next_attempt_at = $1, replayed_at = $1, updated_at = $1,
		lease_owner = '', lease_until = '-infinity'
	FROM sel
	WHERE e.id = sel.id`

	var n int
	err := s.inTx(ctx, "replay events", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, w.args...)
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		if n > 0 {
			_, err = tx.Exec(ctx, notifySQL, Channel, s.schema)
		}
		return err
	})
	if err != nil {
		return 0, dbError("replay events", err)
	}
	return n, nil
}
