package console_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
)

// complete claims the event id and completes the claim with deliveries ds
// (none: no destination accepted it, as the worker records it).
func complete(tb testing.TB, s hookbox.Store, id string, now time.Time, ds ...hookbox.Delivery) {
	tb.Helper()
	ctx := context.Background()
	c, err := s.ClaimEvent(ctx, id, "w", now, time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
	var as []hookbox.Attempt // one successful attempt a delivery, as the worker logs them
	for _, d := range ds {
		as = append(as, hookbox.Attempt{EventID: id, Destination: d.Destination, Number: 1, StartedAt: now, StatusCode: 200, OK: true})
	}
	if err := s.CompleteClaim(ctx, hookbox.Completion{EventID: id, Owner: c.Owner, Now: now, Deliveries: ds, Attempts: as}); err != nil {
		tb.Fatal(err)
	}
}

// TestEventPage_DestinationsAndEndpoint ensures the event page and GET
// /api/events/{id} show an event no destination accepted as delivered to
// no destination (not as plain delivered), show the endpoint the event
// arrived on, format Stripe's created time like every other time, and say
// plainly when no destination is configured, on the event page of a
// pending event and on the overview.
func TestEventPage_DestinationsAndEndpoint(t *testing.T) {
	store := mustOpenStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	nowhere := newEvent("evt_nowhere", "invoice.paid", "in_1", at, hookbox.StatePending, "")
	nowhere.Endpoint = "connect"
	sent := newEvent("evt_sent", "invoice.paid", "in_2", at, hookbox.StatePending, "")
	sent.Endpoint = "stripe"
	waiting := newEvent("evt_waiting", "invoice.paid", "in_3", at, hookbox.StatePending, "")
	mustInsert(t, store, nowhere, sent, waiting)
	complete(t, store, "evt_nowhere", at.Add(time.Second))
	complete(t, store, "evt_sent", at.Add(time.Second), hookbox.Delivery{EventID: "evt_sent", Destination: "app",
		State: hookbox.StateDelivered, Attempts: 1, UpdatedAt: at.Add(time.Second)})

	const (
		toNone     = "to no destination"
		noneConfig = "No destination is configured"
	)
	for _, tc := range []struct {
		name         string
		dests        []string
		id           string
		want, absent []string
		noDest       bool
		endpoint     string
	}{
		{"delivered to none", []string{"app"}, "evt_nowhere", []string{toNone, `<dd class="mono">connect</dd>`}, []string{noneConfig, "Not tried yet"}, true, "connect"},
		{"delivered", []string{"app"}, "evt_sent", []string{`<dd class="mono">stripe</dd>`}, []string{toNone, noneConfig}, false, "stripe"},
		{"pending, destinations", []string{"app"}, "evt_waiting", []string{"Not tried yet", "none recorded (the first endpoint's)"}, []string{toNone, noneConfig}, false, ""},
		{"pending, no destination", nil, "evt_waiting", []string{noneConfig}, []string{toNone, "Not tried yet"}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newConsole(t, console.Options{Store: store, Destinations: tc.dests})
			_, page := do(t, client(t), "GET", ts.URL+"/events/"+tc.id, "", nil)
			for _, w := range tc.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(page, a) {
					t.Errorf("page shows %q", a)
				}
			}
			created := regexp.MustCompile(`<dt>Created \(Stripe\)</dt><dd><time datetime="2026-03-01T12:00:00Z" title="2026-03-01 12:00:00 UTC">2026-03-01 12:00:00 UTC</time>`)
			if !created.MatchString(page) {
				t.Errorf("created is not shown as a time:\n%s", regexp.MustCompile(`<dt>Created.*`).FindString(page))
			}
			_, body := do(t, client(t), "GET", ts.URL+"/api/events/"+tc.id, "", nil)
			var doc struct {
				NoDestination *bool  `json:"no_destination"`
				Endpoint      string `json:"endpoint"`
			}
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.NoDestination == nil || *doc.NoDestination != tc.noDest || doc.Endpoint != tc.endpoint {
				t.Errorf("API: %s", body)
			}
		})
	}
	// The lists say it too: GET /api/events and the events page.
	ts := newConsole(t, console.Options{Store: store, Destinations: []string{"app"}})
	_, body := do(t, client(t), "GET", ts.URL+"/api/events", "", nil)
	var list struct {
		Events []struct {
			ID            string `json:"id"`
			NoDestination bool   `json:"no_destination"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Events {
		if e.NoDestination != (e.ID == "evt_nowhere") {
			t.Errorf("list API: %s no_destination %t", e.ID, e.NoDestination)
		}
	}
	if len(list.Events) != 3 {
		t.Errorf("list API: %s", body)
	}
	if _, page := do(t, client(t), "GET", ts.URL+"/events", "", nil); strings.Count(page, toNone) != 1 {
		t.Errorf("events page: %q shown %d times, want once", toNone, strings.Count(page, toNone))
	}
	for _, tc := range []struct {
		dests []string
		want  bool
	}{{nil, true}, {[]string{"app"}, false}} {
		ts := newConsole(t, console.Options{Store: store, Destinations: tc.dests})
		_, page := do(t, client(t), "GET", ts.URL+"/", "", nil)
		if got := strings.Contains(page, noneConfig); got != tc.want {
			t.Errorf("overview with destinations %v: says none is configured: %t, want %t", tc.dests, got, tc.want)
		}
	}
}
