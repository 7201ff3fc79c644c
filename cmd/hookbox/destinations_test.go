package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/stripesig"
)

// TestDestinations_ListBreaker ensures that when a failing app opens the
// default breaker (10 failed attempts in a row), the event waits parked
// (not dead), and that `destinations list`, `events show` and GET
// /api/destinations of the running serve (the worker's view, wired
// through the receiver) say so, with the destination's limits.
func TestDestinations_ListBreaker(t *testing.T) {
	a := newApp(t, 1000)
	vars, db := deliverVars(t, a.srv.URL)
	vars["HOOKBOX_MAX_ATTEMPTS"] = "50"
	m, _ := mustRunMain(t, vars)
	body := e2eEvent("evt_br1", "invoice.paid")
	if code, msg := postEvent(t, "http://"+m.PublicAddr()+"/webhooks/stripe", body, stripesig.Sign(body, time.Now(), testSecret1)); code != 200 {
		t.Fatalf("post: %d %s", code, msg)
	}
	waitFor(t, "the breaker to park evt_br1", 10*time.Second, func() bool {
		ds, _ := m.Store().FindDeliveries(t.Context(), "evt_br1")
		return len(ds) == 1 && ds[0].HoldReason == hookbox.HoldBreaker
	})
	if seen, _ := a.counts("evt_br1"); seen != 10 {
		t.Errorf("the app saw %d attempts before the breaker opened, want 10", seen)
	}
	if st := eventState(t, m, "evt_br1"); st != hookbox.StatePending {
		t.Errorf("evt_br1 is %s, want pending (parked, not dead)", st)
	}

	var doc struct {
		Destinations []struct {
			Name   string         `json:"name"`
			State  string         `json:"state"`
			Parked map[string]int `json:"parked"`
			Limits *struct {
				BreakerFailures     int     `json:"breaker_failures"`
				BreakerProbeSeconds float64 `json:"breaker_probe_seconds"`
			} `json:"limits"`
			Failures   *int `json:"consecutive_failures"`
			LastErrors []struct {
				EventID    string `json:"event_id"`
				StatusCode int    `json:"status_code"`
			} `json:"last_errors"`
		} `json:"destinations"`
	}
	out := scrape(t, "http://"+m.AdminAddr()+"/api/destinations")
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Destinations) != 1 {
		t.Fatalf("api: %v %s", err, out)
	}
	d := doc.Destinations[0]
	if d.Name != "forward" || d.State != "breaker_open" || d.Parked["breaker"] != 1 || d.Limits == nil || d.Limits.BreakerFailures != 10 ||
		d.Limits.BreakerProbeSeconds != 10 || d.Failures == nil || *d.Failures < 10 ||
		len(d.LastErrors) != 3 || d.LastErrors[0].EventID != "evt_br1" || d.LastErrors[0].StatusCode != 503 {
		t.Errorf("api: %s", out)
	}

	cliRun(t, vars, "destinations", "pause", "gone", "--db", db) // a name serve does not run
	list := cliRun(t, vars, "destinations", "list", "--db", db)
	line := regexp.MustCompile(`(?m)^forward\tbreaker open since \S+, next probe \S+\tparked 1 \(breaker 1, probe 0, paused 0\)\t` +
		`rate unlimited, in flight uncapped, breaker after 10 failures, a probe every 10s$`)
	other := regexp.MustCompile(`\ngone\tpaused since \S+\tparked 0 \(breaker 0, probe 0, paused 0\)\tnot configured\n$`)
	if !line.MatchString(list) || !other.MatchString(list) || !strings.HasPrefix(list, "forward\t") {
		t.Errorf("destinations list:\n%s", list)
	}
	// An operator's shell: the database only, no secrets, no serve flags.
	bare := cliRun(t, map[string]string{}, "destinations", "list", "--db", db)
	if !regexp.MustCompile(`(?m)^forward\tbreaker open since \S+, next probe \S+\tparked 1 \(breaker 1, probe 0, paused 0\)\tnot configured$`).MatchString(bare) {
		t.Errorf("destinations list with --db only:\n%s", bare)
	}
	show := cliRun(t, map[string]string{"HOOKBOX_DB": db}, "events", "show", "evt_br1")
	if !regexp.MustCompile(`(?m)^  forward +parked +attempts 10 .*parked: breaker open`).MatchString(show) || strings.Contains(show, "next 2200") {
		t.Errorf("events show:\n%s", show)
	}
}

// TestEventsShow_Parked ensures events show names each way a delivery
// waits for its destination: paused, parked behind an open breaker, sent
// as the breaker's probe (with its due time), held for its API version.
func TestEventsShow_Parked(t *testing.T) {
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	ds := []hookbox.Delivery{
		{Destination: "paused", State: hookbox.StatePending, Attempts: 0, NextAttemptAt: hookbox.HeldUntil, HoldReason: hookbox.HoldPaused},
		{Destination: "broken", State: hookbox.StatePending, Attempts: 4, NextAttemptAt: hookbox.HeldUntil, HoldReason: hookbox.HoldBreaker, LastError: "HTTP 503"},
		{Destination: "probed", State: hookbox.StatePending, Attempts: 2, NextAttemptAt: now, HoldReason: hookbox.HoldProbe},
		{Destination: "versioned", State: hookbox.StatePending, NextAttemptAt: hookbox.HeldUntil, HoldReason: "event in API version 2024-06-20"},
	}
	var b strings.Builder
	writeDeliveriesText(&b, ds, nil)
	text := b.String()
	for _, re := range []string{
		`(?m)^  paused +paused +attempts 0  waiting: the destination is paused`,
		`(?m)^  broken +parked +attempts 4  last error: HTTP 503  parked: breaker open`,
		`(?m)^  probed +probe +attempts 2  next 2026-12-07T08:00:00Z  probe: the one attempt the open breaker lets through$`,
		`(?m)^  versioned +held +attempts 0  held: event in API version`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("events show lacks %s:\n%s", re, text)
		}
	}
	if strings.Contains(text, "2200") {
		t.Errorf("events show gives a parked delivery's due time:\n%s", text)
	}
}
