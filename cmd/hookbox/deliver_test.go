package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/hookbox/hookbox/receiver"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/stripesig"
)

const forwardSecret = "whsec_forward_secret_for_my_app_42"

// app is an httptest destination standing for the user's app: it verifies
// every request with stripe-go exactly as an unchanged app would, and counts
// deliveries per event id. failFirst makes the first N requests of each
// event fail with 503.
type app struct {
	srv       *httptest.Server
	failFirst int
	failAll   atomic.Bool

	mu        sync.Mutex
	seen      map[string]int // requests per event id
	delivered map[string]int // 2xx answers per event id
	bad       []string
}

func newApp(t *testing.T, failFirst int) *app {
	a := &app{failFirst: failFirst, seen: map[string]int{}, delivered: map[string]int{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), forwardSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.bad = append(a.bad, err.Error())
		http.Error(w, "bad signature", 400)
		return
	}
	if r.Header.Get("Idempotency-Key") != ev.ID || r.Header.Get("Content-Type") != "application/json" {
		a.bad = append(a.bad, "headers: "+fmt.Sprint(r.Header))
	}
	n, _ := strconv.Atoi(r.Header.Get("Hookbox-Attempt"))
	a.seen[ev.ID]++
	if n != a.seen[ev.ID] {
		a.bad = append(a.bad, fmt.Sprintf("%s: Hookbox-Attempt %d on request %d", ev.ID, n, a.seen[ev.ID]))
	}
	if a.failAll.Load() || a.seen[ev.ID] <= a.failFirst {
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	a.delivered[ev.ID]++
	w.WriteHeader(200)
}

func (a *app) counts(id string) (seen, delivered int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen[id], a.delivered[id]
}

func (a *app) check(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.bad) > 0 {
		t.Fatalf("destination saw bad requests: %v", a.bad)
	}
	for id, n := range a.delivered {
		if n != 1 {
			t.Fatalf("%s delivered %d times", id, n)
		}
	}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func deliverVars(t *testing.T, url string) (map[string]string, string) {
	vars, db := e2eVars(t)
	vars["HOOKBOX_FORWARD_TO"] = url
	vars["HOOKBOX_FORWARD_SECRET"] = forwardSecret
	vars["HOOKBOX_RETRY_BASE"] = "10ms"
	vars["HOOKBOX_RETRY_CAP"] = "40ms"
	return vars, db
}

func eventState(t *testing.T, m *receiver.Receiver, id string) hookbox.State {
	t.Helper()
	ev, err := m.Store().FindEventByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return ev.State
}

// TestDeliver_ForwardWithRetries ensures an event received by serve
// --forward-to reaches a destination that verifies hookbox's signature with
// stripe-go, after the destination failed its first attempts; every attempt
// is recorded, a Stripe retry of the delivered event is not delivered again,
// and the CLI shows the attempts.
func TestDeliver_ForwardWithRetries(t *testing.T) {
	a := newApp(t, 2)
	vars, db := deliverVars(t, a.srv.URL)
	m, logs := mustRunMain(t, vars)
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"
	body := e2eEvent("evt_fwd_1", "invoice.paid")
	if status, _ := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1)); status != 200 {
		t.Fatal(status)
	}
	waitFor(t, "delivery", 10*time.Second, func() bool { return eventState(t, m, "evt_fwd_1") == hookbox.StateDelivered })
	if seen, delivered := a.counts("evt_fwd_1"); seen != 3 || delivered != 1 {
		t.Fatalf("seen %d delivered %d, want 3 and 1", seen, delivered)
	}
	// Stripe retries the event: a duplicate, not delivered again.
	if status, resp := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1)); status != 200 || !strings.Contains(resp, "duplicate") {
		t.Fatal(status, resp)
	}
	time.Sleep(100 * time.Millisecond) // give a wrong redelivery the chance to happen
	a.check(t)
	if seen, _ := a.counts("evt_fwd_1"); seen != 3 {
		t.Fatalf("duplicate caused a redelivery: seen %d", seen)
	}
	atts, err := m.Store().FindAttempts(context.Background(), "evt_fwd_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 3 || atts[0].StatusCode != 503 || atts[0].OK || !strings.Contains(atts[0].Response, "not now") || atts[2].StatusCode != 200 || !atts[2].OK {
		t.Fatalf("attempts: %+v", atts)
	}
	env, out, _ := testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, []string{"events", "show", "evt_fwd_1", "--json"}); err != nil {
		t.Fatal(err)
	}
	var shown struct {
		State      string                    `json:"state"`
		AttemptLog []console.AttemptDocument `json:"attempt_log"`
	}
	if err := json.Unmarshal([]byte(out.String()), &shown); err != nil || shown.State != "delivered" || len(shown.AttemptLog) != 3 {
		t.Fatalf("show: %v %s", err, out.String())
	}
	if strings.Contains(logs.String(), forwardSecret) {
		t.Fatal("forward secret in logs")
	}
}

// TestDeliver_DeadThenReplay ensures an event whose destination always fails
// ends dead after --max-attempts, and that "events replay --state dead"
// puts it back so it is delivered once the destination recovers.
func TestDeliver_DeadThenReplay(t *testing.T) {
	a := newApp(t, 0)
	a.failAll.Store(true)
	vars, db := deliverVars(t, a.srv.URL)
	vars["HOOKBOX_MAX_ATTEMPTS"] = "3"
	m, _ := mustRunMain(t, vars, "--delivery-concurrency", "4", "--poll-interval", "20ms")
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"
	for _, id := range []string{"evt_dead_1", "evt_dead_2"} {
		body := e2eEvent(id, "charge.refunded")
		if status, _ := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1)); status != 200 {
			t.Fatal(status)
		}
	}
	waitFor(t, "dead", 10*time.Second, func() bool {
		return eventState(t, m, "evt_dead_1") == hookbox.StateDead && eventState(t, m, "evt_dead_2") == hookbox.StateDead
	})
	if seen, _ := a.counts("evt_dead_1"); seen != 3 {
		t.Fatalf("attempts before dead: %d, want 3", seen)
	}
	a.failAll.Store(false)
	env, out, _ := testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, []string{"events", "replay", "--state", "dead", "--type", "charge.*", "--since", "1h"}); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) != "replayed 2 event(s)" {
		t.Fatalf("replay output: %q", out.String())
	}
	waitFor(t, "replayed delivery", 10*time.Second, func() bool {
		return eventState(t, m, "evt_dead_1") == hookbox.StateDelivered && eventState(t, m, "evt_dead_2") == hookbox.StateDelivered
	})
	a.check(t)
	// Replay by id of a delivered event sends it again (explicit request).
	env, out, _ = testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, []string{"events", "replay", "evt_dead_1"}); err != nil || !strings.Contains(out.String(), "replayed 1") {
		t.Fatal(err, out.String())
	}
	waitFor(t, "second delivery", 10*time.Second, func() bool { _, d := a.counts("evt_dead_1"); return d == 2 })
	// Once retention emptied its body, an event cannot be replayed: the
	// CLI says why instead of queueing an empty delivery.
	waitFor(t, "delivered again", 10*time.Second, func() bool { return eventState(t, m, "evt_dead_1") == hookbox.StateDelivered })
	s, err := openStoreForCLI(db)
	if err != nil {
		t.Fatal(err)
	}
	if n, _, err := s.PruneEvents(context.Background(), time.Now().Add(time.Hour), time.Time{}); err != nil || n == 0 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	s.Close()
	env, out, _ = testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, []string{"events", "replay", "evt_dead_1"}); err == nil || !strings.Contains(err.Error(), "retention emptied its body") {
		t.Fatalf("replay of a pruned event: %v, %q", err, out.String())
	}
	env, _, _ = testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, []string{"events", "replay"}); err == nil {
		t.Fatal("replay without ids or --state accepted")
	}
}

// TestDeliver_TwoDestinationsOneFailing ensures each destination keeps its
// own delivery state: the healthy one receives the event exactly once while
// the failing one is retried, and a type filter keeps other types away.
func TestDeliver_TwoDestinationsOneFailing(t *testing.T) {
	healthy, failing := newApp(t, 0), newApp(t, 4)
	vars, _ := deliverVars(t, healthy.srv.URL)
	vars["HOOKBOX_EVENTS"] = "invoice.*,payment_intent.succeeded"
	env, _, logs := testEnv(vars)
	cfg, err := parseServeConfig(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := deliver.NewHTTP("second", failing.srv.URL, forwardSecret, deliver.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.extraDests = []deliver.Destination{second}
	m, err := openReceiver(context.Background(), cfg, logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"
	for _, e := range []struct{ id, typ string }{{"evt_two_1", "invoice.paid"}, {"evt_two_2", "customer.created"}} {
		body := e2eEvent(e.id, e.typ)
		if status, _ := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1)); status != 200 {
			t.Fatal(status)
		}
	}
	waitFor(t, "both delivered", 10*time.Second, func() bool {
		return eventState(t, m, "evt_two_1") == hookbox.StateDelivered && eventState(t, m, "evt_two_2") == hookbox.StateDelivered
	})
	if seen, d := healthy.counts("evt_two_1"); seen != 1 || d != 1 {
		t.Fatalf("healthy destination: seen %d delivered %d", seen, d)
	}
	if seen, d := failing.counts("evt_two_1"); seen != 5 || d != 1 {
		t.Fatalf("failing destination: seen %d delivered %d", seen, d)
	}
	if seen, _ := healthy.counts("evt_two_2"); seen != 0 {
		t.Fatal("type filter let customer.created through to the forward destination")
	}
	if _, d := failing.counts("evt_two_2"); d != 1 {
		t.Fatal("the unfiltered destination did not get customer.created")
	}
	healthy.check(t)
	failing.check(t)
}

// TestDeliver_SyncMode ensures --mode sync answers Stripe 500 while the
// destination fails (the event is stored, and a retry is no duplicate
// delivery), then 200 once Stripe's retry is delivered, and that a further
// retry of a delivered event is 200 without a second delivery.
func TestDeliver_SyncMode(t *testing.T) {
	a := newApp(t, 1)
	vars, _ := deliverVars(t, a.srv.URL)
	m, _ := mustRunMain(t, vars, "--mode", "sync")
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"
	body := e2eEvent("evt_sync_1", "payment_intent.succeeded")
	post := func() (int, string) { return postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1)) }
	if status, resp := post(); status != 500 || resp != `{"error":"delivery failed"}` {
		t.Fatalf("first: %d %s", status, resp)
	}
	if status, resp := post(); status != 200 || resp != `{"received":true,"duplicate":true}` {
		t.Fatalf("retry: %d %s", status, resp)
	}
	if status, _ := post(); status != 200 {
		t.Fatalf("third: %d", status)
	}
	if seen, d := a.counts("evt_sync_1"); seen != 2 || d != 1 {
		t.Fatalf("seen %d delivered %d, want 2 and 1", seen, d)
	}
	if eventState(t, m, "evt_sync_1") != hookbox.StateDelivered {
		t.Fatal("not delivered")
	}
	a.check(t)
}

// TestServe_DeliveryConfig ensures bad delivery settings are refused with a
// clear message: a destination without its secret, sync mode without a
// destination, a dedupe window shorter than Stripe's 30 days.
func TestServe_DeliveryConfig(t *testing.T) {
	vars, _ := e2eVars(t)
	vars["HOOKBOX_FORWARD_TO"] = "http://127.0.0.1:1/x"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "HOOKBOX_FORWARD_SECRET"},
		{[]string{"--forward-to", "", "--mode", "sync"}, "sync needs a destination"},
		{[]string{"--forward-to", "", "--keep-ids", "7d"}, "at least 31d"},
		{[]string{"--forward-to", "", "--events", "invoice.**"}, "--events"},
		{[]string{"--forward-to", "", "--mode", "fast"}, "--mode"},
	} {
		env, _, _ := testEnv(vars)
		_, err := parseServeConfig(env, tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	env, _, _ := testEnv(vars)
	vars["HOOKBOX_FORWARD_SECRET"] = forwardSecret
	cfg, err := parseServeConfig(env, []string{"--retention", "7d", "--retry-window", "3d"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.opts.Retention != 7*24*time.Hour || cfg.opts.Retry.Window != 72*time.Hour || cfg.opts.KeepIDs != receiver.DefaultKeepIDs {
		t.Fatalf("%+v", cfg)
	}
}
