package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"regexp"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/migration"
)

// migrationFS holds the schema migrations, applied in file name order. A
// file is named NNNN_description.sql; NNNN is its version. Never edit a
// released migration: add the next one.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations returns the embedded migrations in version order.
func migrations() ([]migration.File, error) {
	return migration.Load(migrationFS, "migrations")
}

// migrate applies every embedded migration not yet recorded in
// schema_migrations, each in its own transaction together with its record,
// so a failed migration leaves the schema at the previous version. The
// writer's transactions begin IMMEDIATE: two processes opening the same
// file at once apply each migration once.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	var newest int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if known := ms[len(ms)-1].Version; newest > known {
		return hookbox.Errorf(hookbox.EINVALID, "database schema version %d is newer than this build knows (%d)", newest, known)
	}

	for _, m := range ms {
		if err := apply(ctx, db, m); err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
	}
	return nil
}

// schemaEdit reports whether a migration edits sqlite_schema itself
// (0015): it turns writable_schema on, however it spells it.
var schemaEdit = regexp.MustCompile(`(?i)\bwritable_schema\s*=\s*(on|1|true|yes)\b`).MatchString

func apply(ctx context.Context, db *sql.DB, m migration.File) error {
	// One connection throughout: writable_schema, which a migration that
	// edits sqlite_schema turns on, is the connection's.
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var done bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.Version).Scan(&done); err != nil {
		return err
	}
	if done {
		return nil
	}
	edit := schemaEdit(m.SQL)
	var version int64
	if edit {
		if err := tx.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&version); err != nil {
			return err
		}
		// writable_schema is the connection's, not the transaction's: off
		// again whatever happens (RESET also reads the schema anew), once
		// the transaction has ended. Deferred after conn.Close, so it
		// runs first.
		defer func() {
			_ = tx.Rollback() // a no-op after Commit
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA writable_schema = RESET`)
		}()
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if edit {
		// SQLite's procedure for an edit of sqlite_schema: a new schema
		// version, so that every connection, this one included, parses
		// the schema again before its next statement.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA schema_version = %d`, version+1)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `PRAGMA writable_schema = RESET`); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}
