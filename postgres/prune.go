package postgres

import (
	"context"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
)

// PruneEvents deletes the rows of delivered or dead events received (and
// last replayed) before rowBefore, with their deliveries and attempts (ON DELETE CASCADE), then
// empties the body of the remaining delivered events received before
// bodyBefore (their rows, and so their ids, stay for dedupe), in one
// transaction. A zero time prunes nothing of its kind. Returns how many
// bodies were emptied (already empty ones are not counted) and how many
// rows deleted.
//
// EINVALID for a time out of range; EUNAVAILABLE when the store is closed
// or the database cannot answer.
func (s *Store) PruneEvents(ctx context.Context, bodyBefore, rowBefore time.Time) (bodies, rows int, err error) {
	if s.closed.Load() {
		return 0, 0, errClosed
	}
	if !inRange(bodyBefore) || !inRange(rowBefore) {
		return 0, 0, hookbox.Errorf(hookbox.EINVALID, "prune: time out of range")
	}
	err = s.inTx(ctx, "prune events", func(tx pgx.Tx) error {
		if !rowBefore.IsZero() {
			tag, err := tx.Exec(ctx, `DELETE FROM events
				WHERE state IN ('delivered', 'dead') AND received_at < $1 AND replayed_at < $1`, ceilMicro(rowBefore))
			if err != nil {
				return err
			}
			rows = int(tag.RowsAffected())
		}
		if !bodyBefore.IsZero() {
			// octet_length reads the size from a TOAST pointer without
			// fetching the body.
			tag, err := tx.Exec(ctx, `UPDATE events SET body = ''::bytea, body_encoding = 0
				WHERE state = 'delivered' AND received_at < $1 AND replayed_at < $1 AND octet_length(body) > 0`, ceilMicro(bodyBefore))
			if err != nil {
				return err
			}
			bodies = int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, 0, dbError("prune events", err)
	}
	return bodies, rows, nil
}
