package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/receiver"
)

// ctlApp is an httptest destination for the delivery controls' tests: it
// verifies hookbox's signature as an app does, records when each request
// arrived, the Hookbox-Attempt of each, the requests under way at once,
// and answers 503 while fail is set (after delay).
type ctlApp struct {
	srv   *httptest.Server
	delay time.Duration
	fail  atomic.Bool

	mu        sync.Mutex
	arrivals  []time.Time
	attempts  map[string][]int // Hookbox-Attempt of each request, per event id
	delivered map[string]int   // 2xx answers per event id
	cur, peak int              // requests under way; the most at once
	bad       []string
}

func newCtlApp(t *testing.T, delay time.Duration) *ctlApp {
	a := &ctlApp{delay: delay, attempts: map[string][]int{}, delivered: map[string]int{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *ctlApp) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(r.Body)
	ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), forwardSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	n, _ := strconv.Atoi(r.Header.Get("Hookbox-Attempt"))
	a.mu.Lock()
	a.arrivals = append(a.arrivals, now)
	a.cur++
	a.peak = max(a.peak, a.cur)
	if err != nil {
		a.bad = append(a.bad, err.Error())
	} else {
		a.attempts[ev.ID] = append(a.attempts[ev.ID], n)
	}
	a.mu.Unlock()
	time.Sleep(a.delay)
	fail := a.fail.Load()
	a.mu.Lock()
	a.cur--
	if err == nil && !fail {
		a.delivered[ev.ID]++
	}
	a.mu.Unlock()
	if err != nil {
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	if fail {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// deliveredCount returns how many distinct events the app accepted.
func (a *ctlApp) deliveredCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.delivered)
}

// requests returns the arrivals so far, in order.
func (a *ctlApp) requests() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.arrivals...)
}

// checkOnce fails t unless the app got exactly n events, each in one
// request, Hookbox-Attempt 1 (no retry budget spent), and accepted once.
func (a *ctlApp) checkOnce(t *testing.T, n int) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.bad) > 0 {
		t.Fatalf("bad requests: %v", a.bad)
	}
	if len(a.attempts) != n || len(a.delivered) != n {
		t.Fatalf("%d events seen, %d delivered, want %d", len(a.attempts), len(a.delivered), n)
	}
	for id, as := range a.attempts {
		if len(as) != 1 || as[0] != 1 || a.delivered[id] != 1 {
			t.Fatalf("%s: requests with Hookbox-Attempt %v, delivered %d times; want one attempt", id, as, a.delivered[id])
		}
	}
}

// maxInWindow returns the most arrivals within any window of length d
// (from one arrival to just before arrival+d), and where it starts.
func maxInWindow(ts []time.Time, d time.Duration) (most int, at time.Time) {
	ts = append([]time.Time(nil), ts...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	j := 0
	for i := range ts {
		for j < len(ts) && ts[j].Sub(ts[i]) < d {
			j++
		}
		if j-i > most {
			most, at = j-i, ts[i]
		}
	}
	return most, at
}

// sendEvents posts n realistic events signed with sendTestSecret to url
// with hookbox send.
func sendEvents(t *testing.T, url string, n int) {
	t.Helper()
	if out, errOut, err := sendTestRun(t, sendTestVars(), "--count", strconv.Itoa(n), "--concurrency", "8", "--quiet", "--json", url); err != nil {
		t.Fatalf("hookbox send: %v\n%s\n%s", err, out, errOut)
	}
}

// metricValue returns the value of the series of name whose labels hold
// every label="value" of want, summed (0 when none).
func metricValue(metrics, name string, want ...string) float64 {
	total := 0.0
	for _, l := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(l, name+"{") {
			continue
		}
		labels, value, _ := strings.Cut(l, "} ")
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(labels, w)
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(value), 64); ok && err == nil {
			total += f
		}
	}
	return total
}

// waitDelivered waits until the app accepted n events.
func waitDelivered(t *testing.T, a *ctlApp, n int, d time.Duration) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d events delivered", n), d, func() bool { return a.deliveredCount() >= n })
	time.Sleep(300 * time.Millisecond) // a redelivery would show by now
}

// TestControls_Rate ensures a destination limited to 5 events a second
// with a burst of 2 (--forward-rate, --forward-burst) never receives more
// than rate+burst events in any second while 40 events sent at once by
// hookbox send wait their turn; each is delivered with one attempt (the
// deferrals spent no retry budget), a deferred delivery shows in events
// show as pending with no attempt and its next time, and the deferrals are
// counted by reason.
func TestControls_Rate(t *testing.T) {
	const events, rate, burst = 40, 5, 2
	a := newCtlApp(t, 0)
	vars, db := deliverVars(t, a.srv.URL)
	vars["STRIPE_WEBHOOK_SECRET"] = sendTestSecret
	vars["HOOKBOX_FORWARD_RATE"], vars["HOOKBOX_FORWARD_BURST"] = strconv.Itoa(rate), strconv.Itoa(burst)
	m, _ := mustRunMain(t, vars)
	start := time.Now()
	sendEvents(t, "http://"+m.PublicAddr()+receiver.DefaultPath, events)
	waitFor(t, "a deferred delivery in events show", 10*time.Second, func() bool {
		evs, _ := m.Store().FindEvents(t.Context(), hookbox.EventFilter{State: hookbox.StatePending, Limit: 50})
		for _, ev := range evs {
			ds, _ := m.Store().FindDeliveries(t.Context(), ev.ID)
			if len(ds) != 1 || ds[0].Attempts != 0 || ds[0].NextAttemptAt.IsZero() {
				continue
			}
			out := cliRun(t, vars, "events", "show", ev.ID, "--db", db)
			line := grepLines(out, "  forward ")
			if f := strings.Fields(line); len(f) >= 5 && f[1] == "pending" && f[2] == "attempts" && f[3] == "0" && f[4] == "next" {
				return true
			}
			t.Logf("events show %s: %q", ev.ID, line)
		}
		return false
	})
	waitDelivered(t, a, events, 25*time.Second)
	took := time.Since(start)
	a.checkOnce(t, events)
	most, at := maxInWindow(a.requests(), time.Second)
	t.Logf("%d events in %v; at most %d in one second (from %v)", events, took.Round(time.Millisecond), most, at.Sub(start).Round(time.Millisecond))
	if most > rate+burst {
		t.Fatalf("%d requests within one second, limit %d/s with burst %d", most, rate, burst)
	}
	if min := time.Duration(float64(events-burst) / rate * float64(time.Second)); took < min*9/10 {
		t.Fatalf("40 events in %v: the rate was not applied (at least %v)", took, min)
	}
	metrics := scrapeMetrics(t, m)
	if n := metricValue(metrics, "hookbox_destination_deferred_total", `destination="forward"`, `reason="rate"`); n < 1 {
		t.Fatalf("no deferral counted:\n%s", grepLines(metrics, "hookbox_destination_"))
	}
	if n := metricValue(metrics, "hookbox_delivery_attempts_total", `outcome="failed"`); n != 0 {
		t.Fatalf("%v failed attempts", n)
	}
}

// TestControls_RateReplicasPostgres ensures the rate limit holds for the
// destination as a whole: two hookbox serve processes on one PostgreSQL
// database, each sent 20 events at once, together never send more than
// rate+burst events in any second, and every event arrives once with one
// attempt.
func TestControls_RateReplicasPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two hookbox processes")
	}
	const events, rate, burst = 40, 5, 2
	a := newCtlApp(t, 0)
	bin := mustBuild(t)
	env := []string{"HOOKBOX_DB=" + pgtest.SchemaDSN(t), "STRIPE_WEBHOOK_SECRET=" + sendTestSecret,
		"HOOKBOX_FORWARD_TO=" + a.srv.URL, "HOOKBOX_FORWARD_SECRET=" + forwardSecret,
		"HOOKBOX_FORWARD_RATE=" + strconv.Itoa(rate), "HOOKBOX_FORWARD_BURST=" + strconv.Itoa(burst)}
	procs := []*proc{startServe(t, bin, env), startServe(t, bin, env)}
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { sendEvents(t, "http://"+p.public+receiver.DefaultPath, events/2) })
	}
	wg.Wait()
	waitDelivered(t, a, events, 25*time.Second)
	a.checkOnce(t, events)
	most, at := maxInWindow(a.requests(), time.Second)
	t.Logf("%d events in %v; at most %d in one second (from %v)", events, time.Since(start).Round(time.Millisecond), most, at.Sub(start).Round(time.Millisecond))
	if most > rate+burst {
		t.Fatalf("%d requests within one second from two replicas, limit %d/s with burst %d for the destination", most, rate, burst)
	}
	for i, p := range procs {
		metrics := scrape(t, "http://"+p.admin+"/metrics")
		if n := metricValue(metrics, "hookbox_delivery_attempts_total", `outcome="delivered"`); n < 1 {
			t.Fatalf("replica %d delivered nothing: the test did not run two senders", i)
		}
		if n := metricValue(metrics, "hookbox_destination_deferred_total", `reason="rate"`); n < 1 {
			t.Fatalf("replica %d deferred nothing", i)
		}
	}
}

// TestControls_MaxInFlight ensures a destination with --forward-max-in-flight
// 2 and a slow app never has more than 2 requests under way, while 12
// events sent at once (delivery concurrency 32) wait their turn; each is
// delivered with one attempt, and hookbox_destination_in_flight reports
// the attempts under way.
func TestControls_MaxInFlight(t *testing.T) {
	const events, limit = 12, 2
	a := newCtlApp(t, 250*time.Millisecond)
	vars, _ := deliverVars(t, a.srv.URL)
	vars["STRIPE_WEBHOOK_SECRET"] = sendTestSecret
	vars["HOOKBOX_FORWARD_MAX_IN_FLIGHT"] = strconv.Itoa(limit)
	m, _ := mustRunMain(t, vars)
	sendEvents(t, "http://"+m.PublicAddr()+receiver.DefaultPath, events)
	waitFor(t, "2 attempts in flight in the metrics", 10*time.Second, func() bool {
		return metricValue(scrapeMetrics(t, m), "hookbox_destination_in_flight", `destination="forward"`) == limit
	})
	waitDelivered(t, a, events, 25*time.Second)
	a.checkOnce(t, events)
	a.mu.Lock()
	peak := a.peak
	a.mu.Unlock()
	if peak != limit {
		t.Fatalf("%d requests at once, want %d (max in flight)", peak, limit)
	}
	metrics := scrapeMetrics(t, m)
	if n := metricValue(metrics, "hookbox_destination_deferred_total", `reason="in_flight"`); n < 1 {
		t.Fatalf("no in_flight deferral counted:\n%s", grepLines(metrics, "hookbox_destination_"))
	}
	if n := metricValue(metrics, "hookbox_destination_in_flight", `destination="forward"`); n != 0 {
		t.Fatalf("%v in flight once all is delivered", n)
	}
}

// TestControls_Breaker ensures a failing app opens the destination's
// circuit breaker (--forward-breaker-failures 3, --forward-breaker-probe
// 1s) and that, with a retry budget of 3 attempts, no event goes dead
// while the app is down for 7 s: the events wait (events show: parked),
// one probe arrives about once a second, the metrics show the breaker
// open, its opening and the failed probes. When the app recovers a probe
// closes the breaker and every event is delivered.
func TestControls_Breaker(t *testing.T) {
	const events = 4
	a := newCtlApp(t, 0)
	a.fail.Store(true)
	vars, db := deliverVars(t, a.srv.URL)
	vars["STRIPE_WEBHOOK_SECRET"] = sendTestSecret
	vars["HOOKBOX_FORWARD_BREAKER_FAILURES"], vars["HOOKBOX_FORWARD_BREAKER_PROBE"] = "3", "1s"
	vars["HOOKBOX_MAX_ATTEMPTS"] = "3"
	m, _ := mustRunMain(t, vars)
	sendEvents(t, "http://"+m.PublicAddr()+receiver.DefaultPath, events)
	var opened time.Time
	waitFor(t, "the breaker open", 10*time.Second, func() bool {
		return metricValue(scrapeMetrics(t, m), "hookbox_destination_breaker_open", `destination="forward"`) == 1
	})
	opened = time.Now()
	noneDead := func() {
		t.Helper()
		counts, _, err := m.Store().CountEvents(t.Context())
		if err != nil || counts[hookbox.StateDead] != 0 {
			t.Fatalf("dead events while the breaker is open: %v %v", counts, err)
		}
	}
	parkedShown := false
	for time.Since(opened) < 7*time.Second {
		noneDead()
		if !parkedShown {
			evs, _ := m.Store().FindEvents(t.Context(), hookbox.EventFilter{State: hookbox.StatePending, Limit: 10})
			for _, ev := range evs {
				out := cliRun(t, vars, "events", "show", ev.ID, "--db", db)
				parkedShown = parkedShown || strings.Contains(out, "parked: breaker open")
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	noneDead()
	if !parkedShown {
		t.Fatal("events show never showed a parked delivery")
	}
	if out := cliRun(t, vars, "events", "list", "--state", "pending", "--db", db); strings.Count(out, "  pending  ") != events {
		t.Fatalf("events list --state pending while the breaker is open:\n%s", out)
	}
	// Probes: the requests after the breaker opened (leaving the attempts
	// already under way), one about every second.
	var probes []time.Time
	for _, at := range a.requests() {
		if at.After(opened.Add(200 * time.Millisecond)) {
			probes = append(probes, at)
		}
	}
	for i := 1; i < len(probes); i++ {
		if gap := probes[i].Sub(probes[i-1]); gap < 800*time.Millisecond || gap > 1600*time.Millisecond {
			t.Fatalf("two probes %v apart (breaker_probe 1s)", gap)
		}
	}
	t.Logf("%d probes in 7 s after the breaker opened", len(probes))
	if len(probes) < 5 || len(probes) > 8 {
		t.Fatalf("%d probes in about 7 s (breaker_probe 1s)", len(probes))
	}
	metrics := scrapeMetrics(t, m)
	if metricValue(metrics, "hookbox_destination_breaker_opens_total", `destination="forward"`) != 1 ||
		metricValue(metrics, "hookbox_destination_breaker_probes_total", `result="failed"`) < 3 {
		t.Fatalf("breaker metrics:\n%s", grepLines(metrics, "hookbox_destination_"))
	}

	a.fail.Store(false)
	waitDelivered(t, a, events, 15*time.Second)
	noneDead()
	waitFor(t, "every event delivered", 5*time.Second, func() bool {
		counts, _, _ := m.Store().CountEvents(t.Context())
		return counts[hookbox.StateDelivered] == events
	})
	waitFor(t, "the breaker closed in the metrics", 5*time.Second, func() bool {
		return metricValue(scrapeMetrics(t, m), "hookbox_destination_breaker_open", `destination="forward"`) == 0
	})
	metrics = scrapeMetrics(t, m)
	if metricValue(metrics, "hookbox_destination_breaker_probes_total", `result="ok"`) != 1 {
		t.Fatalf("breaker metrics after the recovery:\n%s", grepLines(metrics, "hookbox_destination_"))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, n := range a.delivered {
		if n != 1 {
			t.Fatalf("%s delivered %d times", id, n)
		}
	}
}
