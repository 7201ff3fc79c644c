package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"

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

// TestHeld_StrictApp ensures an app that decodes with stripe-go's
// ConstructEvent, which rejects events of another release train than its
// own (stripe.APIVersion), never receives one: with --forward-api-version
// naming its train, events of that train are delivered and the others
// held; once the destination's version changes to the held events' train
// (a restart after the app is upgraded), they are released and sent.
func TestHeld_StrictApp(t *testing.T) {
	var (
		mu       sync.Mutex
		got      []string
		rejected []string
		strict   = true
	)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		var ev stripe.Event
		var err error
		if strict {
			ev, err = webhook.ConstructEvent(body, r.Header.Get("Stripe-Signature"), forwardSecret)
		} else {
			ev, err = webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), forwardSecret,
				webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
		}
		if err != nil {
			rejected = append(rejected, err.Error())
			http.Error(w, "cannot read", 400)
			return
		}
		got = append(got, ev.ID)
	}))
	t.Cleanup(app.Close)
	train := hookbox.APIVersion(stripe.APIVersion).Train()
	vars, _ := deliverVars(t, app.URL)
	vars["STRIPE_WEBHOOK_SECRET"] = sendTestSecret
	vars["HOOKBOX_FORWARD_API_VERSION"] = train
	m, _ := mustRunMain(t, vars)
	post := func(id, version string) {
		t.Helper()
		body := fmt.Appendf(nil, `{"id":%q,"object":"event","api_version":%q,"created":1764201234,"livemode":false,"type":"invoice.paid","data":{"object":{"id":"in_1","object":"invoice"}}}`, id, version)
		if code, msg := postEvent(t, publicURL(m), body, stripesig.Sign(body, time.Now(), sendTestSecret)); code != 200 {
			t.Fatalf("%s: %d %s", id, code, msg)
		}
	}
	post("evt_same", stripe.APIVersion)
	post("evt_other", "2025-03-31.basil")
	waitFor(t, "evt_same delivered", 10*time.Second, func() bool { return eventState(t, m, "evt_same") == hookbox.StateDelivered })
	waitFor(t, "evt_other held", 10*time.Second, func() bool {
		ds, _ := m.Store().FindDeliveries(t.Context(), "evt_other")
		return len(ds) == 1 && ds[0].HoldReason != ""
	})
	mu.Lock()
	if len(rejected) > 0 || len(got) != 1 || got[0] != "evt_same" {
		t.Fatalf("the app got %v and rejected %v; want evt_same only", got, rejected)
	}
	strict = false // the app is upgraded to read basil
	mu.Unlock()
	m.Close()

	vars["HOOKBOX_FORWARD_API_VERSION"] = "basil"
	m2, _ := mustRunMain(t, vars)
	waitFor(t, "evt_other delivered after the version change", 10*time.Second, func() bool { return eventState(t, m2, "evt_other") == hookbox.StateDelivered })
	mu.Lock()
	defer mu.Unlock()
	if len(rejected) > 0 || len(got) != 2 || got[1] != "evt_other" {
		t.Fatalf("the app got %v and rejected %v", got, rejected)
	}
}
