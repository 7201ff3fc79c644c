package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/migration"
	"github.com/jackc/pgx/v5"
)

// migrationFS holds the schema migrations, applied in file name order. A
// file is named NNNN_description.sql; NNNN is its version. Never edit a
// released migration: add the next one.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the key of the transaction-level advisory lock that
// serialises migrations: replicas starting at the same moment apply each
// migration once, the others wait and then find nothing to do. The value
// is arbitrary ("hookbox" in ASCII) and constant across releases.
const migrationLock int64 = 0x686f6f6b626f78

// migrations returns the embedded migrations in version order.
func migrations() ([]migration.File, error) {
	return migration.Load(migrationFS, "migrations")
}

// Migrate creates the store's schema if needed and applies every embedded
// migration not yet recorded in its schema_migrations table. Open calls it;
// it is exported for a "hookbox migrate" command and is idempotent.
//
// Everything happens in one transaction that first takes a transaction
// advisory lock: PostgreSQL DDL is transactional, so a failed migration
// leaves the schema as it was, and replicas migrating at the same moment
// wait for each other instead of racing (CREATE SCHEMA IF NOT EXISTS and
// CREATE TABLE IF NOT EXISTS are not safe against concurrent callers on
// their own).
//
// It fails with EINVALID when the schema was migrated by a newer hookbox (a
// version this build does not know), EUNAVAILABLE when the store is closed
// or the database cannot be reached, and an uncoded error when a migration
// fails.
func (s *Store) Migrate(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	err = s.inTx(ctx, "migrate", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		if s.opts.Schema != "" {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.opts.Schema}.Sanitize()); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     NOT NULL PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		var newest int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
			return err
		}
		if known := ms[len(ms)-1].Version; newest > known {
			return hookbox.Errorf(hookbox.EINVALID, "database schema version %d is newer than this build knows (%d)", newest, known)
		}
		for _, m := range ms {
			if m.Version <= newest {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return dbError("migrate", err)
	}
	return nil
}
