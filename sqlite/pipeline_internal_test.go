package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/storetest"
)

// synchronous is the writer connection's PRAGMA synchronous (2: FULL).
func synchronous(t *testing.T, s *Store) int {
	t.Helper()
	var v int
	if err := s.writer.QueryRow("PRAGMA synchronous").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Ensures InsertEventsNoSync stores a batch as InsertEvents does (another
// store on the file reads it, duplicates are reported) and leaves the
// writer at synchronous=FULL for every other transaction, also after a
// batch that failed; and that SyncInserts syncs the WAL, and fails once
// the store is closed.
func TestInsertEventsNoSync(t *testing.T) {
	s, path := openTest(t)
	ctx := context.Background()
	if got := synchronous(t, s); got != 2 {
		t.Fatalf("synchronous = %d at open, want 2 (FULL)", got)
	}
	var evs []*hookbox.Event
	for i := range 3 {
		evs = append(evs, storetest.NewEvent(fmt.Sprintf("evt_%d", i), "x", time.Now()))
	}
	var inTx []int // synchronous inside each insert's transaction
	s.inTx = func(tx *sql.Tx) {
		var v int
		if err := tx.QueryRow("PRAGMA synchronous").Scan(&v); err != nil {
			t.Error(err)
		}
		inTx = append(inTx, v)
	}
	res, err := s.InsertEventsNoSync(ctx, append(evs, evs[0]))
	if err != nil || len(res) != 4 || res[0].Duplicate || !res[3].Duplicate {
		t.Fatalf("InsertEventsNoSync = %+v, %v; want 3 new and the repeat a duplicate", res, err)
	}
	if got := synchronous(t, s); got != 2 {
		t.Fatalf("synchronous = %d after InsertEventsNoSync, want 2 (FULL)", got)
	}
	if err := s.SyncInserts(ctx); err != nil {
		t.Fatalf("SyncInserts: %v", err)
	}
	if _, err := s.InsertEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(inTx) != "[1 2]" {
		t.Fatalf("synchronous in the transactions of InsertEventsNoSync, InsertEvents: %v, want [1 2] (NORMAL, FULL)", inTx)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.InsertEventsNoSync(done, evs); err == nil {
		t.Fatal("InsertEventsNoSync with a done ctx succeeded")
	}
	if got := synchronous(t, s); got != 2 {
		t.Fatalf("synchronous = %d after a failed InsertEventsNoSync, want 2 (FULL)", got)
	}
	other, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, ev := range evs {
		if _, err := other.FindEventByID(ctx, ev.ID); err != nil {
			t.Fatalf("%s from another store on the file: %v", ev.ID, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncInserts(ctx); !errors.Is(err, errClosed) && hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("SyncInserts after Close: %v, want EUNAVAILABLE", err)
	}
}

// Ensures the background checkpointer copies the WAL into the database as
// events are stored, so that the WAL file stays near CheckpointPages
// without the writer checkpointing (its bound is twice that), and stops
// on Close.
func TestCheckpointer(t *testing.T) {
	path := t.TempDir() + "/ckpt.db"
	const pages = 60
	s, err := Options{CheckpointPages: pages}.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for b := range 40 {
		var evs []*hookbox.Event
		for i := range 20 {
			ev := storetest.BenchEvent(int64(b*20 + i))
			evs = append(evs, ev)
		}
		if _, err := s.InsertEventsNoSync(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a background checkpoint", func() bool { return s.ckpt.runs.Load() >= 3 })
	// 800 events of ~2.7 KB bodies: about 2,000 frames without a checkpoint.
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() > 4*pages*4096+64<<10 {
		t.Fatalf("WAL file %v (%v) after %d background checkpoints, want about %d pages at most", fi.Size(), err, s.ckpt.runs.Load(), 2*pages)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
