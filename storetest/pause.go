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
