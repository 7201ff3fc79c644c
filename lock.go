package hookbox

import (
	"context"
	"time"
)

// Locker lets several replicas on one database run a periodic job (such as
// reconcile) one at a time.
type Locker interface {
	// TryLock takes the named lock for owner until now+ttl, or renews it
	// when owner already holds it. It returns false, without error, when
	// another owner holds it and its ttl has not run out. A holder that dies
	// loses the lock when the ttl expires.
	TryLock(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error)
	// Unlock releases the lock if owner holds it; otherwise it does nothing.
	Unlock(ctx context.Context, name, owner string) error
}
