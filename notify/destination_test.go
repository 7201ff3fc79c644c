package notify_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox/notify"
)

// TestNotifyBreakerAndPause ensures a Slack-compatible webhook receives
// one message when a destination's circuit breaker opens (whatever its
// probes do meanwhile and however often the notifier looks) and one when
// it closes; and one when a destination has been paused for longer than
// the threshold (not before) and one when it is resumed; all read from
// the store, linking to the console's destinations page, with no secret.
func TestNotifyBreakerAndPause(t *testing.T) {
	store := mustOpenStore(t)
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	slack := newReceiver(t, "")
	n := &notify.Notifier{
		Channels:   []notify.Channel{&notify.Slack{URL: slack.url + "/services/" + slackToken}},
		Conditions: []notify.ConditionFunc{notify.BreakerOpen(store), notify.DestinationPaused(store, time.Hour)},
		ConsoleURL: "https://hookbox.internal/",
		Locker:     store,
		NowFunc:    clk.Now,
	}
	runOnce(t, n, 0)
	if _, err := store.SetBreaker(ctx, "stripe/app", true, clk.Now().Add(10*time.Second), clk.Now()); err != nil {
		t.Fatal(err)
	}
	runOnce(t, n, 1)
	for range 5 { // probes go and fail: the same condition, no message
		clk.Add(10 * time.Second)
		if _, err := store.ProbeBreaker(ctx, "stripe/app", clk.Now().Add(10*time.Second), clk.Now()); err != nil {
			t.Fatal(err)
		}
		runOnce(t, n, 0)
	}
	if _, err := store.SetBreaker(ctx, "stripe/app", false, time.Time{}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	runOnce(t, n, 1)
	runOnce(t, n, 0)

	if err := store.PauseDestination(ctx, "stripe/app", true, clk.Now()); err != nil {
		t.Fatal(err)
	}
	clk.Add(59 * time.Minute)
	runOnce(t, n, 0) // paused, but under the threshold
	clk.Add(2 * time.Minute)
	runOnce(t, n, 1)
	clk.Add(time.Hour)
	runOnce(t, n, 0)
	if err := store.PauseDestination(ctx, "stripe/app", false, clk.Now()); err != nil {
		t.Fatal(err)
	}
	runOnce(t, n, 1)

	msgs := slack.got()
	if len(msgs) != 4 {
		t.Fatalf("slack got %d messages, want 4: %q", len(msgs), msgs)
	}
	var texts []string
	for _, m := range msgs {
		var p struct{ Text string }
		if err := json.Unmarshal([]byte(m), &p); err != nil {
			t.Fatal(err)
		}
		texts = append(texts, p.Text)
	}
	for i, want := range []string{
		"destination stripe/app: circuit breaker open",
		"resolved: destination stripe/app: circuit breaker open",
		"destination stripe/app paused for more than 1h\n",
		"resolved: destination stripe/app paused for more than 1h",
	} {
		if !strings.Contains(texts[i], want) || !strings.Contains(texts[i], "https://hookbox.internal/destinations") {
			t.Errorf("message %d: %q, want %q and the destinations page", i, texts[i], want)
		}
	}
	if strings.Contains(texts[0], "resolved") || strings.Contains(texts[2], "resolved") {
		t.Errorf("a start reads as resolved: %q", texts)
	}
	noSecret(t, msgs)
}
