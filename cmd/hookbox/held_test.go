package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/stripesig"
)

// TestHeld_APIVersion ensures an event in an API version the forward
// destination does not read (--forward-api-version) is held, not sent:
// listed by events list --state held, explained by events show, counted by
// hookbox_deliveries_held; an event in a compatible version goes; and
// events release --api-version sends the held one.
func TestHeld_APIVersion(t *testing.T) {
	a := newApp(t, 0)
	vars, db := deliverVars(t, a.srv.URL)
	vars["STRIPE_WEBHOOK_SECRET"] = sendTestSecret
	vars["HOOKBOX_FORWARD_API_VERSION"] = "dahlia"
	m, _ := mustRunMain(t, vars)
	post := func(id, version string) {
		t.Helper()
		body := fmt.Appendf(nil, `{"id":%q,"object":"event","api_version":%q,"created":1764201234,"livemode":false,"type":"invoice.paid","data":{"object":{"id":"in_1","object":"invoice"}}}`, id, version)
		if code, msg := postEvent(t, publicURL(m), body, stripesig.Sign(body, time.Now(), sendTestSecret)); code != 200 {
			t.Fatalf("%s: %d %s", id, code, msg)
		}
	}
	post("evt_old", "2024-06-20.acacia")
	post("evt_new", "2026-07-29.dahlia")
	waitFor(t, "evt_new delivered", 10*time.Second, func() bool { return eventState(t, m, "evt_new") == hookbox.StateDelivered })
	waitFor(t, "evt_old held", 10*time.Second, func() bool {
		ds, _ := m.Store().FindDeliveries(t.Context(), "evt_old")
		return len(ds) == 1 && ds[0].HoldReason != ""
	})
	if seen, _ := a.counts("evt_old"); seen != 0 {
		t.Fatalf("the held event reached the app %d times", seen)
	}
	if out := cliRun(t, vars, "events", "list", "--state", "held", "--db", db); !strings.Contains(out, "evt_old") || strings.Contains(out, "evt_new") {
		t.Fatalf("events list --state held:\n%s", out)
	}
	if out := cliRun(t, vars, "events", "show", "evt_old", "--db", db); !strings.Contains(out, "held: event in API version 2024-06-20.acacia; the destination reads dahlia") {
		t.Fatalf("events show:\n%s", out)
	}
	if metrics := scrapeMetrics(t, m); !strings.Contains(metrics, `hookbox_deliveries_held{destination="forward"} 1`) {
		t.Fatalf("held gauge:\n%s", grepLines(metrics, "hookbox_deliveries_held"))
	}
	if out := cliRun(t, vars, "events", "release", "--destination", "forward", "--api-version", "basil", "--db", db); !strings.Contains(out, "released 0") {
		t.Fatalf("release of another train: %s", out)
	}
	if out := cliRun(t, vars, "events", "release", "--destination", "forward", "--api-version", "acacia", "--db", db); !strings.Contains(out, "released 1 event") {
		t.Fatalf("release: %s", out)
	}
	waitFor(t, "evt_old delivered after its release", 10*time.Second, func() bool { return eventState(t, m, "evt_old") == hookbox.StateDelivered })
	a.check(t)
	if metrics := scrapeMetrics(t, m); !strings.Contains(metrics, `hookbox_deliveries_held{destination="forward"} 0`) {
		t.Fatalf("held gauge after release:\n%s", grepLines(metrics, "hookbox_deliveries_held"))
	}
}
