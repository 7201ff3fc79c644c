package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
	"github.com/hookbox/hookbox/sqlite"
)

// mustStoreWithHistory returns the path of a SQLite store holding evt_doc:
// a Connect event received at a time with sub-microsecond digits in a
// zone other than UTC, with one failed attempt (no response: status 0)
// and one pending delivery, and evt_doc_2, never tried.
func mustStoreWithHistory(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hookbox.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	zone := time.FixedZone("UTC+2", 2*3600)
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, zone)
	body := `{"id":"evt_doc","object":"event","type":"invoice.paid","account":"acct_1","created":1772359200,"data":{"object":{"id":"in_1","lines":[1,2]}}}`
	ctx := context.Background()
	if _, err := s.InsertEvents(ctx, []*hookbox.Event{
		{ID: "evt_doc", Type: "invoice.paid", Object: "event", Created: 1772359200, Account: "acct_1",
			Body: []byte(body), Headers: map[string]string{"Stripe-Signature": "t=1,v1=x"}, Endpoint: "stripe",
			ReceivedAt: at, ClientAddr: "192.0.2.7", SecretIndex: 1, Source: hookbox.SourceWebhook},
		{ID: "evt_doc_2", Type: "charge.succeeded", Body: []byte(`{"id":"evt_doc_2","type":"charge.succeeded"}`),
			ReceivedAt: at.Add(time.Second), SecretIndex: -1, Source: hookbox.SourceReconcile},
	}); err != nil {
		t.Fatal(err)
	}
	now := at.Add(time.Minute)
	c, err := s.ClaimEvent(ctx, "evt_doc", "w1", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteClaim(ctx, hookbox.Completion{EventID: "evt_doc", Owner: c.Owner, Now: now,
		Attempts: []hookbox.Attempt{{EventID: "evt_doc", Destination: "app", Number: 1, StartedAt: now,
			Duration: 1234567 * time.Nanosecond, Error: "connection refused"}},
		Deliveries: []hookbox.Delivery{{EventID: "evt_doc", Destination: "app", State: hookbox.StatePending,
			Attempts: 1, NextAttemptAt: now.Add(10 * time.Second), LastError: "connection refused", UpdatedAt: now}},
	}); err != nil {
		t.Fatal(err)
	}
	return path
}

// apiGet serves the admin API on the store at path and returns the body of
// GET target.
func apiGet(t *testing.T, path, target string) []byte {
	t.Helper()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv, err := console.New(console.Options{Store: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1"+target, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

// cliOut runs the CLI on the store at path and returns what it printed.
func cliOut(t *testing.T, path string, args ...string) []byte {
	t.Helper()
	env, out, _ := testEnv(map[string]string{"HOOKBOX_DB": "sqlite:" + path})
	if err := run(context.Background(), env, args); err != nil {
		t.Fatal(err)
	}
	return []byte(out.String())
}

// TestEventsShow_JSONSameAsAPI ensures `events show --json` prints, byte for
// byte, the document GET /api/events/{id} answers, with every field
// present (status_code 0 and updated_at included) and times in UTC to the
// microsecond; and that `events list --json` items are the API list's.
func TestEventsShow_JSONSameAsAPI(t *testing.T) {
	path := mustStoreWithHistory(t)
	cli := cliOut(t, path, "events", "show", "--json", "evt_doc")
	api := apiGet(t, path, "/api/events/evt_doc")
	if !bytes.Equal(cli, api) {
		t.Fatalf("events show --json:\n%s\nGET /api/events/evt_doc:\n%s", cli, api)
	}
	var doc map[string]any
	if err := json.Unmarshal(cli, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["received_at"] != "2026-03-01T10:00:00.123456Z" || doc["account"] != "acct_1" || doc["endpoint"] != "stripe" {
		t.Errorf("document: %s", cli)
	}
	att := doc["attempt_log"].([]any)[0].(map[string]any)
	if att["status_code"] != float64(0) || att["duration_ms"] != 1.234 || att["started_at"] != "2026-03-01T10:01:00.123456Z" {
		t.Errorf("attempt: %v", att)
	}
	del := doc["deliveries"].([]any)[0].(map[string]any)
	if del["updated_at"] != "2026-03-01T10:01:00.123456Z" || del["next_attempt_at"] != "2026-03-01T10:01:10.123456Z" {
		t.Errorf("delivery: %v", del)
	}
	for _, k := range []string{"replayed_at", "object", "client_addr", "headers", "body", "url", "secret_index", "updated_at", "next_attempt_at"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("the document lacks %q", k)
		}
	}

	var cliList, apiList struct{ Events []map[string]any }
	if err := json.Unmarshal(cliOut(t, path, "events", "list", "--json"), &cliList.Events); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(apiGet(t, path, "/api/events"), &apiList); err != nil {
		t.Fatal(err)
	}
	if len(cliList.Events) != 2 || !reflect.DeepEqual(cliList, apiList) {
		t.Errorf("events list --json: %v\nGET /api/events: %v", cliList.Events, apiList.Events)
	}
}

// TestEventsShow_HostileBodyBounded ensures `events show` and `events show
// --json` of a body whose indented form would take 200 MB (arrays nested
// 10,000 deep) print a small multiple of the body, and that the text view
// says it shows the body as stored.
func TestEventsShow_HostileBodyBounded(t *testing.T) {
	const deep = 9998
	body := `{"id":"evt_deep","type":"x.y","data":` + strings.Repeat("[", deep) + strings.Repeat("]", deep) + `}`
	path := filepath.Join(t.TempDir(), "hookbox.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertEvents(context.Background(), []*hookbox.Event{{ID: "evt_deep", Type: "x.y", Body: []byte(body), ReceivedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, args := range [][]string{{"events", "show", "evt_deep"}, {"events", "show", "--json", "evt_deep"}} {
		out := cliOut(t, path, args...)
		if len(out) > 8*len(body)+64<<10 {
			t.Errorf("%s: %d bytes for a %d-byte body", strings.Join(args, " "), len(out), len(body))
		}
		if len(args) == 3 && !bytes.Contains(out, []byte("as stored, not indented")) {
			t.Errorf("events show does not say the body is shown as stored:\n%.300s", out)
		}
	}
}
