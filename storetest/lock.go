package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// RunLocker runs the hookbox.Locker conformance cases as subtests of t.
// open must return a new, empty store (its Close registered with
// tb.Cleanup) that is a Locker.
//
// Times are whole microseconds, the precision every store keeps: a lock
// taken at now for ttl is held through now+ttl and free a microsecond
// later.
func RunLocker(t *testing.T, open func(tb testing.TB) hookbox.Locker) {
	t.Run("TryLock", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) { testLockOK(t, open(t)) })
		t.Run("Expiry", func(t *testing.T) { testLockExpiry(t, open(t)) })
		t.Run("RenewAfterExpiry", func(t *testing.T) { testLockRenewAfterExpiry(t, open(t)) })
		t.Run("Names", func(t *testing.T) { testLockNames(t, open(t)) })
		t.Run("Concurrent", func(t *testing.T) { testLockConcurrent(t, open(t)) })
		t.Run("ErrInvalid", func(t *testing.T) { testLockInvalid(t, open(t)) })
	})
	t.Run("Unlock", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) { testUnlockOK(t, open(t)) })
		t.Run("NotOwner", func(t *testing.T) { testUnlockNotOwner(t, open(t)) })
		t.Run("NotHeld", func(t *testing.T) { testUnlockNotHeld(t, open(t)) })
	})
}

var lockBase = time.Date(2026, 11, 27, 5, 20, 0, 123456000, time.UTC)

func mustTryLock(tb testing.TB, l hookbox.Locker, name, owner string, now time.Time, ttl time.Duration, want bool) {
	tb.Helper()
	got, err := l.TryLock(context.Background(), name, owner, now, ttl)
	if err != nil {
		tb.Fatalf("TryLock(%s, %s, %v, %v): %v", name, owner, now, ttl, err)
	}
	if got != want {
		tb.Fatalf("TryLock(%s, %s, %v, %v) = %t, want %t", name, owner, now, ttl, got, want)
	}
}

func mustUnlock(tb testing.TB, l hookbox.Locker, name, owner string) {
	tb.Helper()
	if err := l.Unlock(context.Background(), name, owner); err != nil {
		tb.Fatalf("Unlock(%s, %s): %v", name, owner, err)
	}
}

// A free lock is taken; its owner renews it; another owner is refused
// while it holds.
func testLockOK(t *testing.T, l hookbox.Locker) {
	mustTryLock(t, l, "reconcile", "a", lockBase, time.Minute, true)
	mustTryLock(t, l, "reconcile", "b", lockBase, time.Minute, false)
	mustTryLock(t, l, "reconcile", "a", lockBase.Add(30*time.Second), time.Minute, true)
	// Renewed: still held past the first ttl.
	mustTryLock(t, l, "reconcile", "b", lockBase.Add(80*time.Second), time.Minute, false)
	mustTryLock(t, l, "reconcile", "b", lockBase.Add(90*time.Second), time.Minute, false)
}

// A lock is held through now+ttl and free a microsecond later, for
// someone else; the previous owner then is refused.
func testLockExpiry(t *testing.T, l hookbox.Locker) {
	mustTryLock(t, l, "reconcile", "a", lockBase, time.Minute, true)
	mustTryLock(t, l, "reconcile", "b", lockBase.Add(time.Minute), time.Minute, false)
	mustTryLock(t, l, "reconcile", "b", lockBase.Add(time.Minute+time.Microsecond), time.Minute, true)
	mustTryLock(t, l, "reconcile", "a", lockBase.Add(time.Minute+time.Second), time.Minute, false)
}

// An owner whose lock expired, and that nobody took, gets it back.
func testLockRenewAfterExpiry(t *testing.T, l hookbox.Locker) {
	mustTryLock(t, l, "reconcile", "a", lockBase, time.Second, true)
	mustTryLock(t, l, "reconcile", "a", lockBase.Add(time.Hour), time.Second, true)
	mustTryLock(t, l, "reconcile", "b", lockBase.Add(time.Hour), time.Second, false)
}

// Locks of different names are independent.
func testLockNames(t *testing.T, l hookbox.Locker) {
	mustTryLock(t, l, "reconcile", "a", lockBase, time.Minute, true)
	mustTryLock(t, l, "prune", "b", lockBase, time.Minute, true)
	mustTryLock(t, l, "reconcile", "b", lockBase, time.Minute, false)
	mustUnlock(t, l, "prune", "b")
	mustTryLock(t, l, "reconcile", "b", lockBase, time.Minute, false)
}

// Of many owners trying at once, exactly one gets the lock.
func testLockConcurrent(t *testing.T, l hookbox.Locker) {
	const owners = 16
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []string
		errs []error
	)
	for i := range owners {
		wg.Go(func() {
			owner := fmt.Sprintf("replica-%02d", i)
			ok, err := l.TryLock(context.Background(), "reconcile", owner, lockBase, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				won = append(won, owner)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("TryLock: %v", errs)
	}
	if len(won) != 1 {
		t.Fatalf("%d owners got the lock at once: %v", len(won), won)
	}
}

// An empty name or owner, or a ttl that is not positive, is EINVALID.
func testLockInvalid(t *testing.T, l hookbox.Locker) {
	for _, tc := range []struct {
		name, owner string
		ttl         time.Duration
	}{
		{"", "a", time.Minute},
		{"reconcile", "", time.Minute},
		{"reconcile", "a", 0},
		{"reconcile", "a", -time.Second},
	} {
		ok, err := l.TryLock(context.Background(), tc.name, tc.owner, lockBase, tc.ttl)
		if ok || hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Fatalf("TryLock(%q, %q, %v) = %t, %v; want EINVALID", tc.name, tc.owner, tc.ttl, ok, err)
		}
	}
}

// Unlock frees the lock at once for another owner.
func testUnlockOK(t *testing.T, l hookbox.Locker) {
	mustTryLock(t, l, "reconcile", "a", lockBase, time.Hour, true)
	mustUnlock(t, l, "reconcile", "a")
	mustTryLock(t, l, "reconcile", "b", lockBase, time.Hour, true)
}

// Unlock by someone who does not hold the lock changes nothing.
func testUnlockNotOwner(t *testing.T, l hookbox.Locker) {
	mustTryLock(t, l, "reconcile", "a", lockBase, time.Hour, true)
	mustUnlock(t, l, "reconcile", "b")
	mustTryLock(t, l, "reconcile", "b", lockBase, time.Hour, false)
	mustTryLock(t, l, "reconcile", "a", lockBase, time.Hour, true)
}

// Unlock of a lock nobody holds, or never taken, is not an error.
func testUnlockNotHeld(t *testing.T, l hookbox.Locker) {
	mustUnlock(t, l, "never", "a")
	mustTryLock(t, l, "reconcile", "a", lockBase, time.Minute, true)
	mustUnlock(t, l, "reconcile", "a")
	mustUnlock(t, l, "reconcile", "a")
}
