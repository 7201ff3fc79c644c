package postgres

import (
	"context"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
)

var _ hookbox.Locker = (*Store)(nil)

// tryLockSQL takes a free or expired lock, or renews one the owner holds,
// in one statement: the upsert's WHERE leaves a lock held by someone else
// untouched, and then no row changes. Concurrent callers serialise on the
// primary key; under READ COMMITTED the loser's WHERE is evaluated against
// the winner's committed row.
const tryLockSQL = `INSERT INTO locks AS l (name, owner, until) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
WHERE l.owner = excluded.owner OR l.until < $4`

// TryLock takes the named lock for owner until now+ttl, or renews it when
// owner holds it, and reports whether owner holds it now. A lock is held
// through its until and free a microsecond later; times are the caller's
// clock (now), truncated to the microsecond, not the server's.
//
// EINVALID for an empty name or owner, text PostgreSQL cannot hold, a ttl
// that is not positive, or a time outside 1678-2262; EUNAVAILABLE when the
// store is closed or the database does not answer.
func (s *Store) TryLock(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error) {
	if s.closed.Load() {
		return false, errClosed
	}
	if name == "" || owner == "" || !validText(name) || !validText(owner) {
		return false, hookbox.Errorf(hookbox.EINVALID, "lock: empty or invalid name or owner")
	}
	if ttl <= 0 {
		return false, hookbox.Errorf(hookbox.EINVALID, "lock %s: ttl must be positive", name)
	}
	until := now.Add(ttl)
	if now.IsZero() || !inRange(now) || !inRange(until) {
		return false, hookbox.Errorf(hookbox.EINVALID, "lock %s: time out of range", name)
	}
	var n int64
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		tag, err := conn.Exec(ctx, tryLockSQL, name, owner, pgTime(until), pgTime(now))
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return false, dbError("try lock", err)
	}
	return n == 1, nil
}

// Unlock releases the named lock if owner holds it (expired or not);
// otherwise it does nothing. EUNAVAILABLE when the store is closed or the
// database does not answer.
func (s *Store) Unlock(ctx context.Context, name, owner string) error {
	if s.closed.Load() {
		return errClosed
	}
	if !validText(name) || !validText(owner) {
		return nil // no such lock can exist
	}
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `DELETE FROM locks WHERE name = $1 AND owner = $2`, name, owner)
		return err
	})
	if err != nil {
		return dbError("unlock", err)
	}
	return nil
}
