package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hookbox/hookbox"
)

// The group committer's pipeline (hookbox.PipelinedInserter): a batch
// commits with synchronous=NORMAL, which in WAL mode writes the batch's
// frames to the WAL without an fsync, and the committer answers its
// requests only after SyncInserts, an fsync of the WAL file that began
// after the commit returned, has made them durable. The next batch is
// inserted meanwhile: the writer no longer waits for the disk, and one
// fsync covers every batch committed while the last one ran.
//
// Why that is as durable as synchronous=FULL for what was answered: the
// fsync covers every frame written to the file before it, so a synced
// batch survives a power loss; frames that are not synced yet are only
// those of batches not answered yet. SQLite overwrites WAL frames only
// after a checkpoint has copied all of them into the database, and with
// synchronous=NORMAL a checkpoint syncs the WAL before it copies and the
// database after. Every other write of the store (claims, completions,
// replays, ...) still commits with synchronous=FULL: only the batch's own
// transaction runs at NORMAL.

var _ hookbox.PipelinedInserter = (*Store)(nil)

// InsertEventsNoSync is InsertEvents except that its commit does not wait
// for the disk: on a nil error the batch is committed, visible to every
// reader, and durable once a SyncInserts that began after this call
// returned has returned nil.
func (s *Store) InsertEventsNoSync(ctx context.Context, events []*hookbox.Event) ([]hookbox.InsertResult, error) {
	return s.insertEvents(ctx, events, false)
}

// noSync takes the writer's connection, sets it to synchronous=NORMAL for
// one transaction and returns it with what sets it back to FULL and gives
// it back to the pool. Not prepared statements: SQLite applies PRAGMA
// synchronous when it prepares one, not when it runs. A connection that
// cannot be set back is discarded (the pool opens a new one, at FULL).
// It fails once a sync has failed (SyncInserts).
func (s *Store) noSync(ctx context.Context) (*sql.Conn, func() error, error) {
	if err := s.syncFailed(); err != nil {
		return nil, nil, err
	}
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return nil, nil, unavailable("insert events: connection", err)
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		conn.Close()
		return nil, nil, unavailable("insert events: synchronous=NORMAL", err)
	}
	return conn, func() error {
		defer conn.Close()
		// Not ctx's: the setting must come back even when ctx is done.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = FULL"); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			return unavailable("insert events: synchronous=FULL", err)
		}
		return nil
	}, nil
}

// SyncInserts makes every batch InsertEventsNoSync had committed when it
// was called durable: an fsync of the database's WAL file. It may run
// while the writer inserts the next batch.
func (s *Store) SyncInserts(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return unavailable("sync", err)
	}
	s.walMu.Lock()
	defer s.walMu.Unlock()
	if s.walClosed {
		return errClosed
	}
	if s.syncErr != nil {
		return s.syncErr
	}
	f, err := s.walFileLocked()
	if err != nil {
		return unavailable("sync", err)
	}
	// An fsync is not interrupted: ctx bounds only the wait before it.
	if err := f.Sync(); err != nil {
		// After a failed fsync the kernel may have dropped the pages it
		// could not write and reports the error once: a later fsync can
		// succeed without them. So the failure sticks: every later batch
		// fails (503, and Stripe retries) until the process restarts and
		// reads what the disk really holds.
		s.syncErr = unavailable("sync", fmt.Errorf("fsync %s (no more pipelined commits until restart): %w", f.Name(), err))
		s.syncBroken.Store(true)
		return s.syncErr
	}
	return nil
}

// syncFailed returns the error of a failed SyncInserts, nil if none,
// without waiting for a sync in progress (the writer asks before every
// batch, while the last one syncs).
func (s *Store) syncFailed() error {
	if !s.syncBroken.Load() {
		return nil
	}
	s.walMu.Lock()
	defer s.walMu.Unlock()
	return s.syncErr
}

// walFileLocked returns the WAL file, opened once and again when the path
// names another file than the one open (SQLite deletes the WAL only when
// its last connection closes, after a checkpoint that synced the
// database). A file opened anew gets its directory synced too, as SQLite
// does for a file it creates: its name must survive a power loss.
func (s *Store) walFileLocked() (*os.File, error) {
	path := s.walPath
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("the WAL: %w", err) // a commit made it: its absence is an error
	}
	if s.wal != nil && os.SameFile(fi, s.walInfo) {
		return s.wal, nil
	}
	if s.wal != nil {
		s.wal.Close()
		s.wal = nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open the WAL: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	if s.walInfo, err = f.Stat(); err != nil {
		f.Close()
		return nil, err
	}
	s.wal = f
	return f, nil
}

// syncDir fsyncs a directory, so that the names created in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// closeWAL closes the file SyncInserts syncs (Close).
func (s *Store) closeWAL() error {
	s.walMu.Lock()
	defer s.walMu.Unlock()
	s.walClosed = true
	if s.wal == nil {
		return nil
	}
	err := s.wal.Close()
	s.wal = nil
	return err
}
