package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/storetest"
)

// mustCheckIntegrity fails unless PRAGMA integrity_check on the database
// file at path answers ok.
func mustCheckIntegrity(tb testing.TB, path string) {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		tb.Fatalf("integrity_check of %s: %q %v", path, res, err)
	}
}

// Ensures a backup taken while another goroutine keeps inserting holds
// every event committed before Backup was called, bodies byte for byte,
// passes integrity_check, is a single 0600 file (no .tmp, -wal or -shm
// left), and holds nothing committed after Backup returned.
func TestBackup_UnderWrites(t *testing.T) {
	s := mustOpenStore(t)
	ctx := context.Background()
	pad := bytes.Repeat([]byte("x"), 2048)
	newEvent := func(i int) *hookbox.Event {
		ev := storetest.NewEvent(fmt.Sprintf("evt_%06d", i), "invoice.paid", timeBase.Add(time.Duration(i)*time.Millisecond))
		ev.Body = fmt.Appendf(nil, `{"id":"evt_%06d","pad":"%s","n":%d}`, i, pad, i)
		return ev
	}
	var before []*hookbox.Event
	for i := range 2000 {
		before = append(before, newEvent(i))
	}
	for i := 0; i < len(before); i += 200 {
		storetest.MustInsert(t, s, before[i:i+200]...)
	}

	var (
		stop    atomic.Bool
		next    atomic.Int64
		wg      sync.WaitGroup
		running = make(chan struct{})
	)
	next.Store(int64(len(before)))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			i := int(next.Add(1))
			if _, err := s.InsertEvents(ctx, []*hookbox.Event{newEvent(i)}); err != nil {
				t.Error(err)
				return
			}
			if i == len(before)+1 {
				close(running)
			}
		}
	}()
	<-running
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := s.Backup(ctx, dst); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()
	after := newEvent(1 << 30)
	storetest.MustInsert(t, s, after)

	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("copy mode %v, want 0600", fi.Mode().Perm())
	}
	for _, suffix := range []string{".tmp", "-wal", "-shm", "-journal"} {
		if _, err := os.Stat(dst + suffix); err == nil {
			t.Fatalf("%s left beside the copy", suffix)
		}
	}
	mustCheckIntegrity(t, dst)

	c := mustOpenPath(t, dst)
	for _, ev := range before {
		got, err := c.FindEventByID(ctx, ev.ID)
		if err != nil {
			t.Fatalf("%s: %v", ev.ID, err)
		}
		if !bytes.Equal(got.Body, ev.Body) {
			t.Fatalf("%s: body differs", ev.ID)
		}
	}
	if _, err := c.FindEventByID(ctx, after.ID); hookbox.ErrorCode(err) != hookbox.ENOTFOUND {
		t.Fatalf("an event inserted after the backup is in the copy: %v", err)
	}
}

// Ensures Backup never waits for the write lock: it completes while
// another connection holds a write transaction open, and the copy lacks
// that transaction's uncommitted insert.
func TestBackup_WriteLockHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookbox.db")
	s := mustOpenPath(t, path)
	storetest.MustInsert(t, s, storetest.NewEvent("evt_committed", "x", timeBase))

	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE events SET type = 'uncommitted' WHERE id = 'evt_committed'`); err != nil {
		t.Fatal(err)
	}

	// Shorter than busy_timeout: a backup that waited for the lock fails.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := s.Backup(ctx, dst); err != nil {
		t.Fatalf("backup while another connection writes: %v", err)
	}
	got, err := mustOpenPath(t, dst).FindEventByID(context.Background(), "evt_committed")
	if err != nil || got.Type != "x" {
		t.Fatalf("copy: %+v %v, want the committed type", got, err)
	}
}

// Ensures Backup never overwrites: an existing file, or a .tmp left by
// another backup, is EINVALID and stays as it was.
func TestBackup_ErrExists(t *testing.T) {
	s := mustOpenStore(t)
	dir := t.TempDir()
	for _, name := range []string{"copy.db", "copy.db.tmp"} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(p)
			err := s.Backup(context.Background(), filepath.Join(dir, "copy.db"))
			if hookbox.ErrorCode(err) != hookbox.EINVALID {
				t.Fatalf("Backup: %v, want EINVALID", err)
			}
			if b, err := os.ReadFile(p); err != nil || string(b) != "keep me" {
				t.Fatalf("%s changed: %q %v", name, b, err)
			}
		})
	}
}

// Ensures Backup on a closed store is EUNAVAILABLE and writes nothing.
func TestBackup_ErrClosed(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "hookbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := s.Backup(context.Background(), dst); hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("Backup after Close: %v, want EUNAVAILABLE", err)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Fatal("a copy was written")
	}
}
