package notify_test

import (
	"context"
	"encoding/json"
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
	"github.com/hookbox/hookbox/notify"
	"github.com/hookbox/hookbox/sqlite"
)

const (
	webhookSecret = "whsec_notifyTESTsecret0123456789abcdefABCDEF"
	slackToken    = "T000/B000/XXXXsecretslacktokenXXXX"
	bodyMarker    = "BODY_MARKER_cus_secretcustomer"
)

// clock is an injected clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// receiver is an httptest server that keeps what it is posted: a Slack
// incoming webhook or a generic one (which must verify with stripe-go).
type receiver struct {
	t      testing.TB
	srv    *http.Server
	url    string
	mu     sync.Mutex
	bodies []string
	secret string // generic: verify the signature
	fail   bool
}

func newReceiver(t testing.TB, secret string) *receiver {
	t.Helper()
	r := &receiver{t: t, secret: secret}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.secret != "" {
			if err := webhook.ValidatePayload(b, req.Header.Get("Stripe-Signature"), r.secret); err != nil {
				r.t.Errorf("generic webhook: signature: %v", err)
				http.Error(w, "bad signature", http.StatusBadRequest)
				return
			}
		}
		r.bodies = append(r.bodies, string(b))
	}))
	t.Cleanup(s.Close)
	r.url = s.URL
	return r
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

func mustOpenStore(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "hookbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func insertDead(t testing.TB, s hookbox.Store, id string, at time.Time) {
	t.Helper()
	ev := &hookbox.Event{ID: id, Type: "customer.created", Body: []byte(`{"id":"` + id + `","data":"` + bodyMarker + `"}`),
		ReceivedAt: at, State: hookbox.StateDead}
	res, err := s.InsertEvents(context.Background(), []*hookbox.Event{ev})
	if err != nil || res[0].Err != nil {
		t.Fatalf("insert: %v %v", err, res)
	}
}

func runOnce(t testing.TB, n *notify.Notifier, want int) {
	t.Helper()
	sent, err := n.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if sent != want {
		t.Fatalf("RunOnce sent %d messages, want %d", sent, want)
	}
}

// TestNotifyDeadStartResolve ensures that events going dead send one
// message per channel (Slack's {"text"} and a generic webhook signed like
// hookbox's forwards), however many die and however often the notifier
// looks, and one more when the dead events are replayed; with a console
// link and no secret or body.
func TestNotifyDeadStartResolve(t *testing.T) {
	store := mustOpenStore(t)
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	slack, generic := newReceiver(t, ""), newReceiver(t, webhookSecret)
	n := &notify.Notifier{
		Channels: []notify.Channel{
			&notify.Slack{URL: slack.url + "/services/" + slackToken},
			&notify.Webhook{URL: generic.url, Secret: webhookSecret},
		},
		Conditions: []notify.ConditionFunc{notify.DeadEvents(store)},
		ConsoleURL: "https://hookbox.internal/console/",
		Locker:     store,
		NowFunc:    clk.Now,
	}
	runOnce(t, n, 0)
	insertDead(t, store, "evt_1", clk.Now())
	insertDead(t, store, "evt_2", clk.Now())
	clk.Add(time.Minute)
	runOnce(t, n, 2)
	insertDead(t, store, "evt_3", clk.Now())
	clk.Add(time.Minute)
	runOnce(t, n, 0) // still the same condition: no message per event
	if _, err := store.ReplayEvents(context.Background(), hookbox.ReplayFilter{IDs: []string{"evt_1", "evt_2", "evt_3"}}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	runOnce(t, n, 2)
	runOnce(t, n, 0)

	s := slack.got()
	if len(s) != 2 {
		t.Fatalf("slack got %d messages, want 2: %q", len(s), s)
	}
	var first, second struct{ Text string }
	json.Unmarshal([]byte(s[0]), &first)
	json.Unmarshal([]byte(s[1]), &second)
	if !strings.Contains(first.Text, "2 new dead event") || !strings.Contains(first.Text, "https://hookbox.internal/console/events?state=dead") {
		t.Fatalf("slack start: %q", first.Text)
	}
	if !strings.Contains(second.Text, "resolved") {
		t.Fatalf("slack resolve: %q", second.Text)
	}
	g := generic.got()
	if len(g) != 2 {
		t.Fatalf("generic webhook got %d messages, want 2", len(g))
	}
	var p notify.WebhookPayload
	if err := json.Unmarshal([]byte(g[0]), &p); err != nil || p.Type != "hookbox.notification" || p.Condition != notify.ConditionDead || p.Status != "firing" || p.Link == "" {
		t.Fatalf("generic start: %+v %v", p, err)
	}
	if err := json.Unmarshal([]byte(g[1]), &p); err != nil || p.Status != "resolved" {
		t.Fatalf("generic resolve: %+v %v", p, err)
	}
	noSecret(t, append(s, g...))
}

func noSecret(t testing.TB, msgs []string) {
	t.Helper()
	for _, m := range msgs {
		for _, secret := range []string{webhookSecret, slackToken, bodyMarker, smtpPassword, "evt_"} {
			if strings.Contains(m, secret) {
				t.Fatalf("a message holds %q: %s", secret, m)
			}
		}
	}
}

// TestNotifyThrottle ensures that a flapping destination sends one start
// and one resolution per MinInterval, not one per flap; that a failing
// channel is tried again; and that the failing condition waits for its
// threshold.
func TestNotifyThrottle(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	tr := notify.NewTracker(clk.Now())
	slack := newReceiver(t, "")
	n := &notify.Notifier{
		Channels:    []notify.Channel{&notify.Slack{URL: slack.url}},
		Conditions:  []notify.ConditionFunc{notify.DestinationFailing(tr, 5*time.Minute)},
		MinInterval: 30 * time.Minute,
		NowFunc:     clk.Now,
	}
	fail := func() {
		tr.Attempt(hookbox.Attempt{Destination: "stripe/app", StartedAt: clk.Now(), StatusCode: 500, Error: "POST https://app.internal/?token=" + slackToken})
	}
	ok := func() {
		tr.Attempt(hookbox.Attempt{Destination: "stripe/app", StartedAt: clk.Now(), OK: true, StatusCode: 200})
	}
	fail()
	clk.Add(4 * time.Minute)
	fail()
	runOnce(t, n, 0) // failing for 4 minutes: under the threshold
	clk.Add(2 * time.Minute)
	fail()
	slack.fail = true
	if sent, err := n.RunOnce(context.Background()); sent != 0 || err == nil {
		t.Fatalf("a channel answering 503: sent %d, err %v", sent, err)
	}
	slack.fail = false
	runOnce(t, n, 1) // tried again: the start
	clk.Add(time.Minute)
	ok()
	runOnce(t, n, 1) // the resolution, at once
	for range 3 {    // flaps within the interval: no message
		clk.Add(time.Minute)
		fail()
		clk.Add(6 * time.Minute)
		fail()
		runOnce(t, n, 0)
		ok()
		runOnce(t, n, 0)
	}
	fail()
	clk.Add(10 * time.Minute)
	fail()
	runOnce(t, n, 1) // 30 minutes after the first start: a start again
	msgs := slack.got()
	if len(msgs) != 3 || !strings.Contains(msgs[0], "destination stripe/app failing") || !strings.Contains(msgs[0], "HTTP 500") {
		t.Fatalf("messages %q", msgs)
	}
	noSecret(t, msgs)
}

// TestNotifyOneSender ensures that of two notifiers on one store, only the
// one holding the lock sends, and that the other takes over once the
// sender stops renewing it.
func TestNotifyOneSender(t *testing.T) {
	store := mustOpenStore(t)
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	slack := newReceiver(t, "")
	mk := func(owner string) *notify.Notifier {
		return &notify.Notifier{
			Channels:   []notify.Channel{&notify.Slack{URL: slack.url}},
			Conditions: []notify.ConditionFunc{notify.DeadEvents(store)},
			Locker:     store, Owner: owner, Every: time.Minute, NowFunc: clk.Now,
		}
	}
	a, b := mk("a"), mk("b")
	runOnce(t, a, 0)
	runOnce(t, b, 0)
	if !a.Leader() || b.Leader() {
		t.Fatalf("leaders: a %v, b %v; want a only", a.Leader(), b.Leader())
	}
	insertDead(t, store, "evt_1", clk.Now())
	clk.Add(time.Minute)
	runOnce(t, a, 1)
	runOnce(t, b, 0)
	clk.Add(time.Minute)
	runOnce(t, b, 0)
	runOnce(t, a, 0)
	if got := len(slack.got()); got != 1 {
		t.Fatalf("slack got %d messages from two replicas, want 1", got)
	}
	// a dies: its lock (3 x Every) runs out and b takes over; b starts
	// afresh, with the current dead count as its baseline.
	clk.Add(4 * time.Minute)
	runOnce(t, b, 0)
	if !b.Leader() {
		t.Fatal("b did not take over the expired lock")
	}
	insertDead(t, store, "evt_2", clk.Now())
	runOnce(t, b, 1)
	runOnce(t, a, 0)
}

// TestNotifyConditions ensures the in-process conditions start and
// resolve: a spike of signature failures, an endpoint without events, an
// old secret still matching a day after its first match.
func TestNotifyConditions(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	tr := notify.NewTracker(t0)
	ctx := context.Background()
	check := func(c notify.ConditionFunc, want ...string) {
		t.Helper()
		fs, err := c(ctx, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fs {
			got = append(got, f.Subject)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("findings %v, want %v", got, want)
		}
	}
	spike := notify.SignatureFailures(tr, 3, 10*time.Minute)
	for range 2 {
		tr.Ingest("stripe", clk.Now(), true, -1, false)
	}
	check(spike)
	tr.Ingest("stripe", clk.Now(), true, -1, false)
	check(spike, "stripe")
	clk.Add(11 * time.Minute)
	check(spike)

	silent := notify.EndpointSilent(tr, map[string]time.Duration{"stripe": time.Hour, "connect": 2 * time.Hour})
	check(silent)
	clk.Add(time.Hour)
	check(silent, "stripe")
	tr.Ingest("stripe", clk.Now(), false, 0, true)
	check(silent)
	clk.Add(time.Hour)
	check(silent, "connect")

	old := notify.OldSecret(tr, 24*time.Hour)
	rot := clk.Now()
	for clk.Now().Sub(rot) < 25*time.Hour {
		tr.Ingest("stripe", clk.Now(), false, 1, true)
		if clk.Now().Sub(rot) < 24*time.Hour {
			check(old)
		}
		clk.Add(30 * time.Minute)
	}
	check(old, "stripe")
	clk.Add(2 * time.Hour) // the old secret stopped matching
	check(old)
	tr.Ingest("stripe", clk.Now(), false, 1, true) // a new run: a new rotation
	check(old)
}
