package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
)

// orderKey is the order key of the blocked object in the skip tests.
const orderKey = "stripe//test/sub_1"

// kill claims the pending event id and completes the claim with one failed
// attempt that leaves its delivery to "app" dead, as the worker records a
// destination that has spent its retries.
func kill(tb testing.TB, s hookbox.Store, id string, now time.Time) {
	tb.Helper()
	ctx := context.Background()
	c, err := s.ClaimEvent(ctx, id, "w", now, time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
	err = s.CompleteClaim(ctx, hookbox.Completion{EventID: id, Owner: c.Owner, Now: now,
		Attempts:   []hookbox.Attempt{{EventID: id, Destination: "app", Number: 1, StartedAt: now, StatusCode: 500, Error: "HTTP 500"}},
		Deliveries: []hookbox.Delivery{{EventID: id, Destination: "app", State: hookbox.StateDead, Attempts: 8, LastError: "HTTP 500", UpdatedAt: now}}})
	if err != nil {
		tb.Fatal(err)
	}
}

// seedBlocked stores, received at about at:
//   - evt_head, the oldest event of orderKey, dead at "app": it blocks
//     evt_next, a later event of the same object, pending;
//   - evt_loose, dead at "app", ordered but its key moves on
//     (OrderSkipDead): not blocked;
//   - evt_plain, dead at "app", not ordered: not blocked;
//   - evt_never, pending and never tried: nothing to skip.
func seedBlocked(tb testing.TB, s hookbox.Store, at time.Time) {
	tb.Helper()
	ordered := func(id, obj string, created time.Time) *hookbox.Event {
		ev := newEvent(id, "customer.subscription.updated", obj, created, hookbox.StatePending, "")
		ev.OrderKey = hookbox.OrderKeyOf("stripe", "", false, obj)
		return ev
	}
	head, next := ordered("evt_head", "sub_1", at), ordered("evt_next", "sub_1", at.Add(time.Second))
	loose := ordered("evt_loose", "sub_2", at)
	loose.OrderSkipDead = true
	plain := newEvent("evt_plain", "invoice.paid", "in_1", at, hookbox.StatePending, "")
	never := newEvent("evt_never", "invoice.paid", "in_2", at.Add(2*time.Second), hookbox.StatePending, "")
	mustInsert(tb, s, head, loose, plain)
	for _, id := range []string{"evt_head", "evt_loose", "evt_plain"} {
		kill(tb, s, id, at.Add(time.Minute))
	}
	mustInsert(tb, s, next, never)
	if head.OrderKey != orderKey {
		tb.Fatalf("order key %q, want %q", head.OrderKey, orderKey)
	}
}

// claimable returns the ids of the events due at now, claimed and then
// released, so that the store is left as it was.
func claimable(tb testing.TB, s hookbox.Store, now time.Time) []string {
	tb.Helper()
	ctx := context.Background()
	cs, err := s.ClaimEvents(ctx, "probe", now, time.Minute, 100)
	if err != nil {
		tb.Fatal(err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.Event.ID)
	}
	if _, err := s.ReleaseClaims(ctx, "probe", ids); err != nil {
		tb.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

// TestAPISkip ensures POST /api/events/{id}/skip settles a dead event
// without sending it (its deliveries skipped with the reason given, or
// "skipped by hand", the event delivered), that the later event of its
// object then becomes claimable and delivery is woken; that it answers 409
// for an event it cannot skip (pending and never tried, already
// delivered), 404 for an unknown one and 400 for a bad body; and that GET
// /api/events?blocked=true lists only the dead events that hold their
// object, before and not after the skip.
func TestAPISkip(t *testing.T) {
	store := mustOpenStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seedBlocked(t, store, at)
	woken := 0
	now := at.Add(time.Hour)
	ts := newConsole(t, console.Options{Store: store, Token: testToken, WakeFunc: func() { woken++ },
		NowFunc: func() time.Time { return now }})
	c := client(t)
	auth := map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json"}
	call := func(method, path, body string, want int) string {
		t.Helper()
		res, out := do(t, c, method, ts.URL+path, body, auth)
		if res.StatusCode != want {
			t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, res.StatusCode, out, want)
		}
		return out
	}
	blocked := func() []string {
		t.Helper()
		var list struct {
			Events []struct {
				ID       string `json:"id"`
				Blocked  bool   `json:"blocked"`
				OrderKey string `json:"order_key"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(call("GET", "/api/events?blocked=true", "", 200)), &list); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range list.Events {
			if !e.Blocked || e.OrderKey == "" {
				t.Errorf("blocked list: %+v", e)
			}
			ids = append(ids, e.ID)
		}
		return ids
	}

	if got := blocked(); !slices.Equal(got, []string{"evt_head"}) {
		t.Fatalf("blocked before the skip: %v, want [evt_head]", got)
	}
	call("GET", "/api/events?blocked=maybe", "", 400)
	if got := claimable(t, store, now); slices.Contains(got, "evt_next") {
		t.Fatalf("claimable before the skip: %v (evt_next waits behind evt_head)", got)
	}

	if out := call("POST", "/api/events/evt_never/skip", "", 409); !strings.Contains(out, `"code": "conflict"`) {
		t.Fatalf("skip of a never tried event: %s", out)
	}
	call("POST", "/api/events/evt_nope/skip", "", 404)
	call("POST", "/api/events/evt_head/skip", `{"bogus":1}`, 400)
	call("POST", "/api/events/evt_head/skip", `{"reason":"`+strings.Repeat("x", console.MaxSkipReason+1)+`"}`, 400)
	call("POST", "/api/events/evt_head/skip", `{"reason":"a"}{}`, 400)
	if woken != 0 {
		t.Fatalf("woken %d times by refused skips", woken)
	}

	if out := call("POST", "/api/events/evt_head/skip", `{"reason":"bad payload, see INC-7"}`, 200); !strings.Contains(out, `"skipped": 1`) {
		t.Fatalf("skip: %s", out)
	}
	var doc console.EventDocument
	if err := json.Unmarshal([]byte(call("GET", "/api/events/evt_head", "", 200)), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.State != "delivered" || doc.Blocked || len(doc.Deliveries) != 1 ||
		doc.Deliveries[0].State != "delivered" || doc.Deliveries[0].SkipReason != "bad payload, see INC-7" {
		t.Fatalf("after the skip: state %s blocked %t deliveries %+v", doc.State, doc.Blocked, doc.Deliveries)
	}
	if woken != 1 {
		t.Fatalf("woken %d times, want 1", woken)
	}
	if got := blocked(); len(got) != 0 {
		t.Fatalf("blocked after the skip: %v", got)
	}
	if got := claimable(t, store, now); !slices.Contains(got, "evt_next") {
		t.Fatalf("claimable after the skip: %v, want evt_next", got)
	}
	call("POST", "/api/events/evt_head/skip", "", 409) // delivered now

	// No body: the default reason.
	call("POST", "/api/events/evt_plain/skip", "", 200)
	ds, err := store.FindDeliveries(context.Background(), "evt_plain")
	if err != nil || len(ds) != 1 || ds[0].SkipReason != console.DefaultSkipReason || ds[0].State != hookbox.StateDelivered {
		t.Fatalf("default reason: %+v %v", ds, err)
	}

	// The skip is behind the token and the cross-origin guard.
	if res, _ := do(t, c, "POST", ts.URL+"/api/events/evt_loose/skip", "", nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("skip without the token: %d", res.StatusCode)
	}
	h := map[string]string{"Authorization": "Bearer " + testToken, "Sec-Fetch-Site": "cross-site"}
	if res, _ := do(t, c, "POST", ts.URL+"/api/events/evt_loose/skip", "", h); res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site skip: %d", res.StatusCode)
	}
	if ev, err := store.FindEventByID(context.Background(), "evt_loose"); err != nil || ev.State != hookbox.StateDead {
		t.Fatalf("a refused skip skipped: %v %v", ev.State, err)
	}
}

// TestEventPage_Skip ensures the event page shows the order key, says a
// blocked event holds the later events of its object, offers the Skip
// button for dead events and tried pending events only, and that the
// button's POST skips the event and comes back to a page that says so and
// shows its delivery as skipped with the reason, no longer blocked.
func TestEventPage_Skip(t *testing.T) {
	store := mustOpenStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seedBlocked(t, store, at)
	// A pending event some destination has tried: it can be skipped too.
	mustInsert(t, store, newEvent("evt_retry", "invoice.paid", "in_3", at, hookbox.StatePending, ""))
	c, err := store.ClaimEvent(context.Background(), "evt_retry", "w", at, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CompleteClaim(context.Background(), hookbox.Completion{EventID: "evt_retry", Owner: c.Owner, Now: at,
		Deliveries: []hookbox.Delivery{{EventID: "evt_retry", Destination: "app", State: hookbox.StatePending, Attempts: 1,
			NextAttemptAt: at.Add(time.Hour), LastError: "HTTP 503", UpdatedAt: at}}}); err != nil {
		t.Fatal(err)
	}
	ts := newConsole(t, console.Options{Store: store, Token: testToken, Destinations: []string{"app"}})
	cl := client(t)
	login(t, cl, ts.URL)
	page := func(id string) string {
		t.Helper()
		res, body := do(t, cl, "GET", ts.URL+"/events/"+id, "", nil)
		if res.StatusCode != 200 {
			t.Fatalf("GET /events/%s: %d", id, res.StatusCode)
		}
		return body
	}
	const (
		notice   = "the later events of this object wait"
		keyFact  = `<dt>Order key</dt><dd class="mono break">` + orderKey
		skipped  = `<span class="state state-skipped">skipped</span>`
		flashOK  = "Skipped: the event is settled"
		flashNot = "Not skipped"
	)
	skipForm := func(id string) string { return `action="/events/` + id + `/skip"` }
	for _, tc := range []struct {
		id           string
		want, absent []string
	}{
		{"evt_head", []string{notice, keyFact, skipForm("evt_head")}, []string{skipped}},
		{"evt_next", []string{keyFact}, []string{notice, skipForm("evt_next")}},
		{"evt_loose", []string{skipForm("evt_loose"), "goes on past a dead event"}, []string{notice}},
		{"evt_plain", []string{skipForm("evt_plain")}, []string{notice, "Order key"}},
		{"evt_retry", []string{skipForm("evt_retry")}, []string{notice}},
		{"evt_never", nil, []string{notice, skipForm("evt_never")}},
	} {
		body := page(tc.id)
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: page lacks %q", tc.id, w)
			}
		}
		for _, a := range tc.absent {
			if strings.Contains(body, a) {
				t.Errorf("%s: page shows %q", tc.id, a)
			}
		}
	}

	res, _ := do(t, cl, "POST", ts.URL+"/events/evt_head/skip", "reason=replayed+upstream", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/events/evt_head?skipped=1" {
		t.Fatalf("skip: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	_, body := do(t, cl, "GET", ts.URL+res.Header.Get("Location"), "", nil)
	for _, w := range []string{flashOK, skipped, `<span class="skip-reason">replayed upstream</span>`, keyFact} {
		if !strings.Contains(body, w) {
			t.Errorf("after the skip: page lacks %q", w)
		}
	}
	for _, a := range []string{notice, skipForm("evt_head")} {
		if strings.Contains(body, a) {
			t.Errorf("after the skip: page shows %q", a)
		}
	}
	if ds, _ := store.FindDeliveries(context.Background(), "evt_head"); len(ds) != 1 || ds[0].SkipReason != "replayed upstream" {
		t.Fatalf("deliveries after the skip: %+v", ds)
	}

	// Nothing to skip: the page says so.
	res, _ = do(t, cl, "POST", ts.URL+"/events/evt_never/skip", "", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/events/evt_never?skipped=0" {
		t.Fatalf("skip of a never tried event: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if body := page("evt_never?skipped=0"); !strings.Contains(body, flashNot) {
		t.Errorf("a refused skip: page lacks %q", flashNot)
	}
	if res, _ := do(t, cl, "POST", ts.URL+"/events/evt_nope/skip", "", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("skip of an unknown event: %d", res.StatusCode)
	}
	// The form needs the session, and a cross-site post is refused.
	if res, _ := do(t, client(t), "POST", ts.URL+"/events/evt_loose/skip", "", nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("skip without a session: %d", res.StatusCode)
	}
	if res, _ := do(t, cl, "POST", ts.URL+"/events/evt_loose/skip", "", map[string]string{"Sec-Fetch-Site": "cross-site"}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site skip: %d", res.StatusCode)
	}
	if ev, _ := store.FindEventByID(context.Background(), "evt_loose"); ev.State != hookbox.StateDead {
		t.Fatalf("a refused skip skipped evt_loose: %s", ev.State)
	}
}

// TestEventsPage_Blocked ensures the events list's Blocked filter lists
// only the dead events that hold their object, keeps its checkbox ticked
// and its links (next page, replay), and marks blocked rows.
func TestEventsPage_Blocked(t *testing.T) {
	store := mustOpenStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seedBlocked(t, store, at)
	ts := newConsole(t, console.Options{Store: store, Destinations: []string{"app"}})
	const (
		checkbox = `<input type="checkbox" id="f-blocked" name="blocked" value="true"`
		marker   = `<span class="blocked small"`
	)
	_, all := do(t, client(t), "GET", ts.URL+"/events", "", nil)
	if !strings.Contains(all, checkbox+">") || strings.Count(all, marker) != 1 || !strings.Contains(all, "evt_plain") {
		t.Fatalf("unfiltered list: checkbox %t, %d blocked marks", strings.Contains(all, checkbox+">"), strings.Count(all, marker))
	}
	_, list := do(t, client(t), "GET", ts.URL+"/events?blocked=true", "", nil)
	if !strings.Contains(list, checkbox+" checked>") {
		t.Errorf("filtered list: the checkbox is not ticked")
	}
	for _, id := range []string{"evt_next", "evt_loose", "evt_plain", "evt_never"} {
		if strings.Contains(list, `href="/events/`+id+`"`) {
			t.Errorf("filtered list shows %s", id)
		}
	}
	if !strings.Contains(list, `href="/events/evt_head"`) || strings.Count(list, marker) != 1 {
		t.Errorf("filtered list lacks evt_head, marked blocked")
	}
	if !strings.Contains(list, `data-live="/events?blocked=true&amp;fragment=1"`) {
		t.Errorf("live refresh drops the filter")
	}
	if res, _ := do(t, client(t), "GET", ts.URL+"/events?blocked=perhaps", "", nil); res.StatusCode != http.StatusBadRequest {
		t.Errorf("blocked=perhaps: %d", res.StatusCode)
	}
	// A replay of the blocked dead events replays those only.
	_, confirm := do(t, client(t), "GET", ts.URL+"/events/replay?state=dead&blocked=true", "", nil)
	if !strings.Contains(confirm, "1 event</strong>") || !strings.Contains(confirm, `name="blocked" value="true"`) {
		t.Errorf("replay confirmation of blocked events:\n%s", confirm)
	}
	res, _ := do(t, client(t), "POST", ts.URL+"/events/replay", "state=dead&blocked=true", nil)
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "replayed=1") {
		t.Fatalf("replay of blocked events: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	for id, want := range map[string]hookbox.State{"evt_head": hookbox.StatePending, "evt_loose": hookbox.StateDead, "evt_plain": hookbox.StateDead} {
		if ev, _ := store.FindEventByID(context.Background(), id); ev.State != want {
			t.Errorf("after replaying the blocked: %s is %s, want %s", id, ev.State, want)
		}
	}
}

// TestOverview_Blocked ensures the overview shows the keys blocked per
// destination, linked to the blocked events, and nothing when none is.
func TestOverview_Blocked(t *testing.T) {
	store := mustOpenStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seedBlocked(t, store, at)
	ts := newConsole(t, console.Options{Store: store, Destinations: []string{"app"}})
	const section = `<h2 id="blocked">Blocked objects</h2>`
	row := `<tr><td>app</td><td class="num"><a href="/events?blocked=true&amp;destination=app">1</a></td></tr>`
	_, page := do(t, client(t), "GET", ts.URL+"/", "", nil)
	if !strings.Contains(page, section) || !strings.Contains(page, row) {
		t.Fatalf("overview lacks the blocked keys")
	}
	if _, frag := do(t, client(t), "GET", ts.URL+"/?fragment=1", "", nil); !strings.Contains(frag, row) {
		t.Fatalf("live overview lacks the blocked keys")
	}
	if n, err := store.SkipEvents(context.Background(), []string{"evt_head"}, "test", at.Add(time.Hour)); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	if _, page := do(t, client(t), "GET", ts.URL+"/", "", nil); strings.Contains(page, section) {
		t.Fatalf("overview shows blocked keys when none is")
	}
}
