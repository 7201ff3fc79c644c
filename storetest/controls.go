package storetest

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// runControls runs the cases of circuit breakers and rate limits.
func runControls(t *testing.T, open func(tb testing.TB) hookbox.Store) {
	t.Run("BreakerOpenClose", func(t *testing.T) { testBreakerOpenClose(t, open(t)) })
	t.Run("BreakerProbe", func(t *testing.T) { testBreakerProbe(t, open(t)) })
	t.Run("BreakerProbeRotates", func(t *testing.T) { testBreakerProbeRotates(t, open(t)) })
	t.Run("RateShared", func(t *testing.T) { testRateShared(t, open(t)) })
	t.Run("CountParked", func(t *testing.T) { testCountParked(t, open(t)) })
}

// Ensures a breaker opens once (a second open is not a change), is listed
// with its probe time beside a pause, and closes once.
func testBreakerOpenClose(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	probe := qt0.Add(10 * time.Second)
	if ok, err := s.SetBreaker(ctx, "app", true, probe, qt0); err != nil || !ok {
		t.Fatalf("open = %v, %v; want a change", ok, err)
	}
	if ok, err := s.SetBreaker(ctx, "app", true, probe.Add(time.Hour), qt0.Add(time.Second)); err != nil || ok {
		t.Fatalf("open again = %v, %v; want no change", ok, err)
	}
	if err := s.PauseDestination(ctx, "other", true, qt0); err != nil {
		t.Fatal(err)
	}
	st, err := s.DestinationStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := st["app"]; !a.BreakerOpenAt.Equal(storedTime(qt0)) || !a.ProbeAt.Equal(storedTime(probe)) || !a.PausedAt.IsZero() {
		t.Fatalf("app state %+v", a)
	}
	if o := st["other"]; !o.BreakerOpenAt.IsZero() || !o.PausedAt.Equal(storedTime(qt0)) {
		t.Fatalf("other state %+v", o)
	}
	if ok, err := s.SetBreaker(ctx, "app", false, time.Time{}, qt0.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("close = %v, %v; want a change", ok, err)
	}
	if ok, err := s.SetBreaker(ctx, "app", false, time.Time{}, qt0.Add(time.Minute)); err != nil || ok {
		t.Fatalf("close again = %v, %v; want no change", ok, err)
	}
	if st, _ := s.DestinationStates(ctx); !st["app"].BreakerOpenAt.IsZero() {
		t.Fatalf("closed breaker still open: %+v", st["app"])
	}
	if _, err := s.SetBreaker(ctx, "app", true, time.Time{}, qt0); hookbox.ErrorCode(err) != hookbox.EINVALID {
		t.Fatalf("open with no probe time: %v", err)
	}
}

// Ensures deliveries parked by an open breaker are neither claimed nor
// counted as held; a probe makes due the one parked longest, then with the
// fewest attempts (then the oldest) only when its time has come, once per probe time; and
// ReleasePaused makes the rest due when the breaker closes.
func testBreakerProbe(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	MustInsert(t, s, queued("evt_1", base, qt0), queued("evt_2", base.Add(time.Second), qt0), queued("evt_3", base.Add(2*time.Second), qt0))
	attempts := map[string]int{"evt_1": 3, "evt_2": 1, "evt_3": 1}
	for _, c := range mustClaim(t, s, "w", qt0, 3) {
		d := hookbox.Delivery{EventID: c.Event.ID, Destination: "app", State: hookbox.StatePending, Attempts: attempts[c.Event.ID],
			NextAttemptAt: hookbox.HeldUntil, HoldReason: hookbox.HoldBreaker, UpdatedAt: qt0}
		mustComplete(t, s, hookbox.Completion{EventID: c.Event.ID, Owner: "w", Now: qt0, Deliveries: []hookbox.Delivery{d}})
	}
	later := qt0.Add(time.Hour)
	assertClaimIDs(t, mustClaim(t, s, "w", later, 10))
	if held, _ := s.CountHeld(ctx); held["app"] != 0 {
		t.Fatalf("CountHeld = %v, want none (parked by the breaker)", held)
	}
	// No breaker open: no probe.
	if id, err := s.ProbeBreaker(ctx, "app", later.Add(time.Minute), later); err != nil || id != "" {
		t.Fatalf("probe of a closed breaker = %q, %v", id, err)
	}
	if _, err := s.SetBreaker(ctx, "app", true, later.Add(10*time.Second), later); err != nil {
		t.Fatal(err)
	}
	if id, err := s.ProbeBreaker(ctx, "app", later.Add(time.Minute), later.Add(5*time.Second)); err != nil || id != "" {
		t.Fatalf("probe before its time = %q, %v", id, err)
	}
	now := later.Add(10 * time.Second)
	// Replicas racing at the probe time: one probe.
	var (
		mu  sync.Mutex
		ids []string
		wg  sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := s.ProbeBreaker(ctx, "app", now.Add(10*time.Second), now)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if id != "" {
				ids = append(ids, id)
			}
		}()
	}
	wg.Wait()
	if len(ids) != 1 || ids[0] != "evt_2" {
		t.Fatalf("racing probes = %q; want one, evt_2 (fewest attempts, oldest)", ids)
	}
	if id, err := s.ProbeBreaker(ctx, "app", now.Add(10*time.Second), now); err != nil || id != "" {
		t.Fatalf("second probe in one interval = %q, %v", id, err)
	}
	if st, _ := s.DestinationStates(ctx); !st["app"].ProbeAt.Equal(storedTime(now.Add(10 * time.Second))) {
		t.Fatalf("next probe %v", st["app"].ProbeAt)
	}
	cs := mustClaim(t, s, "w", now, 10)
	assertClaimIDs(t, cs, "evt_2")
	if d := cs[0].Deliveries; len(d) != 1 || d[0].HoldReason != hookbox.HoldProbe || d[0].Attempts != 1 {
		t.Fatalf("probe delivery %+v", d)
	}
	if held, _ := s.CountHeld(ctx); held["app"] != 0 {
		t.Fatalf("CountHeld = %v with a probe out", held)
	}
	// A resume while the breaker is open releases nothing it parked.
	if n, err := s.ReleasePaused(ctx, "app", now); err != nil || n != 0 {
		t.Fatalf("ReleasePaused with the breaker open = %d, %v; want 0", n, err)
	}
	// The probe succeeds; the breaker closes; the rest are released.
	mustComplete(t, s, hookbox.Completion{EventID: "evt_2", Owner: "w", Now: now, Deliveries: []hookbox.Delivery{
		{EventID: "evt_2", Destination: "app", State: hookbox.StateDelivered, Attempts: 2, UpdatedAt: now}}})
	if _, err := s.SetBreaker(ctx, "app", false, time.Time{}, now); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ReleasePaused(ctx, "app", now); err != nil || n != 2 {
		t.Fatalf("ReleasePaused = %d, %v; want the 2 parked by the breaker", n, err)
	}
	assertClaimIDs(t, mustClaim(t, s, "w", now, 10), "evt_1", "evt_3")
}

// Ensures the rate limit is one for every caller: takes racing at one
// instant are granted the burst and no more, the refused are told to come
// back one interval apart, and a take one interval later is granted.
func testRateShared(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	lim := hookbox.RateLimit{Rate: 10, Burst: 3}
	var (
		mu      sync.Mutex
		granted int
		agains  []time.Time
		wg      sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at, ok, err := s.TakeRate(ctx, "app", lim, 0, qt0)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				granted++
				if !at.Equal(qt0) {
					t.Errorf("granted at %v, want now", at)
				}
			} else {
				agains = append(agains, at)
			}
		}()
	}
	wg.Wait()
	if granted != 3 || len(agains) != 5 {
		t.Fatalf("granted %d, refused %d; want the burst of 3 and 5 refused", granted, len(agains))
	}
	iv := lim.Interval() // about 100ms (stored times are whole microseconds)
	seen := map[time.Duration]bool{}
	for _, a := range agains {
		d := a.Sub(qt0).Round(time.Millisecond)
		if seen[d] || d < 100*time.Millisecond || d > 501*time.Millisecond {
			t.Fatalf("try-again times %v: want distinct, 100ms..500ms", agains)
		}
		seen[d] = true
	}
	later := qt0.Add(iv + time.Microsecond)
	if _, ok, err := s.TakeRate(ctx, "app", lim, 0, later); err != nil || !ok {
		t.Fatalf("take one interval later = %v, %v", ok, err)
	}
	if at, ok, err := s.TakeRate(ctx, "app", lim, iv+iv/2, later); err != nil || !ok || at.Sub(qt0) < 2*iv-time.Microsecond || at.Sub(qt0) > 2*iv+2*time.Microsecond {
		t.Fatalf("take within wait = %v, %v, %v; want at +2 intervals", at.Sub(qt0), ok, err)
	}
}

// Ensures CountParked counts the pending deliveries parked for their
// destination by hold reason (paused, breaker, probe), per destination,
// and nothing else: not a delivery held for its API version, not one
// released or delivered.
func testCountParked(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	if got, err := s.CountParked(ctx); err != nil || len(got) != 0 {
		t.Fatalf("CountParked of an empty store = %v, %v", got, err)
	}
	reasons := map[string][]hookbox.Delivery{
		"evt_1": {{Destination: "app", HoldReason: hookbox.HoldPaused}, {Destination: "other", HoldReason: hookbox.HoldBreaker}},
		"evt_2": {{Destination: "app", HoldReason: hookbox.HoldPaused}, {Destination: "other", HoldReason: hookbox.HoldBreaker}},
		"evt_3": {{Destination: "app", HoldReason: hookbox.HoldBreaker}, {Destination: "other", HoldReason: hookbox.HoldBreaker}},
		"evt_4": {{Destination: "app", HoldReason: "event in API version 2024-06-20; the destination reads dahlia"},
			{Destination: "other", HoldReason: "", State: hookbox.StateDelivered}},
	}
	var evs []*hookbox.Event
	for i, id := range []string{"evt_1", "evt_2", "evt_3", "evt_4"} {
		evs = append(evs, queued(id, base.Add(time.Duration(i)*time.Second), qt0))
	}
	MustInsert(t, s, evs...)
	for _, c := range mustClaim(t, s, "w", qt0, 10) {
		var ds []hookbox.Delivery
		for _, d := range reasons[c.Event.ID] {
			d.EventID, d.UpdatedAt, d.Attempts = c.Event.ID, qt0, 1
			if d.State == "" {
				d.State, d.NextAttemptAt = hookbox.StatePending, hookbox.HeldUntil
			}
			ds = append(ds, d)
		}
		mustComplete(t, s, hookbox.Completion{EventID: c.Event.ID, Owner: "w", Now: qt0, Deliveries: ds})
	}
	if _, err := s.SetBreaker(ctx, "other", true, qt0, qt0); err != nil {
		t.Fatal(err)
	}
	if id, err := s.ProbeBreaker(ctx, "other", qt0.Add(time.Minute), qt0); err != nil || id == "" {
		t.Fatalf("probe = %q, %v", id, err)
	}
	want := map[string]map[string]int{
		"app":   {hookbox.HoldPaused: 2, hookbox.HoldBreaker: 1},
		"other": {hookbox.HoldBreaker: 2, hookbox.HoldProbe: 1},
	}
	got, err := s.CountParked(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("CountParked = %v, %v; want %v", got, err, want)
	}
	if n, err := s.ReleasePaused(ctx, "app", qt0.Add(time.Minute)); err != nil || n != 3 {
		t.Fatalf("ReleasePaused(app) = %d, %v", n, err)
	}
	if got, _ := s.CountParked(ctx); len(got["app"]) != 0 || got["other"][hookbox.HoldBreaker] != 2 {
		t.Fatalf("CountParked after app's release = %v", got)
	}
}

// Ensures a probe that failed (parked again, its attempts unchanged: a
// failed probe spends no budget) goes behind the other parked deliveries:
// otherwise one event the app cannot take would be every probe, and the
// breaker would never close.
func testBreakerProbeRotates(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	MustInsert(t, s, queued("evt_1", base, qt0), queued("evt_2", base.Add(time.Second), qt0))
	for _, c := range mustClaim(t, s, "w", qt0, 2) {
		d := hookbox.Delivery{EventID: c.Event.ID, Destination: "app", State: hookbox.StatePending,
			NextAttemptAt: hookbox.HeldUntil, HoldReason: hookbox.HoldBreaker, UpdatedAt: qt0}
		mustComplete(t, s, hookbox.Completion{EventID: c.Event.ID, Owner: "w", Now: qt0, Deliveries: []hookbox.Delivery{d}})
	}
	if _, err := s.SetBreaker(ctx, "app", true, qt0, qt0); err != nil {
		t.Fatal(err)
	}
	now := qt0
	for i, want := range []string{"evt_1", "evt_2", "evt_1"} {
		now = now.Add(10 * time.Second)
		id, err := s.ProbeBreaker(ctx, "app", now.Add(10*time.Second), now)
		if err != nil || id != want {
			t.Fatalf("probe %d = %q, %v; want %s (a failed probe goes behind the rest)", i+1, id, err, want)
		}
		cs := mustClaim(t, s, "w", now, 10)
		assertClaimIDs(t, cs, want)
		// The probe fails: parked again, no budget spent.
		d := hookbox.Delivery{EventID: want, Destination: "app", State: hookbox.StatePending,
			NextAttemptAt: hookbox.HeldUntil, HoldReason: hookbox.HoldBreaker, UpdatedAt: now}
		mustComplete(t, s, hookbox.Completion{EventID: want, Owner: "w", Now: now, Deliveries: []hookbox.Delivery{d}})
	}
}
