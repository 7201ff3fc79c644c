package postgres

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/storetest"
	"github.com/jackc/pgx/v5"
)

// Ensures a database from before packed headers (0013) keeps working: a
// row stored with jsonb headers reads them back, found and claimed; a new
// row leaves headers at '{}' and stores its headers packed.
func TestMigrate_PackedHeaders(t *testing.T) {
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
		if m.Version >= 13 {
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
	if _, err := conn.Exec(ctx, `INSERT INTO events (id, type, object, created, livemode, account, api_version, body, headers, received_at, client_addr, secret_index, source, updated_at)
		VALUES ('evt_old', 'invoice.paid', 'event', 0, false, '', '', '\x7b7d', '{"Stripe-Signature":"t=1,v1=ab","X-A":"é"}', $1, '', 0, 'webhook', $1)`, t0); err != nil {
		t.Fatal(err)
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
	want := map[string]map[string]string{
		"evt_old": {"Stripe-Signature": "t=1,v1=ab", "X-A": "é"},
		fresh.ID:  fresh.Headers,
	}
	for id, w := range want {
		ev, err := s.FindEventByID(ctx, id)
		if err != nil || !maps.Equal(ev.Headers, w) {
			t.Fatalf("%s: headers %q, %v; want %q", id, ev.Headers, err, w)
		}
	}
	cs, err := s.ClaimEvents(ctx, "w", t0.Add(time.Hour), time.Minute, 10)
	if err != nil || len(cs) != 2 {
		t.Fatalf("ClaimEvents: %d, %v", len(cs), err)
	}
	for _, c := range cs {
		if !maps.Equal(c.Event.Headers, want[c.Event.ID]) {
			t.Fatalf("claimed %s: headers %q", c.Event.ID, c.Event.Headers)
		}
	}
	var headers string
	var packed []byte
	if err := conn.QueryRow(ctx, `SELECT headers::text, headers_packed FROM events WHERE id = $1`, fresh.ID).Scan(&headers, &packed); err != nil {
		t.Fatal(err)
	}
	if headers != "{}" || len(packed) == 0 || len(packed) > 50 {
		t.Fatalf("new row: headers %q, %d packed bytes; want {} and 1-50", headers, len(packed))
	}
}
