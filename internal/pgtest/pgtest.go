// Package pgtest gives tests a PostgreSQL to work on: a fresh schema on the
// shared test server, or a throwaway cluster of their own that they may
// crash and restart. Only tests import it.
//
// The shared server is HOOKBOX_TEST_POSTGRES, by default DefaultDSN. When
// it does not answer, the tests that need it are skipped, loudly, unless CI
// is set: under CI a skipped PostgreSQL test would hide a broken store, so
// it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is the shared test server; HOOKBOX_TEST_POSTGRES overrides it.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test"

var (
	probeOnce sync.Once
	serverErr error // why no server answers, nil when one does
)

// serverDSN returns HOOKBOX_TEST_POSTGRES, or DefaultDSN.
func serverDSN() string {
	if dsn := os.Getenv("HOOKBOX_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// probe checks once per test binary that the server answers, and says so
// loudly on stderr when it does not and CI is unset.
func probe() error {
	probeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, serverDSN())
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		serverErr = err
		if err != nil && os.Getenv("CI") == "" {
			fmt.Fprintf(os.Stderr, "\n"+
				"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"+
				"!!! SKIPPING the PostgreSQL tests: no server answers at\n"+
				"!!!   %s\n"+
				"!!!   (%v)\n"+
				"!!! Start one, or set HOOKBOX_TEST_POSTGRES. Under CI this is a failure.\n"+
				"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n",
				Redact(serverDSN()), err)
		}
	})
	return serverErr
}

// DSN returns the shared test server's DSN. When no server answers it
// skips tb, loudly, or fails it when CI is set.
func DSN(tb testing.TB) string {
	tb.Helper()
	if err := probe(); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("PostgreSQL at %s does not answer, and CI is set: %v", Redact(serverDSN()), err)
		}
		tb.Skipf("SKIPPED: no PostgreSQL at %s (%v); set HOOKBOX_TEST_POSTGRES", Redact(serverDSN()), err)
	}
	return serverDSN()
}

// Redact returns dsn without its password, for messages.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "(the key=value DSN in HOOKBOX_TEST_POSTGRES)"
}

// Schema returns the name of a schema on the shared server that does not
// exist yet, for a store to create, and drops it, with everything in it,
// when tb ends.
func Schema(tb testing.TB) string {
	tb.Helper()
	dsn := DSN(tb)
	b := make([]byte, 6)
	rand.Read(b)
	name := "hbt_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+name+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// SchemaDSN creates a fresh schema on the shared server and returns a DSN
// whose search_path is that schema, for code that takes only a DSN (the
// hookbox binary). The schema is dropped when tb ends. Unless the server's
// DSN says otherwise, the returned one asks for sslmode=disable: the
// processes under test talk to a local server.
func SchemaDSN(tb testing.TB) string {
	tb.Helper()
	schema := Schema(tb)
	dsn := DSN(tb)
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		tb.Fatalf("HOOKBOX_TEST_POSTGRES is not a URL: cannot set the search_path of %s", Redact(dsn))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	if !q.Has("sslmode") {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}
