package receiver_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/notify"
	"github.com/hookbox/hookbox/receiver"
)

// TestNotify_BreakerOpenAndClosed ensures a receiver with Options.Notify
// tells a Slack-style webhook once when a failing app opens its
// destination's circuit breaker (the event waits, parked, not dead) and
// once when a probe succeeds and closes it (the event is delivered); and
// once when a destination stays paused past PausedAfter, once more when
// it is resumed.
func TestNotify_BreakerOpenAndClosed(t *testing.T) {
	var (
		mu   sync.Mutex
		msgs []string
		ok   bool
		hits int
	)
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		msgs = append(msgs, string(b))
		mu.Unlock()
	}))
	defer slack.Close()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		hits++
		if !ok {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer app.Close()
	h, err := deliver.NewHTTP("app", app.URL, testSecret, deliver.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dest := deliver.Controlled(h, deliver.Controls{BreakerFailures: 3, BreakerProbe: 200 * time.Millisecond})
	store := mustOpenSQLite(t)
	r := mustOpen(t, receiver.Options{
		Store:        store,
		Endpoints:    []receiver.Endpoint{{Name: "stripe", Secrets: []string{testSecret}, Destinations: []deliver.Destination{dest}}},
		Retry:        hookbox.RetryPolicy{MaxAttempts: 50, Base: time.Millisecond, Cap: 5 * time.Millisecond, Window: time.Hour},
		PollInterval: 10 * time.Millisecond,
		Notify: &receiver.NotifyOptions{
			Channels:    []notify.Channel{&notify.Slack{URL: slack.URL}},
			ConsoleURL:  "http://127.0.0.1:8081/",
			Every:       20 * time.Millisecond,
			MinInterval: time.Millisecond,
			PausedAfter: 300 * time.Millisecond,
		},
	})
	got := func(n int) []string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			m := append([]string(nil), msgs...)
			mu.Unlock()
			if len(m) >= n || time.Now().After(deadline) {
				return m
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if code, body := post(t, r.Handler(), "/webhooks/stripe", event("evt_breaker_1")); code != 200 {
		t.Fatalf("post: %d %s", code, body)
	}
	m := got(1)
	if len(m) != 1 || !strings.Contains(m[0], "destination app: circuit breaker open") || !strings.Contains(m[0], "http://127.0.0.1:8081/destinations") {
		t.Fatalf("after the breaker opened: %q", m)
	}
	// Two probes go and fail (3 failures opened it): no second message.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := hits
		mu.Unlock()
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app saw %d requests, want 3 failures and 2 probes", n)
		}
	}
	if ev, err := store.FindEventByID(context.Background(), "evt_breaker_1"); err != nil || ev.State == hookbox.StateDead || ev.State == hookbox.StateDelivered {
		t.Fatalf("evt_breaker_1 while the breaker is open: %v %v (parked, not dead)", ev.State, err)
	}
	if m = got(1); len(m) != 1 {
		t.Fatalf("messages while the breaker stays open: %q", m)
	}
	mu.Lock()
	ok = true
	mu.Unlock()
	waitState(t, store, "evt_breaker_1", hookbox.StateDelivered)
	m = got(2)
	if len(m) != 2 || !strings.Contains(m[1], "resolved: destination app: circuit breaker open") {
		t.Fatalf("after the probe succeeded: %q", m)
	}

	if err := store.PauseDestination(context.Background(), "app", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	m = got(3)
	if len(m) != 3 || !strings.Contains(m[2], "destination app paused for more than 300ms") {
		t.Fatalf("after a long pause: %q", m)
	}
	if err := store.PauseDestination(context.Background(), "app", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	if m = got(4); len(m) != 4 || !strings.Contains(m[3], "resolved: destination app paused") {
		t.Fatalf("after the resume: %q", m)
	}
}
