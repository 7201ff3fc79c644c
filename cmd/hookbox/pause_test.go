package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/stripesig"
)

// TestDestinations_PauseResume ensures a destination paused with the CLI
// gets nothing (its events wait, pending, with no attempt), stays paused
// across a restart of serve, and receives every waiting event once
// resumed.
func TestDestinations_PauseResume(t *testing.T) {
	a := newApp(t, 0)
	vars, db := deliverVars(t, a.srv.URL)
	vars["STRIPE_WEBHOOK_SECRET"] = sendTestSecret
	cliRun(t, vars, "migrate", "--db", db) // the store exists before serve, as the pause goes in first
	if out := cliRun(t, vars, "destinations", "pause", "forward", "--db", db); !strings.Contains(out, "paused forward") {
		t.Fatalf("pause: %s", out)
	}
	m, _ := mustRunMain(t, vars)
	post := func(m interface{ PublicAddr() string }, id string) {
		t.Helper()
		body := fmt.Appendf(nil, `{"id":%q,"object":"event","created":1764201234,"livemode":false,"type":"invoice.paid","data":{"object":{"id":"in_1","object":"invoice"}}}`, id)
		url := "http://" + m.PublicAddr() + "/webhooks/stripe"
		if code, msg := postEvent(t, url, body, stripesig.Sign(body, time.Now(), sendTestSecret)); code != 200 {
			t.Fatalf("%s: %d %s", id, code, msg)
		}
	}
	post(m, "evt_p1")
	waitFor(t, "evt_p1 parked", 10*time.Second, func() bool {
		ds, _ := m.Store().FindDeliveries(t.Context(), "evt_p1")
		return len(ds) == 1 && ds[0].HoldReason == hookbox.HoldPaused
	})
	m.Close()
	m2, _ := mustRunMain(t, vars) // the pause is in the store
	post(m2, "evt_p2")
	waitFor(t, "evt_p2 parked", 10*time.Second, func() bool {
		ds, _ := m2.Store().FindDeliveries(t.Context(), "evt_p2")
		return len(ds) == 1 && ds[0].HoldReason == hookbox.HoldPaused
	})
	if seen, _ := a.counts("evt_p1"); seen != 0 {
		t.Fatalf("a paused destination received %d requests", seen)
	}
	if as, _ := m2.Store().FindAttempts(t.Context(), "evt_p2"); len(as) != 0 {
		t.Fatalf("attempts while paused: %+v", as)
	}
	if out := cliRun(t, vars, "destinations", "list", "--db", db); !strings.Contains(out, "forward\tpaused since") {
		t.Fatalf("list: %s", out)
	}
	if out := cliRun(t, vars, "destinations", "resume", "forward", "--db", db); !strings.Contains(out, "2 waiting deliveries") {
		t.Fatalf("resume: %s", out)
	}
	for _, id := range []string{"evt_p1", "evt_p2"} {
		waitFor(t, id+" delivered after the resume", 10*time.Second, func() bool { return eventState(t, m2, id) == hookbox.StateDelivered })
	}
	a.check(t)
}
