package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/postgres"
	"github.com/hookbox/hookbox/storetest"
	"github.com/jackc/pgx/v5"
)

var timeBase = time.Date(2026, 11, 27, 5, 20, 0, 987654321, time.UTC)

// adminConn returns a connection to the test server, closed when tb ends.
func adminConn(tb testing.TB) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.DSN(tb))
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// mustOpenStore opens a store on a fresh schema of the test server, which
// is dropped when tb ends.
func mustOpenStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	return mustOpenOn(tb, pgtest.DSN(tb), postgres.Options{Schema: pgtest.Schema(tb)})
}

// mustOpenOn opens a store and closes it when tb ends.
func mustOpenOn(tb testing.TB, dsn string, opts postgres.Options) *postgres.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, dsn, opts)
	if err != nil {
		tb.Fatalf("open %s schema %q: %v", pgtest.Redact(dsn), opts.Schema, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

// Ensures the PostgreSQL store passes the conformance suite case for case,
// each case on a fresh schema.
func TestStore(t *testing.T) {
	pgtest.DSN(t)
	storetest.Run(t, storetest.Harness{
		Open:        func(tb testing.TB) hookbox.Store { return mustOpenStore(tb) },
		NewDatabase: newDatabase,
	})
}

// newDatabase names a schema of the test server that does not exist yet,
// dropped when tb ends, for the suite to open several times as replicas
// would.
func newDatabase(tb testing.TB) storetest.Database {
	schema, dsn := pgtest.Schema(tb), pgtest.DSN(tb)
	return storetest.Database{
		Open: func(ctx context.Context) (hookbox.Store, error) {
			return postgres.Open(ctx, dsn, postgres.Options{Schema: schema})
		},
		Migrations: func(ctx context.Context) ([]int, error) {
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				return nil, err
			}
			defer conn.Close(context.Background())
			rows, err := conn.Query(ctx, `SELECT version FROM `+schema+`.schema_migrations ORDER BY version`)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, pgx.RowTo[int])
		},
	}
}

// Ensures a schema migrated by a newer hookbox is refused with EINVALID
// instead of being used with a schema this build does not know.
func TestOpen_ErrNewerSchema(t *testing.T) {
	schema := pgtest.Schema(t)
	mustOpenOn(t, pgtest.DSN(t), postgres.Options{Schema: schema}).Close()
	if _, err := adminConn(t).Exec(context.Background(),
		`INSERT INTO `+schema+`.schema_migrations (version, name) VALUES (9999, '9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(context.Background(), pgtest.DSN(t), postgres.Options{Schema: schema})
	if hookbox.ErrorCode(err) != hookbox.EINVALID {
		t.Fatalf("Open: %v, want EINVALID", err)
	}
}

// Ensures malformed options and DSNs are EINVALID, and the message does not
// repeat the password.
func TestOpen_ErrInvalid(t *testing.T) {
	for _, tc := range []struct {
		dsn    string
		schema string
	}{
		{"postgres://u:s3cret@127.0.0.1:5432/db?sslmode=bogus", ""},
		{"postgres://postgres@127.0.0.1:5432/test", "Mixed_Case"},
		{"postgres://postgres@127.0.0.1:5432/test", "semi;colon"},
		{"postgres://postgres@127.0.0.1:5432/test", "9starts_with_digit"},
	} {
		_, err := postgres.Open(context.Background(), tc.dsn, postgres.Options{Schema: tc.schema})
		if hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Fatalf("Open(%q, %q): %v, want EINVALID", tc.dsn, tc.schema, err)
		}
		if strings.Contains(hookbox.ErrorMessage(err), "s3cret") {
			t.Fatalf("message shows the password: %q", hookbox.ErrorMessage(err))
		}
	}
}

// Ensures a database that does not answer makes Open fail fast with
// EUNAVAILABLE.
func TestOpen_ErrUnavailable(t *testing.T) {
	start := time.Now()
	_, err := postgres.Open(context.Background(), "postgres://postgres@127.0.0.1:1/test", postgres.Options{ConnectTimeout: 2 * time.Second})
	if hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("Open: %v, want EUNAVAILABLE", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Open took %v to fail", d)
	}
}

// Ensures text PostgreSQL cannot hold (U+0000, invalid UTF-8) fails the
// event that carries it with EINVALID, and only that event; and that such
// ids are simply not found.
func TestInsertEvents_ErrText(t *testing.T) {
	s := mustOpenStore(t)
	good1 := storetest.NewEvent("evt_good1", "charge.succeeded", timeBase)
	nulID := storetest.NewEvent("evt_\x00nul", "charge.succeeded", timeBase)
	badType := storetest.NewEvent("evt_badtype", "charge.\xff", timeBase)
	nulHeader := storetest.NewEvent("evt_nulheader", "charge.succeeded", timeBase)
	nulHeader.Headers["User-Agent"] = "x\x00y"
	badAddr := storetest.NewEvent("evt_badaddr", "charge.succeeded", timeBase)
	badAddr.ClientAddr = "\xc3"
	good2 := storetest.NewEvent("evt_good2", "charge.succeeded", timeBase)
	batch := []*hookbox.Event{good1, nulID, badType, nulHeader, badAddr, good2}

	res, err := s.InsertEvents(context.Background(), batch)
	if err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
	for i, r := range res {
		ok := i == 0 || i == len(batch)-1
		if ok && (r.Err != nil || r.Duplicate) {
			t.Fatalf("result %d: %+v, want stored", i, r)
		}
		if !ok && hookbox.ErrorCode(r.Err) != hookbox.EINVALID {
			t.Fatalf("result %d: %v, want EINVALID", i, r.Err)
		}
	}
	for _, id := range []string{nulID.ID, "evt_\xff"} {
		if _, err := s.FindEventByID(context.Background(), id); hookbox.ErrorCode(err) != hookbox.ENOTFOUND {
			t.Fatalf("FindEventByID(%q): %v, want ENOTFOUND", id, err)
		}
	}
	if evs := storetest.MustFind(t, s, hookbox.EventFilter{Type: "charge.\xff*"}); len(evs) != 0 {
		t.Fatalf("type prefix with invalid UTF-8: %d events", len(evs))
	}
	if n := len(storetest.MustFind(t, s, hookbox.EventFilter{})); n != 2 {
		t.Fatalf("%d events stored, want 2", n)
	}
}

// Ensures a row the database refuses although the store's validation let
// it through (here, a constraint the store does not know) gets its own
// EINVALID, and the rest of the batch is stored: the store retries the
// batch row by row.
func TestInsertEvents_ErrConstraintFallback(t *testing.T) {
	schema := pgtest.Schema(t)
	s := mustOpenOn(t, pgtest.DSN(t), postgres.Options{Schema: schema})
	if _, err := adminConn(t).Exec(context.Background(),
		`ALTER TABLE `+schema+`.events ADD CONSTRAINT no_forbidden CHECK (type <> 'forbidden')`); err != nil {
		t.Fatal(err)
	}
	storetest.MustInsert(t, s, storetest.NewEvent("evt_old", "x", timeBase))
	batch := []*hookbox.Event{
		storetest.NewEvent("evt_a", "x", timeBase),
		storetest.NewEvent("evt_bad", "forbidden", timeBase),
		storetest.NewEvent("evt_old", "x", timeBase),
		storetest.NewEvent("evt_a", "x", timeBase),
		storetest.NewEvent("evt_b", "x", timeBase),
	}
	res, err := s.InsertEvents(context.Background(), batch)
	if err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
	want := []struct {
		dup  bool
		code string
	}{{false, ""}, {false, hookbox.EINVALID}, {true, ""}, {true, ""}, {false, ""}}
	for i, w := range want {
		if res[i].Duplicate != w.dup || hookbox.ErrorCode(res[i].Err) != w.code {
			t.Fatalf("result %d: %+v, want duplicate=%v code=%q", i, res[i], w.dup, w.code)
		}
	}
	if n := len(storetest.MustFind(t, s, hookbox.EventFilter{})); n != 3 {
		t.Fatalf("%d events stored, want 3", n)
	}
}

// Ensures Ping answers while open and fails with EUNAVAILABLE once closed,
// as does every other method.
func TestPing_ErrClosed(t *testing.T) {
	s := mustOpenStore(t)
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	s.Close()
	if err := s.Ping(ctx); hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("Ping after Close: %v, want EUNAVAILABLE", err)
	}
	if _, err := s.ClaimEvents(ctx, "w", timeBase, time.Minute, 1); hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("ClaimEvents after Close: %v, want EUNAVAILABLE", err)
	}
	if err := s.Listen(ctx, func() {}); hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("Listen after Close: %v, want EUNAVAILABLE", err)
	}
}

// Ensures claimers on two stores sharing a schema (two replicas), four
// goroutines in all, claim each of 500 due events exactly once: SKIP
// LOCKED passes over rows another claimer holds instead of handing them
// out twice or waiting.
func TestClaimEvents_SkipLocked(t *testing.T) {
	schema := pgtest.Schema(t)
	a := mustOpenOn(t, pgtest.DSN(t), postgres.Options{Schema: schema})
	b := mustOpenOn(t, pgtest.DSN(t), postgres.Options{Schema: schema})
	const events = 500
	var evs []*hookbox.Event
	for i := range events {
		ev := storetest.NewEvent(fmt.Sprintf("evt_%04d", i), "charge.succeeded", timeBase.Add(time.Duration(i)*time.Millisecond))
		ev.NextAttemptAt = time.Time{}
		evs = append(evs, ev)
	}
	for i := 0; i < events; i += 100 {
		storetest.MustInsert(t, a, evs[i:i+100]...)
	}

	now := timeBase.Add(time.Hour)
	owner := storetest.ClaimConcurrently(t, []hookbox.Queue{a, b, a, b}, now, time.Minute, 7)
	if len(owner) != events {
		t.Fatalf("%d events claimed, want %d", len(owner), events)
	}
	per := map[string]int{}
	for _, w := range owner {
		per[w]++
	}
	t.Logf("claims per worker: %v", per)
}

// Ensures the claim query reads the partial queue index in claim order
// (no sort, no scan of the delivered events that fill the table).
func TestClaimEvents_Plan(t *testing.T) {
	schema := pgtest.Schema(t)
	mustOpenOn(t, pgtest.DSN(t), postgres.Options{Schema: schema})
	conn := adminConn(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `SET search_path = `+schema); err != nil {
		t.Fatal(err)
	}
	// Enough delivered rows that the planner prefers an index.
	if _, err := conn.Exec(ctx, `INSERT INTO events (id, type, object, created, livemode, account, api_version,
		body, received_at, client_addr, secret_index, source, state, updated_at)
		SELECT 'evt_' || i, 'x', 'event', 0, false, '', '', '', now(), '', 0, 'webhook',
			CASE WHEN i % 100 = 0 THEN 'pending' ELSE 'delivered' END, now()
		FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE events`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `EXPLAIN SELECT id, next_attempt_at, received_at FROM events
		WHERE state IN ('pending', 'delivering')
			AND next_attempt_at <= now()
			AND (state = 'pending' OR lease_until < now())
		ORDER BY next_attempt_at, received_at, id
		LIMIT 10
		FOR UPDATE SKIP LOCKED`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "events_queue") || strings.Contains(plan, "Sort") {
		t.Fatalf("claim plan does not read events_queue in order:\n%s", plan)
	}
}

// Ensures a failed attempt is recorded even when its error text holds what
// PostgreSQL text cannot (invalid UTF-8, U+0000): the text is cleaned, the
// response snippet kept byte for byte.
func TestCompleteClaim_CleansText(t *testing.T) {
	s := mustOpenStore(t)
	ctx := context.Background()
	ev := storetest.NewEvent("evt_1", "charge.succeeded", timeBase)
	ev.NextAttemptAt = time.Time{}
	storetest.MustInsert(t, s, ev)
	now := timeBase.Add(time.Minute)
	if _, err := s.ClaimEvent(ctx, ev.ID, "w1", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	err := s.CompleteClaim(ctx, hookbox.Completion{EventID: ev.ID, Owner: "w1", Now: now,
		Attempts: []hookbox.Attempt{{Destination: "a", Number: 1, StartedAt: now, StatusCode: 500,
			Error: "bad \xff byte and \x00 nul", Response: "\x00\xff\xfe raw"}},
		Deliveries: []hookbox.Delivery{{Destination: "a", State: hookbox.StatePending, Attempts: 1,
			NextAttemptAt: now.Add(time.Minute), LastError: "status 500 \xc3"}}})
	if err != nil {
		t.Fatalf("CompleteClaim: %v", err)
	}
	as, err := s.FindAttempts(ctx, ev.ID)
	if err != nil || len(as) != 1 {
		t.Fatalf("FindAttempts = %+v, %v", as, err)
	}
	if as[0].Error != "bad \uFFFD byte and  nul" || as[0].Response != "\x00\xff\xfe raw" || as[0].EventID != ev.ID {
		t.Fatalf("attempt %+v", as[0])
	}
	ds, err := s.FindDeliveries(ctx, ev.ID)
	if err != nil || len(ds) != 1 || ds[0].LastError != "status 500 \uFFFD" {
		t.Fatalf("FindDeliveries = %+v, %v", ds, err)
	}
}

// Ensures claimers on three handles of one schema, as on three replicas,
// never hold two events of a key at once and claim each key's events in
// order unless late, while events and replays arrive (storetest's
// OrderStress; HOOKBOX_LONG=1 for a larger run).
func TestOrderStressReplicas(t *testing.T) {
	storetest.OrderStress(t, newDatabase(t), 3)
}
