package main

import (
	"context"
	"encoding/json"
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
	thinAppSnap = "whsec_app_snap_0123456789abcdef0123456789abc"
	snapSecret  = "whsec_snap_0123456789abcdef0123456789abcdef0"
)

// migrationApp is an app that handles both forms during the migration: a
// snapshot route and a thin route, each verifying with stripe-go. It
// records the event ids it was given, per route.
type migrationApp struct {
	mu          sync.Mutex
	snaps, thin []string
	errs        []string
}

func (a *migrationApp) handler() http.Handler {
	client := stripe.NewClient("sk_test_unused")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sig := r.Header.Get("Stripe-Signature")
		a.mu.Lock()
		defer a.mu.Unlock()
		switch r.URL.Path {
		case "/snapshot":
			var ev struct{ ID string }
			if err := webhook.ValidatePayload(b, sig, thinAppSnap); err != nil || json.Unmarshal(b, &ev) != nil {
				a.errs = append(a.errs, fmt.Sprintf("snapshot: %v", err))
				w.WriteHeader(400)
				return
			}
			a.snaps = append(a.snaps, ev.ID)
		case "/thin":
			n, err := client.ParseEventNotification(b, sig, thinAppNotif)
			if err != nil {
				a.errs = append(a.errs, "thin: "+err.Error())
				w.WriteHeader(400)
				return
			}
			a.thin = append(a.thin, n.GetEventNotification().ID)
		}
	})
}

func (a *migrationApp) got() (snaps, thin []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.snaps...), append([]string(nil), a.thin...)
}

// Ensures that, with dedupe_snapshot on the thin endpoint, the real Main
// delivers a logical event that Stripe sends in both forms once: the
// snapshot copy, whether it came before the thin copy (A) or after it,
// within dedupe_snapshot_wait (B). The thin copy's delivery is settled as
// skipped, naming its twin. A thin event whose twin never comes (C) is
// delivered once the wait is over, and one that names no snapshot event
// (D) is delivered without waiting for a twin.
func TestThin_SnapshotMigration(t *testing.T) {
	api := thintest.New(t, thinAPIKey)
	app := &migrationApp{}
	appSrv := httptest.NewServer(app.handler())
	defer appSrv.Close()

	now := time.Now().UTC()
	mk := func(id, snap string) thintest.Event {
		return thintest.Event{ID: id, Type: "v1.invoice.paid", Created: now, RelatedID: "in_" + id, RelatedType: "invoice", SnapshotEvent: snap}
	}
	thinA, thinB, thinC, thinD := mk("evt_thin_a", "evt_snap_a"), mk("evt_thin_b", "evt_snap_b"), mk("evt_thin_c", "evt_snap_c"), mk("evt_thin_d", "")
	api.Add(thinA, thinB, thinC, thinD)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "hookbox.yaml")
	if err := writeFile(cfg, fmt.Sprintf(`endpoints:
  - name: account
    secrets: [{env: SNAP_SECRET}]
    destinations:
      - {name: app, url: %[1]s/snapshot, secret: {env: APP_SNAP}}
  - name: thin
    payload: thin
    dedupe_snapshot: true
    dedupe_snapshot_wait: 3s
    secrets: [{env: THIN_SECRET}]
    destinations:
      - {name: app, url: %[1]s/thin, secret: {env: APP_NOTIF}}
`, appSrv.URL)); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"HOOKBOX_LISTEN": "127.0.0.1:0", "HOOKBOX_ADMIN_LISTEN": "127.0.0.1:0",
		"HOOKBOX_DB":     "sqlite:" + filepath.Join(dir, "migration.db"),
		"HOOKBOX_CONFIG": cfg, "SNAP_SECRET": snapSecret, "THIN_SECRET": thinSecret,
		"APP_SNAP": thinAppSnap, "APP_NOTIF": thinAppNotif,
		"STRIPE_API_KEY": thinAPIKey, "HOOKBOX_STRIPE_API_BASE": api.URL(),
	}
	r, logs := mustRunMain(t, vars)
	base := "http://" + r.PublicAddr() + "/webhooks/"
	post := func(endpoint, secret string, body []byte) {
		t.Helper()
		sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: time.Now()}).Header
		if code, resp := postEvent(t, base+endpoint, body, sig); code != 200 {
			t.Fatalf("POST %s: %d %s", endpoint, code, resp)
		}
	}
	ts := r.Store().(hookbox.ThinStore)
	fetched := func(id string) bool {
		f, err := ts.FindFetch(context.Background(), id)
		return err == nil && f.State == hookbox.FetchDone
	}

	// A: the snapshot copy first, delivered; then the thin copy.
	post("account", snapSecret, e2eEvent("evt_snap_a", "invoice.paid"))
	waitFor(t, "snapshot A delivered", 10*time.Second, func() bool { s, _ := app.got(); return len(s) == 1 })
	post("thin", thinSecret, thinA.Notification())
	// B: the thin copy first, fetched; then the snapshot copy, within the wait.
	post("thin", thinSecret, thinB.Notification())
	waitFor(t, "thin B fetched", 10*time.Second, func() bool { return fetched(thinB.ID) })
	post("account", snapSecret, e2eEvent("evt_snap_b", "invoice.paid"))
	// C: a twin that never comes; D: no twin at all.
	post("thin", thinSecret, thinC.Notification())
	post("thin", thinSecret, thinD.Notification())

	settled := func(id string) bool {
		ev, err := r.Store().FindEventByID(context.Background(), id)
		return err == nil && ev.State == hookbox.StateDelivered
	}
	defer func() {
		if t.Failed() {
			for _, id := range []string{"evt_snap_a", "evt_snap_b", thinA.ID, thinB.ID, thinC.ID, thinD.ID} {
				ev, err := r.Store().FindEventByID(context.Background(), id)
				ds, _ := r.Store().FindDeliveries(context.Background(), id)
				if err == nil {
					t.Logf("%s: %s %+v", id, ev.State, ds)
				} else {
					t.Logf("%s: %v", id, err)
				}
			}
			t.Logf("app: %v %v %v", app.snaps, app.thin, app.errs)
		}
	}()
	waitFor(t, "every event settled", 20*time.Second, func() bool {
		for _, id := range []string{"evt_snap_a", "evt_snap_b", thinA.ID, thinB.ID, thinC.ID, thinD.ID} {
			if !settled(id) {
				return false
			}
		}
		return true
	})
	snaps, thins := app.got()
	if got := strings.Join(snaps, ","); got != "evt_snap_a,evt_snap_b" {
		t.Errorf("snapshot route got %s, want evt_snap_a,evt_snap_b", got)
	}
	if got := strings.Join(thins, ","); got != "evt_thin_d,evt_thin_c" {
		t.Errorf("thin route got %s, want evt_thin_d,evt_thin_c (D at once, C after the wait)", got)
	}
	for id, snap := range map[string]string{thinA.ID: "evt_snap_a", thinB.ID: "evt_snap_b"} {
		ds, err := r.Store().FindDeliveries(context.Background(), id)
		if err != nil || len(ds) != 1 || ds[0].State != hookbox.StateDelivered || !strings.Contains(ds[0].SkipReason, snap) {
			t.Errorf("deliveries of %s = %+v, %v; want delivered, skipped naming %s", id, ds, err, snap)
		}
	}
	if len(app.errs) > 0 {
		t.Fatalf("the app refused forwards: %v\n%s", app.errs, logs)
	}
}
