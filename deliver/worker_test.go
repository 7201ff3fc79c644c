package deliver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// TestWorker_RetryThenDelivered ensures a destination failing its first N
// attempts ends delivered with N+1 attempts recorded, numbered 1..N+1, each
// with its status and the first 1 KiB of the response, and the delivery's
// budget counting them.
func TestWorker_RetryThenDelivered(t *testing.T) {
	const n = 3
	s := mustOpenStore(t)
	big := strings.Repeat("x", 5000)
	rc := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		if i <= n {
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte(big))
			return
		}
		w.Write([]byte("thanks"))
	})
	var onAttempt atomic.Int32
	ev := newEvent("evt_retry", "invoice.paid", true)
	mustInsert(t, s, ev)
	w := startWorker(t, &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{})},
		Retry:        fastRetry(10),
		OnAttempt:    func(hookbox.Attempt) { onAttempt.Add(1) },
	})
	w.Wake()
	waitState(t, s, ev.ID, hookbox.StateDelivered)

	as := mustAttempts(t, s, ev.ID)
	if len(as) != n+1 {
		t.Fatalf("%d attempts recorded, want %d", len(as), n+1)
	}
	for i, a := range as {
		if a.Number != i+1 || a.Destination != "app" || a.EventID != ev.ID {
			t.Errorf("attempt %d: %+v", i, a)
		}
		if i < n {
			if a.OK || a.StatusCode != http.StatusBadGateway || a.Response != big[:hookbox.MaxResponseSnippet] || a.Error == "" {
				t.Errorf("attempt %d: OK %t status %d response %d bytes error %q", i+1, a.OK, a.StatusCode, len(a.Response), a.Error)
			}
		} else if !a.OK || a.StatusCode != 200 || a.Response != "thanks" || a.Error != "" {
			t.Errorf("last attempt: %+v", a)
		}
	}
	d := mustDeliveries(t, s, ev.ID)["app"]
	if d.State != hookbox.StateDelivered || d.Attempts != n+1 || d.LastError != "" {
		t.Errorf("delivery %+v", d)
	}
	if got := onAttempt.Load(); got != n+1 {
		t.Errorf("OnAttempt called %d times, want %d", got, n+1)
	}
	if rc.count() != n+1 {
		t.Errorf("destination received %d requests", rc.count())
	}
}

// TestWorker_DeadThenReplay ensures a destination that always fails ends
// dead after MaxAttempts, and that a replay delivers the event again with a
// fresh budget while the attempt numbers continue.
func TestWorker_DeadThenReplay(t *testing.T) {
	const maxAttempts = 3
	s := mustOpenStore(t)
	var healthy atomic.Bool
	rc := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	})
	ev := newEvent("evt_dead", "invoice.paid", false)
	mustInsert(t, s, ev)
	w := startWorker(t, &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{})},
		Retry:        fastRetry(maxAttempts),
	})
	w.Wake()
	waitState(t, s, ev.ID, hookbox.StateDead)
	if got := len(mustAttempts(t, s, ev.ID)); got != maxAttempts {
		t.Fatalf("%d attempts, want %d", got, maxAttempts)
	}
	d := mustDeliveries(t, s, ev.ID)["app"]
	if d.State != hookbox.StateDead || d.Attempts != maxAttempts || !strings.Contains(d.LastError, "503") {
		t.Errorf("delivery %+v", d)
	}

	healthy.Store(true)
	n, err := s.ReplayEvents(context.Background(), hookbox.ReplayFilter{IDs: []string{ev.ID}}, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	w.Wake()
	waitState(t, s, ev.ID, hookbox.StateDelivered)
	as := mustAttempts(t, s, ev.ID)
	if len(as) != maxAttempts+1 || !as[maxAttempts].OK || as[maxAttempts].Number != maxAttempts+1 {
		t.Errorf("attempts after replay: %+v", as)
	}
	if got := rc.requests()[maxAttempts].Header.Get("Hookbox-Attempt"); got != fmt.Sprint(maxAttempts+1) {
		t.Errorf("Hookbox-Attempt after replay = %s, want %d", got, maxAttempts+1)
	}
	if d := mustDeliveries(t, s, ev.ID)["app"]; d.State != hookbox.StateDelivered || d.Attempts != 1 {
		t.Errorf("delivery after replay %+v, want delivered with a budget of 1 spent", d)
	}
}

// TestWorker_RetryWindow ensures a failure after the retry window (measured
// on the injected clock from the event's reception) is dead at once.
func TestWorker_RetryWindow(t *testing.T) {
	s := mustOpenStore(t)
	rc := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	ev := newEvent("evt_window", "invoice.paid", false)
	mustInsert(t, s, ev)
	later := ev.ReceivedAt.Add(73 * time.Hour)
	retry := fastRetry(25)
	retry.Window = 72 * time.Hour
	w := startWorker(t, &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{})},
		Retry:        retry,
		NowFunc:      func() time.Time { return later },
	})
	w.Wake()
	waitState(t, s, ev.ID, hookbox.StateDead)
	if got := len(mustAttempts(t, s, ev.ID)); got != 1 {
		t.Errorf("%d attempts, want 1", got)
	}
}

// TestWorker_TwoDestinations ensures each destination keeps its own state:
// the healthy one receives the event exactly once while the failing one is
// retried until it is dead, and the event ends dead.
func TestWorker_TwoDestinations(t *testing.T) {
	s := mustOpenStore(t)
	good := newReceiver(t, nil)
	bad := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	})
	evs := []*hookbox.Event{
		newEvent("evt_two_1", "charge.succeeded", false),
		newEvent("evt_two_2", "charge.refunded", false),
	}
	mustInsert(t, s, evs...)
	const maxAttempts = 4
	w := startWorker(t, &deliver.Worker{
		Queue: s,
		Destinations: []deliver.Destination{
			mustHTTP(t, "good", good.URL, deliver.HTTPOptions{}),
			mustHTTP(t, "bad", bad.URL, deliver.HTTPOptions{}),
		},
		Retry: fastRetry(maxAttempts),
	})
	w.Wake()
	for _, ev := range evs {
		waitState(t, s, ev.ID, hookbox.StateDead)
		ds := mustDeliveries(t, s, ev.ID)
		if ds["good"].State != hookbox.StateDelivered || ds["good"].Attempts != 1 {
			t.Errorf("%s good: %+v", ev.ID, ds["good"])
		}
		if ds["bad"].State != hookbox.StateDead || ds["bad"].Attempts != maxAttempts {
			t.Errorf("%s bad: %+v", ev.ID, ds["bad"])
		}
	}
	if got := good.count(); got != len(evs) {
		t.Errorf("healthy destination received %d requests, want %d (once per event)", got, len(evs))
	}
	if got := bad.count(); got != len(evs)*maxAttempts {
		t.Errorf("failing destination received %d requests, want %d", got, len(evs)*maxAttempts)
	}
}

// TestWorker_Filters ensures the type and livemode filters pick what each
// destination receives, and that an event no destination accepts ends
// delivered without any attempt.
func TestWorker_Filters(t *testing.T) {
	s := mustOpenStore(t)
	invoices := newReceiver(t, nil)
	live := newReceiver(t, nil)
	evs := []*hookbox.Event{
		newEvent("evt_f_invoice_test", "invoice.paid", false),
		newEvent("evt_f_invoice_live", "invoice.payment_failed", true),
		newEvent("evt_f_pi_live", "payment_intent.succeeded", true),
		newEvent("evt_f_pi_test", "payment_intent.succeeded", false),
		newEvent("evt_f_item_test", "invoiceitem.created", false),
	}
	mustInsert(t, s, evs...)
	w := startWorker(t, &deliver.Worker{
		Queue: s,
		Destinations: []deliver.Destination{
			mustHTTP(t, "invoices", invoices.URL, deliver.HTTPOptions{Types: deliver.MustParseTypes("invoice.*")}),
			mustHTTP(t, "live", live.URL, deliver.HTTPOptions{
				Types: deliver.MustParseTypes("payment_intent.succeeded,invoice.*"), Livemode: deliver.LivemodeLive,
			}),
		},
		Retry: fastRetry(3),
	})
	w.Wake()
	for _, ev := range evs {
		waitState(t, s, ev.ID, hookbox.StateDelivered)
	}
	ids := func(rc *receiver) map[string]bool {
		m := map[string]bool{}
		for _, r := range rc.requests() {
			m[r.Header.Get("Idempotency-Key")] = true
		}
		return m
	}
	if got, want := ids(invoices), map[string]bool{"evt_f_invoice_test": true, "evt_f_invoice_live": true}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("invoices received %v, want %v", got, want)
	}
	if got, want := ids(live), map[string]bool{"evt_f_invoice_live": true, "evt_f_pi_live": true}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("live received %v, want %v", got, want)
	}
	if as := mustAttempts(t, s, "evt_f_item_test"); len(as) != 0 {
		t.Errorf("unaccepted event has attempts: %+v", as)
	}
}

// TestWorker_Wake ensures Wake makes the worker pick a new event up at
// once, not at the next poll (the poll interval here is an hour).
func TestWorker_Wake(t *testing.T) {
	s := mustOpenStore(t)
	rc := newReceiver(t, nil)
	w := startWorker(t, &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{})},
		PollInterval: time.Hour,
	})
	for i := range 5 {
		ev := newEvent(fmt.Sprintf("evt_wake_%d", i), "charge.succeeded", false)
		mustInsert(t, s, ev)
		w.Wake()
		waitFor(t, "the destination to receive "+ev.ID, func() bool { return rc.count() == i+1 })
		waitState(t, s, ev.ID, hookbox.StateDelivered)
	}
}

// TestWorker_LeaseExpiry ensures the claims of a crashed worker (claimed
// with a short lease, never completed) are delivered by another worker
// once the lease expires, and not before.
func TestWorker_LeaseExpiry(t *testing.T) {
	s := mustOpenStore(t)
	rc := newReceiver(t, nil)
	ev := newEvent("evt_lease", "charge.succeeded", false)
	mustInsert(t, s, ev)
	const lease = 300 * time.Millisecond
	claimed := time.Now()
	cs, err := s.ClaimEvents(context.Background(), "crashed-worker", claimed, lease, 10)
	if err != nil || len(cs) != 1 {
		t.Fatalf("claim: %v, %d claims", err, len(cs))
	}
	w := startWorker(t, &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{})},
		PollInterval: 10 * time.Millisecond,
	})
	w.Wake()
	waitState(t, s, ev.ID, hookbox.StateDelivered)
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	if early := claimed.Add(lease).Sub(reqs[0].At); early > 0 {
		t.Errorf("delivered %v before the lease expired", early)
	}
	// The crashed worker's late completion is refused.
	err = s.CompleteClaim(context.Background(), hookbox.Completion{EventID: ev.ID, Owner: "crashed-worker", Now: time.Now()})
	if hookbox.ErrorCode(err) != hookbox.ECONFLICT {
		t.Errorf("late completion: %v, want ECONFLICT", err)
	}
}

// TestWorker_ShutdownReleases ensures Shutdown with a short grace period
// releases the claim of a delivery that did not finish: the event is
// pending again (not delivering), no attempt is counted, and another worker
// delivers it.
func TestWorker_ShutdownReleases(t *testing.T) {
	s := mustOpenStore(t)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	stuck := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	ev := newEvent("evt_shutdown", "charge.succeeded", false)
	mustInsert(t, s, ev)
	w := &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{mustHTTP(t, "app", stuck.URL, deliver.HTTPOptions{Timeout: time.Hour})},
		Logger:       quietLogger(),
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Wake()
	waitFor(t, "the destination to receive the event", func() bool { return stuck.count() == 1 })
	if st := mustEvent(t, s, ev.ID).State; st != hookbox.StateDelivering {
		t.Fatalf("state %s while in flight", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want DeadlineExceeded", err)
	}
	got := mustEvent(t, s, ev.ID)
	if got.State != hookbox.StatePending {
		t.Errorf("state after shutdown %s, want pending", got.State)
	}
	if as := mustAttempts(t, s, ev.ID); len(as) != 0 {
		t.Errorf("attempts counted: %+v", as)
	}
	if err := w.Shutdown(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Shutdown: %v, want the first one's result", err)
	}

	rc := newReceiver(t, nil)
	w2 := startWorker(t, &deliver.Worker{Queue: s, Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{})}})
	w2.Wake()
	waitState(t, s, ev.ID, hookbox.StateDelivered)
}

// TestWorker_ShutdownWaits ensures Shutdown waits for in-flight deliveries
// that finish within the grace period, records them, and returns nil.
func TestWorker_ShutdownWaits(t *testing.T) {
	s := mustOpenStore(t)
	arrived := make(chan struct{}, 1)
	finish := make(chan struct{})
	rc := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-finish
	})
	ev := newEvent("evt_graceful", "charge.succeeded", false)
	mustInsert(t, s, ev)
	w := &deliver.Worker{Queue: s, Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{})}, Logger: quietLogger()}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Wake()
	<-arrived
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- w.Shutdown(ctx)
	}()
	time.AfterFunc(20*time.Millisecond, func() { close(finish) })
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if st := mustEvent(t, s, ev.ID).State; st != hookbox.StateDelivered {
		t.Errorf("state %s, want delivered", st)
	}
	// A stopped worker claims nothing more.
	ev2 := newEvent("evt_after_shutdown", "charge.succeeded", false)
	mustInsert(t, s, ev2)
	w.Wake()
	time.Sleep(50 * time.Millisecond) // nothing to poll for: asserting an absence
	if st := mustEvent(t, s, ev2.ID).State; st != hookbox.StatePending {
		t.Errorf("event after shutdown: %s, want pending", st)
	}
}

// TestWorker_StartCtx ensures canceling Start's context stops the worker
// like a Shutdown without grace: the stuck delivery's claim is released.
func TestWorker_StartCtx(t *testing.T) {
	s := mustOpenStore(t)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	rc := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	ev := newEvent("evt_ctx", "charge.succeeded", false)
	mustInsert(t, s, ev)
	ctx, cancel := context.WithCancel(context.Background())
	w := &deliver.Worker{Queue: s, Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{})}, Logger: quietLogger()}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	w.Wake()
	waitFor(t, "the request", func() bool { return rc.count() == 1 })
	cancel()
	waitState(t, s, ev.ID, hookbox.StatePending)
	w.Shutdown(context.Background())
}

// TestWorker_ManyEventsTwoWorkers ensures two workers sharing a store
// deliver every event of a backlog exactly once.
func TestWorker_ManyEventsTwoWorkers(t *testing.T) {
	s := mustOpenStore(t)
	const n = 300
	var mu sync.Mutex
	seen := map[string]int{}
	rc := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
	})
	evs := make([]*hookbox.Event, n)
	for i := range evs {
		evs[i] = newEvent(fmt.Sprintf("evt_many_%03d", i), "charge.succeeded", false)
	}
	mustInsert(t, s, evs...)
	for i := range 2 {
		w := startWorker(t, &deliver.Worker{
			Queue:        s,
			Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{})},
			Owner:        fmt.Sprintf("worker-%d", i),
			Concurrency:  8,
			BatchSize:    5,
		})
		w.Wake()
	}
	waitFor(t, "every event delivered", func() bool {
		counts, _, err := s.CountEvents(context.Background())
		return err == nil && counts[hookbox.StateDelivered] == n
	})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Errorf("%d distinct events received, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s received %d times", id, c)
		}
	}
}

// TestWorker_Config ensures invalid configurations are refused by Start
// with EINVALID, and that Wake on a nil or unstarted worker is harmless.
func TestWorker_Config(t *testing.T) {
	s := mustOpenStore(t)
	d := mustHTTP(t, "app", "http://127.0.0.1:1/", deliver.HTTPOptions{})
	for name, w := range map[string]*deliver.Worker{
		"no queue":        {Destinations: []deliver.Destination{d}},
		"no destinations": {Queue: s},
		"duplicate name":  {Queue: s, Destinations: []deliver.Destination{d, d}},
		"nil destination": {Queue: s, Destinations: []deliver.Destination{nil}},
	} {
		if err := w.Start(context.Background()); hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Errorf("%s: Start: %v, want EINVALID", name, err)
		}
	}
	var nilWorker *deliver.Worker
	nilWorker.Wake()
	w := &deliver.Worker{Queue: s, Destinations: []deliver.Destination{d}}
	w.Wake()
	w.Wake()
	if err := w.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown of an unstarted worker: %v", err)
	}
	if o := w.OwnerName(); o == "" || !strings.Contains(o, "-") {
		t.Errorf("default owner %q", o)
	}
}

// TestWorker_NoGoroutineLeak ensures a worker leaves no goroutine behind
// once Shutdown returns: its loop, its event goroutines and its timers.
func TestWorker_NoGoroutineLeak(t *testing.T) {
	s := mustOpenStore(t)
	ev1, ev2 := newEvent("evt_leak_1", "invoice.paid", false), newEvent("evt_leak_2", "invoice.paid", false)
	mustInsert(t, s, ev1, ev2)
	var calls atomic.Int32
	m := deliver.NewMux("")
	m.HandleFunc("invoice.*", func(ctx context.Context, ev *deliver.Event) error {
		if calls.Add(1) == 1 {
			return errors.New("retry me")
		}
		return nil
	})
	before := runtime.NumGoroutine()
	w := &deliver.Worker{Queue: s, Destinations: []deliver.Destination{m}, Retry: fastRetry(5), Logger: quietLogger()}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Wake()
	waitState(t, s, ev1.ID, hookbox.StateDelivered)
	waitState(t, s, ev2.ID, hookbox.StateDelivered)
	if err := w.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
