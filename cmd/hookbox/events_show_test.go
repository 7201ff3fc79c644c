package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/stripesig"
)

// TestEventsShow_ReplayAttemptNumbers ensures that after a replay the
// text `events show` and the Hookbox-Attempt header agree: each attempt's
// "#N" is the header the destination received, and the delivery says its
// attempt count is the one since the replay; that each attempt's response
// snippet is shown, terminal-safe; and that the endpoint is shown.
func TestEventsShow_ReplayAttemptNumbers(t *testing.T) {
	var (
		mu      sync.Mutex
		headers []string
	)
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		headers = append(headers, r.Header.Get("Hookbox-Attempt"))
		first := len(headers) == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, "{\"error\":\"No signatures found matching the expected signature\x1b[2J\"}\r\nsecond line\r\n")
			return
		}
		fmt.Fprint(w, `{"received":true}`)
	}))
	t.Cleanup(dest.Close)
	vars, db := deliverVars(t, dest.URL)
	vars["HOOKBOX_MAX_ATTEMPTS"] = "1"
	vars["HOOKBOX_POLL_INTERVAL"] = "20ms"
	m, _ := mustRunMain(t, vars)
	body := e2eEvent("evt_replayed", "invoice.paid")
	if status, _ := postEvent(t, "http://"+m.PublicAddr()+"/webhooks/stripe", body, stripesig.Sign(body, time.Now(), testSecret1)); status != 200 {
		t.Fatal(status)
	}
	waitFor(t, "the event to be dead", 10*time.Second, func() bool { return eventState(t, m, "evt_replayed") == hookbox.StateDead })
	env, _, _ := testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, []string{"events", "replay", "evt_replayed"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replayed event to be delivered", 10*time.Second, func() bool { return eventState(t, m, "evt_replayed") == hookbox.StateDelivered })

	env, out, _ := testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, []string{"events", "show", "evt_replayed"}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	mu.Lock()
	got := strings.Join(headers, ",")
	mu.Unlock()
	if got != "1,2" {
		t.Fatalf("Hookbox-Attempt headers received: %s, want 1,2", got)
	}
	for _, re := range []string{
		`(?m)^endpoint: +stripe$`,
		`(?m)^state: +delivered$`,
		`(?m)^attempts: +2 \(all destinations, all replays\)$`,
		`(?m)^  forward +delivered +attempts 1 since the last replay, 2 in all \(the last Hookbox-Attempt\)$`,
		`(?m)^attempts \(#N: the Hookbox-Attempt header sent, counted per destination across replays\):$`,
		`(?m)^  #1 forward .* 400 failed \(status 400 Bad Request\)\n     response:\n       \{"error":"No signatures found matching the expected signature\x{FFFD}\[2J"\}\n       second line\n  #2 forward .* 200 ok\n     response:\n       \{"received":true\}\n`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("events show lacks %s:\n%s", re, text)
		}
	}
	if strings.ContainsAny(text, "\x1b\r") {
		t.Errorf("events show writes control characters:\n%q", text)
	}
}

// TestEventsShow_NoDestination ensures the text `events show` of an event
// no destination accepted says it was delivered to no destination, and
// that an event without a recorded endpoint says which gets it.
func TestEventsShow_NoDestination(t *testing.T) {
	dest := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(dest.Close)
	vars, db := deliverVars(t, dest.URL)
	vars["HOOKBOX_EVENTS"] = "charge.*"
	m, _ := mustRunMain(t, vars)
	body := e2eEvent("evt_unrouted", "invoice.paid")
	if status, _ := postEvent(t, "http://"+m.PublicAddr()+"/webhooks/stripe", body, stripesig.Sign(body, time.Now(), testSecret1)); status != 200 {
		t.Fatal(status)
	}
	waitFor(t, "the event to be delivered", 10*time.Second, func() bool { return eventState(t, m, "evt_unrouted") == hookbox.StateDelivered })
	show := func(id string) string {
		env, out, _ := testEnv(map[string]string{"HOOKBOX_DB": db})
		if err := run(context.Background(), env, []string{"events", "show", id}); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	if text := show("evt_unrouted"); !regexp.MustCompile(`(?m)^state: +delivered, to no destination \(none accepts this event`).MatchString(text) {
		t.Errorf("events show:\n%s", text)
	}
	path := mustStoreWithHistory(t)
	env, out, _ := testEnv(map[string]string{"HOOKBOX_DB": "sqlite:" + path})
	if err := run(context.Background(), env, []string{"events", "show", "evt_doc_2"}); err != nil {
		t.Fatal(err)
	}
	if text := out.String(); !regexp.MustCompile(`(?m)^endpoint: +- \(none recorded: the first endpoint's destinations get it\)$`).MatchString(text) ||
		!regexp.MustCompile(`(?m)^state: +pending$`).MatchString(text) {
		t.Errorf("events show of an event without endpoint:\n%s", text)
	}
}
