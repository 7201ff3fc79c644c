package console_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
)

// park claims the pending event id and completes the claim with its
// delivery to dest parked for reason (hookbox.HoldBreaker, HoldPaused),
// after attempts attempts, as the worker records it.
func park(tb testing.TB, s hookbox.Store, id, dest, reason string, attempts int, now time.Time) {
	tb.Helper()
	ctx := context.Background()
	c, err := s.ClaimEvent(ctx, id, "w", now, time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
	err = s.CompleteClaim(ctx, hookbox.Completion{EventID: id, Owner: c.Owner, Now: now,
		Deliveries: []hookbox.Delivery{{EventID: id, Destination: dest, State: hookbox.StatePending, NextAttemptAt: hookbox.HeldUntil,
			Attempts: attempts, LastError: "HTTP 503", HoldReason: reason, UpdatedAt: now}}})
	if err != nil {
		tb.Fatal(err)
	}
}

// destinationsFixture is a store with three destinations: app, whose
// breaker is open with two deliveries parked behind it and a third let
// through as its probe; slow, paused with one parked; idle, active with
// nothing. Activity holds four failed attempts at app.
func destinationsFixture(t *testing.T, at time.Time) (hookbox.Store, *console.Activity) {
	t.Helper()
	store := mustOpenStore(t)
	ctx := context.Background()
	for i, id := range []string{"evt_b1", "evt_b2", "evt_b3", "evt_p1"} {
		mustInsert(t, store, newEvent(id, "invoice.paid", "in_1", at.Add(time.Duration(i)*time.Second), hookbox.StatePending, ""))
	}
	park(t, store, "evt_b1", "app", hookbox.HoldBreaker, 3, at)
	park(t, store, "evt_b2", "app", hookbox.HoldBreaker, 1, at)
	park(t, store, "evt_b3", "app", hookbox.HoldBreaker, 2, at)
	park(t, store, "evt_p1", "slow", hookbox.HoldPaused, 0, at)
	if _, err := store.SetBreaker(ctx, "app", true, at, at); err != nil {
		t.Fatal(err)
	}
	if id, err := store.ProbeBreaker(ctx, "app", at.Add(30*time.Second), at); err != nil || id != "evt_b2" {
		t.Fatalf("probe = %q, %v", id, err)
	}
	if err := store.PauseDestination(ctx, "slow", true, at.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	act := console.NewActivity()
	for i, id := range []string{"evt_old", "evt_b1", "evt_b3", "evt_b2"} {
		act.RecordAttempt(hookbox.Attempt{EventID: id, Destination: "app", Number: i + 1, StartedAt: at.Add(time.Duration(i-10) * time.Second),
			StatusCode: 503, Error: "HTTP 503 Service Unavailable"})
	}
	act.RecordAttempt(hookbox.Attempt{EventID: "evt_ok", Destination: "idle", Number: 1, StartedAt: at, StatusCode: 200, OK: true})
	return store, act
}

// TestDestinationsPage_Controls ensures the destinations page and GET
// /api/destinations show each destination's state from the store (breaker
// open since when, with its next probe; paused; active), its parked
// deliveries by reason, the limits, in-flight attempts and failures in a
// row of this process's worker (absent for a destination it does not
// deliver to), and its last three failed attempts, newest first.
func TestDestinationsPage_Controls(t *testing.T) {
	at := time.Now().UTC().Truncate(time.Second)
	store, act := destinationsFixture(t, at)
	status := func() map[string]console.DestinationStatus {
		return map[string]console.DestinationStatus{
			"app":  {MaxInFlight: 2, Rate: 5, Burst: 10, BreakerFailures: 3, BreakerProbe: 30 * time.Second, InFlight: 1, Failures: 4},
			"slow": {BreakerFailures: -1},
		}
	}
	ts := newConsole(t, console.Options{Store: store, Token: testToken, Activity: act,
		Destinations: []string{"app", "slow", "idle"}, DestinationStatusFunc: status})
	cl := client(t)
	auth := map[string]string{"Authorization": "Bearer " + testToken}
	res, out := do(t, cl, "GET", ts.URL+"/api/destinations", "", auth)
	if res.StatusCode != 200 {
		t.Fatalf("api: %d %s", res.StatusCode, out)
	}
	var doc struct {
		Destinations []console.DestinationDocument `json:"destinations"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Destinations) != 3 {
		t.Fatalf("api: %v %s", err, out)
	}
	app, slow, idle := doc.Destinations[0], doc.Destinations[1], doc.Destinations[2]
	if app.State != console.DestinationBreakerOpen || app.BreakerOpenAt == nil || !app.BreakerOpenAt.Equal(at) ||
		app.NextProbeAt == nil || !app.NextProbeAt.Equal(at.Add(30*time.Second)) || app.PausedAt != nil {
		t.Errorf("app state: %s", out)
	}
	if app.Parked["breaker"] != 2 || app.Parked["probe"] != 1 || app.Parked["paused"] != 0 {
		t.Errorf("app parked: %v", app.Parked)
	}
	if l := app.Limits; l == nil || *l != (console.LimitsDocument{MaxInFlight: 2, Rate: 5, Burst: 10, BreakerFailures: 3, BreakerProbeSeconds: 30}) ||
		app.InFlight == nil || *app.InFlight != 1 || app.ConsecutiveFailures == nil || *app.ConsecutiveFailures != 4 {
		t.Errorf("app limits: %s", out)
	}
	var ids []string
	for _, f := range app.LastErrors {
		ids = append(ids, f.EventID)
		if f.StatusCode != 503 || f.Error != "HTTP 503 Service Unavailable" {
			t.Errorf("last error %+v", f)
		}
	}
	if strings.Join(ids, ",") != "evt_b2,evt_b3,evt_b1" {
		t.Errorf("last errors %v, want the newest three, newest first", ids)
	}
	if slow.State != console.DestinationPaused || slow.PausedAt == nil || slow.Parked["paused"] != 1 || slow.Limits == nil || slow.Limits.BreakerFailures != -1 {
		t.Errorf("slow: %+v", slow)
	}
	if idle.State != console.DestinationActive || idle.Limits != nil || idle.InFlight != nil || len(idle.LastErrors) != 0 ||
		idle.Parked["breaker"]+idle.Parked["paused"]+idle.Parked["probe"] != 0 {
		t.Errorf("idle: %+v", idle)
	}

	// Paused with its breaker open: paused (nothing is attempted), the breaker still told.
	if err := store.PauseDestination(context.Background(), "app", true, at); err != nil {
		t.Fatal(err)
	}
	_, out = do(t, cl, "GET", ts.URL+"/api/destinations", "", auth)
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Destinations[0].State != console.DestinationPaused ||
		doc.Destinations[0].BreakerOpenAt == nil || doc.Destinations[0].PausedAt == nil {
		t.Errorf("app paused with its breaker open: %v %s", err, out)
	}
	if err := store.PauseDestination(context.Background(), "app", false, at); err != nil {
		t.Fatal(err)
	}

	login(t, cl, ts.URL)
	_, body := do(t, cl, "GET", ts.URL+"/destinations", "", nil)
	for _, w := range []string{
		`<span class="state state-breaker">breaker open</span>`, "since " + at.Format("2006-01-02 15:04:05 UTC"), "; next probe",
		"rate: 5/s, burst 10", "max in flight: 2 per process", "breaker: after 3 failures in a row, a probe every 30s",
		"<span>2 breaker</span>", "<span>1 probe</span>", "<span>1 paused</span>", "breaker: off",
		`<span class="state state-paused">paused</span>`, `<span class="state state-active">active</span>`,
		"last errors (this process):", `<a href="/events/evt_b2" class="mono">evt_b2</a> #4 <span class="mono">HTTP 503 Service Unavailable</span>`,
		`action="/destinations/resume"`, `action="/destinations/pause"`,
	} {
		if !strings.Contains(body, w) {
			t.Errorf("destinations page lacks %q", w)
		}
	}
	if strings.Contains(body, "evt_old") {
		t.Errorf("destinations page shows a fourth, older failure")
	}
	if got := strings.Count(body, "rate: —"); got != 1 {
		t.Errorf("destinations without a worker's status: %d, want idle's only", got)
	}
}

// TestEventPage_Parked ensures the event page says why a delivery waits
// on its destination's controls: "parked: breaker open" or "probe", with
// no Release button (that is for API-version holds) and no next attempt
// in the year 2200.
func TestEventPage_Parked(t *testing.T) {
	at := time.Now().UTC().Truncate(time.Second)
	store, act := destinationsFixture(t, at)
	ts := newConsole(t, console.Options{Store: store, Activity: act, Destinations: []string{"app", "slow", "idle"}})
	cl := client(t)
	for id, want := range map[string]string{
		"evt_b1": `<span class="state state-breaker">parked: breaker open</span>`,
		"evt_b2": `<span class="state state-pending">probe</span>`,
		"evt_p1": `<span class="state state-paused">paused</span>`,
	} {
		_, body := do(t, cl, "GET", ts.URL+"/events/"+id, "", nil)
		if !strings.Contains(body, want) {
			t.Errorf("%s: page lacks %q", id, want)
		}
		if strings.Contains(body, "release-held") || strings.Contains(body, "2200-01-01") {
			t.Errorf("%s: offers Release, or shows the parked due time", id)
		}
	}
}

// TestEventDocumentParked ensures the API's delivery document names the
// park of a parked delivery, released or not, beside its stored
// hold_reason, and nothing for a held or released one.
func TestEventDocumentParked(t *testing.T) {
	ev := &hookbox.Event{ID: "evt_1", Type: "charge.succeeded", Body: []byte(`{}`)}
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var ds []hookbox.Delivery
	want := map[string]string{
		hookbox.HoldPaused: "paused", hookbox.HoldBreakerReleased: "breaker", hookbox.HoldProbeReleased: "probe",
		hookbox.HoldReleased: "", "event in API version 2024-06-20.acacia; the destination reads dahlia": "",
	}
	for reason := range want {
		ds = append(ds, hookbox.Delivery{EventID: ev.ID, Destination: reason, State: hookbox.StatePending,
			NextAttemptAt: hookbox.HeldUntil, HoldReason: reason, UpdatedAt: now})
	}
	doc := console.NewEventDocument(ev, ds, nil)
	if len(doc.Deliveries) != len(want) {
		t.Fatalf("%d deliveries, want %d", len(doc.Deliveries), len(want))
	}
	for _, d := range doc.Deliveries {
		if d.HoldReason != d.Destination || d.Parked != want[d.HoldReason] {
			t.Errorf("hold_reason %q: parked %q, want %q", d.HoldReason, d.Parked, want[d.HoldReason])
		}
	}
}
