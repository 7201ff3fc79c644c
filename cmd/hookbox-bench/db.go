package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// defaultPostgresDSN is the local PostgreSQL server the benchmark uses
// with --db postgres; each round gets a fresh schema on it.
const defaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// roundDB returns the --db value (HOOKBOX_DB) of one round's fresh store:
// a SQLite file in dir, or a new schema on the PostgreSQL server pgDSN
// names, set as the DSN's search_path. drop removes the schema (nothing
// for SQLite: the file goes with the temporary directory); with keep it
// only says where the schema is.
func roundDB(ctx context.Context, db, pgDSN, dir string, keep bool, stderr io.Writer) (dbURL string, drop func(), err error) {
	if db != "postgres" {
		return "sqlite:" + filepath.Join(dir, "bench.db"), func() {}, nil
	}
	u, err := url.Parse(pgDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("--pg-dsn: want postgres://user@host:port/dbname")
	}
	var b [4]byte
	rand.Read(b[:])
	schema := fmt.Sprintf("hookbox_bench_%d_%s", time.Now().Unix(), hex.EncodeToString(b[:]))
	if err := pgExec(ctx, pgDSN, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop = func() {
		if keep {
			fmt.Fprintf(stderr, "keeping schema %s\n", schema)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pgExec(ctx, pgDSN, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			fmt.Fprintf(stderr, "drop schema %s: %v\n", schema, err)
		}
	}
	return u.String(), drop, nil
}

// pgExec runs one statement on its own connection.
func pgExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// storeSize returns the bytes the store of dbURL (a roundDB value) takes
// on disk: the SQLite file with its WAL, or the relations of the schema
// its search_path names with their indexes and TOAST.
func storeSize(ctx context.Context, dbURL string) (int64, error) {
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		var n int64
		for _, f := range []string{path, path + "-wal"} {
			st, err := os.Stat(f)
			if err == nil {
				n += st.Size()
			} else if f == path {
				return 0, err
			}
		}
		return n, nil
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return 0, err
	}
	schema := u.Query().Get("search_path")
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
		FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
		WHERE s.nspname = $1 AND c.relkind IN ('r', 'm')`, schema).Scan(&n)
	return n, err
}
