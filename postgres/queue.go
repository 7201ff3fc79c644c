package postgres

import (
	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// deliveryColumns are the columns forEachDelivery reads, in order.
const deliveryColumns = `event_id, destination, state, attempts, next_attempt_at, last_error, updated_at, skip_reason, hold_reason`

// forEachDelivery calls fn with each delivery row of rows (deliveryColumns),
// then closes rows.
func forEachDelivery(rows pgx.Rows, fn func(hookbox.Delivery)) error {
	var (
		d             hookbox.Delivery
		state         string
		attempts      int64
		next, updated pgtype.Timestamptz
	)
	_, err := pgx.ForEachRow(rows, []any{&d.EventID, &d.Destination, &state, &attempts, &next, &d.LastError, &updated, &d.SkipReason, &d.HoldReason}, func() error {
		d.State = hookbox.State(state)
		d.Attempts = int(attempts)
		d.NextAttemptAt = goTime(next)
		d.UpdatedAt = goTime(updated)
		fn(d)
		return nil
	})
	return err
}
