package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/stripesig"
)

// TestServe_PeriodicReconcile ensures serve --reconcile-every takes in an
// event Stripe's events API has but no webhook brought, marks it as
// recovered by reconcile, delivers it exactly once, leaves an event that
// came as a webhook alone, and never shows the API key.
func TestServe_PeriodicReconcile(t *testing.T) {
	const key = "rk_test_reconcile_key_0123456789abcdef"
	now := time.Now().Unix()
	missing := fmt.Sprintf(`{"id":"evt_missed_1","object":"event","api_version":"2025-10-29.clover","created":%d,"livemode":false,"pending_webhooks":0,"type":"invoice.paid","data":{"object":{"id":"in_9","object":"invoice"}},"request":{"id":null,"idempotency_key":null}}`, now-60)
	webhookBody := e2eEvent("evt_webhook_1", "invoice.paid")
	var calls, badAuth atomic.Int64
	var posted atomic.Bool // the API lists the webhook's event only once it was received as one
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer "+key {
			badAuth.Add(1)
			w.WriteHeader(401)
			return
		}
		if r.URL.Path != "/v1/events" {
			w.WriteHeader(404)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if posted.Load() {
			fmt.Fprintf(w, `{"object":"list","url":"/v1/events","has_more":false,"data":[%s,%s]}`, missing, webhookBody)
		} else {
			fmt.Fprintf(w, `{"object":"list","url":"/v1/events","has_more":false,"data":[%s]}`, missing)
		}
	}))
	defer api.Close()

	a := newApp(t, 0)
	vars, _ := deliverVars(t, a.srv.URL)
	vars["STRIPE_API_KEY"] = key
	vars["HOOKBOX_STRIPE_API_BASE"] = api.URL
	m, logs := mustRunMain(t, vars, "--reconcile-every", "200ms")
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"
	if status, _ := postEvent(t, url, webhookBody, stripesig.Sign(webhookBody, time.Now(), testSecret1)); status != 200 {
		t.Fatal(status)
	}
	posted.Store(true)
	waitFor(t, "recovered event delivered", 15*time.Second, func() bool {
		_, d := a.counts("evt_missed_1")
		return d == 1
	})
	seen := calls.Load()
	waitFor(t, "reconcile runs that list the webhook's event", 15*time.Second, func() bool { return calls.Load() >= seen+3 })
	ev, err := m.Store().FindEventByID(context.Background(), "evt_missed_1")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Source != hookbox.SourceReconcile || string(ev.Body) != missing {
		t.Fatalf("recovered: source %s body %s", ev.Source, ev.Body)
	}
	wh, err := m.Store().FindEventByID(context.Background(), "evt_webhook_1")
	if err != nil || wh.Source != hookbox.SourceWebhook {
		t.Fatalf("webhook event: %v %+v", err, wh)
	}
	m.Close()
	a.check(t)
	if _, d := a.counts("evt_webhook_1"); d != 1 {
		t.Fatalf("webhook event delivered %d times", d)
	}
	if badAuth.Load() != 0 {
		t.Fatal("reconcile sent a wrong key")
	}
	if strings.Contains(logs.String(), key) || strings.Contains(logs.String(), key[8:]) {
		t.Fatal("API key in logs")
	}
}
