package postgres

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/storetest"
	"github.com/jackc/pgx/v5"
)

// Ensures a database from before compressed bodies (0010) keeps working:
// its rows, written here as that schema stored them, read byte for byte
// (also one whose raw body starts as a zstd frame does), are claimed and
// found by object id; new bodies are stored compressed beside them.
func TestMigrate_CompressedBodies(t *testing.T) {
	ctx := context.Background()
	dsn, schema := pgtest.DSN(t), pgtest.Schema(t)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`CREATE SCHEMA ` + schema,
		`SET search_path TO ` + schema,
		`CREATE TABLE schema_migrations (version integer NOT NULL PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ms {
		if m.Version >= 10 {
			break
		}
		if _, err := conn.Exec(ctx, m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	old := map[string][]byte{
		"evt_json":  storetest.BenchBody("evt_json"),
		"evt_magic": append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00}, bytes.Repeat([]byte("x"), 300)...),
		"evt_empty": {},
	}
	n := 0
	for id, body := range old {
		n++
		if _, err := conn.Exec(ctx, `INSERT INTO events (id, type, object, created, livemode, account, api_version, body, received_at, client_addr, secret_index, source, updated_at)
			VALUES ($1, 'payment_intent.succeeded', 'event', 0, false, '', '', $2, $3, '', 0, 'webhook', $3)`, id, body, t0.Add(time.Duration(n)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}

	s, err := Open(ctx, dsn, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fresh := storetest.BenchEvent(1)
	fresh.ReceivedAt = t0.Add(time.Minute)
	if _, err := s.InsertEvents(ctx, []*hookbox.Event{fresh}); err != nil {
		t.Fatal(err)
	}
	old[fresh.ID] = fresh.Body
	for id, want := range old {
		ev, err := s.FindEventByID(ctx, id)
		if err != nil || !bytes.Equal(ev.Body, want) {
			t.Fatalf("%s after upgrade: %v; want the %d bytes stored", id, err, len(want))
		}
	}
	var encs []int16
	rows, err := conn.Query(ctx, `SELECT body_encoding FROM events ORDER BY received_at`)
	if err != nil {
		t.Fatal(err)
	}
	if encs, err = pgx.CollectRows(rows, pgx.RowTo[int16]); err != nil || len(encs) != 4 || encs[0] != 0 || encs[1] != 0 || encs[2] != 0 || encs[3] != 1 {
		t.Fatalf("encodings %v, %v; want the old rows raw and the new one compressed", encs, err)
	}
	got, err := s.SearchEvents(ctx, hookbox.EventQuery{ObjectID: "pi_3QxYzA2eZvKYlo2C1a2b3c4d"})
	if err != nil || len(got) != 2 || got[0].ID != fresh.ID || got[1].ID != "evt_json" {
		t.Fatalf("search by object id: %d events, %v; want the new one and the old evt_json", len(got), err)
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
