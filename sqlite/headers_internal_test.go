package sqlite

import (
	"context"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// Ensures a database from before packed headers (0013) keeps working: a
// row stored with JSON headers reads them back, found, listed and
// claimed; a new row stores '{}' in headers and its headers packed.
func TestMigrate_PackedHeaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookbox.db")
	db := storeBefore(t, path, 13)
	if _, err := db.Exec(`INSERT INTO events (id, type, object, created, livemode, account, api_version, headers, received_at, client_addr, secret_index, source, updated_at)
		VALUES ('evt_old', 'invoice.paid', 'event', 0, 0, '', '', '{"Stripe-Signature":"t=1,v1=ab","X-A":"é"}', 1000, '', 0, 'webhook', 1000)`); err != nil {
		t.Fatal(err)
	}
	s := openAfter(t, db, path)
	ctx := context.Background()
	fresh := event("evt_new")
	fresh.Headers = map[string]string{"Stripe-Signature": "t=1764220800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd", "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
	if _, err := s.InsertEvents(ctx, []*hookbox.Event{fresh, event("evt_none")}); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"evt_old":  {"Stripe-Signature": "t=1,v1=ab", "X-A": "é"},
		"evt_new":  fresh.Headers,
		"evt_none": nil,
	}
	check := func(how string, ev *hookbox.Event) {
		t.Helper()
		if w, ok := want[ev.ID]; !ok || !maps.Equal(ev.Headers, w) || (w == nil) != (ev.Headers == nil) {
			t.Errorf("%s %s: headers %q, want %q", how, ev.ID, ev.Headers, w)
		}
	}
	for id := range want {
		ev, err := s.FindEventByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		check("found", ev)
	}
	evs, err := s.FindEvents(ctx, hookbox.EventFilter{})
	if err != nil || len(evs) != 3 {
		t.Fatalf("FindEvents: %d, %v", len(evs), err)
	}
	for _, ev := range evs {
		check("listed", ev)
	}
	cs, err := s.ClaimEvents(ctx, "w", t0.Add(time.Hour), time.Minute, 10)
	if err != nil || len(cs) != 3 {
		t.Fatalf("ClaimEvents: %d, %v", len(cs), err)
	}
	for _, c := range cs {
		check("claimed", c.Event)
	}
	var headers string
	var packed []byte
	if err := s.reader.QueryRow(`SELECT headers, headers_packed FROM events WHERE id = 'evt_new'`).Scan(&headers, &packed); err != nil {
		t.Fatal(err)
	}
	if headers != "{}" || len(packed) == 0 || len(packed) > 50 {
		t.Fatalf("new row: headers %q, %d packed bytes; want {} and 1-50", headers, len(packed))
	}
}
