package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
)

// hold claims the pending event id and completes the claim with its
// delivery to dest held for its API version, as the worker records it.
func hold(tb testing.TB, s hookbox.Store, id, dest string, now time.Time) {
	tb.Helper()
	ctx := context.Background()
	c, err := s.ClaimEvent(ctx, id, "w", now, time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
	err = s.CompleteClaim(ctx, hookbox.Completion{EventID: id, Owner: c.Owner, Now: now,
		Deliveries: []hookbox.Delivery{{EventID: id, Destination: dest, State: hookbox.StatePending, NextAttemptAt: hookbox.HeldUntil,
			HoldReason: "event in API version " + id + "; the destination reads dahlia", UpdatedAt: now}}})
	if err != nil {
		tb.Fatal(err)
	}
}

// TestRelease ensures held deliveries are listed (state=held), shown with
// their reason and a Release button, released by the button (the event's
// page says so, delivery is woken) and by POST /api/release, which takes
// an API version and releases only the events that version reads.
func TestRelease(t *testing.T) {
	store := mustOpenStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, e := range []struct{ id, version string }{{"evt_a", "2024-06-20.acacia"}, {"evt_b", "2025-03-31.basil"}, {"evt_c", "2024-09-30.acacia"}} {
		ev := newEvent(e.id, "invoice.paid", "in_1", at, hookbox.StatePending, "")
		ev.APIVersion = e.version
		mustInsert(t, store, ev)
		hold(t, store, e.id, "app", at)
	}
	woken := 0
	ts := newConsole(t, console.Options{Store: store, Token: testToken, Destinations: []string{"app"}, WakeFunc: func() { woken++ }})
	cl := client(t)
	login(t, cl, ts.URL)
	_, body := do(t, cl, "GET", ts.URL+"/events?state=held", "", nil)
	for _, id := range []string{"evt_a", "evt_b", "evt_c"} {
		if !strings.Contains(body, id) {
			t.Fatalf("held list lacks %s", id)
		}
	}
	_, body = do(t, cl, "GET", ts.URL+"/events/evt_b", "", nil)
	for _, w := range []string{`<span class="state state-held">held</span>`, `action="/events/evt_b/release"`, "the destination reads dahlia"} {
		if !strings.Contains(body, w) {
			t.Fatalf("event page lacks %q", w)
		}
	}
	res, _ := do(t, cl, "POST", ts.URL+"/events/evt_b/release", "destination=app", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/events/evt_b?released=1" {
		t.Fatalf("release: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	_, body = do(t, cl, "GET", ts.URL+res.Header.Get("Location"), "", nil)
	if !strings.Contains(body, "Released: the delivery is due again") || strings.Contains(body, `state-held`) {
		t.Fatalf("after the release the page does not say so")
	}
	if ds, _ := store.FindDeliveries(context.Background(), "evt_b"); ds[0].HoldReason != hookbox.HoldReleased {
		t.Fatalf("evt_b after the release: %+v", ds)
	}

	auth := map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json"}
	res, out := do(t, cl, "POST", ts.URL+"/api/release", `{"destination":"app","api_version":"acacia"}`, auth)
	if res.StatusCode != 200 || !strings.Contains(out, `"released": 2`) {
		t.Fatalf("api release: %d %s", res.StatusCode, out)
	}
	if res, _ := do(t, cl, "POST", ts.URL+"/api/release", `{"api_version":"acacia"}`, auth); res.StatusCode != 400 {
		t.Fatalf("release without a destination: %d", res.StatusCode)
	}
	if held, _ := store.CountHeld(context.Background()); len(held) != 0 {
		t.Fatalf("still held: %v", held)
	}
	if woken != 2 {
		t.Fatalf("woken %d times, want 2", woken)
	}
}

// TestVersions ensures the overview shows the API versions of the newest
// events, most frequent first, each linked to the events of that version,
// and that the events list filters by exact version and by train.
func TestVersions(t *testing.T) {
	store := mustOpenStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, v := range []string{"2026-03-25.dahlia", "2026-03-25.dahlia", "2025-03-31.basil", "2026-07-29.dahlia"} {
		ev := newEvent("evt_v"+string(rune('a'+i)), "invoice.paid", "in_1", at.Add(time.Duration(i)*time.Second), hookbox.StatePending, "")
		ev.APIVersion = v
		mustInsert(t, store, ev)
	}
	ts := newConsole(t, console.Options{Store: store, Token: testToken})
	cl := client(t)
	login(t, cl, ts.URL)
	_, body := do(t, cl, "GET", ts.URL+"/", "", nil)
	i1, i2 := strings.Index(body, `href="/events?api_version=2026-03-25.dahlia">2<`), strings.Index(body, `href="/events?api_version=2025-03-31.basil">1<`)
	if !strings.Contains(body, "API versions seen") || i1 < 0 || i2 < 0 || i1 > i2 {
		t.Fatalf("overview versions table missing or out of order (%d, %d)", i1, i2)
	}
	for _, c := range []struct {
		v           string
		want, never []string
	}{
		{"dahlia", []string{"evt_va", "evt_vb", "evt_vd"}, []string{"evt_vc"}},
		{"2025-03-31.basil", []string{"evt_vc"}, []string{"evt_va", "evt_vd"}},
	} {
		_, body := do(t, cl, "GET", ts.URL+"/events?api_version="+c.v, "", nil)
		for _, id := range c.want {
			if !strings.Contains(body, ">"+id+"<") {
				t.Errorf("api_version=%s lacks %s", c.v, id)
			}
		}
		for _, id := range c.never {
			if strings.Contains(body, ">"+id+"<") {
				t.Errorf("api_version=%s lists %s", c.v, id)
			}
		}
	}
}

// TestDestinationsPage ensures the destinations page lists the configured
// destinations with their state and held count, that its Pause and
// Resume buttons (and the API's) pause and resume a destination in the
// store, and that an unknown destination is refused.
func TestDestinationsPage(t *testing.T) {
	store := mustOpenStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := newEvent("evt_h", "invoice.paid", "in_1", at, hookbox.StatePending, "")
	mustInsert(t, store, ev)
	hold(t, store, "evt_h", "app", at)
	woken := 0
	ts := newConsole(t, console.Options{Store: store, Token: testToken, Destinations: []string{"app", "stripe/other"}, WakeFunc: func() { woken++ }})
	cl := client(t)
	login(t, cl, ts.URL)
	_, body := do(t, cl, "GET", ts.URL+"/destinations", "", nil)
	for _, w := range []string{">app<", ">stripe/other<", `<span class="state state-active">active</span>`, `<a href="/events?state=held">1</a>`} {
		if !strings.Contains(body, w) {
			t.Fatalf("destinations page lacks %q", w)
		}
	}
	res, _ := do(t, cl, "POST", ts.URL+"/destinations/pause", "destination=stripe%2Fother", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("pause: %d", res.StatusCode)
	}
	if p, _ := store.PausedDestinations(context.Background()); len(p) != 1 || p["stripe/other"].IsZero() {
		t.Fatalf("paused after the button: %v", p)
	}
	_, body = do(t, cl, "GET", ts.URL+res.Header.Get("Location"), "", nil)
	if !strings.Contains(body, "Paused: its events wait") || !strings.Contains(body, `state-paused`) {
		t.Fatal("the page does not show the pause")
	}
	auth := map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json"}
	if res, out := do(t, cl, "POST", ts.URL+"/api/destinations/resume", `{"destination":"stripe/other"}`, auth); res.StatusCode != 200 || !strings.Contains(out, `"paused": false`) {
		t.Fatalf("api resume: %d %s", res.StatusCode, out)
	}
	if p, _ := store.PausedDestinations(context.Background()); len(p) != 0 {
		t.Fatalf("paused after the resume: %v", p)
	}
	if res, _ := do(t, cl, "POST", ts.URL+"/api/destinations/pause", `{"destination":"nope"}`, auth); res.StatusCode != 404 {
		t.Fatalf("pause of an unknown destination: %d", res.StatusCode)
	}
	if res, out := do(t, cl, "GET", ts.URL+"/api/destinations", "", auth); res.StatusCode != 200 || !strings.Contains(out, `"held": 1`) {
		t.Fatalf("api list: %d %s", res.StatusCode, out)
	}
}
