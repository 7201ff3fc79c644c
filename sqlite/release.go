package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hookbox/hookbox"
)

// ReleaseClaims puts the events among ids that are delivering under owner
// back to pending, without counting an attempt, and returns how many. The
// Queue gives it no clock, so a released event's NextAttemptAt is zero (as
// soon as possible): it is due whatever the claimer's now. UpdatedAt comes
// from Options.NowFunc. EINVALID for an empty owner; EUNAVAILABLE when the
// store is closed or the database fails.
func (s *Store) ReleaseClaims(ctx context.Context, owner string, ids []string) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	if owner == "" {
		return 0, hookbox.Errorf(hookbox.EINVALID, "release claims: owner is empty")
	}
	if len(ids) == 0 {
		return 0, nil
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return 0, fmt.Errorf("release claims: %w", err)
	}
	at, ok := storedTime(s.now())
	if !ok {
		return 0, fmt.Errorf("release claims: clock out of range")
	}
	res, err := s.writer.ExecContext(ctx, `UPDATE events
		SET state = 'pending', next_attempt_at = 0, lease_owner = '', lease_until = 0, updated_at = ?
		WHERE id IN (SELECT value FROM json_each(?)) AND state = 'delivering' AND lease_owner = ?`,
		at, string(idsJSON), owner)
	if err != nil {
		return 0, unavailable("release claims", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, unavailable("release claims", err)
	}
	return int(n), nil
}
