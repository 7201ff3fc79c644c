package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// runPause runs the cases of destinations paused by hand.
func runPause(t *testing.T, open func(tb testing.TB) hookbox.Store) {
	t.Run("PauseKept", func(t *testing.T) { testPauseKept(t, open(t)) })
	t.Run("PauseParksAndReleases", func(t *testing.T) { testPauseParks(t, open(t)) })
	t.Run("ReleasedParkedStaysReleased", func(t *testing.T) { testReleasedParked(t, open(t)) })
}

// Ensures a pause is kept with its first time (pausing again does not
// move it), listed, and gone after a resume.
func testPauseKept(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	if err := s.PauseDestination(ctx, "app", true, qt0); err != nil {
		t.Fatal(err)
	}
	if err := s.PauseDestination(ctx, "app", true, qt0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.PausedDestinations(ctx)
	if err != nil || len(got) != 1 || !got["app"].Equal(storedTime(qt0)) {
		t.Fatalf("PausedDestinations = %v, %v; want app since %v", got, err, qt0)
	}
	if err := s.PauseDestination(ctx, "app", false, qt0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.PausedDestinations(ctx); len(got) != 0 {
		t.Fatalf("after resume: %v", got)
	}
	if err := s.PauseDestination(ctx, "", true, qt0); hookbox.ErrorCode(err) != hookbox.EINVALID {
		t.Fatalf("pause of no destination: %v", err)
	}
}

// Ensures a delivery parked by a pause is not claimed, not counted as
// held, and is due again after ReleasePaused, which touches nothing else.
func testPauseParks(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	MustInsert(t, s, queued("evt_1", base, qt0), queued("evt_2", base.Add(time.Second), qt0))
	for _, c := range mustClaim(t, s, "w", qt0, 2) {
		d := heldDelivery(c.Event.ID, "app", qt0)
		if c.Event.ID == "evt_1" {
			d.HoldReason = hookbox.HoldPaused
		}
		mustComplete(t, s, hookbox.Completion{EventID: c.Event.ID, Owner: "w", Now: qt0, Deliveries: []hookbox.Delivery{d}})
	}
	assertClaimIDs(t, mustClaim(t, s, "w", qt0.Add(time.Hour), 10))
	if held, _ := s.CountHeld(ctx); held["app"] != 1 {
		t.Fatalf("CountHeld = %v, want app 1 (the paused one is not held)", held)
	}
	at := qt0.Add(time.Hour)
	if n, err := s.ReleasePaused(ctx, "other", at); err != nil || n != 0 {
		t.Fatalf("ReleasePaused(other) = %d, %v", n, err)
	}
	if n, err := s.ReleasePaused(ctx, "app", at); err != nil || n != 1 {
		t.Fatalf("ReleasePaused(app) = %d, %v; want 1", n, err)
	}
	cs := mustClaim(t, s, "w", at, 10)
	assertClaimIDs(t, cs, "evt_1")
	if d := cs[0].Deliveries; len(d) != 1 || d[0].HoldReason != "" {
		t.Fatalf("released delivery %+v", d)
	}
	if n, err := s.ReleasePaused(ctx, "app", at); err != nil || n != 0 {
		t.Fatalf("ReleasePaused again = %d, %v; want 0", n, err)
	}
}

// Ensures a released delivery (hookbox.HoldReleased) parked by a pause or
// by an open breaker keeps its release: it is parked, not held (CountHeld,
// ReleaseHeld pass it by), counted with its park (CountParked), chosen as
// the breaker's probe with its release kept, and made due released by
// ReleasePaused, so that the API version hold does not come back.
func testReleasedParked(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	MustInsert(t, s, queued("evt_1", base, qt0), queued("evt_2", base.Add(time.Second), qt0), queued("evt_3", base.Add(2*time.Second), qt0))
	reasons := map[string]string{"evt_1": hookbox.HoldPausedReleased, "evt_2": hookbox.HoldBreakerReleased, "evt_3": hookbox.HoldPaused}
	for _, c := range mustClaim(t, s, "w", qt0, 3) {
		d := heldDelivery(c.Event.ID, "app", qt0)
		d.HoldReason = reasons[c.Event.ID]
		mustComplete(t, s, hookbox.Completion{EventID: c.Event.ID, Owner: "w", Now: qt0, Deliveries: []hookbox.Delivery{d}})
	}
	assertClaimIDs(t, mustClaim(t, s, "w", qt0.Add(time.Hour), 10))
	if held, _ := s.CountHeld(ctx); held["app"] != 0 {
		t.Fatalf("CountHeld = %v, want none (parked, not held)", held)
	}
	if n, err := s.ReleaseHeld(ctx, "app", nil, qt0); err != nil || n != 0 {
		t.Fatalf("ReleaseHeld = %d, %v; want 0 (parked, not held)", n, err)
	}
	if got, err := s.CountParked(ctx); err != nil || got["app"][hookbox.HoldPaused] != 2 || got["app"][hookbox.HoldBreaker] != 1 || len(got["app"]) != 2 {
		t.Fatalf("CountParked = %v, %v; want app paused 2, breaker 1", got, err)
	}

	// The breaker is open: its probe keeps the release.
	if _, err := s.SetBreaker(ctx, "app", true, qt0, qt0); err != nil {
		t.Fatal(err)
	}
	probe := qt0.Add(time.Minute)
	if id, err := s.ProbeBreaker(ctx, "app", probe.Add(time.Minute), probe); err != nil || id != "evt_2" {
		t.Fatalf("ProbeBreaker = %q, %v; want evt_2", id, err)
	}
	if d := mustDeliveries(t, s, "evt_2"); len(d) != 1 || d[0].HoldReason != hookbox.HoldProbeReleased {
		t.Fatalf("the probe's delivery %+v, want hold reason %q", d, hookbox.HoldProbeReleased)
	}
	if got, _ := s.CountParked(ctx); got["app"][hookbox.HoldProbe] != 1 {
		t.Fatalf("CountParked = %v, want app probe 1", got)
	}
	// The probe fails and parks it again, released (the worker's word).
	cs := mustClaim(t, s, "w", probe, 10)
	assertClaimIDs(t, cs, "evt_2")
	d := heldDelivery("evt_2", "app", probe)
	d.HoldReason = hookbox.Park(cs[0].Deliveries[0].HoldReason, hookbox.HoldBreaker)
	mustComplete(t, s, hookbox.Completion{EventID: "evt_2", Owner: "w", Now: probe, Deliveries: []hookbox.Delivery{d}})

	// A resume while the breaker is open releases what the pause parked.
	at := qt0.Add(time.Hour)
	if n, err := s.ReleasePaused(ctx, "app", at); err != nil || n != 2 {
		t.Fatalf("ReleasePaused with the breaker open = %d, %v; want 2", n, err)
	}
	if _, err := s.SetBreaker(ctx, "app", false, at, at); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ReleasePaused(ctx, "app", at); err != nil || n != 1 {
		t.Fatalf("ReleasePaused with the breaker closed = %d, %v; want 1", n, err)
	}
	want := map[string]string{"evt_1": hookbox.HoldReleased, "evt_2": hookbox.HoldReleased, "evt_3": ""}
	cs = mustClaim(t, s, "w", at, 10)
	assertClaimIDs(t, cs, "evt_1", "evt_2", "evt_3")
	for _, c := range cs {
		if d := c.Deliveries; len(d) != 1 || d[0].HoldReason != want[c.Event.ID] {
			t.Fatalf("%s after the release: %+v, want hold reason %q", c.Event.ID, d, want[c.Event.ID])
		}
	}
}
