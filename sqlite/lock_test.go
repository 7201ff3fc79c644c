package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/storetest"
)

// Ensures the SQLite store passes the Locker conformance cases.
func TestLocker(t *testing.T) {
	storetest.RunLocker(t, func(tb testing.TB) hookbox.Locker { return mustOpenStore(tb) })
}

// Ensures two stores on one file (two processes) share the locks.
func TestLocker_SharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookbox.db")
	a, b := mustOpenPath(t, path), mustOpenPath(t, path)
	ctx := t.Context()
	if ok, err := a.TryLock(ctx, "reconcile", "a", timeBase, time.Minute); !ok || err != nil {
		t.Fatalf("a: %t, %v", ok, err)
	}
	if ok, err := b.TryLock(ctx, "reconcile", "b", timeBase, time.Minute); ok || err != nil {
		t.Fatalf("b while a holds: %t, %v", ok, err)
	}
	if err := a.Unlock(ctx, "reconcile", "a"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TryLock(ctx, "reconcile", "b", timeBase, time.Minute); !ok || err != nil {
		t.Fatalf("b after a unlocked: %t, %v", ok, err)
	}
}

// Ensures TryLock and Unlock fail with EUNAVAILABLE once closed.
func TestLocker_ErrClosed(t *testing.T) {
	s := mustOpenStore(t)
	s.Close()
	if _, err := s.TryLock(t.Context(), "reconcile", "a", timeBase, time.Minute); hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("TryLock: %v", err)
	}
	if err := s.Unlock(t.Context(), "reconcile", "a"); hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("Unlock: %v", err)
	}
}
