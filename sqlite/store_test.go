package sqlite_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/storetest"
)

var timeBase = time.Date(2026, 11, 27, 5, 20, 0, 987654321, time.UTC)

// mustOpenStore opens a store on a new file in a temp directory and closes
// it when the test ends.
func mustOpenStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	return mustOpenPath(tb, filepath.Join(tb.TempDir(), "hookbox.db"))
}

func mustOpenPath(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(path)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

// Ensures the SQLite store passes the conformance suite, each case on a
// fresh database file.
func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open:        func(tb testing.TB) hookbox.Store { return mustOpenStore(tb) },
		NewDatabase: newDatabase,
	})
}

// newDatabase names a database file that does not exist yet, in a temp
// directory, for the suite to open several times as several processes
// would.
func newDatabase(tb testing.TB) storetest.Database {
	path := filepath.Join(tb.TempDir(), "hookbox.db")
	return storetest.Database{
		Open: func(context.Context) (hookbox.Store, error) { return sqlite.Open(path) },
		Migrations: func(ctx context.Context) ([]int, error) {
			u := url.URL{Scheme: "file", Path: path, RawQuery: "mode=ro"}
			db, err := sql.Open("sqlite", u.String())
			if err != nil {
				return nil, err
			}
			defer db.Close()
			rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var vs []int
			for rows.Next() {
				var v int
				if err := rows.Scan(&v); err != nil {
					return nil, err
				}
				vs = append(vs, v)
			}
			return vs, rows.Err()
		},
	}
}

// Ensures paths that SQLite would read as URI syntax are plain file names.
func TestOpen_OddPath(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a?b.db", "c#d.db", "e%20f.db", "g h.db"} {
		s := mustOpenPath(t, filepath.Join(dir, name))
		storetest.MustInsert(t, s, storetest.NewEvent("evt_1", "x", timeBase))
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("%q: file not created where asked: %v", name, err)
		}
	}
}

// Ensures an in-memory database is refused: the writer and the readers
// would each see their own.
func TestOpen_ErrMemory(t *testing.T) {
	for _, p := range []string{"", ":memory:"} {
		_, err := sqlite.Open(p)
		if hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Fatalf("Open(%q): %v, want EINVALID", p, err)
		}
	}
}

// Ensures Ping fails with EUNAVAILABLE once closed.
func TestPing_ErrClosed(t *testing.T) {
	s := mustOpenStore(t)
	s.Close()
	if err := s.Ping(context.Background()); hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("Ping after Close: %v, want EUNAVAILABLE", err)
	}
}

// Ensures what the SQLite store adds to the Queue contract: a lease is not
// reentrant (its own owner cannot claim the event by id again while it
// holds), ReleaseClaims stamps UpdatedAt from NowFunc, and bad claim
// arguments are EINVALID.
func TestQueue_SQLite(t *testing.T) {
	ctx := context.Background()
	released := timeBase.Add(42 * time.Minute)
	s, err := sqlite.Options{NowFunc: func() time.Time { return released }}.Open(filepath.Join(t.TempDir(), "hookbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev := storetest.NewEvent("evt_1", "invoice.paid", timeBase)
	storetest.MustInsert(t, s, ev)
	now := timeBase.Add(time.Hour)

	if _, err := s.ClaimEvent(ctx, ev.ID, "w1", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimEvent(ctx, ev.ID, "w1", now, time.Minute); hookbox.ErrorCode(err) != hookbox.ECONFLICT {
		t.Fatalf("reentrant claim: %v, want ECONFLICT", err)
	}
	if n, err := s.ReleaseClaims(ctx, "w1", []string{ev.ID}); n != 1 || err != nil {
		t.Fatalf("ReleaseClaims = %d, %v", n, err)
	}
	got := storetest.MustFindByID(t, s, ev.ID)
	if !got.UpdatedAt.Equal(released.Truncate(time.Microsecond)) || !got.NextAttemptAt.IsZero() {
		t.Fatalf("released: updated %v, next %v; want %v, zero", got.UpdatedAt, got.NextAttemptAt, released)
	}

	for _, tc := range []struct {
		owner string
		now   time.Time
		lease time.Duration
	}{
		{"", now, time.Minute},
		{"w", now, 0},
		{"w", time.Time{}, time.Minute},
	} {
		if _, err := s.ClaimEvents(ctx, tc.owner, tc.now, tc.lease, 1); hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Errorf("ClaimEvents(%q, %v, %v): %v, want EINVALID", tc.owner, tc.now, tc.lease, err)
		}
		if _, err := s.ClaimEvent(ctx, ev.ID, tc.owner, tc.now, tc.lease); hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Errorf("ClaimEvent(%q, %v, %v): %v, want EINVALID", tc.owner, tc.now, tc.lease, err)
		}
	}
}

// Ensures every queue method fails with EUNAVAILABLE once the store is
// closed.
func TestQueue_ErrClosed(t *testing.T) {
	s := mustOpenStore(t)
	s.Close()
	ctx := context.Background()
	now := timeBase
	_, err1 := s.ClaimEvents(ctx, "w", now, time.Minute, 1)
	_, err2 := s.ClaimEvent(ctx, "evt_1", "w", now, time.Minute)
	err3 := s.CompleteClaim(ctx, hookbox.Completion{EventID: "evt_1", Owner: "w", Now: now})
	_, err4 := s.ReleaseClaims(ctx, "w", []string{"evt_1"})
	_, err5 := s.ReplayEvents(ctx, hookbox.ReplayFilter{State: hookbox.StateDead}, now)
	_, err6 := s.FindDeliveries(ctx, "evt_1")
	_, err7 := s.FindAttempts(ctx, "evt_1")
	_, _, err8 := s.PruneEvents(ctx, now, now)
	_, _, err9 := s.CountEvents(ctx)
	for i, err := range []error{err1, err2, err3, err4, err5, err6, err7, err8, err9} {
		if hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
			t.Errorf("method %d after Close: %v, want EUNAVAILABLE", i+1, err)
		}
	}
}
