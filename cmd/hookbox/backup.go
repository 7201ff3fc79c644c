package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
)

// errBackupPostgres is the answer to a backup of a PostgreSQL store, which
// has its own tools.
var errBackupPostgres = errors.New("backup: --db is PostgreSQL: back it up with pg_dump " +
	"(pg_dump --format=custom --file=hookbox.dump \"$HOOKBOX_DB\") and restore with pg_restore; see the README")

// backuper is a store that copies itself consistently (sqlite.Store).
type backuper interface {
	Backup(ctx context.Context, path string) error
}

// runBackup writes a consistent copy of the SQLite store to FILE while
// "hookbox serve" may keep ingesting (see sqlite.Store.Backup).
func runBackup(ctx context.Context, env *environ, args []string) error {
	fset := flag.NewFlagSet("hookbox backup", flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	fset.Usage = func() {
		fmt.Fprint(env.Stderr, `Usage: hookbox backup [--db sqlite:PATH] FILE

Writes a consistent copy of the SQLite store to FILE while "hookbox serve"
keeps running: every event acknowledged before the backup began is in it.
FILE must not exist (it is never overwritten); it is created with mode 0600.
For PostgreSQL use pg_dump and pg_restore.

`)
		fset.PrintDefaults()
	}
	ef := &envFlags{fs: fset, getenv: env.Getenv}
	db := dbFlag(ef)
	// Accept "backup FILE --db X" as well as "backup --db X FILE".
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := ef.parse(args); err != nil {
		return err
	}
	rest := fset.Args()
	if file == "" && len(rest) > 0 {
		file, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return fmt.Errorf("backup: unexpected argument %q", rest[0])
	}
	if file == "" {
		return errors.New("backup: want the FILE to write, e.g. hookbox backup hookbox-backup.db")
	}
	u, err := parseDB(*db)
	if err != nil {
		return err
	}
	if u.Driver == "postgres" {
		return errBackupPostgres
	}
	if fi, err := os.Stat(filepath.Dir(file)); err != nil || !fi.IsDir() {
		return fmt.Errorf("backup: the directory of %s does not exist: create it first", file)
	}
	s, err := openStore(ctx, u, true)
	if err != nil {
		return err
	}
	defer s.Close()
	b, ok := s.(backuper)
	if !ok {
		return fmt.Errorf("backup: the %s store cannot copy itself", u.Driver)
	}
	start := time.Now()
	if err := b.Backup(ctx, file); hookbox.ErrorCode(err) == hookbox.EINVALID {
		return errors.New(hookbox.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	var size int64
	if fi, err := os.Stat(file); err == nil {
		size = fi.Size()
	}
	fmt.Fprintf(env.Stdout, "backed up %s to %s (%.1f MB in %v)\n", u, file, float64(size)/1e6, time.Since(start).Round(time.Millisecond))
	return nil
}
