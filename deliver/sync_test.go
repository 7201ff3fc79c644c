package deliver_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// TestDeliverNow ensures sync delivery reports true only once every
// accepting destination has the event, records failed attempts, retries
// only the destinations still pending on the next call (Stripe's retry),
// dedupes an event already delivered, and answers false for an event
// leased by someone else.
func TestDeliverNow(t *testing.T) {
	ctx := context.Background()
	s := mustOpenStore(t)
	var failing atomic.Bool
	good := newReceiver(t, nil)
	flaky := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
		}
	})
	w := &deliver.Worker{
		Queue: s,
		Destinations: []deliver.Destination{
			mustHTTP(t, "good", good.URL, deliver.HTTPOptions{}),
			mustHTTP(t, "flaky", flaky.URL, deliver.HTTPOptions{}),
		},
		Logger: quietLogger(),
	}

	t.Run("OK", func(t *testing.T) {
		ev := newEvent("evt_sync_ok", "charge.succeeded", false)
		mustInsert(t, s, ev)
		ok, err := w.DeliverNow(ctx, ev.ID)
		if !ok || err != nil {
			t.Fatalf("DeliverNow: %t, %v", ok, err)
		}
		if st := mustEvent(t, s, ev.ID).State; st != hookbox.StateDelivered {
			t.Errorf("state %s", st)
		}
	})

	t.Run("Failing", func(t *testing.T) {
		ev := newEvent("evt_sync_fail", "charge.succeeded", false)
		mustInsert(t, s, ev)
		failing.Store(true)
		goodBefore := good.count()
		ok, err := w.DeliverNow(ctx, ev.ID)
		if ok || err != nil {
			t.Fatalf("DeliverNow with a failing destination: %t, %v", ok, err)
		}
		ds := mustDeliveries(t, s, ev.ID)
		if ds["good"].State != hookbox.StateDelivered || ds["flaky"].State != hookbox.StatePending {
			t.Errorf("deliveries %+v", ds)
		}
		// Stripe retries before the retry policy's next attempt time: the
		// claim ignores it. Still failing.
		if ok, err := w.DeliverNow(ctx, ev.ID); ok || err != nil {
			t.Fatalf("second DeliverNow: %t, %v", ok, err)
		}
		failing.Store(false)
		if ok, err := w.DeliverNow(ctx, ev.ID); !ok || err != nil {
			t.Fatalf("DeliverNow after recovery: %t, %v", ok, err)
		}
		if got := good.count() - goodBefore; got != 1 {
			t.Errorf("healthy destination received %d requests, want 1", got)
		}
		if as := mustAttempts(t, s, ev.ID); len(as) != 4 {
			t.Errorf("%d attempts recorded, want 4 (good 1, flaky 3)", len(as))
		}
	})

	t.Run("AlreadyDelivered", func(t *testing.T) {
		before := good.count() + flaky.count()
		ok, err := w.DeliverNow(ctx, "evt_sync_ok")
		if !ok || err != nil {
			t.Fatalf("DeliverNow of a delivered event: %t, %v", ok, err)
		}
		if got := good.count() + flaky.count(); got != before {
			t.Errorf("a delivered event was sent again")
		}
	})

	t.Run("Leased", func(t *testing.T) {
		ev := newEvent("evt_sync_leased", "charge.succeeded", false)
		mustInsert(t, s, ev)
		if _, err := s.ClaimEvent(ctx, ev.ID, "someone-else", time.Now(), time.Minute); err != nil {
			t.Fatal(err)
		}
		ok, err := w.DeliverNow(ctx, ev.ID)
		if ok || err != nil {
			t.Fatalf("DeliverNow of a leased event: %t, %v", ok, err)
		}
	})

	t.Run("Dead", func(t *testing.T) {
		ev := newEvent("evt_sync_dead", "charge.succeeded", false)
		mustInsert(t, s, ev)
		failing.Store(true)
		defer failing.Store(false)
		dw := &deliver.Worker{Queue: s, Destinations: w.Destinations, Retry: fastRetry(1), Logger: quietLogger()}
		if ok, err := dw.DeliverNow(ctx, ev.ID); ok || err != nil {
			t.Fatalf("DeliverNow: %t, %v", ok, err)
		}
		if st := mustEvent(t, s, ev.ID).State; st != hookbox.StateDead {
			t.Fatalf("state %s, want dead", st)
		}
		if ok, err := dw.DeliverNow(ctx, ev.ID); ok || err != nil {
			t.Errorf("DeliverNow of a dead event: %t, %v", ok, err)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		ok, err := w.DeliverNow(ctx, "evt_missing")
		if ok || hookbox.ErrorCode(err) != hookbox.ENOTFOUND {
			t.Errorf("DeliverNow of a missing event: %t, %v", ok, err)
		}
	})

	t.Run("NoDestinationAccepts", func(t *testing.T) {
		ev := newEvent("evt_sync_unwanted", "charge.succeeded", true)
		mustInsert(t, s, ev)
		tw := &deliver.Worker{
			Queue:        s,
			Destinations: []deliver.Destination{mustHTTP(t, "testonly", good.URL, deliver.HTTPOptions{Livemode: deliver.LivemodeTest})},
			Logger:       quietLogger(),
		}
		if ok, err := tw.DeliverNow(ctx, ev.ID); !ok || err != nil {
			t.Errorf("DeliverNow of an event nobody wants: %t, %v", ok, err)
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		// The request goes away mid-delivery: nothing recorded, the claim
		// released, the event pending for the next try.
		block := make(chan struct{})
		defer close(block)
		stuck := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		})
		ev := newEvent("evt_sync_canceled", "charge.succeeded", false)
		mustInsert(t, s, ev)
		cw := &deliver.Worker{Queue: s, Destinations: []deliver.Destination{mustHTTP(t, "stuck", stuck.URL, deliver.HTTPOptions{})}, Logger: quietLogger()}
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if ok, err := cw.DeliverNow(cctx, ev.ID); ok || err == nil {
			t.Errorf("DeliverNow with a canceled request: %t, %v", ok, err)
		}
		if st := mustEvent(t, s, ev.ID).State; st != hookbox.StatePending {
			t.Errorf("state %s, want pending", st)
		}
		if as := mustAttempts(t, s, ev.ID); len(as) != 0 {
			t.Errorf("attempts recorded: %+v", as)
		}
	})
}

// TestDeliverNow_Paused ensures sync mode honours a pause kept in the
// store (by the CLI, the API, another replica): nothing is attempted, and
// the resumed destination gets the event at Stripe's next retry.
func TestDeliverNow_Paused(t *testing.T) {
	ctx := context.Background()
	s := mustOpenStore(t)
	app := newReceiver(t, nil)
	w := &deliver.Worker{Queue: s, Destinations: []deliver.Destination{mustHTTP(t, "app", app.URL, deliver.HTTPOptions{})}, Logger: quietLogger()}
	if err := s.PauseDestination(ctx, "app", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	ev := newEvent("evt_sync_paused", "charge.succeeded", false)
	mustInsert(t, s, ev)
	if ok, err := w.DeliverNow(ctx, ev.ID); ok || err != nil {
		t.Fatalf("DeliverNow to a paused destination: %t, %v", ok, err)
	}
	if n := app.count(); n != 0 {
		t.Fatalf("a paused destination got %d requests", n)
	}
	if err := s.PauseDestination(ctx, "app", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the stored state is read once a second
	if ok, err := w.DeliverNow(ctx, ev.ID); !ok || err != nil {
		t.Fatalf("DeliverNow after the resume: %t, %v", ok, err)
	}
}

// TestDeliverNow_BreakerCloses ensures that in sync mode (no Worker
// running: Stripe's retries are the schedule) a breaker that opened lets a
// probe through once its probe time has come, so that it closes when the
// app is back: otherwise every later delivery is parked without an
// attempt, Stripe's retries included, for good.
func TestDeliverNow_BreakerCloses(t *testing.T) {
	ctx := context.Background()
	s := mustOpenStore(t)
	var down atomic.Bool
	down.Store(true)
	app := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	})
	const probe = 50 * time.Millisecond
	w := &deliver.Worker{Queue: s, Logger: quietLogger(), Retry: fastRetry(5),
		Destinations: []deliver.Destination{deliver.Controlled(mustHTTP(t, "app", app.URL, deliver.HTTPOptions{}),
			deliver.Controls{BreakerFailures: 1, BreakerProbe: probe})}}
	ev := newEvent("evt_sync_breaker", "charge.succeeded", false)
	mustInsert(t, s, ev)
	if ok, err := w.DeliverNow(ctx, ev.ID); ok || err != nil {
		t.Fatalf("DeliverNow to a failing app: %t, %v", ok, err)
	}
	if w.Status()["app"].BreakerOpenAt.IsZero() {
		t.Fatal("breaker not open after the failure")
	}
	down.Store(false)
	// Stripe retries, a while later, more than once.
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(2 * probe)
		ok, err := w.DeliverNow(ctx, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app is back but the event is still not delivered after 5 s of retries (%d requests, status %+v)", app.count(), w.Status()["app"])
		}
	}
	if !w.Status()["app"].BreakerOpenAt.IsZero() {
		t.Fatalf("breaker still open: %+v", w.Status()["app"])
	}
}
