package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// migrator is a store whose migrations can be applied again while it is
// open (postgres.Store.Migrate, for a "hookbox migrate" command). Every
// store migrates at Open; this is the optional explicit form.
type migrator interface {
	Migrate(ctx context.Context) error
}

// runMigrations runs the migration cases on databases of h.NewDatabase.
func runMigrations(t *testing.T, h Harness) {
	if h.NewDatabase == nil {
		skipf(t, "Harness.NewDatabase is nil: migrations need a database opened several times")
	}
	t.Run("Twice", func(t *testing.T) { testMigrateTwice(t, h.NewDatabase(t)) })
	t.Run("Concurrent", func(t *testing.T) { testMigrateConcurrent(t, h.NewDatabase(t), h.NewDatabase(t)) })
}

// migrations returns db's applied versions, or nil when the harness does
// not say.
func migrations(tb testing.TB, db Database) []int {
	tb.Helper()
	if db.Migrations == nil {
		return nil
	}
	vs, err := db.Migrations(context.Background())
	if err != nil {
		tb.Fatalf("Database.Migrations: %v", err)
	}
	if len(vs) == 0 {
		tb.Fatalf("Database.Migrations: none recorded on a migrated database")
	}
	if !slices.IsSorted(vs) || len(slices.Compact(slices.Clone(vs))) != len(vs) {
		tb.Fatalf("migrations recorded %v: want each version once, in order", vs)
	}
	return vs
}

// Ensures migrating a database already migrated succeeds and changes
// nothing: a second Open (a restart), and the store's explicit Migrate when
// it has one, record no migration again and keep the data.
func testMigrateTwice(t *testing.T, db Database) {
	ctx := context.Background()
	first := openHandles(t, db, 1)[0]
	applied := migrations(t, db)
	ev := NewEvent("evt_1", "invoice.paid", base)
	MustInsert(t, first, ev)
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	again := openHandles(t, db, 1)[0]
	if m, ok := again.(migrator); ok {
		if err := m.Migrate(ctx); err != nil {
			t.Fatalf("Migrate on a migrated database: %v", err)
		}
	} else {
		t.Logf("%T has no Migrate method: migrated again by Open only", again)
	}
	if got := migrations(t, db); !slices.Equal(got, applied) {
		t.Fatalf("migrations recorded after migrating again: %v, want %v", got, applied)
	}
	AssertEvent(t, MustFindByID(t, again, ev.ID), Stored(ev), true)
	if res := MustInsert(t, again, ev); !res[0].Duplicate {
		t.Fatalf("re-insert after migrating again: not a Duplicate")
	}
}

// Ensures handles opened at the same moment on one new database (processes
// starting together) all succeed and leave one schema: the migrations
// recorded are those of ref, a database migrated by one handle alone, each
// once; and every handle reads and deduplicates what another wrote.
func testMigrateConcurrent(t *testing.T, db, ref Database) {
	const handles = 4
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		hs    = make([]hookbox.Store, handles)
		errs  = make([]error, handles)
	)
	for i := range handles {
		wg.Go(func() {
			<-start
			hs[i], errs[i] = db.Open(ctx)
		})
	}
	close(start)
	wg.Wait()
	for i, s := range hs {
		if errs[i] != nil {
			// s may be a nil store in a non-nil interface: not closed.
			t.Errorf("handle %d: open: %v", i, errs[i])
			continue
		}
		t.Cleanup(func() { s.Close() })
	}
	if t.Failed() {
		t.FailNow()
	}
	openHandles(t, ref, 1)
	if got, want := migrations(t, db), migrations(t, ref); !slices.Equal(got, want) {
		t.Fatalf("migrations recorded by concurrent handles: %v, want %v (one handle alone)", got, want)
	}

	for i, s := range hs {
		ev := NewEvent(fmt.Sprintf("evt_%d", i), "invoice.paid", base.Add(time.Duration(i)*time.Second))
		MustInsert(t, s, ev)
		next := hs[(i+1)%handles]
		AssertEvent(t, MustFindByID(t, next, ev.ID), Stored(ev), true)
		if res := MustInsert(t, next, ev); !res[0].Duplicate {
			t.Fatalf("handle %d: event of handle %d not a Duplicate", (i+1)%handles, i)
		}
	}
	if n := len(all(t, hs[0])); n != handles {
		t.Fatalf("%d events stored, want %d", n, handles)
	}
}
