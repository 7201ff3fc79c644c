package deliver_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/sqlite"
)

// TestControls_Rate ensures a rate-limited destination never sees more
// than rate+burst requests in any one-second window, that every event is
// delivered with a single attempt (held back, not failed), and that
// deferrals are reported.
func TestControls_Rate(t *testing.T) {
	s := mustOpenStore(t)
	app := newReceiver(t, nil)
	const n, rate, burst = 40, 20, 3
	evs := make([]*hookbox.Event, n)
	for i := range evs {
		evs[i] = newEvent(fmt.Sprintf("evt_rate_%03d", i), "charge.succeeded", false)
	}
	mustInsert(t, s, evs...)
	var deferred atomic.Int64
	w := startWorker(t, &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{deliver.Controlled(mustHTTP(t, "app", app.URL, deliver.HTTPOptions{}), deliver.Controls{Rate: rate, Burst: burst})},
		Retry:        fastRetry(2),
		OnDefer: func(dest, reason string) {
			if dest == "app" && reason == "rate" {
				deferred.Add(1)
			}
		},
	})
	w.Wake()
	waitFor(t, "every event delivered", func() bool {
		counts, _, err := s.CountEvents(context.Background())
		return err == nil && counts[hookbox.StateDelivered] == n
	})
	reqs := app.requests()
	if len(reqs) != n {
		t.Fatalf("%d requests, want %d (one attempt each)", len(reqs), n)
	}
	for i := range reqs {
		in := 0
		for _, r := range reqs {
			if d := r.At.Sub(reqs[i].At); d >= 0 && d < time.Second {
				in++
			}
		}
		if in > rate+burst {
			t.Fatalf("%d requests in the second after request %d, want at most rate+burst = %d", in, i, rate+burst)
		}
	}
	if span := reqs[n-1].At.Sub(reqs[0].At); span < time.Duration(float64(n-burst-1)/rate*float64(time.Second))-50*time.Millisecond {
		t.Fatalf("40 requests in %v: faster than the rate", span)
	}
	if deferred.Load() == 0 {
		t.Fatal("no delivery reported deferred by the rate")
	}
	for _, ev := range evs {
		if d := mustDeliveries(t, s, ev.ID)["app"]; d.Attempts != 1 {
			t.Fatalf("%s: %d attempts, want 1", ev.ID, d.Attempts)
		}
	}
}

// TestControls_MaxInFlight ensures a destination never has more attempts
// under way than its cap, and every event is delivered with one attempt.
func TestControls_MaxInFlight(t *testing.T) {
	s := mustOpenStore(t)
	var cur, peak atomic.Int64
	app := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		c := cur.Add(1)
		for {
			p := peak.Load()
			if c <= p || peak.CompareAndSwap(p, c) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		cur.Add(-1)
	})
	const n = 30
	evs := make([]*hookbox.Event, n)
	for i := range evs {
		evs[i] = newEvent(fmt.Sprintf("evt_cap_%03d", i), "charge.succeeded", false)
	}
	mustInsert(t, s, evs...)
	w := startWorker(t, &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{deliver.Controlled(mustHTTP(t, "app", app.URL, deliver.HTTPOptions{}), deliver.Controls{MaxInFlight: 2})},
		Retry:        fastRetry(2),
	})
	w.Wake()
	waitFor(t, "every event delivered", func() bool {
		counts, _, err := s.CountEvents(context.Background())
		return err == nil && counts[hookbox.StateDelivered] == n
	})
	if p := peak.Load(); p > 2 || p < 1 {
		t.Fatalf("peak in flight %d, want at most 2", p)
	}
	if got := app.count(); got != n {
		t.Fatalf("%d requests, want %d", got, n)
	}
}

// TestControls_Breaker ensures that consecutive failures open the breaker:
// later deliveries are parked without an attempt (no event goes dead
// though the retry budget is tiny), one probe goes per interval, and the
// first successful probe closes the breaker and every event is delivered.
func TestControls_Breaker(t *testing.T) {
	s := mustOpenStore(t)
	var down atomic.Bool
	down.Store(true)
	var mu sync.Mutex
	var whileDown []time.Time
	app := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			mu.Lock()
			whileDown = append(whileDown, time.Now())
			mu.Unlock()
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	})
	const n = 20
	evs := make([]*hookbox.Event, n)
	for i := range evs {
		evs[i] = newEvent(fmt.Sprintf("evt_brk_%03d", i), "charge.succeeded", false)
	}
	mustInsert(t, s, evs...)
	var opened, closed, probesOK, probesFailed atomic.Int64
	const probe = 200 * time.Millisecond
	w := startWorker(t, &deliver.Worker{
		Queue: s,
		Destinations: []deliver.Destination{deliver.Controlled(mustHTTP(t, "app", app.URL, deliver.HTTPOptions{}),
			deliver.Controls{BreakerFailures: 3, BreakerProbe: probe})},
		Retry:       fastRetry(5),
		Concurrency: 1, // one at a time: the breaker opens after exactly 3 failures
		OnBreaker: func(_ string, open bool) {
			if open {
				opened.Add(1)
			} else {
				closed.Add(1)
			}
		},
		OnProbe: func(_ string, ok bool) {
			if ok {
				probesOK.Add(1)
			} else {
				probesFailed.Add(1)
			}
		},
	})
	w.Wake()
	waitFor(t, "the breaker open", func() bool { return opened.Load() == 1 })
	waitFor(t, "three failed probes", func() bool { return probesFailed.Load() >= 3 })
	st := w.Status()["app"]
	if st.BreakerOpenAt.IsZero() {
		t.Fatalf("status %+v: breaker not open", st)
	}
	counts, _, err := s.CountEvents(context.Background())
	if err != nil || counts[hookbox.StateDead] != 0 {
		t.Fatalf("counts %v, %v: an event went dead behind the open breaker", counts, err)
	}
	mu.Lock()
	attempts := append([]time.Time(nil), whileDown...)
	mu.Unlock()
	// 3 to open, then probes: one per interval (the first probe may come
	// up to one refresh late, the rest no closer than the interval). The
	// gaps are measured where the app receives them: a probe whose
	// request left late (a loaded machine: 165 ms after the one before,
	// once in CI) shortens the next gap by as much, so the bound is half
	// the interval, still far above what a breaker that does not wait
	// would send (one per poll).
	probes := attempts[3:]
	for i := 1; i < len(probes); i++ {
		if gap := probes[i].Sub(probes[i-1]); gap < probe/2 {
			t.Fatalf("probes %d and %d %v apart, want about %v (at least half)", i-1, i, gap, probe)
		}
	}
	down.Store(false)
	waitFor(t, "every event delivered", func() bool {
		counts, _, err := s.CountEvents(context.Background())
		return err == nil && counts[hookbox.StateDelivered] == n
	})
	if closed.Load() != 1 || probesOK.Load() != 1 {
		t.Fatalf("closed %d, probes ok %d; want 1 and 1", closed.Load(), probesOK.Load())
	}
	if st := w.Status()["app"]; !st.BreakerOpenAt.IsZero() || st.Failures != 0 {
		t.Fatalf("status after recovery %+v", st)
	}
	// Parked deliveries kept their budget: the events never probed were
	// attempted once before the breaker opened or not at all, plus the
	// delivery.
	for _, ev := range evs {
		if d := mustDeliveries(t, s, ev.ID)["app"]; d.State != hookbox.StateDelivered || d.Attempts > 5 {
			t.Fatalf("%s: %+v", ev.ID, d)
		}
	}
}

// TestControls_BreakerOff ensures a breaker turned off lets the retry
// policy run: events go dead after their budget.
func TestControls_BreakerOff(t *testing.T) {
	s := mustOpenStore(t)
	app := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	const n = 12
	evs := make([]*hookbox.Event, n)
	for i := range evs {
		evs[i] = newEvent(fmt.Sprintf("evt_off_%03d", i), "charge.succeeded", false)
	}
	mustInsert(t, s, evs...)
	w := startWorker(t, &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{deliver.Controlled(mustHTTP(t, "app", app.URL, deliver.HTTPOptions{}), deliver.Controls{BreakerFailures: -1})},
		Retry:        fastRetry(2),
	})
	w.Wake()
	waitFor(t, "every event dead", func() bool {
		counts, _, err := s.CountEvents(context.Background())
		return err == nil && counts[hookbox.StateDead] == n
	})
	if got := app.count(); got != 2*n {
		t.Fatalf("%d attempts, want %d", got, 2*n)
	}
}

func TestControls_Check(t *testing.T) {
	for _, c := range []deliver.Controls{{MaxInFlight: -1}, {Rate: -1}, {Burst: 2}, {Rate: 1, Burst: -1}, {BreakerProbe: -time.Second}} {
		if c.Check() == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if err := (deliver.Controls{Rate: 2.5, Burst: 4, MaxInFlight: 3, BreakerFailures: -1}).Check(); err != nil {
		t.Fatal(err)
	}
	if c := deliver.ControlsOf(mustHTTP(t, "x", "http://127.0.0.1:9/", deliver.HTTPOptions{})); c.BreakerFailures != deliver.DefaultBreakerFailures || c.BreakerProbe != deliver.DefaultBreakerProbe {
		t.Fatalf("defaults %+v", c)
	}
}

// TestControls_OtherDestinationKeepsSchedule ensures that an event coming
// due again for one destination (deferred by its rate limit) does not
// retry another destination of the event before its own retry time.
func TestControls_OtherDestinationKeepsSchedule(t *testing.T) {
	s := mustOpenStore(t)
	good := newReceiver(t, nil)
	bad := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	const n = 6
	evs := make([]*hookbox.Event, n)
	for i := range evs {
		evs[i] = newEvent(fmt.Sprintf("evt_sched_%03d", i), "charge.succeeded", false)
	}
	mustInsert(t, s, evs...)
	w := startWorker(t, &deliver.Worker{
		Queue: s,
		Destinations: []deliver.Destination{
			deliver.Controlled(mustHTTP(t, "limited", good.URL, deliver.HTTPOptions{}), deliver.Controls{Rate: 4, Burst: 1}),
			deliver.Controlled(mustHTTP(t, "failing", bad.URL, deliver.HTTPOptions{}), deliver.Controls{BreakerFailures: -1}),
		},
		Retry: hookbox.RetryPolicy{Base: time.Hour, Cap: time.Hour, MaxAttempts: 5, RandFunc: func() float64 { return 0 }},
	})
	w.Wake()
	waitFor(t, "every event delivered to the limited destination", func() bool { return good.count() == n })
	if got := bad.count(); got != n {
		t.Fatalf("the failing destination got %d attempts, want %d: one each, the next an hour later", got, n)
	}
	for _, ev := range evs {
		if d := mustDeliveries(t, s, ev.ID)["failing"]; d.Attempts != 1 || d.NextAttemptAt.Before(time.Now().Add(20*time.Minute)) {
			t.Fatalf("%s failing: %+v", ev.ID, d)
		}
	}
}

// TestControls_ProbeKeepsBudget ensures the failure that opens the breaker
// parks its delivery even when it spent the last of the budget, and failed
// probes spend none of it: a lone event behind an open breaker
// outlives many more failed probes than its budget, and is delivered when
// the destination recovers, its attempt numbers going on.
func TestControls_ProbeKeepsBudget(t *testing.T) {
	s := mustOpenStore(t)
	var down atomic.Bool
	down.Store(true)
	app := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	})
	ev := newEvent("evt_lone", "charge.succeeded", false)
	mustInsert(t, s, ev)
	var probesFailed atomic.Int64
	w := startWorker(t, &deliver.Worker{
		Queue: s,
		Destinations: []deliver.Destination{deliver.Controlled(mustHTTP(t, "app", app.URL, deliver.HTTPOptions{}),
			deliver.Controls{BreakerFailures: 2, BreakerProbe: 50 * time.Millisecond})},
		// The failure that opens the breaker is also the last of the
		// budget: parked, not dead.
		Retry: fastRetry(2),
		OnProbe: func(_ string, ok bool) {
			if !ok {
				probesFailed.Add(1)
			}
		},
	})
	w.Wake()
	waitFor(t, "five failed probes", func() bool { return probesFailed.Load() >= 5 })
	if st := mustEvent(t, s, ev.ID).State; st == hookbox.StateDead {
		t.Fatal("the event went dead on failed probes")
	}
	down.Store(false)
	waitState(t, s, ev.ID, hookbox.StateDelivered)
	atts := mustAttempts(t, s, ev.ID)
	for i, a := range atts {
		if a.Number != i+1 {
			t.Fatalf("attempt %d numbered %d", i+1, a.Number)
		}
	}
	if len(atts) < 2+5+1 {
		t.Fatalf("%d attempts, want 2 failures, 5+ probes and the delivery", len(atts))
	}
}

// TestControls_BreakerOfRemovedDestination ensures an event parked by the
// open breaker of a destination later removed from the configuration
// (or renamed) does not wait for ever: no worker probes or closes that
// breaker, and a parked delivery is never claimed, so the worker that
// lacks the destination must close it and let the delivery come due, to
// be marked dead as any pending delivery to a destination not configured.
func TestControls_BreakerOfRemovedDestination(t *testing.T) {
	s := mustOpenStore(t)
	good := newReceiver(t, nil)
	bad := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	ev := newEvent("evt_removed", "charge.succeeded", false)
	mustInsert(t, s, ev)
	var opened atomic.Int64
	w1 := startWorker(t, &deliver.Worker{
		Queue: s,
		Destinations: []deliver.Destination{
			mustHTTP(t, "good", good.URL, deliver.HTTPOptions{}),
			deliver.Controlled(mustHTTP(t, "old", bad.URL, deliver.HTTPOptions{}), deliver.Controls{BreakerFailures: 1, BreakerProbe: time.Hour}),
		},
		Retry:     fastRetry(5),
		OnBreaker: func(string, bool) { opened.Add(1) },
	})
	w1.Wake()
	waitFor(t, "the breaker open and the delivery parked", func() bool {
		return opened.Load() == 1 && mustDeliveries(t, s, ev.ID)["old"].HoldReason == hookbox.HoldBreaker
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// Restarted without "old".
	w2 := startWorker(t, &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{mustHTTP(t, "good", good.URL, deliver.HTTPOptions{})},
		Retry:        fastRetry(5),
	})
	w2.Wake()
	waitState(t, s, ev.ID, hookbox.StateDead)
	if d := mustDeliveries(t, s, ev.ID)["old"]; d.State != hookbox.StateDead {
		t.Fatalf("delivery to the removed destination %+v, want dead (not configured)", d)
	}
}

// heldForVersion stores event id (API version 2024-06-20) and starts a
// worker whose destination "app", at url, reads 2023-10-16 (wrapped in
// ctl when not nil); it returns once the delivery is held for its
// version.
func heldForVersion(t *testing.T, id, url string, ctl *deliver.Controls, onProbe func(string, bool)) (*sqlite.Store, *deliver.Worker) {
	t.Helper()
	s := mustOpenStore(t)
	mustInsert(t, s, newEvent(id, "charge.succeeded", false))
	var d deliver.Destination = mustHTTP(t, "app", url, deliver.HTTPOptions{APIVersion: "2023-10-16"})
	if ctl != nil {
		d = deliver.Controlled(d, *ctl)
	}
	w := startWorker(t, &deliver.Worker{Queue: s, Destinations: []deliver.Destination{d}, Retry: fastRetry(5), OnProbe: onProbe})
	w.Wake()
	waitFor(t, "held for its version", func() bool {
		h := mustDeliveries(t, s, id)["app"].HoldReason
		return h != "" && !hookbox.Parked(h) && h != hookbox.HoldReleased
	})
	return s, w
}

// assertSentNotHeld waits until the delivery of id to "app" is delivered
// or held for its version again, and fails in the second case.
func assertSentNotHeld(t *testing.T, s *sqlite.Store, id string) {
	t.Helper()
	waitFor(t, "sent, or held again", func() bool {
		d := mustDeliveries(t, s, id)["app"]
		return d.State == hookbox.StateDelivered || (d.HoldReason != "" && !hookbox.Parked(d.HoldReason) && d.HoldReason != hookbox.HoldReleased)
	})
	if d := mustDeliveries(t, s, id)["app"]; d.State != hookbox.StateDelivered {
		t.Fatalf("released delivery once let go %+v: held for its version again", d)
	}
}

// TestControls_ReleasedSurvivesPause ensures a delivery held for its API
// version and released by hand (hookbox.HoldReleased: sent whatever its
// version) stays released when a pause parks it: after the resume it is
// sent, not held for its version again (the person's release lost).
func TestControls_ReleasedSurvivesPause(t *testing.T) {
	ctx := context.Background()
	const id = "evt_released_paused"
	s, w := heldForVersion(t, id, newReceiver(t, nil).URL, nil, nil)
	if err := s.PauseDestination(ctx, "app", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pause read", func() bool { return w.Status()["app"].Paused })
	if n, err := s.ReleaseHeld(ctx, "app", nil, time.Now()); err != nil || n != 1 {
		t.Fatalf("ReleaseHeld = %d, %v", n, err)
	}
	w.Wake()
	waitFor(t, "parked by the pause, released", func() bool { return mustDeliveries(t, s, id)["app"].HoldReason == hookbox.HoldPausedReleased })
	if err := s.PauseDestination(ctx, "app", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	assertSentNotHeld(t, s, id)
}

// TestControls_ReleasedSurvivesBreaker is TestControls_ReleasedSurvivesPause
// with an open circuit breaker parking the released delivery: once the
// breaker closes it is sent, not held for its version again.
func TestControls_ReleasedSurvivesBreaker(t *testing.T) {
	ctx := context.Background()
	const id = "evt_released_breaker"
	app := newReceiver(t, nil)
	s, w := heldForVersion(t, id, app.URL, nil, nil)
	now := time.Now()
	if _, err := s.SetBreaker(ctx, "app", true, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the open breaker read", func() bool { return !w.Status()["app"].BreakerOpenAt.IsZero() })
	if n, err := s.ReleaseHeld(ctx, "app", nil, time.Now()); err != nil || n != 1 {
		t.Fatalf("ReleaseHeld = %d, %v", n, err)
	}
	w.Wake()
	waitFor(t, "parked by the breaker, released", func() bool {
		return mustDeliveries(t, s, id)["app"].HoldReason == hookbox.HoldBreakerReleased
	})
	if app.count() != 0 {
		t.Fatalf("%d attempts while the breaker was open", app.count())
	}
	now = time.Now()
	if _, err := s.SetBreaker(ctx, "app", false, now, now); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ReleasePaused(ctx, "app", now); err != nil || n != 1 {
		t.Fatalf("ReleasePaused = %d, %v", n, err)
	}
	w.Wake()
	assertSentNotHeld(t, s, id)
}

// TestControls_ReleasedProbes ensures a released delivery that opens the
// breaker keeps its release through failed probes (parked, then the
// probe, then parked again): once a probe succeeds it is delivered, never
// held for its API version again.
func TestControls_ReleasedProbes(t *testing.T) {
	ctx := context.Background()
	var down atomic.Bool
	down.Store(true)
	app := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	})
	const id = "evt_released_probes"
	var probesFailed atomic.Int64
	s, w := heldForVersion(t, id, app.URL, &deliver.Controls{BreakerFailures: 2, BreakerProbe: 50 * time.Millisecond}, func(_ string, ok bool) {
		if !ok {
			probesFailed.Add(1)
		}
	})
	if n, err := s.ReleaseHeld(ctx, "app", nil, time.Now()); err != nil || n != 1 {
		t.Fatalf("ReleaseHeld = %d, %v", n, err)
	}
	w.Wake()
	waitFor(t, "three failed probes", func() bool { return probesFailed.Load() >= 3 })
	if h := mustDeliveries(t, s, id)["app"].HoldReason; !hookbox.Released(h) {
		t.Fatalf("hold reason %q between probes, want a released form", h)
	}
	down.Store(false)
	waitState(t, s, id, hookbox.StateDelivered)
}

// TestControls_StaleBreakerView ensures that an event whose last attempt
// fails while another replica has opened the breaker (this worker reads
// the store's state every second, and has not seen it yet) is parked, not
// sent dead: the worker asks the store before an event goes dead.
func TestControls_StaleBreakerView(t *testing.T) {
	s := mustOpenStore(t)
	app := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	w := startWorker(t, &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{mustHTTP(t, "app", app.URL, deliver.HTTPOptions{})},
		Retry:        fastRetry(1),
		PollInterval: time.Hour,
	})
	time.Sleep(100 * time.Millisecond) // the worker's first read of the state is done
	now := time.Now()
	if _, err := s.SetBreaker(context.Background(), "app", true, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, s, newEvent("evt_stale", "charge.succeeded", false))
	w.Wake()
	waitFor(t, "the attempt", func() bool { return app.count() == 1 })
	waitFor(t, "the delivery recorded", func() bool {
		d, ok := mustDeliveries(t, s, "evt_stale")["app"]
		return ok && d.Attempts == 1
	})
	if d := mustDeliveries(t, s, "evt_stale")["app"]; d.State != hookbox.StatePending || d.HoldReason != hookbox.HoldBreaker {
		t.Fatalf("delivery %+v: want pending, parked by the breaker", d)
	}
}
