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
	// The bound is 8 times CheckpointPages, not nearer: the file keeps its
	// largest size, and while a busy machine delays the checkpointer the
	// writer runs ahead (seen: 323 pages once in ten runs of the package).
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() > 8*pages*4096+64<<10 {
		t.Fatalf("WAL file %v (%v) after %d background checkpoints, want at most about %d pages", fi.Size(), err, s.ckpt.runs.Load(), 8*pages)
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

// Ensures no other write of the store commits at synchronous=NORMAL while
// pipelined batches run: the writer's connection is held from the NORMAL
// pragma to the FULL one, so a transaction that waits for it meanwhile
// (a claim, a completion, reconcile's InsertEvents) gets it back at FULL.
func TestInsertEventsNoSync_OthersStayFull(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for b := 0; ; b++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			ev := storetest.NewEvent(fmt.Sprintf("evt_%d", b), "x", time.Now())
			if _, err := s.InsertEventsNoSync(ctx, []*hookbox.Event{ev}); err != nil {
				done <- err
				return
			}
		}
	}()
	var normal, full int
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		tx, err := s.writer.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var v int
		if err := tx.QueryRow("PRAGMA synchronous").Scan(&v); err != nil {
			t.Fatal(err)
		}
		tx.Rollback()
		if v == 2 {
			full++
		} else {
			normal++
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if normal != 0 || full == 0 {
		t.Fatalf("other transactions at NORMAL: %d, at FULL: %d; want none at NORMAL", normal, full)
	}
}

// Ensures Close while an insert is in flight neither panics nor loses the
// insert's answer: the insert finishes (or fails) and Close returns.
func TestClose_DuringInsert(t *testing.T) {
	s, _ := openTest(t)
	entered, release := make(chan struct{}), make(chan struct{})
	s.inTx = func(*sql.Tx) {
		close(entered)
		<-release
	}
	result := make(chan error, 1)
	go func() {
		_, err := s.InsertEventsNoSync(context.Background(), []*hookbox.Event{storetest.NewEvent("evt_1", "x", time.Now())})
		result <- err
	}()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	time.Sleep(50 * time.Millisecond) // Close waits for the writer
	close(release)
	if err := <-result; err != nil && hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("insert during Close: %v, want success or EUNAVAILABLE", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// Ensures a database opened through a symbolic link syncs the WAL SQLite
// writes, beside the file the link points to, and not a file named after
// the link.
func TestSyncInserts_Symlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(dir+"/data", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir+"/data/real.db", dir+"/link.db"); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir + "/link.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.InsertEventsNoSync(ctx, []*hookbox.Event{storetest.NewEvent("evt_1", "x", time.Now())}); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncInserts(ctx); err != nil {
		t.Fatalf("SyncInserts through a link: %v", err)
	}
	if got, want := s.wal.Name(), dir+"/data/real.db-wal"; got != want {
		t.Fatalf("synced %s, want %s", got, want)
	}
}

// Ensures a failed fsync sticks: every later pipelined batch and sync
// fails, so that nothing is answered on pages the kernel may have dropped.
func TestSyncInserts_FailureSticks(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	s.walMu.Lock()
	s.syncErr = unavailable("sync", errors.New("fsync: input/output error"))
	s.syncBroken.Store(true)
	s.walMu.Unlock()
	if err := s.SyncInserts(ctx); err == nil {
		t.Fatal("SyncInserts after a failed fsync succeeded")
	}
	if _, err := s.InsertEventsNoSync(ctx, []*hookbox.Event{storetest.NewEvent("evt_1", "x", time.Now())}); err == nil {
		t.Fatal("InsertEventsNoSync after a failed fsync succeeded")
	}
	if _, err := s.FindEventByID(ctx, "evt_1"); hookbox.ErrorCode(err) != hookbox.ENOTFOUND {
		t.Fatalf("evt_1 after a refused batch: %v, want ENOTFOUND", err)
	}
}

// Ensures an insert that commits after Close has stopped the checkpointer
// (it passed the closed check before) can still count its events: added
// after close neither panics nor blocks.
func TestCheckpointer_AddedAfterClose(t *testing.T) {
	s, _ := openTest(t)
	c := s.ckpt
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c.added(int(c.every)) // each would wake it
	}
}

// Ensures a pipelined batch does not wait for the sync in progress (which
// holds walMu for its fsync): the writer inserts while the disk syncs.
func TestInsertEventsNoSync_DuringSync(t *testing.T) {
	s, _ := openTest(t)
	s.walMu.Lock() // a sync in progress
	done := make(chan error, 1)
	go func() {
		_, err := s.InsertEventsNoSync(context.Background(), []*hookbox.Event{storetest.NewEvent("evt_1", "x", time.Now())})
		done <- err
	}()
	select {
	case err := <-done:
		s.walMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		s.walMu.Unlock()
		t.Fatal("InsertEventsNoSync waited for the sync in progress")
	}
}
