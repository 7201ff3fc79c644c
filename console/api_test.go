package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
)

// TestAPIAuth ensures the API answers 401 without the bearer token (or
// with a wrong one, or with only a console session) and 200 with it, and
// that it is open without a token configured.
func TestAPIAuth(t *testing.T) {
	store := mustOpenStore(t)
	mustInsert(t, store, newEvent("evt_1", "invoice.paid", "in_1", time.Now(), hookbox.StatePending, ""))
	ts := newConsole(t, console.Options{Store: store, Token: testToken})
	c := client(t)
	for name, h := range map[string]map[string]string{
		"NoToken":    nil,
		"WrongToken": {"Authorization": "Bearer nope"},
		"Basic":      {"Authorization": "Basic " + testToken},
		"Prefix":     {"Authorization": "Bearer " + testToken[:10]},
	} {
		t.Run(name, func(t *testing.T) {
			// A console of its own: the failures of all the cases would
			// reach the failure limit.
			ts := newConsole(t, console.Options{Store: store, Token: testToken})
			for _, req := range [][2]string{{"GET", "/api/events"}, {"GET", "/api/events/evt_1"}, {"POST", "/api/events/evt_1/replay"}, {"POST", "/api/events/evt_1/skip"}, {"POST", "/api/replay"}, {"POST", "/api/release"}, {"GET", "/api/destinations"}, {"POST", "/api/destinations/pause"}} {
				res, body := do(t, c, req[0], ts.URL+req[1], "", h)
				if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "unauthorized") {
					t.Fatalf("%s %s: %d %s", req[0], req[1], res.StatusCode, body)
				}
				if res.Header.Get("WWW-Authenticate") == "" {
					t.Fatalf("no WWW-Authenticate")
				}
			}
		})
	}
	t.Run("SessionIsNotEnough", func(t *testing.T) {
		c := client(t)
		login(t, c, ts.URL)
		if res, _ := do(t, c, "GET", ts.URL+"/api/events", "", nil); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("api with cookie only: %d", res.StatusCode)
		}
	})
	t.Run("OK", func(t *testing.T) {
		res, body := do(t, c, "GET", ts.URL+"/api/events", "", map[string]string{"Authorization": "Bearer " + testToken})
		if res.StatusCode != 200 || !strings.Contains(body, `"evt_1"`) {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
	})
	t.Run("Open", func(t *testing.T) {
		open := newConsole(t, console.Options{Store: store})
		res, body := do(t, c, "GET", open.URL+"/api/events", "", nil)
		if res.StatusCode != 200 || !strings.Contains(body, `"evt_1"`) {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		// A DNS-rebinding page names its own host: refused.
		res, _ = do(t, c, "GET", open.URL+"/api/events", "", map[string]string{"Host": "evil.example:80"})
		if res.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("foreign host: %d", res.StatusCode)
		}
	})
}

// TestAPIEvents ensures the listing filters, pages with its cursor without
// gaps or repeats, and shows one event with its deliveries and attempts.
func TestAPIEvents(t *testing.T) {
	store := mustOpenStore(t)
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var evs []*hookbox.Event
	for i := range 25 {
		typ := "invoice.paid"
		if i%2 == 1 {
			typ = "payment_intent.succeeded"
		}
		evs = append(evs, newEvent("evt_"+string(rune('a'+i)), typ, "obj_"+string(rune('a'+i)), base.Add(time.Duration(i)*time.Minute), hookbox.StatePending, ""))
	}
	mustInsert(t, store, evs...)
	ts := newConsole(t, console.Options{Store: store, NowFunc: func() time.Time { return base.Add(time.Hour) }})
	c := client(t)
	get := func(path string) map[string]any {
		t.Helper()
		res, body := do(t, c, "GET", ts.URL+path, "", nil)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	ids := func(m map[string]any) []string {
		var out []string
		for _, e := range m["events"].([]any) {
			out = append(out, e.(map[string]any)["id"].(string))
		}
		return out
	}

	t.Run("Pages", func(t *testing.T) {
		seen := map[string]bool{}
		path := "/api/events?limit=10"
		pages := 0
		for {
			m := get(path)
			pages++
			for _, id := range ids(m) {
				if seen[id] {
					t.Fatalf("%s repeated", id)
				}
				seen[id] = true
			}
			next, _ := m["next"].(string)
			if next == "" {
				break
			}
			path = "/api/events?limit=10&before=" + next
		}
		if len(seen) != 25 || pages != 3 {
			t.Fatalf("%d events in %d pages", len(seen), pages)
		}
	})
	t.Run("Filters", func(t *testing.T) {
		if got := ids(get("/api/events?type=payment_intent.*&limit=100")); len(got) != 12 {
			t.Fatalf("type prefix: %v", got)
		}
		if got := ids(get("/api/events?since=2025-03-01T12:20:00Z&until=2025-03-01T12:22:00Z")); strings.Join(got, ",") != "evt_v,evt_u" {
			t.Fatalf("time range: %v", got)
		}
		if got := ids(get("/api/events?q=obj_c")); strings.Join(got, ",") != "evt_c" {
			t.Fatalf("object id: %v", got)
		}
		if got := ids(get("/api/events?q=evt_d")); strings.Join(got, ",") != "evt_d" {
			t.Fatalf("event id: %v", got)
		}
		if got := ids(get("/api/events?state=dead")); len(got) != 0 {
			t.Fatalf("dead: %v", got)
		}
		for _, bad := range []string{"state=nope", "since=yesterday", "limit=0", "limit=501", "before=%21%21"} {
			if res, _ := do(t, c, "GET", ts.URL+"/api/events?"+bad, "", nil); res.StatusCode != 400 {
				t.Fatalf("%s: %d", bad, res.StatusCode)
			}
		}
	})
	t.Run("Show", func(t *testing.T) {
		ctx := context.Background()
		claim, err := store.ClaimEvent(ctx, "evt_a", "w", base, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		err = store.CompleteClaim(ctx, hookbox.Completion{EventID: "evt_a", Owner: claim.Owner, Now: base,
			Attempts:   []hookbox.Attempt{{Destination: "app", Number: 1, StartedAt: base, Duration: 20 * time.Millisecond, StatusCode: 500, Error: "500 Internal Server Error", Response: "boom"}},
			Deliveries: []hookbox.Delivery{{Destination: "app", State: hookbox.StateDead, Attempts: 1, LastError: "500"}}})
		if err != nil {
			t.Fatal(err)
		}
		m := get("/api/events/evt_a")
		if m["state"] != "dead" || m["body"].(map[string]any)["id"] != "evt_a" {
			t.Fatalf("event: %v", m)
		}
		att := m["attempt_log"].([]any)[0].(map[string]any)
		if att["status_code"].(float64) != 500 || att["response"] != "boom" || len(m["deliveries"].([]any)) != 1 {
			t.Fatalf("attempts: %v", m)
		}
		if got := ids(get("/api/events?destination=app")); strings.Join(got, ",") != "evt_a" {
			t.Fatalf("destination: %v", got)
		}
		if res, _ := do(t, c, "GET", ts.URL+"/api/events/evt_nope", "", nil); res.StatusCode != 404 {
			t.Fatalf("unknown event: %d", res.StatusCode)
		}
	})
}

// TestAPIReplay ensures replay by id and by filter put events back to
// pending and say how many, that a dry run only counts, and that a filter
// without a state is refused.
func TestAPIReplay(t *testing.T) {
	store := mustOpenStore(t)
	now := time.Now().UTC()
	mustInsert(t, store,
		newEvent("evt_d1", "invoice.paid", "in_1", now.Add(-3*time.Minute), hookbox.StateDead, ""),
		newEvent("evt_d2", "invoice.paid", "in_2", now.Add(-2*time.Minute), hookbox.StateDead, ""),
		newEvent("evt_d3", "charge.failed", "ch_3", now.Add(-1*time.Minute), hookbox.StateDead, ""),
		newEvent("evt_ok", "invoice.paid", "in_4", now.Add(-1*time.Minute), hookbox.StateDelivered, ""),
	)
	pruned := newEvent("evt_pruned", "invoice.paid", "in_5", now.Add(-1*time.Minute), hookbox.StateDelivered, "")
	pruned.Body = nil // as retention leaves it
	mustInsert(t, store, pruned)
	woken := 0
	ts := newConsole(t, console.Options{Store: store, Token: testToken, WakeFunc: func() { woken++ }})
	c := client(t)
	auth := map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json"}
	post := func(path, body string, want int) string {
		t.Helper()
		res, out := do(t, c, "POST", ts.URL+path, body, auth)
		if res.StatusCode != want {
			t.Fatalf("POST %s %s: %d %s", path, body, res.StatusCode, out)
		}
		return out
	}
	state := func(id string) hookbox.State {
		ev, err := store.FindEventByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return ev.State
	}
	if out := post("/api/replay", `{"state":"dead","type":"invoice.*","dry_run":true}`, 200); !strings.Contains(out, `"matching": 2`) {
		t.Fatalf("dry run: %s", out)
	}
	if state("evt_d1") != hookbox.StateDead {
		t.Fatal("dry run replayed")
	}
	post("/api/replay", `{"type":"invoice.*"}`, 400)
	post("/api/replay", `{"state":"dead","bogus":1}`, 400)
	post("/api/replay", `{"ids":["evt_d1"],"state":"dead"}`, 400)
	if out := post("/api/replay", `{"state":"dead","type":"invoice.*"}`, 200); !strings.Contains(out, `"replayed": 2`) {
		t.Fatalf("replay: %s", out)
	}
	if state("evt_d1") != hookbox.StatePending || state("evt_d2") != hookbox.StatePending || state("evt_d3") != hookbox.StateDead {
		t.Fatal("wrong events replayed")
	}
	if out := post("/api/events/evt_d3/replay", ``, 200); !strings.Contains(out, `"replayed": 1`) {
		t.Fatalf("replay one: %s", out)
	}
	post("/api/events/evt_nope/replay", ``, 404)
	if out := post("/api/events/evt_pruned/replay", ``, 409); !strings.Contains(out, "retention emptied its body") {
		t.Fatalf("replay of a pruned event: %s", out)
	}
	if out := post("/api/replay", `{"ids":["evt_ok"]}`, 200); !strings.Contains(out, `"replayed": 1`) || state("evt_ok") != hookbox.StatePending {
		t.Fatalf("replay by id: %s", out)
	}
	if woken != 3 {
		t.Fatalf("woken %d times, want 3", woken)
	}
	// A cross-site request is refused even with the token.
	h := map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}
	if res, _ := do(t, c, "POST", ts.URL+"/api/replay", `{"state":"dead"}`, h); res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site API POST: %d", res.StatusCode)
	}
}

// TestCheckListen ensures serve's rule: a non-loopback admin listener
// needs a token.
func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:8081", "", true},
		{"localhost:8081", "", true},
		{"[::1]:8081", "", true},
		{"127.0.0.2:8081", "", true},
		{":8081", "", false},
		{"0.0.0.0:8081", "", false},
		{"[::]:8081", "", false},
		{"10.0.0.5:8081", "", false},
		{"admin.example.com:8081", "", false},
		{"0.0.0.0:8081", "tok", true},
	} {
		err := console.CheckListen(tc.addr, tc.token)
		if (err == nil) != tc.ok || (err != nil && err != console.ErrTokenRequired) {
			t.Errorf("CheckListen(%q, %q) = %v", tc.addr, tc.token, err)
		}
	}
}
