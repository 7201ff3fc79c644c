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

// TestNotify_DeadAndResolved ensures a receiver with Options.Notify tells
// a Slack-style webhook once when an event goes dead (its destination
// fails every attempt) and once when the replayed event is delivered; and
// that the messages hold neither the body nor a secret.
func TestNotify_DeadAndResolved(t *testing.T) {
	var (
		mu   sync.Mutex
		msgs []string
		ok   bool
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
		if !ok {
			http.Error(w, "down", http.StatusInternalServerError)
		}
	}))
	defer app.Close()
	dest, err := deliver.NewHTTP("app", app.URL, testSecret, deliver.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	store := mustOpenSQLite(t)
	r := mustOpen(t, receiver.Options{
		Store:        store,
		Endpoints:    []receiver.Endpoint{{Name: "stripe", Secrets: []string{testSecret}, Destinations: []deliver.Destination{dest}}},
		Retry:        hookbox.RetryPolicy{MaxAttempts: 1, Base: time.Millisecond},
		PollInterval: 10 * time.Millisecond,
		Notify: &receiver.NotifyOptions{
			Channels:   []notify.Channel{&notify.Slack{URL: slack.URL}},
			ConsoleURL: "http://127.0.0.1:8081/",
			Every:      20 * time.Millisecond,
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
	if code, body := post(t, r.Handler(), "/webhooks/stripe", event("evt_notify_1")); code != 200 {
		t.Fatalf("post: %d %s", code, body)
	}
	waitState(t, store, "evt_notify_1", hookbox.StateDead)
	m := got(1)
	if len(m) != 1 || !strings.Contains(m[0], "1 new dead event") || !strings.Contains(m[0], "http://127.0.0.1:8081/events?state=dead") {
		t.Fatalf("after the event went dead: %q", m)
	}
	mu.Lock()
	ok = true
	mu.Unlock()
	if _, err := store.ReplayEvents(context.Background(), hookbox.ReplayFilter{IDs: []string{"evt_notify_1"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitState(t, store, "evt_notify_1", hookbox.StateDelivered)
	m = got(2)
	if len(m) != 2 || !strings.Contains(m[1], "resolved") {
		t.Fatalf("after the replay: %q", m)
	}
	for _, s := range m {
		if strings.Contains(s, testSecret) || strings.Contains(s, "in_1") || strings.Contains(s, "evt_notify_1") {
			t.Fatalf("a message holds a secret, the body or the id: %s", s)
		}
	}
}
