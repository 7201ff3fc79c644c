package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/bodycodec"
	"github.com/hookbox/hookbox/storetest"
	"github.com/klauspost/compress/zstd"
	msqlite "modernc.org/sqlite"
	sqlitelib "modernc.org/sqlite/lib"
)

func openTest(tb testing.TB) (*Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "hookbox.db")
	s, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, path
}

var t0 = time.Date(2026, 11, 27, 5, 20, 0, 0, time.UTC)

func event(id string) *hookbox.Event {
	return &hookbox.Event{ID: id, Type: "charge.succeeded", Object: "event", Body: []byte(`{"id":"` + id + `"}`), ReceivedAt: t0}
}

// Ensures every connection of both pools runs with the pragmas Open
// promises, including connections opened after the first, and that reader
// connections cannot write.
func TestPragmas(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	check := func(name string, conn *sql.Conn) {
		t.Helper()
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"synchronous":  "2", // FULL
			"foreign_keys": "1",
			"busy_timeout": "5000",
		} {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", name, pragma, err)
			}
			if got != want {
				t.Errorf("%s: %s = %s, want %s", name, pragma, got, want)
			}
		}
	}

	w, err := s.writer.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check("writer", w)
	for pragma, want := range map[string]int{"wal_autocheckpoint": 2 * DefaultCheckpointPages, "journal_size_limit": 2 * DefaultCheckpointPages * 4096} {
		var got int
		if err := w.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
			t.Errorf("writer: %s = %d (%v), want %d", pragma, got, err, want)
		}
	}
	w.Close()

	// Hold several reader connections at once so the pool opens more than one.
	var readers []*sql.Conn
	for range 3 {
		c, err := s.reader.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, c)
	}
	for i, c := range readers {
		check("reader "+string(rune('0'+i)), c)
		var qo int
		if err := c.QueryRowContext(ctx, "PRAGMA query_only").Scan(&qo); err != nil || qo != 1 {
			t.Errorf("reader %d: query_only = %d, %v; want 1", i, qo, err)
		}
		if _, err := c.ExecContext(ctx, "DELETE FROM events"); err == nil {
			t.Errorf("reader %d: a write succeeded", i)
		}
		c.Close()
	}
	if n := s.reader.Stats().OpenConnections; n < 3 {
		t.Fatalf("reader pool: %d connections, want >= 3", n)
	}
}

// Ensures reads do not wait for the writer: a listing answers while a
// write transaction is open and uncommitted, and does not see its rows.
func TestReadDuringWrite(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if _, err := s.InsertEvents(ctx, []*hookbox.Event{event("evt_committed")}); err != nil {
		t.Fatal(err)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Stmt(s.insert).Exec(insertTestArgs(t, event("evt_uncommitted"))...); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	evs, err := s.FindEvents(rctx, hookbox.EventFilter{})
	if err != nil {
		t.Fatalf("FindEvents during a write: %v", err)
	}
	if len(evs) != 1 || evs[0].ID != "evt_committed" {
		t.Fatalf("FindEvents during a write: %d events, want only the committed one", len(evs))
	}
}

func insertTestArgs(tb testing.TB, ev *hookbox.Event) []any {
	tb.Helper()
	args := make([]any, insertArgCount)
	if err := insertArgs(args, ev); err != nil {
		tb.Fatal(err)
	}
	return args
}

// Ensures the states CHECK is the database's: a row with an unknown state
// inside a batch fails with a constraint error from SQLite, which undoes
// that statement only; the rows before and after it commit.
func TestInsertEvents_StatementRollback(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	bad := event("evt_bad")
	bad.State = "exploded"
	res, err := s.InsertEvents(ctx, []*hookbox.Event{event("evt_before"), bad, event("evt_after")})
	if err != nil {
		t.Fatal(err)
	}
	var serr *msqlite.Error
	if !errors.As(res[1].Err, &serr) || serr.Code() != sqlitelib.SQLITE_CONSTRAINT_CHECK {
		t.Fatalf("bad row: %v, want a SQLITE_CONSTRAINT_CHECK from the database", res[1].Err)
	}
	if hookbox.ErrorCode(res[1].Err) != hookbox.EINVALID {
		t.Fatalf("bad row: code %q, want EINVALID", hookbox.ErrorCode(res[1].Err))
	}
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE id IN ('evt_before', 'evt_after')`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows around the bad one: %d, %v; want 2", n, err)
	}
	// The schema also refuses what the Go checks refuse first.
	for _, q := range []string{
		`INSERT INTO events (id, type, object, created, livemode, account, api_version, received_at, client_addr, secret_index, source, updated_at)
		 VALUES ('', 't', 'event', 0, 0, '', '', 1, '', 0, 'webhook', 1)`,
		`INSERT INTO events (id, type, object, created, livemode, account, api_version, received_at, client_addr, secret_index, source, updated_at)
		 VALUES (NULL, 't', 'event', 0, 0, '', '', 1, '', 0, 'webhook', 1)`,
		`INSERT INTO events (id, type, object, created, livemode, account, api_version, headers, received_at, client_addr, secret_index, source, updated_at)
		 VALUES ('evt_h', 't', 'event', 0, 0, '', '', '[]', 1, '', 0, 'webhook', 1)`,
		`INSERT INTO event_bodies (id, body) VALUES (1000000, 'not a blob')`,
		`INSERT INTO event_bodies (id, body) VALUES (1000001, NULL)`,
	} {
		if _, err := s.writer.ExecContext(ctx, q); err == nil {
			t.Errorf("schema accepted: %s", q)
		}
	}
}

// Ensures a failed COMMIT returns EUNAVAILABLE with no results, stores
// nothing, and leaves the writer connection usable. A deferred foreign key
// violated by a trigger is the one way to make SQLite fail at COMMIT.
func TestInsertEvents_ErrCommit(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if _, err := s.writer.ExecContext(ctx, `
		CREATE TABLE parent (id INTEGER PRIMARY KEY);
		CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
		CREATE TRIGGER fail_commit AFTER INSERT ON events WHEN NEW.type = 'fail.commit'
		BEGIN INSERT INTO child (p) VALUES (42); END;`); err != nil {
		t.Fatal(err)
	}
	doomed := event("evt_doomed")
	doomed.Type = "fail.commit"
	res, err := s.InsertEvents(ctx, []*hookbox.Event{event("evt_ok"), doomed})
	if hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE || res != nil {
		t.Fatalf("InsertEvents = %v, %v; want no results and EUNAVAILABLE", res, err)
	}
	if !strings.Contains(err.Error(), "commit") {
		t.Fatalf("error %q does not name the commit", err)
	}
	for _, id := range []string{"evt_ok", "evt_doomed"} {
		if _, err := s.FindEventByID(ctx, id); hookbox.ErrorCode(err) != hookbox.ENOTFOUND {
			t.Fatalf("%s after a failed commit: %v, want ENOTFOUND", id, err)
		}
	}
	res, err = s.InsertEvents(ctx, []*hookbox.Event{event("evt_ok")})
	if err != nil || res[0].Err != nil || res[0].Duplicate {
		t.Fatalf("insert after a failed commit: %v, %+v", err, res)
	}
}

// Ensures migrations are recorded once each and reopening applies none
// again; and that a database from a newer build is refused.
func TestMigrate(t *testing.T) {
	s, path := openTest(t)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	versions := func() []int {
		t.Helper()
		rows, err := s.reader.Query(`SELECT version FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var vs []int
		for rows.Next() {
			var v int
			rows.Scan(&v)
			vs = append(vs, v)
		}
		return vs
	}
	if got := versions(); len(got) != len(ms) || got[len(got)-1] != ms[len(ms)-1].Version {
		t.Fatalf("versions %v, want %d migrations", got, len(ms))
	}
	if err := migrate(context.Background(), s.writer); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	s.Close()

	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s = s2
	if got := versions(); len(got) != len(ms) {
		t.Fatalf("after reopen: versions %v", got)
	}
	if _, err := s.writer.Exec(`INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path); hookbox.ErrorCode(err) != hookbox.EINVALID {
		t.Fatalf("open a newer schema: %v, want EINVALID", err)
	}
}

// Ensures the listing, claim and prune queries use the indexes meant for
// them: no full scan of events, and no sort when the index gives the order
// (the claim stops after its limit whatever the backlog).
func TestQueryPlans(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	plan := func(q string, args ...any) string {
		t.Helper()
		rows, err := s.reader.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		return strings.Join(lines, "; ")
	}
	list := "SELECT " + listColumns + " FROM events"
	order := " ORDER BY received_at DESC, id DESC LIMIT 100"
	for _, tc := range []struct {
		name, q string
		want    string
		args    []any
	}{
		{"all", list + order, "events_received", nil},
		{"cursor", list + " WHERE (received_at, id) < (?, ?)" + order, "events_received", []any{1, "x"}},
		// The type is in events_received since 0014: a walk, no sort.
		{"type", list + " WHERE type = ?" + order, "SCAN events USING INDEX events_received", []any{"invoice.paid"}},
		{"prefix", list + " WHERE type >= ? AND type < ?" + order, "SCAN events USING INDEX events_received", []any{"invoice.", "invoice/"}},
		{"dead", list + " WHERE " + stateTermDead + order, "events_dead", nil},
		{"blocked", list + " WHERE " + blockedSQL + order, "events_dead", nil},
		{"pending", list + " WHERE " + stateTermPending + order, "events_", nil},
		{"delivered", list + " WHERE " + stateTermDelivered + order, "events_received", nil},
		// SearchEvents reads a state's partial index by name when it holds
		// few events (plan); INDEXED BY fails if the WHERE stops matching.
		{"search pending", list + " INDEXED BY events_queue WHERE " + stateTermPending + order, "events_queue", nil},
		{"search delivering", list + " INDEXED BY events_queue WHERE " + stateTermDelivering + order, "events_queue", nil},
		{"search dead", list + " INDEXED BY events_dead WHERE " + stateTermDead + order, "events_dead", nil},
		{"replay dead", "SELECT id FROM events WHERE " + stateTermDead + " AND NOT (state = 'delivering' AND lease_until >= ?)", "events_dead", []any{1}},
		// Delivered by type: ReplayEvents names events_received (0014: no
		// type index; SQLite alone would scan the table).
		{"replay delivered by type", replayByTypeSQL(t), "SCAN events USING INDEX events_received", replayByTypeArgs},
		{"count blocked", countBlockedSQL, "SCAN e USING INDEX events_dead", nil},
		{"claim", claimDueSQL, "events_queue", []any{1, 10}},
		{"prune rows", pruneRowsSQL, "events_received", []any{1, 10}},
		// A body batch walks on from its cursor, and empties each body
		// with one rowid seek (0005), never a scan of event_bodies.
		{"prune body ids", pruneBodyIDsSQL, "SEARCH events USING INDEX events_received ((received_at,id)>(?,?)", []any{1, 0, "", 10}},
		{"prune bodies by key", pruneBodiesSQL, "SEARCH event_bodies USING INTEGER PRIMARY KEY", []any{"[1]"}},
		{"find body", "SELECT " + bodyColumns + " FROM events WHERE id = ?", "SEARCH b USING INTEGER PRIMARY KEY", []any{"evt_1"}},
		{"next body id", "SELECT " + nextBodyID, "SEARCH event_bodies", nil},
		{"claim bodies", claimSQL, "SEARCH b USING INTEGER PRIMARY KEY", []any{"w", 1, 1, 1, "[]"}},
	} {
		p := plan(tc.q, tc.args...)
		if !strings.Contains(p, tc.want) || strings.Contains(p, "SCAN events") && !strings.Contains(p, "USING INDEX") {
			t.Errorf("%s: plan %q, want %s", tc.name, p, tc.want)
		}
		// The few live events of a state are sorted.
		sorts := strings.HasPrefix(tc.name, "search pending") || strings.HasPrefix(tc.name, "search delivering") ||
			tc.name == "count blocked" // a GROUP BY destination of the few dead
		if !sorts && strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s: plan %q sorts", tc.name, p)
		}
		t.Logf("%s: %s", tc.name, p)
	}

	// The scrape-time count reads no row of an event: each state it
	// counts is a scan of its covering partial index (0013), the oldest
	// unsettled event a range of events_queue, and the total is the table
	// count (OP_Count), the only SCAN of events itself.
	p := plan(countEventsSQL)
	if strings.Count(p, "SCAN events USING COVERING INDEX events_queue") != 2 ||
		!strings.Contains(p, "SCAN events USING COVERING INDEX events_dead") ||
		!strings.Contains(p, "SEARCH events USING COVERING INDEX events_queue (next_attempt_at<?)") ||
		strings.Count(p, "SCAN events") != strings.Count(p, "SCAN events USING COVERING INDEX") ||
		strings.Contains(p, "TEMP B-TREE") {
		t.Errorf("count: plan %q", p)
	}
	t.Logf("count: %s", p)
}

// Ensures prefixEnd bounds exactly the strings with the prefix.
func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"invoice.", "invoice/", true},
		{"a", "b", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
		{"é", "é"[:1] + "\xaa", true},
	} {
		got, ok := prefixEnd(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// Ensures a database created by the first release (schema version 1)
// upgrades in place: its events get no lease and no replay, and are
// claimable by the queue.
func TestMigrate_FromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookbox.db")
	db := storeBefore(t, path, 2)
	if _, err := db.Exec(`INSERT INTO events (id, type, object, created, livemode, account, api_version, body, received_at, client_addr, secret_index, source, updated_at)
		 VALUES ('evt_v1', 'invoice.paid', 'event', 0, 0, '', '', x'7b7d', 1000, '', 0, 'webhook', 1000)`); err != nil {
		t.Fatalf("set up version 1: %v", err)
	}
	s := openAfter(t, db, path)
	ctx := context.Background()
	ev, err := s.FindEventByID(ctx, "evt_v1")
	if err != nil || !ev.ReplayedAt.IsZero() || ev.State != hookbox.StatePending {
		t.Fatalf("event after upgrade: %+v, %v", ev, err)
	}
	cs, err := s.ClaimEvents(ctx, "w", t0, time.Minute, 10)
	if err != nil || len(cs) != 1 || cs[0].Event.ID != "evt_v1" || string(cs[0].Event.Body) != "{}" {
		t.Fatalf("claim after upgrade: %v, %v", cs, err)
	}
}

// Ensures every stored event has exactly its own body in event_bodies
// (0005): a duplicate or a rejected row stores none, a nil body reads as
// empty, pruning a body empties it in place, and deleting an event
// deletes its body.
func TestEventBodies(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	bodies := func() (n int, orphans int) {
		t.Helper()
		if err := s.reader.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM event_bodies),
			(SELECT count(*) FROM event_bodies b WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.body_id = b.id))`).Scan(&n, &orphans); err != nil {
			t.Fatal(err)
		}
		return n, orphans
	}
	bad := event("evt_bad")
	bad.State = "exploded"
	nilBody := event("evt_nil")
	nilBody.Body = nil
	old := event("evt_old")
	old.State = hookbox.StateDelivered
	res, err := s.InsertEvents(ctx, []*hookbox.Event{event("evt_a"), bad, event("evt_a"), nilBody, event("evt_b"), old})
	if err != nil {
		t.Fatal(err)
	}
	if res[1].Err == nil || !res[2].Duplicate {
		t.Fatalf("results %+v", res)
	}
	if n, orphans := bodies(); n != 4 || orphans != 0 {
		t.Fatalf("%d bodies, %d orphans; want 4, 0", n, orphans)
	}
	for id, want := range map[string]string{"evt_a": `{"id":"evt_a"}`, "evt_b": `{"id":"evt_b"}`, "evt_nil": ``} {
		ev, err := s.FindEventByID(ctx, id)
		if err != nil || string(ev.Body) != want || ev.Body == nil {
			t.Fatalf("%s: body %q, %v; want %q", id, ev.Body, err, want)
		}
	}
	if n, _, err := s.PruneEvents(ctx, t0.Add(time.Second), time.Time{}); err != nil || n != 1 {
		t.Fatalf("prune bodies: %d, %v; want 1", n, err)
	}
	if ev, err := s.FindEventByID(ctx, "evt_old"); err != nil || len(ev.Body) != 0 {
		t.Fatalf("pruned body: %q, %v", ev.Body, err)
	}
	if _, n, err := s.PruneEvents(ctx, time.Time{}, t0.Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("prune rows: %d, %v; want 1", n, err)
	}
	if n, orphans := bodies(); n != 3 || orphans != 0 {
		t.Fatalf("after prune: %d bodies, %d orphans; want 3, 0", n, orphans)
	}
	// A body key freed by a deleted event is taken again without mixing
	// bodies up.
	if _, err := s.InsertEvents(ctx, []*hookbox.Event{event("evt_c")}); err != nil {
		t.Fatal(err)
	}
	if ev, err := s.FindEventByID(ctx, "evt_c"); err != nil || string(ev.Body) != `{"id":"evt_c"}` {
		t.Fatalf("evt_c: %q, %v", ev.Body, err)
	}
	if n, orphans := bodies(); n != 4 || orphans != 0 {
		t.Fatalf("at the end: %d bodies, %d orphans; want 4, 0", n, orphans)
	}
}

// Ensures a database from before compressed bodies (0010) keeps working:
// its rows, written here as that schema stored them, read byte for byte
// (also one whose raw body starts as a zstd frame does), are claimed and
// found by object id; new bodies are stored compressed beside them.
func TestMigrate_CompressedBodies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookbox.db")
	db := storeBefore(t, path, 10)
	old := map[string][]byte{
		"evt_json":  storetest.BenchBody("evt_json"),
		"evt_magic": append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00}, bytes.Repeat([]byte("x"), 300)...),
		"evt_empty": {},
	}
	n := 0
	for id, body := range old {
		n++
		if _, err := db.Exec(`INSERT INTO event_bodies (id, body) VALUES (?, ?)`, n, body); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO events (id, type, object, created, livemode, account, api_version, received_at, client_addr, secret_index, source, updated_at, body_id)
			VALUES (?, 'payment_intent.succeeded', 'event', 0, 0, '', '', ?, '', 0, 'webhook', 1000, ?)`, id, 1000+n, n); err != nil {
			t.Fatal(err)
		}
	}
	s := openAfter(t, db, path)
	ctx := context.Background()
	fresh := event("evt_new")
	fresh.Body = storetest.BenchBody("evt_new")
	if _, err := s.InsertEvents(ctx, []*hookbox.Event{fresh}); err != nil {
		t.Fatal(err)
	}
	old["evt_new"] = fresh.Body
	for id, want := range old {
		ev, err := s.FindEventByID(ctx, id)
		if err != nil || !bytes.Equal(ev.Body, want) {
			t.Fatalf("%s after upgrade: %d bytes, %v; want the %d stored", id, len(ev.Body), err, len(want))
		}
	}
	var encs string
	if err := s.reader.QueryRow(`SELECT group_concat(encoding, ',') FROM (SELECT encoding FROM event_bodies ORDER BY id)`).Scan(&encs); err != nil || encs != "0,0,0,1" {
		t.Fatalf("encodings %q, %v; want the old rows raw and the new one compressed", encs, err)
	}
	got, err := s.SearchEvents(ctx, hookbox.EventQuery{ObjectID: "pi_3QxYzA2eZvKYlo2C1a2b3c4d"})
	if err != nil || len(got) != 2 || got[0].ID != "evt_new" || got[1].ID != "evt_json" {
		t.Fatalf("search by object id: %v, %v; want evt_new and the old evt_json", got, err)
	}
	cs, err := s.ClaimEvents(ctx, "w", t0.Add(time.Hour), time.Minute, 10)
	if err != nil || len(cs) != 4 {
		t.Fatalf("claim after upgrade: %d claims, %v", len(cs), err)
	}
	for _, c := range cs {
		if !bytes.Equal(c.Event.Body, old[c.Event.ID]) {
			t.Fatalf("claimed %s: %d bytes, want %d", c.Event.ID, len(c.Event.Body), len(old[c.Event.ID]))
		}
	}
}

// Ensures bodies compressed with a dictionary this build does not ship
// (an older build's, kept in body_dicts) read back byte for byte, and that
// a database holding another dictionary under this build's id is refused
// rather than misread.
func TestBodyDicts(t *testing.T) {
	s, path := openTest(t)
	ctx := context.Background()
	var samples [][]byte
	for i := range 200 {
		samples = append(samples, storetest.BenchBody(fmt.Sprintf("evt_%d", i)))
	}
	old, err := zstd.BuildDict(zstd.BuildDictOptions{ID: 99, Contents: samples, History: bytes.Join(samples[:20], nil), Offsets: [3]int{1, 4, 8}})
	if err != nil {
		t.Fatal(err)
	}
	oldCodec, err := bodycodec.New(old)
	if err != nil {
		t.Fatal(err)
	}
	ev := event("evt_old_dict")
	ev.Body = storetest.BenchBody("evt_old_dict")
	if _, err := s.InsertEvents(ctx, []*hookbox.Event{ev}); err != nil {
		t.Fatal(err)
	}
	enc, data := oldCodec.Encode(ev.Body)
	if enc != bodycodec.Zstd {
		t.Fatal("not compressed")
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO body_dicts (id, dict) VALUES (99, ?)`, []any{old}},
		{`UPDATE event_bodies SET encoding = 1, body = ? WHERE id = (SELECT body_id FROM events WHERE id = 'evt_old_dict')`, []any{data}},
	} {
		if _, err := s.writer.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.FindEventByID(ctx, "evt_old_dict")
	if err != nil || !bytes.Equal(got.Body, ev.Body) {
		t.Fatalf("body of an older dictionary: %v", err)
	}
	if _, err := s.writer.Exec(`UPDATE body_dicts SET dict = ? WHERE id = ?`, old, bodycodec.DictVersion); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("open with another dictionary under this build's id: %v", err)
	}
}

// Ensures a listing by type (0014: no index of its own) tests the type in
// events_received before it reads the row: a DeferredSeek, then the type
// read from the index cursor and compared, before any column of the table.
func TestTypeFilteredInIndex(t *testing.T) {
	s, _ := openTest(t)
	rows, err := s.reader.Query("EXPLAIN SELECT "+listColumns+" FROM events WHERE type = ? ORDER BY received_at DESC, id DESC LIMIT 100", "invoice.paid")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type op struct {
		name   string
		p1, p2 int
	}
	var ops []op
	for rows.Next() {
		var addr, p1, p2, p3 int
		var name string
		var p4, p5, comment any
		if err := rows.Scan(&addr, &name, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op{name, p1, p2})
	}
	seek := -1
	for i, o := range ops {
		if o.name == "DeferredSeek" {
			seek = i
			break
		}
	}
	if seek < 0 || seek+2 >= len(ops) {
		t.Fatalf("no DeferredSeek: the row is read before the type is tested: %v", ops)
	}
	index := ops[seek].p1
	if c, cmp := ops[seek+1], ops[seek+2]; c.name != "Column" || c.p1 != index || (cmp.name != "Ne" && cmp.name != "Eq") {
		t.Fatalf("after the DeferredSeek: %v then %v, want the type read from the index cursor %d and compared", c, cmp, index)
	}
}

// replayByTypeArgs are the arguments of replayByTypeSQL's statement.
var replayByTypeArgs = []any{"invoice.paid", 1}

// replayByTypeSQL is the UPDATE of events ReplayEvents runs to replay the
// delivered events of one type, as replaySelection builds it.
func replayByTypeSQL(t *testing.T) string {
	t.Helper()
	events, where, args, err := replaySelection(hookbox.ReplayFilter{State: hookbox.StateDelivered, Type: "invoice.paid"}, 1)
	if err != nil || fmt.Sprint(args) != fmt.Sprint(replayByTypeArgs) {
		t.Fatalf("replaySelection: %v, %v; want the args %v", args, err, replayByTypeArgs)
	}
	return "UPDATE " + events + " SET state = 'pending' WHERE " + where
}

// TestMigrateRetrying ensures an open that finds the file locked without
// waiting (SQLITE_BUSY from a connection with no busy timeout here, as
// SQLite answers two connections that would deadlock) is tried again and
// succeeds once the lock goes, and that isBusy knows the error wrapped.
func TestMigrateRetrying(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	holder, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	ctx := context.Background()
	conn, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrate(ctx, db); !isBusy(err) {
		t.Fatalf("migrate while locked: %v, want SQLITE_BUSY", err)
	}
	time.AfterFunc(50*time.Millisecond, func() { conn.ExecContext(ctx, "COMMIT") })
	if err := migrateRetrying(ctx, db, 5*time.Second); err != nil {
		t.Fatalf("migrateRetrying: %v", err)
	}
	if isBusy(errors.New("database is locked")) || isBusy(nil) {
		t.Fatal("isBusy true for an error that is not SQLite's")
	}
}
