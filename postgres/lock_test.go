package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/postgres"
	"github.com/hookbox/hookbox/storetest"
)

// Ensures the PostgreSQL store passes the Locker conformance cases, each
// on a fresh schema.
func TestLocker(t *testing.T) {
	pgtest.DSN(t)
	storetest.RunLocker(t, func(tb testing.TB) hookbox.Locker { return mustOpenStore(tb) })
}

// Ensures two stores on one schema (two replicas, each with its pool)
// share the locks.
func TestLocker_Replicas(t *testing.T) {
	schema := pgtest.Schema(t)
	a := mustOpenOn(t, pgtest.DSN(t), postgres.Options{Schema: schema})
	b := mustOpenOn(t, pgtest.DSN(t), postgres.Options{Schema: schema})
	ctx := context.Background()
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

// Ensures a name or owner PostgreSQL text cannot hold is EINVALID, and
// that TryLock and Unlock fail with EUNAVAILABLE once closed.
func TestLocker_Errors(t *testing.T) {
	s := mustOpenStore(t)
	ctx := context.Background()
	if _, err := s.TryLock(ctx, "re\x00concile", "a", timeBase, time.Minute); hookbox.ErrorCode(err) != hookbox.EINVALID {
		t.Fatalf("NUL in name: %v", err)
	}
	if err := s.Unlock(ctx, "re\x00concile", "a"); err != nil {
		t.Fatalf("Unlock with NUL: %v", err)
	}
	s.Close()
	if _, err := s.TryLock(ctx, "reconcile", "a", timeBase, time.Minute); hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("TryLock after Close: %v", err)
	}
	if err := s.Unlock(ctx, "reconcile", "a"); hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("Unlock after Close: %v", err)
	}
}
