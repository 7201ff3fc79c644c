package sqlite

import (
	"context"
	"time"

	"github.com/hookbox/hookbox"
)

var _ hookbox.Locker = (*Store)(nil)

// tryLockSQL takes a free or expired lock, or renews one the owner holds,
// in one statement: the upsert's WHERE leaves a lock held by someone else
// untouched, and then no row changes.
const tryLockSQL = `INSERT INTO locks (name, owner, until) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
WHERE locks.owner = excluded.owner OR locks.until < ?`

// TryLock takes the named lock for owner until now+ttl, or renews it when
// owner holds it, and reports whether owner holds it now. A lock is held
// through its until and free a microsecond later; times are truncated to
// the microsecond. The database serialises concurrent callers, in this
// process (one writer connection) and across processes on the same file.
//
// EINVALID for an empty name or owner, a ttl that is not positive, or a
// time outside 1678-2262; EUNAVAILABLE when the store is closed or the
// write fails.
func (s *Store) TryLock(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error) {
	if s.closed.Load() {
		return false, errClosed
	}
	if name == "" || owner == "" {
		return false, hookbox.Errorf(hookbox.EINVALID, "lock: empty name or owner")
	}
	if ttl <= 0 {
		return false, hookbox.Errorf(hookbox.EINVALID, "lock %s: ttl must be positive", name)
	}
	at, ok1 := storedTime(now)
	until, ok2 := storedTime(now.Add(ttl))
	if now.IsZero() || !ok1 || !ok2 {
		return false, hookbox.Errorf(hookbox.EINVALID, "lock %s: time out of range", name)
	}
	res, err := s.writer.ExecContext(ctx, tryLockSQL, name, owner, until, at)
	if err != nil {
		return false, unavailable("try lock", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, unavailable("try lock", err)
	}
	return n == 1, nil
}

// Unlock releases the named lock if owner holds it (expired or not);
// otherwise it does nothing. EUNAVAILABLE when the store is closed or the
// write fails.
func (s *Store) Unlock(ctx context.Context, name, owner string) error {
	if s.closed.Load() {
		return errClosed
	}
	if _, err := s.writer.ExecContext(ctx, `DELETE FROM locks WHERE name = ? AND owner = ?`, name, owner); err != nil {
		return unavailable("unlock", err)
	}
	return nil
}
