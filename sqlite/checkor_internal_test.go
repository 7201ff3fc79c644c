package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// checkOrTables are the tables 0015 changes, each with a state its
// constraint refuses and an insert that names it.
var checkOrTables = []struct {
	table, before, after, insert string
}{
	{"events",
		"CHECK (state IN ('pending', 'delivering', 'delivered', 'dead'))",
		"CHECK (state = 'pending' OR state = 'delivering' OR state = 'delivered' OR state = 'dead')",
		`INSERT INTO events (id, type, object, created, livemode, account, api_version, received_at, client_addr, secret_index, source, updated_at, state)
			VALUES ('evt_bogus', 't', 'event', 0, 0, '', '', 1, '', 0, 'webhook', 1, ?)`},
	{"deliveries",
		"CHECK (state IN ('pending', 'delivered', 'dead'))",
		"CHECK (state = 'pending' OR state = 'delivered' OR state = 'dead')",
		`INSERT INTO deliveries (event_id, destination, state, updated_at) VALUES ('evt_old', 'd', ?, 1)`},
	{"thin_fetches",
		"CHECK (state IN ('pending', 'fetched', 'failed'))",
		"CHECK (state = 'pending' OR state = 'fetched' OR state = 'failed')",
		`INSERT INTO thin_fetches (event_id, state, updated_at) VALUES ('evt_old', ?, 1)`},
}

// Ensures migration 0015 turns the state CHECKs of a store at 0014 into
// their OR form (SQLite then no longer builds a table of the states at
// every insert), keeps its rows, raises the schema version so that every
// connection reads the new schema, and leaves constraints that still
// refuse an unknown state and accept every known one.
func TestMigration0015CheckOr(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	db := storeBefore(t, path, 15)
	if _, err := db.Exec(`INSERT INTO events (id, type, object, created, livemode, account, api_version, received_at, client_addr, secret_index, source, updated_at)
		VALUES ('evt_old', 'invoice.paid', 'event', 0, 0, '', '', 1000, '', 0, 'webhook', 1000)`); err != nil {
		t.Fatal(err)
	}
	schema := func(db *sql.DB, table string) string {
		t.Helper()
		var s string
		if err := db.QueryRow(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range checkOrTables {
		if !strings.Contains(schema(db, c.table), c.before) {
			t.Fatalf("%s at 0014 has no %q: the migration's text would not match", c.table, c.before)
		}
	}
	var version int64
	if err := db.QueryRow(`PRAGMA schema_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	// A connection that has read the schema before the migration, as
	// another process's would have.
	other, err := sql.Open("sqlite", dsn(path, time.Second, false))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	if _, err := other.Exec(`SELECT count(*) FROM events`); err != nil {
		t.Fatal(err)
	}
	s := openAfter(t, db, path)
	var after int64
	if err := s.writer.QueryRow(`PRAGMA schema_version`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after <= version {
		t.Errorf("schema version %d after 0015, want above %d", after, version)
	}
	for _, c := range checkOrTables {
		got := schema(s.writer, c.table)
		if !strings.Contains(got, c.after) || strings.Contains(got, c.before) {
			t.Errorf("%s after 0015: %s", c.table, got)
		}
	}
	var ok string
	if err := s.writer.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q, %v", ok, err)
	}
	if _, err := s.FindEventByID(context.Background(), "evt_old"); err != nil {
		t.Fatalf("the row stored before 0015: %v", err)
	}
	// The writer and the other connection both refuse an unknown state,
	// with the new constraint's text, and accept the known ones.
	for _, c := range checkOrTables {
		for _, db := range []*sql.DB{s.writer, other} {
			_, err := db.Exec(c.insert, "bogus")
			if !isConstraint(err) || !strings.Contains(err.Error(), strings.TrimSuffix(strings.TrimPrefix(c.after, "CHECK ("), ")")) {
				t.Errorf("%s: an unknown state gave %v, want the new CHECK's failure", c.table, err)
			}
		}
	}
	var writable int
	if err := s.writer.QueryRow(`PRAGMA writable_schema`).Scan(&writable); err != nil || writable != 0 {
		t.Errorf("writable_schema %d after the migration, want 0 (%v)", writable, err)
	}
	for _, st := range []hookbox.State{hookbox.StatePending, hookbox.StateDelivering, hookbox.StateDelivered, hookbox.StateDead} {
		ev := event("evt_" + string(st))
		ev.State = st
		res, err := s.InsertEvents(context.Background(), []*hookbox.Event{ev})
		if err != nil || res[0].Err != nil {
			t.Errorf("state %s: %v %v", st, err, res[0].Err)
		}
	}
}

// Ensures a fresh store's insert statement builds no table of states for
// its CHECK: the one in-memory table left in its program is the partial
// index events_order_live's, whose list only an ordered event reaches.
func TestInsertNoStateTable(t *testing.T) {
	s, _ := openTest(t)
	count := func(q string, args ...any) int {
		t.Helper()
		rows, err := s.writer.Query(`EXPLAIN `+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			if op, _ := vals[1].(string); op == "OpenEphemeral" {
				n++
			}
		}
		return n
	}
	if n := count(insertSQL, insertTestArgs(t, event("evt_x"))...); n != 1 {
		t.Errorf("the event insert opens %d in-memory tables, want 1 (events_order_live's)", n)
	}
	for _, c := range checkOrTables[1:] {
		if n := count(strings.Replace(c.insert, "?", "'pending'", 1)); n != 0 {
			t.Errorf("an insert into %s opens %d in-memory tables, want 0", c.table, n)
		}
	}
}

// Ensures migrate recognizes a migration that edits sqlite_schema however
// it spells the pragma, and that 0015 is the only one.
func TestSchemaEdit(t *testing.T) {
	for _, q := range []string{"PRAGMA writable_schema = ON;", "pragma WRITABLE_SCHEMA=on", "PRAGMA writable_schema = 1", "PRAGMA writable_schema=true"} {
		if !schemaEdit(q) {
			t.Errorf("schemaEdit(%q) = false", q)
		}
	}
	for _, q := range []string{"PRAGMA writable_schema = OFF", "PRAGMA writable_schema = RESET", "SELECT 1", "-- turns writable_schema on"} {
		if schemaEdit(q) {
			t.Errorf("schemaEdit(%q) = true", q)
		}
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if got := schemaEdit(m.SQL); got != (m.Version == 15) {
			t.Errorf("%s: schemaEdit %v", m.Name, got)
		}
	}
}

// storeBefore creates a database at path with the migrations before
// version applied and recorded, as a build of that time left it, and
// returns it open (the caller closes it before Open).
func storeBefore(t *testing.T, path string, version int) *sql.DB {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, time.Second, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version >= version {
			break
		}
		if _, err := db.Exec(m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, ?, 0)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// openAfter closes db, the store storeBefore made, and opens it as this
// build does (migrating it), closed when the test ends.
func openAfter(t *testing.T, db *sql.DB, path string) *Store {
	t.Helper()
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
