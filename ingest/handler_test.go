package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/edge"
	"github.com/hookbox/hookbox/groupcommit"
	"github.com/hookbox/hookbox/ingest"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/stripesig"
)

// testPath is where the tests mount the handler.
const testPath = "/webhooks/stripe"

const (
	secretOld = "whsec_old_secret_for_tests"
	secretNew = "whsec_new_secret_for_tests"
)

type fixture struct {
	store  *sqlite.Store
	commit *groupcommit.Committer
	h      *ingest.Handler
	srv    *httptest.Server
	logs   *syncBuffer
	now    time.Time
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mustFixture runs the real handler on a real SQLite store behind a real
// group committer and HTTP server.
func mustFixture(t testing.TB) *fixture {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "hookbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store, logs: &syncBuffer{}, now: time.Now()}
	v, err := stripesig.NewVerifier([]string{secretOld, secretNew}, stripesig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.commit = groupcommit.New(store.InsertEvents, groupcommit.Options{})
	f.h = &ingest.Handler{
		Endpoint: "stripe",
		Verifier: v,
		Submit:   f.commit.Submit,
		MaxBody:  64 << 10,
		Logger:   slog.New(slog.NewJSONHandler(f.logs, nil)),
	}
	mux := http.NewServeMux()
	mux.Handle(testPath, f.h)
	mux.HandleFunc("/", ingest.NotFound)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.Close()
		f.commit.Close()
		store.Close()
	})
	return f
}

func event(id, typ string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2025-10-29.clover","created":1764200000,"livemode":false,"pending_webhooks":1,"type":%q,"data":{"object":{"id":"pi_123","object":"payment_intent","metadata":{"id":"evt_not_me"}}}}`, id, typ))
}

func (f *fixture) post(t testing.TB, body []byte, header map[string][]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+testPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func signed(body []byte, at time.Time, secrets ...string) map[string][]string {
	return map[string][]string{"Stripe-Signature": {stripesig.Sign(body, at, secrets...)}}
}

// TestHandler ensures every answer of the public endpoint's contract, and
// that a rejected request changes nothing in the store.
func TestHandler(t *testing.T) {
	f := mustFixture(t)
	now := time.Now()
	good := event("evt_ok_1", "payment_intent.succeeded")
	big := event("evt_big", "invoice.paid")
	big = append(big[:len(big)-1], []byte(`,"pad":"`+strings.Repeat("x", 70<<10)+`"}`)...)

	tests := []struct {
		name   string
		body   []byte
		header map[string][]string
		status int
		resp   string
		stored string // id expected stored afterwards ("" for none new)
	}{
		{"OK", good, signed(good, now, secretOld), 200, `{"received":true}`, "evt_ok_1"},
		{"Duplicate", good, signed(good, now.Add(time.Second), secretNew), 200, `{"received":true,"duplicate":true}`, ""},
		{"RotatedSecretsBothSigned", event("evt_ok_2", "invoice.paid"), signed(event("evt_ok_2", "invoice.paid"), now, secretOld, secretNew), 200, `{"received":true}`, "evt_ok_2"},
		{"HeaderCaseInsensitive", event("evt_ok_3", "invoice.paid"), map[string][]string{"stripe-signature": {stripesig.Sign(event("evt_ok_3", "invoice.paid"), now, secretNew)}}, 200, `{"received":true}`, "evt_ok_3"},
		{"ErrNotSigned", event("evt_x1", "a.b"), nil, 400, `{"error":"signature verification failed"}`, ""},
		{"ErrEmptyHeader", event("evt_x2", "a.b"), map[string][]string{"Stripe-Signature": {""}}, 400, `{"error":"signature verification failed"}`, ""},
		{"ErrWrongSecret", event("evt_x3", "a.b"), signed(event("evt_x3", "a.b"), now, "whsec_attacker"), 400, `{"error":"signature verification failed"}`, ""},
		{"ErrTampered", event("evt_x4", "a.b"), signed(event("evt_x4", "a.c"), now, secretOld), 400, `{"error":"signature verification failed"}`, ""},
		{"ErrTooOld", event("evt_x5", "a.b"), signed(event("evt_x5", "a.b"), now.Add(-301*time.Second), secretOld), 400, `{"error":"signature verification failed"}`, ""},
		{"ErrTooNew", event("evt_x6", "a.b"), signed(event("evt_x6", "a.b"), now.Add(10*time.Minute), secretOld), 400, `{"error":"signature verification failed"}`, ""},
		{"ErrMalformed", event("evt_x7", "a.b"), map[string][]string{"Stripe-Signature": {"garbage"}}, 400, `{"error":"signature verification failed"}`, ""},
		{"ErrTwoHeaders", event("evt_x8", "a.b"), map[string][]string{"Stripe-Signature": {stripesig.Sign(event("evt_x8", "a.b"), now, secretOld), "t=1,v1=00"}}, 400, `{"error":"signature verification failed"}`, ""},
		{"ErrV0Only", event("evt_x9", "a.b"), map[string][]string{"Stripe-Signature": {strings.Replace(stripesig.Sign(event("evt_x9", "a.b"), now, secretOld), "v1=", "v0=", 1)}}, 400, `{"error":"signature verification failed"}`, ""},
		{"ErrNotJSON", []byte(`not json`), signed([]byte(`not json`), now, secretOld), 400, `{"error":"invalid payload"}`, ""},
		{"ErrArray", []byte(`[{"id":"evt_a","type":"x"}]`), signed([]byte(`[{"id":"evt_a","type":"x"}]`), now, secretOld), 400, `{"error":"invalid payload"}`, ""},
		{"ErrIDNotString", []byte(`{"id":1,"type":"x"}`), signed([]byte(`{"id":1,"type":"x"}`), now, secretOld), 400, `{"error":"invalid payload"}`, ""},
		{"ErrNoType", []byte(`{"id":"evt_nt"}`), signed([]byte(`{"id":"evt_nt"}`), now, secretOld), 400, `{"error":"invalid payload"}`, ""},
		{"ErrTrailingGarbage", append(event("evt_tg", "a.b"), '}'), signed(append(event("evt_tg", "a.b"), '}'), now, secretOld), 400, `{"error":"invalid payload"}`, ""},
		{"ErrControlInID", []byte(`{"id":"evt_\u0000x","type":"x"}`), signed([]byte(`{"id":"evt_\u0000x","type":"x"}`), now, secretOld), 400, `{"error":"invalid payload"}`, ""},
		{"ErrTooLarge", big, signed(big, now, secretOld), 413, `{"error":"payload too large"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := countEvents(t, f.store)
			status, resp := f.post(t, tt.body, tt.header)
			if status != tt.status || resp != tt.resp {
				t.Fatalf("got %d %s, want %d %s", status, resp, tt.status, tt.resp)
			}
			after := countEvents(t, f.store)
			if tt.stored == "" {
				if after != before {
					t.Fatalf("store changed: %d -> %d events", before, after)
				}
				return
			}
			if after != before+1 {
				t.Fatalf("want one new event, store went %d -> %d", before, after)
			}
			ev, err := f.store.FindEventByID(context.Background(), tt.stored)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ev.Body, tt.body) {
				t.Fatalf("stored body differs:\n%s\n%s", ev.Body, tt.body)
			}
		})
	}

	// Stored envelope fields and reception data of the first event.
	ev, err := f.store.FindEventByID(context.Background(), "evt_ok_1")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != "payment_intent.succeeded" || ev.Object != "event" || ev.Created != 1764200000 ||
		ev.APIVersion != "2025-10-29.clover" || ev.Livemode || ev.SecretIndex != 0 ||
		ev.State != hookbox.StatePending || ev.Source != hookbox.SourceWebhook || ev.ClientAddr != "127.0.0.1" ||
		ev.Headers["Stripe-Signature"] == "" || ev.Headers["Content-Type"] != "application/json" {
		t.Fatalf("stored event: %+v", ev)
	}
	ev3, err := f.store.FindEventByID(context.Background(), "evt_ok_3")
	if err != nil {
		t.Fatal(err)
	}
	if ev3.SecretIndex != 1 {
		t.Fatalf("secret index = %d, want 1 (the second secret matched)", ev3.SecretIndex)
	}
}

func countEvents(t testing.TB, s hookbox.Store) int {
	t.Helper()
	evs, err := s.FindEvents(context.Background(), hookbox.EventFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestHandler_MethodsAndPaths ensures 405 for non-POST methods with an Allow
// header, and a JSON 404 for unknown paths.
func TestHandler_MethodsAndPaths(t *testing.T) {
	f := mustFixture(t)
	for _, m := range []string{"GET", "PUT", "DELETE", "PATCH"} {
		req, _ := http.NewRequest(m, f.srv.URL+testPath, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
			t.Fatalf("%s: %d allow=%q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	for _, p := range []string{"/", "/webhooks", "/webhooks/stripe/", "/webhooks/other", "/admin"} {
		resp, err := http.Post(f.srv.URL+p, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || strings.TrimSpace(string(b)) != `{"error":"not found"}` {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
}

// TestHandler_TooLargeChunked ensures the limit holds when the client sends
// no Content-Length (chunked), not only when it announces the size.
func TestHandler_TooLargeChunked(t *testing.T) {
	f := mustFixture(t)
	body := bytes.Repeat([]byte("x"), 65<<10+1)
	req, _ := http.NewRequest("POST", f.srv.URL+testPath, io.MultiReader(bytes.NewReader(body)))
	req.ContentLength = -1
	req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), secretOld))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
}

// TestHandler_StoreUnavailable ensures a request whose event cannot be
// committed is answered 503 with a generic body, never 2xx.
func TestHandler_StoreUnavailable(t *testing.T) {
	f := mustFixture(t)
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	body := event("evt_unavail", "invoice.paid")
	status, resp := f.post(t, body, signed(body, time.Now(), secretOld))
	if status != 503 || resp != `{"error":"temporarily unavailable"}` {
		t.Fatalf("got %d %s", status, resp)
	}
}

// TestHandler_Logs ensures each rejection is logged with its reason and the
// client address, each accepted event with id, type, livemode, duplicate and
// latency, and that no log line holds a secret or the body.
func TestHandler_Logs(t *testing.T) {
	f := mustFixture(t)
	body := event("evt_log_1", "charge.refunded")
	f.post(t, body, signed(body, time.Now(), secretOld))
	f.post(t, body, signed(body, time.Now(), secretOld))
	f.post(t, body, signed(body, time.Now().Add(-time.Hour), secretOld))
	f.post(t, body, nil)

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line not JSON: %q", l)
		}
		lines = append(lines, m)
	}
	if len(lines) != 4 {
		t.Fatalf("want 4 log lines, got %d:\n%s", len(lines), f.logs.String())
	}
	for i, want := range []struct {
		outcome, reason string
		dup             bool
	}{{"accepted", "", false}, {"duplicate", "", true}, {"rejected", "too_old", false}, {"rejected", "not_signed", false}} {
		l := lines[i]
		if l["outcome"] != want.outcome || l["client"] != "127.0.0.1" || l["endpoint"] != "stripe" || l["time"] == nil {
			t.Fatalf("line %d: %v", i, l)
		}
		if want.reason != "" && l["reason"] != want.reason {
			t.Fatalf("line %d reason: %v", i, l)
		}
		if want.reason == "" {
			if l["event_id"] != "evt_log_1" || l["type"] != "charge.refunded" || l["livemode"] != false || l["duplicate"] != want.dup || l["latency_ms"] == nil {
				t.Fatalf("line %d: %v", i, l)
			}
		}
	}
	logs := f.logs.String()
	for _, s := range []string{secretOld, secretNew, "pi_123", "whsec_"} {
		if strings.Contains(logs, s) {
			t.Fatalf("logs contain %q", s)
		}
	}
}

// TestResult_CountsAsFailure ensures which outcomes count toward the
// per-client failure limit: whatever Stripe never does with the right
// secret, a GET included.
func TestResult_CountsAsFailure(t *testing.T) {
	for _, tc := range []struct {
		outcome ingest.Outcome
		want    bool
	}{
		{ingest.OutcomeRejected, true},
		{ingest.OutcomeTooLarge, true},
		{ingest.OutcomeReadError, true},
		{ingest.OutcomeBadMethod, true},
		{ingest.OutcomeAccepted, false},
		{ingest.OutcomeDuplicate, false},
		{ingest.OutcomeInvalid, false},
		{ingest.OutcomeUnavailable, false},
		{ingest.OutcomeNotDelivered, false},
	} {
		if got := (ingest.Result{Outcome: tc.outcome}).CountsAsFailure(); got != tc.want {
			t.Errorf("%s: CountsAsFailure %v, want %v", tc.outcome, got, tc.want)
		}
	}
}

// TestHandler_RejectionFloodLogSampled ensures a flood of GETs and forged
// POSTs on the webhook path writes a few log lines per client and reason,
// not one a request (309,796 GETs once wrote 52 MB of log in 10 s), and
// that the count of the others is written.
func TestHandler_RejectionFloodLogSampled(t *testing.T) {
	f := mustFixture(t)
	for range 10000 {
		r := httptest.NewRequest(http.MethodGet, testPath, nil)
		r.RemoteAddr = "203.0.113.7:4000"
		f.h.ServeHTTP(httptest.NewRecorder(), r)
		r = httptest.NewRequest(http.MethodPost, testPath, strings.NewReader(`{}`))
		r.RemoteAddr = "203.0.113.7:4000"
		r.Header.Set("Stripe-Signature", "t=1,v1=00")
		f.h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if n := strings.Count(f.logs.String(), "\n"); n > 20 {
		t.Fatalf("%d log lines for 20,000 rejected requests from one client, want a few", n)
	}
	logger := slog.New(slog.NewJSONHandler(f.logs, nil))
	s, err := edge.NewLogSampler(logger, edge.LogSamplerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.h.LogSampler = s
	for range 100 {
		r := httptest.NewRequest(http.MethodGet, testPath, nil)
		r.RemoteAddr = "198.51.100.9:4000"
		f.h.ServeHTTP(httptest.NewRecorder(), r)
	}
	s.Flush()
	if !strings.Contains(f.logs.String(), `"client":"198.51.100.9","reason":"bad_method","suppressed":95`) {
		t.Errorf("no count of the sampled lines in the log:\n%s", f.logs)
	}
}

// TestHandler_ErrAmbiguous ensures that a validly signed body whose id or
// type another JSON reader could read otherwise (a repeated or case-differing
// key, which stripe-go resolves to the last one) or that is not valid UTF-8
// (which encoding/json reads with U+FFFD, so that two different ids collide
// and the second would be acknowledged as a duplicate without being stored)
// gets 400 invalid payload, stores nothing, and is logged with its reason.
func TestHandler_ErrAmbiguous(t *testing.T) {
	f := mustFixture(t)
	// Every rejection's line, not the first few per reason.
	s, err := edge.NewLogSampler(slog.New(slog.NewJSONHandler(f.logs, nil)), edge.LogSamplerOptions{Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	f.h.LogSampler = s
	body := func(members string) []byte {
		return []byte(`{"object":"event","created":1764200000,"livemode":false,` + members + `,"data":{"object":{"id":"pi_1"}}}`)
	}
	for _, tt := range []struct {
		name   string
		body   []byte
		reason string
	}{
		{"DuplicateID", body(`"id":"evt_amb_1","type":"invoice.paid","id":"evt_amb_2"`), "ambiguous_key"},
		{"UppercaseIDAfter", body(`"id":"evt_amb_1","type":"invoice.paid","ID":"evt_amb_2"`), "ambiguous_key"},
		{"UppercaseIDBefore", body(`"ID":"evt_amb_2","id":"evt_amb_1","type":"invoice.paid"`), "ambiguous_key"},
		{"MixedCaseType", body(`"id":"evt_amb_1","type":"invoice.paid","Type":"charge.refunded"`), "ambiguous_key"},
		{"CaseVariantLivemode", body(`"id":"evt_amb_1","type":"invoice.paid","LIVEMODE":true`), "ambiguous_key"},
		{"InvalidUTF8ID", body("\"id\":\"evt_amb_\xff\",\"type\":\"invoice.paid\""), "invalid_utf8"},
		{"InvalidUTF8IDOtherByte", body("\"id\":\"evt_amb_\xfe\",\"type\":\"invoice.paid\""), "invalid_utf8"},
		{"LoneSurrogateID", body(`"id":"evt_amb_\udbff","type":"invoice.paid"`), "invalid_utf8"},
		{"LoneSurrogateType", body(`"id":"evt_amb_1","type":"invoice.\ud800paid"`), "invalid_utf8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, resp := f.post(t, tt.body, signed(tt.body, time.Now(), secretOld))
			if status != http.StatusBadRequest || resp != `{"error":"invalid payload"}` {
				t.Fatalf("got %d %s, want 400 invalid payload", status, resp)
			}
			if n := countEvents(t, f.store); n != 0 {
				t.Fatalf("%d events stored, want none", n)
			}
			lines := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
			var l map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &l); err != nil {
				t.Fatal(err)
			}
			if l["outcome"] != "invalid" || l["reason"] != tt.reason {
				t.Fatalf("log line %v, want outcome invalid, reason %s", l, tt.reason)
			}
		})
	}

	// U+FFFD sent as such is an ordinary character, stored as sent.
	ok := body(`"id":"evt_amb_\ufffd","type":"invoice.paid"`)
	if status, resp := f.post(t, ok, signed(ok, time.Now(), secretOld)); status != http.StatusOK {
		t.Fatalf("got %d %s, want 200", status, resp)
	}
	if _, err := f.store.FindEventByID(context.Background(), "evt_amb_\ufffd"); err != nil {
		t.Fatal(err)
	}
}
