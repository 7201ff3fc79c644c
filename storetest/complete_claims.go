package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// runCompleteClaims runs the cases of Queue.CompleteClaims, the batch form
// of CompleteClaim.
func runCompleteClaims(t *testing.T, open func(tb testing.TB) hookbox.Store) {
	t.Run("CompleteClaimsBatch", func(t *testing.T) { testCompleteClaimsBatch(t, open(t)) })
	t.Run("CompleteClaimsEmpty", func(t *testing.T) { testCompleteClaimsEmpty(t, open(t)) })
}

// completion returns the completion of id by owner at now with ds, one
// attempt per delivery.
func completion(id, owner string, now time.Time, ds ...hookbox.Delivery) hookbox.Completion {
	c := hookbox.Completion{EventID: id, Owner: owner, Now: now, Deliveries: ds}
	for _, d := range ds {
		c.Attempts = append(c.Attempts, tried(d, now))
	}
	return c
}

// Ensures CompleteClaims answers each completion of a mixed batch on its
// own, in order, as successive CompleteClaim calls would: the valid ones
// are recorded (delivered, retried, dead, no destination), while a wrong
// owner, an unknown event and a second completion of an event already
// completed in the batch get ECONFLICT and invalid input EINVALID, each
// writing nothing and leaving its lease as it was.
func testCompleteClaimsBatch(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	ids := []string{"evt_1", "evt_2", "evt_3", "evt_4", "evt_5", "evt_6"}
	for i, id := range ids {
		MustInsert(t, s, queued(id, base.Add(time.Duration(i)*time.Second), qt0))
	}
	assertClaimIDs(t, mustClaim(t, s, "w1", qt0, 10), ids...)

	now := qt0.Add(time.Second)
	retry := now.Add(10 * time.Second)
	bad := completion("evt_3", "w1", now, delivered("evt_3", "a", 1, now))
	bad.Deliveries[0].State = "exploded"
	cs := []hookbox.Completion{
		completion("evt_1", "w1", now, delivered("evt_1", "a", 1, now)),
		completion("evt_2", "w2", now, delivered("evt_2", "a", 1, now)), // not w2's lease
		bad,
		completion("evt_4", "w1", now, pending("evt_4", "a", 1, retry, now, "503")),
		completion("evt_missing", "w1", now, delivered("evt_missing", "a", 1, now)),
		completion("evt_1", "w1", now, pending("evt_1", "a", 2, retry, now, "again")), // already completed above
		completion("evt_5", "w1", now, delivered("evt_5", "a", 1, now), dead("evt_5", "b", 3, now, "410 Gone")),
		completion("evt_6", "w1", now), // no destination wanted it
		{EventID: "evt_6", Owner: "", Now: now},
	}
	errs, err := s.CompleteClaims(ctx, cs)
	if err != nil {
		t.Fatalf("CompleteClaims: %v", err)
	}
	if len(errs) != len(cs) {
		t.Fatalf("CompleteClaims returned %d results for %d completions", len(errs), len(cs))
	}
	for i, code := range []string{"", hookbox.ECONFLICT, hookbox.EINVALID, "", hookbox.ECONFLICT, hookbox.ECONFLICT, "", "", hookbox.EINVALID} {
		if got := hookbox.ErrorCode(errs[i]); got != code {
			t.Errorf("completion %d (%s, %s): error %v, code %q; want %q", i, cs[i].EventID, cs[i].Owner, errs[i], got, code)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The recorded completions.
	assertQueued(t, s, "evt_1", hookbox.StateDelivered, 1, time.Time{})
	assertDeliveries(t, mustDeliveries(t, s, "evt_1"), delivered("evt_1", "a", 1, now))
	assertQueued(t, s, "evt_4", hookbox.StatePending, 1, retry)
	assertDeliveries(t, mustDeliveries(t, s, "evt_4"), pending("evt_4", "a", 1, retry, now, "503"))
	assertQueued(t, s, "evt_5", hookbox.StateDead, 2, time.Time{})
	assertDeliveries(t, mustDeliveries(t, s, "evt_5"), delivered("evt_5", "a", 1, now), dead("evt_5", "b", 3, now, "410 Gone"))
	ev := assertQueued(t, s, "evt_6", hookbox.StateDelivered, 0, time.Time{})
	if !ev.UpdatedAt.Equal(storedTime(now)) {
		t.Fatalf("evt_6: UpdatedAt %v, want %v", ev.UpdatedAt, storedTime(now))
	}

	// The refused ones wrote nothing and still hold w1's lease.
	for _, id := range []string{"evt_2", "evt_3"} {
		assertQueued(t, s, id, hookbox.StateDelivering, 0, time.Time{})
		if ds, as := mustDeliveries(t, s, id), mustAttempts(t, s, id); len(ds) != 0 || len(as) != 0 {
			t.Fatalf("%s: %d deliveries, %d attempts written by a refused completion", id, len(ds), len(as))
		}
	}
	if _, err := s.FindEventByID(ctx, "evt_missing"); hookbox.ErrorCode(err) != hookbox.ENOTFOUND {
		t.Fatalf("evt_missing: %v, want ENOTFOUND", err)
	}
	if as := mustAttempts(t, s, "evt_missing"); len(as) != 0 {
		t.Fatalf("evt_missing: %d attempts written", len(as))
	}
	assertClaimIDs(t, mustClaim(t, s, "w2", now, 10))

	// Their owner completes them in a second batch.
	later := now.Add(time.Second)
	errs, err = s.CompleteClaims(ctx, []hookbox.Completion{
		completion("evt_2", "w1", later, delivered("evt_2", "a", 1, later)),
		completion("evt_3", "w1", later, dead("evt_3", "a", 1, later, "404")),
	})
	if err != nil || len(errs) != 2 || errs[0] != nil || errs[1] != nil {
		t.Fatalf("CompleteClaims(second batch) = %v, %v; want 2 nil results", errs, err)
	}
	assertQueued(t, s, "evt_2", hookbox.StateDelivered, 1, time.Time{})
	assertQueued(t, s, "evt_3", hookbox.StateDead, 1, time.Time{})
	assertClaimIDs(t, mustClaim(t, s, "w2", retry, 10), "evt_4")
}

// Ensures an empty batch (nil or empty) answers no result and no error and
// changes nothing, and that a batch of only invalid completions answers
// EINVALID for each without an error for the batch.
func testCompleteClaimsEmpty(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	MustInsert(t, s, queued("evt_1", base, qt0))
	assertClaimIDs(t, mustClaim(t, s, "w1", qt0, 10), "evt_1")
	for _, cs := range [][]hookbox.Completion{nil, {}} {
		errs, err := s.CompleteClaims(ctx, cs)
		if err != nil || len(errs) != 0 {
			t.Fatalf("CompleteClaims(%#v) = %v, %v; want no result, no error", cs, errs, err)
		}
	}
	errs, err := s.CompleteClaims(ctx, []hookbox.Completion{
		{EventID: "evt_1", Owner: "w1"}, // no Now
		{EventID: "", Owner: "w1", Now: qt0},
	})
	if err != nil || len(errs) != 2 {
		t.Fatalf("CompleteClaims(invalid) = %v, %v; want 2 results", errs, err)
	}
	for _, e := range errs {
		assertCode(t, e, hookbox.EINVALID)
	}
	assertQueued(t, s, "evt_1", hookbox.StateDelivering, 0, time.Time{})
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: qt0})
	assertQueued(t, s, "evt_1", hookbox.StateDelivered, 0, time.Time{})
}
