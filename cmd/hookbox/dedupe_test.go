package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/stripesig"
)

// TestDedupe_PerEndpoint ensures Stripe's API version upgrade path: the
// same event id arriving on an old endpoint and on a new one (dedupe:
// endpoint) in two versions is stored once per endpoint and each copy
// reaches its own endpoint's app, once, in its own version; a Stripe retry
// to the new endpoint is still a duplicate.
func TestDedupe_PerEndpoint(t *testing.T) {
	type got struct{ path, version, key string }
	var (
		mu   sync.Mutex
		seen []got
	)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), forwardSecret,
			webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
		if err != nil || ev.ID != "evt_upgrade_1" {
			http.Error(w, "bad", 400)
			return
		}
		mu.Lock()
		seen = append(seen, got{r.URL.Path, ev.APIVersion, r.Header.Get("Idempotency-Key")})
		mu.Unlock()
	}))
	t.Cleanup(app.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hookbox.yaml")
	if err := writeFile(cfg, fmt.Sprintf(`endpoints:
  - name: old
    secrets: [{env: OLD_SECRET}]
    destinations:
      - {name: app, url: %[1]s/old, secret: {env: APP_SECRET}}
  - name: new
    dedupe: endpoint
    secrets: [{env: NEW_SECRET}]
    destinations:
      - {name: app, url: %[1]s/new, secret: {env: APP_SECRET}}
`, app.URL)); err != nil {
		t.Fatal(err)
	}
	const oldSecret, newSecret = "whsec_old_endpoint_0123456789abcdef", "whsec_new_endpoint_0123456789abcdef"
	vars := map[string]string{
		"HOOKBOX_LISTEN": "127.0.0.1:0", "HOOKBOX_ADMIN_LISTEN": "127.0.0.1:0",
		"HOOKBOX_DB":     "sqlite:" + filepath.Join(dir, "dedupe.db"),
		"HOOKBOX_CONFIG": cfg, "OLD_SECRET": oldSecret, "NEW_SECRET": newSecret, "APP_SECRET": forwardSecret,
	}
	m, _ := mustRunMain(t, vars)
	post := func(endpoint, secret, version string) string {
		t.Helper()
		body := fmt.Appendf(nil, `{"id":"evt_upgrade_1","object":"event","api_version":%q,"created":1764201234,"livemode":false,"type":"invoice.paid","data":{"object":{"id":"in_1","object":"invoice"}}}`, version)
		code, msg := postEvent(t, "http://"+m.PublicAddr()+"/webhooks/"+endpoint, body, stripesig.Sign(body, time.Now(), secret))
		if code != 200 {
			t.Fatalf("%s: %d %s", endpoint, code, msg)
		}
		return msg
	}
	post("old", oldSecret, "2025-03-31.basil")
	post("new", newSecret, "2026-07-29.dahlia")
	if msg := post("new", newSecret, "2026-07-29.dahlia"); !strings.Contains(msg, `"duplicate":true`) {
		t.Fatalf("a Stripe retry to the new endpoint: %s, want a duplicate", msg)
	}
	if msg := post("old", oldSecret, "2025-03-31.basil"); !strings.Contains(msg, `"duplicate":true`) {
		t.Fatalf("a Stripe retry to the old endpoint: %s, want a duplicate", msg)
	}
	waitFor(t, "both copies delivered", 10*time.Second, func() bool {
		a, errA := m.Store().FindEventByID(t.Context(), "evt_upgrade_1")
		b, errB := m.Store().FindEventByID(t.Context(), "evt_upgrade_1@new")
		return errA == nil && errB == nil && a.State == hookbox.StateDelivered && b.State == hookbox.StateDelivered
	})
	mu.Lock()
	defer mu.Unlock()
	want := map[got]bool{{"/old", "2025-03-31.basil", "evt_upgrade_1"}: true, {"/new", "2026-07-29.dahlia", "evt_upgrade_1@new"}: true}
	if len(seen) != 2 || !want[seen[0]] || !want[seen[1]] {
		t.Fatalf("the app received %+v; want each endpoint's copy once", seen)
	}
}
