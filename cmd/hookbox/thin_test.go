package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/thin/thintest"
)

const (
	thinSecret   = "whsec_thin_0123456789abcdef0123456789abcdef"
	thinAppNotif = "whsec_app_notif_0123456789abcdef0123456789ab"
	thinAppEvent = "whsec_app_event_0123456789abcdef0123456789ab"
	thinAPIKey   = "sk_test_thin_e2e_0123456789"
)

// thinApp is an app behind hookbox: it verifies every forward with
// stripe-go, as unchanged Stripe code would.
type thinApp struct {
	mu     sync.Mutex
	notifs []stripe.EventNotificationContainer
	events [][]byte
	errs   []string
}

func (a *thinApp) handler() http.Handler {
	client := stripe.NewClient("sk_test_unused")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sig := r.Header.Get("Stripe-Signature")
		a.mu.Lock()
		defer a.mu.Unlock()
		switch r.URL.Path {
		case "/notifications":
			n, err := client.ParseEventNotification(b, sig, thinAppNotif)
			if err != nil {
				a.errs = append(a.errs, "notification: "+err.Error())
				w.WriteHeader(400)
				return
			}
			a.notifs = append(a.notifs, n)
		case "/events":
			if err := webhook.ValidatePayload(b, sig, thinAppEvent); err != nil {
				a.errs = append(a.errs, "event: "+err.Error())
				w.WriteHeader(400)
				return
			}
			a.events = append(a.events, b)
		}
	})
}

func (a *thinApp) counts() (int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.notifs), len(a.events)
}

// Ensures the real Main, on a thin endpoint of --config, accepts thin
// notifications signed by stripe-go's test signer, refuses a snapshot
// event there, fetches each full event from the (fake) v2 API, forwards the
// notification to one destination that verifies it with stripe-go's
// ParseEventNotification and the fetched event to another that verifies
// its signature, and that reconcile over /v2/core/events recovers a
// notification that never arrived.
func TestThin_EndToEnd(t *testing.T) {
	api := thintest.New(t, thinAPIKey)
	app := &thinApp{}
	appSrv := httptest.NewServer(app.handler())
	defer appSrv.Close()

	now := time.Now().UTC()
	sent := thintest.Event{ID: "evt_thin_sent", Type: "v1.billing.meter.error_report_triggered", Created: now.Add(-time.Minute),
		Context: "acct_ctx", RelatedID: "mtr_e2e", RelatedType: "billing.meter"}
	missed := thintest.Event{ID: "evt_thin_missed", Type: "v2.core.account.updated", Created: now.Add(-2 * time.Hour),
		RelatedID: "acct_missed", RelatedType: "v2.core.account"}
	health := thintest.Event{ID: "evt_thin_health", Type: "v2.core.health.event_generation_failure.resolved", Created: now.Add(-time.Minute)}
	api.Add(sent, missed, health)
	api.RateLimit(sent.ID, 1, "1")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "hookbox.yaml")
	if err := writeFile(cfg, fmt.Sprintf(`endpoints:
  - name: thin
    payload: thin
    secrets: [{env: THIN_SECRET}]
    destinations:
      - {name: notif, url: %[1]s/notifications, secret: {env: APP_NOTIF}}
      - {name: full, url: %[1]s/events, secret: {env: APP_EVENT}, deliver: event}
`, appSrv.URL)); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"HOOKBOX_LISTEN": "127.0.0.1:0", "HOOKBOX_ADMIN_LISTEN": "127.0.0.1:0",
		"HOOKBOX_DB":              "sqlite:" + filepath.Join(dir, "thin.db"),
		"HOOKBOX_CONFIG":          cfg,
		"THIN_SECRET":             thinSecret,
		"APP_NOTIF":               thinAppNotif,
		"APP_EVENT":               thinAppEvent,
		"STRIPE_API_KEY":          thinAPIKey,
		"HOOKBOX_STRIPE_API_BASE": api.URL(),
		"HOOKBOX_RECONCILE_EVERY": "1h",
	}
	r, logs := mustRunMain(t, vars)
	url := "http://" + r.PublicAddr() + "/webhooks/thin"
	sign := func(b []byte) string {
		return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: b, Secret: thinSecret, Timestamp: time.Now()}).Header
	}
	for _, ev := range []thintest.Event{sent, health} {
		if code, body := postEvent(t, url, ev.Notification(), sign(ev.Notification())); code != 200 {
			t.Fatalf("thin notification: %d %s", code, body)
		}
	}
	snap := e2eEvent("evt_snapshot", "invoice.paid")
	if code, _ := postEvent(t, url, snap, sign(snap)); code != 400 {
		t.Fatalf("a snapshot event at a thin endpoint: %d, want 400", code)
	}

	// sent and health arrive; missed comes from reconcile. Each reaches
	// both destinations; the full ones after their fetch (sent's after a 429).
	waitFor(t, "three notifications and three full events", 20*time.Second, func() bool { n, e := app.counts(); return n == 3 && e == 3 })
	app.mu.Lock()
	defer app.mu.Unlock()
	if len(app.errs) > 0 {
		t.Fatalf("the app refused forwards: %v\n%s", app.errs, logs)
	}
	var gotSent bool
	for _, n := range app.notifs {
		en := n.GetEventNotification()
		if en.ID == sent.ID {
			gotSent = true
			if en.Type != sent.Type || en.Context == nil || *en.Context.StringPtr() != "acct_ctx" || !en.Created.Equal(sent.Created.Truncate(time.Nanosecond)) {
				t.Fatalf("parsed notification: %+v", en)
			}
		}
	}
	if !gotSent {
		t.Fatal("the app never parsed the sent notification")
	}
	for _, b := range app.events {
		if bytes.Contains(b, []byte(sent.ID)) && !bytes.Equal(b, sent.Full()) {
			t.Fatalf("full event forwarded %s, want %s", b, sent.Full())
		}
	}
	ev, err := r.Store().FindEventByID(context.Background(), missed.ID)
	if err != nil || ev.Source != hookbox.SourceReconcile || ev.Endpoint != "thin" {
		t.Fatalf("missed event: %+v %v", ev, err)
	}
	metrics := scrape(t, "http://"+r.AdminAddr()+"/metrics")
	for _, want := range []string{
		`hookbox_stripe_health_events_total{endpoint="thin",type="v2.core.health.event_generation_failure.resolved"} 1`,
		`hookbox_thin_fetches_total{outcome="rate_limited"} 1`,
		`hookbox_thin_fetches{state="fetched"} 3`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(logs.String(), thinAPIKey) {
		t.Fatal("the API key is in the logs")
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Ensures send --thin sends thin notifications that the real Main accepts
// at a thin endpoint (--payload thin) and that stripe-go parses, and that
// hookbox sign signs a thin notification as Stripe does.
func TestThin_SendAndSign(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{
		"HOOKBOX_LISTEN": "127.0.0.1:0", "HOOKBOX_ADMIN_LISTEN": "127.0.0.1:0",
		"HOOKBOX_DB": "sqlite:" + filepath.Join(dir, "send.db"), "STRIPE_WEBHOOK_SECRET": thinSecret,
	}
	r, _ := mustRunMain(t, vars, "--payload", "thin")
	env, out, errb := testEnv(map[string]string{"STRIPE_WEBHOOK_SECRET": thinSecret})
	if err := runSend(context.Background(), env, []string{"--thin", "--count", "30", "--quiet", "--seed", "7", "http://" + r.PublicAddr() + "/webhooks/stripe"}); err != nil {
		t.Fatalf("send --thin: %v\n%s%s", err, out, errb)
	}
	evs, err := r.Store().FindEvents(context.Background(), hookbox.EventFilter{Limit: 100})
	if err != nil || len(evs) == 0 {
		t.Fatalf("stored %d events, %v", len(evs), err)
	}
	client := stripe.NewClient("sk_test_unused")
	for _, e := range evs {
		full, _ := r.Store().FindEventByID(context.Background(), e.ID)
		if full.Object != hookbox.ThinObject {
			t.Fatalf("stored %s with object %q", e.ID, full.Object)
		}
		if _, err := stripe.EventNotificationFromJSON(full.Body, *client); err != nil {
			t.Fatalf("stripe-go cannot parse %s: %v", full.Body, err)
		}
	}

	body := thintest.Event{ID: "evt_sign", Type: "v2.core.account.updated", Created: time.Now()}.Notification()
	env, out, _ = testEnv(map[string]string{"STRIPE_WEBHOOK_SECRET": thinSecret})
	env.Stdin = bytes.NewReader(body)
	if err := runSign(context.Background(), env, nil); err != nil {
		t.Fatal(err)
	}
	header := strings.TrimSpace(out.String())
	if i := strings.Index(header, "t="); i > 0 {
		header = header[i:]
	}
	if _, err := client.ParseEventNotification(body, header, thinSecret); err != nil {
		t.Fatalf("hookbox sign's header %q does not verify with ParseEventNotification: %v", header, err)
	}
}
