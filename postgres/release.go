package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
)

// ReleaseClaims puts the events of ids that owner still leases back to
// StatePending, due at once (a zero NextAttemptAt), without counting an
// attempt (graceful shutdown). Events no longer leased by owner are left
// alone. Returns how many were released; when any were, the transaction
// notifies Channel so other replicas pick them up.
//
// Committed on return. EINVALID for an empty owner; EUNAVAILABLE when the
// store is closed or the database cannot answer.
func (s *Store) ReleaseClaims(ctx context.Context, owner string, ids []string) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	if owner == "" {
		return 0, hookbox.Errorf(hookbox.EINVALID, "release: empty owner")
	}
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !validText(id) })
	if len(ids) == 0 || !validText(owner) {
		return 0, nil
	}
	var n int
	err := s.inTx(ctx, "release claims", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE events
			SET state = 'pending', next_attempt_at = '-infinity', lease_owner = '', lease_until = '-infinity', updated_at = $3
			WHERE id = ANY($1) AND state = 'delivering' AND lease_owner = $2`,
			ids, owner, s.opts.NowFunc().Truncate(time.Microsecond))
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
		return 0, dbError("release claims", err)
	}
	return n, nil
}
