package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hookbox/hookbox"
)

// Backup writes a consistent copy of the database to path, a file that
// must not exist, while the Store (and any other process on the same file)
// keeps reading and writing.
//
// The copy is SQLite's VACUUM INTO, on a connection of its own. It reads
// the whole database in one read transaction, so the copy holds exactly
// the transactions committed when Backup began: every insert acknowledged
// before the call is in it, with its body byte for byte, and nothing
// half-written is. It never takes the write lock: in WAL mode writers keep
// committing while it runs (they append to the -wal file, which the read
// transaction ignores), so ingest is not held up. The copy is one
// self-contained, compacted file (no -wal or -shm beside it) that Open
// takes as it is.
//
// The copy is written to path+".tmp", created with mode 0600 and refused
// when it exists (another backup to the same path is running, or one was
// interrupted: remove it). It is synced to disk, then linked to path, so a
// file created at path meanwhile is never replaced, and the directory is
// synced. On a nil error the copy at path is complete and durable. On an
// error the .tmp file is removed, and path is left absent unless the error
// came after the copy was linked there (removing the .tmp name or syncing
// the directory failed).
//
// It fails with EINVALID when path or path.tmp exists, EUNAVAILABLE when
// the store is closed, and an uncoded error when SQLite or the file system
// fails (a full disk, ctx done).
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.closed.Load() {
		return errClosed
	}
	if path == "" {
		return hookbox.Errorf(hookbox.EINVALID, "backup: want a file name")
	}
	// Absolute, so that SQLite never reads the name as a "file:" URI.
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Lstat(abs); err == nil {
		return hookbox.Errorf(hookbox.EINVALID, "backup: %s exists; it is never overwritten", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := abs + ".tmp"
	// VACUUM INTO writes into an existing empty file: creating it here
	// chooses its mode and keeps two backups from sharing it.
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return hookbox.Errorf(hookbox.EINVALID, "backup: %s exists: another backup is writing it, or one was interrupted (remove it)", path+".tmp")
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	if err := s.backupTo(ctx, tmp, abs); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// backupTo copies the database into the empty file tmp, syncs it, links
// it to dst and syncs the directory.
func (s *Store) backupTo(ctx context.Context, tmp, dst string) error {
	// A connection of its own: the writer must stay free for ingest, and
	// the readers' query_only refuses VACUUM INTO (it writes a file, if
	// not this database). It only reads the database and never takes the
	// write lock.
	db, err := sql.Open("sqlite", dsn(s.path, s.busy, false))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("backup: vacuum into: %w", err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// VACUUM INTO does not sync the file it writes.
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: sync: %w", err)
	}
	// A link, unlike a rename, fails when dst appeared meanwhile.
	if err := os.Link(tmp, dst); errors.Is(err, fs.ErrExist) {
		return hookbox.Errorf(hookbox.EINVALID, "backup: %s was created during the backup; it is never overwritten", dst)
	} else if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("backup: sync directory: %w", err)
	}
	return nil
}

// syncFile fsyncs the file or directory at path.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
