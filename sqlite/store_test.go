package sqlite_test

import (
	"context"
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
	storetest.Run(t, func(tb testing.TB) hookbox.Store { return mustOpenStore(tb) })
}

// Ensures data survives a close and reopen, and reopening applies no
// migration twice.
func TestOpen_Reopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookbox.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ev := storetest.NewEvent("evt_keep", "invoice.paid", timeBase)
	storetest.MustInsert(t, s, ev)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s := mustOpenPath(t, path)
		storetest.AssertEvent(t, storetest.MustFindByID(t, s, ev.ID), storetest.Stored(ev), true)
		res := storetest.MustInsert(t, s, ev)
		if !res[0].Duplicate {
			t.Fatalf("reinsert after reopen: not a duplicate")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
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
