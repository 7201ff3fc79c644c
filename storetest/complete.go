package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// Ensures a completion where every destination delivered makes the event
// delivered, records the attempt and delivery, releases the lease for
// good; and that a completion without any delivery (no destination wanted
// the event) is delivered too.
func testCompleteDelivered(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, queued("evt_1", base, qt0), queued("evt_none", base.Add(time.Second), qt0))
	assertClaimIDs(t, mustClaim(t, s, "w1", qt0, 10), "evt_1", "evt_none")
	now := qt0.Add(time.Second)
	d := delivered("evt_1", "orders", 1, time.Time{}) // a zero UpdatedAt is the completion's Now
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: now,
		Attempts: []hookbox.Attempt{tried(d, now)}, Deliveries: []hookbox.Delivery{d}})
	mustComplete(t, s, hookbox.Completion{EventID: "evt_none", Owner: "w1", Now: now})

	ev := assertQueued(t, s, "evt_1", hookbox.StateDelivered, 1, time.Time{})
	if !ev.UpdatedAt.Equal(storedTime(now)) {
		t.Fatalf("UpdatedAt %v, want %v", ev.UpdatedAt, storedTime(now))
	}
	assertDeliveries(t, mustDeliveries(t, s, "evt_1"), delivered("evt_1", "orders", 1, now))
	if n := len(mustAttempts(t, s, "evt_1")); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
	assertQueued(t, s, "evt_none", hookbox.StateDelivered, 0, time.Time{})
	if ds := mustDeliveries(t, s, "evt_none"); len(ds) != 0 {
		t.Fatalf("evt_none: deliveries %+v, want none", ds)
	}

	assertClaimIDs(t, mustClaim(t, s, "w2", now.Add(24*time.Hour), 10))
	_, err := s.ClaimEvent(context.Background(), "evt_1", "w2", now, qLease)
	assertCode(t, err, hookbox.ECONFLICT)
	err = s.CompleteClaim(context.Background(), hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: now})
	assertCode(t, err, hookbox.ECONFLICT)
}

// Ensures failed destinations keep the event pending, due at the earliest
// of their next attempts, with every attempt counted, and that the event
// is claimed again exactly then, with its delivery rows.
func testCompleteRetry(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, queued("evt_1", base, qt0))
	mustClaim(t, s, "w1", qt0, 1)
	now := qt0.Add(time.Second)
	a := pending("evt_1", "a", 1, now.Add(20*time.Second), now, "500 Internal Server Error")
	b := pending("evt_1", "b", 1, now.Add(10*time.Second), now, "timeout")
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: now,
		Attempts: []hookbox.Attempt{tried(a, now), tried(b, now)}, Deliveries: []hookbox.Delivery{b, a}})
	assertQueued(t, s, "evt_1", hookbox.StatePending, 2, b.NextAttemptAt)

	assertClaimIDs(t, mustClaim(t, s, "w2", b.NextAttemptAt.Add(-time.Nanosecond), 10))
	cs := mustClaim(t, s, "w2", b.NextAttemptAt, 10)
	assertClaimIDs(t, cs, "evt_1")
	assertDeliveries(t, cs[0].Deliveries, a, b)

	now = b.NextAttemptAt
	a2 := pending("evt_1", "a", 2, now.Add(40*time.Second), now, "502 Bad Gateway")
	b2 := pending("evt_1", "b", 2, now.Add(30*time.Second), now, "timeout")
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w2", Now: now,
		Attempts: []hookbox.Attempt{tried(a2, now), tried(b2, now)}, Deliveries: []hookbox.Delivery{a2, b2}})
	assertQueued(t, s, "evt_1", hookbox.StatePending, 4, b2.NextAttemptAt)
	assertDeliveries(t, mustDeliveries(t, s, "evt_1"), a2, b2)
}

// Ensures a pending destination outweighs a dead one, and the event is
// dead once no destination is pending and one is dead.
func testCompleteDead(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, queued("evt_1", base, qt0))
	mustClaim(t, s, "w1", qt0, 1)
	now := qt0.Add(time.Second)
	a := dead("evt_1", "a", 3, now, "410 Gone")
	b := pending("evt_1", "b", 1, now.Add(time.Minute), now, "503 Service Unavailable")
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: now,
		Attempts: []hookbox.Attempt{tried(a, now), tried(b, now)}, Deliveries: []hookbox.Delivery{a, b}})
	assertQueued(t, s, "evt_1", hookbox.StatePending, 2, b.NextAttemptAt)

	now = b.NextAttemptAt
	cs := mustClaim(t, s, "w1", now, 10)
	assertClaimIDs(t, cs, "evt_1")
	assertDeliveries(t, cs[0].Deliveries, a, b)
	b2 := delivered("evt_1", "b", 2, now)
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: now,
		Attempts: []hookbox.Attempt{tried(b2, now)}, Deliveries: []hookbox.Delivery{b2}})
	assertQueued(t, s, "evt_1", hookbox.StateDead, 3, time.Time{})
	assertDeliveries(t, mustDeliveries(t, s, "evt_1"), a, b2)

	assertClaimIDs(t, mustClaim(t, s, "w1", now.Add(72*time.Hour), 10))
	_, err := s.ClaimEvent(context.Background(), "evt_1", "w1", now, qLease)
	assertCode(t, err, hookbox.ECONFLICT)
}

// Ensures a destination that delivered stays delivered while another
// retries: the next claim returns its row as delivered (so the worker
// skips it), and a completion that mentions only the retried destination
// leaves it untouched.
func testCompleteTwoDestinationsOneFails(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, queued("evt_1", base, qt0))
	mustClaim(t, s, "w1", qt0, 1)
	now := qt0.Add(time.Second)
	a := delivered("evt_1", "a", 1, now)
	b := pending("evt_1", "b", 1, now.Add(30*time.Second), now, "connection refused")
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: now,
		Attempts: []hookbox.Attempt{tried(a, now), tried(b, now)}, Deliveries: []hookbox.Delivery{a, b}})
	assertQueued(t, s, "evt_1", hookbox.StatePending, 2, b.NextAttemptAt)

	later := b.NextAttemptAt
	cs := mustClaim(t, s, "w2", later, 10)
	assertClaimIDs(t, cs, "evt_1")
	assertDeliveries(t, cs[0].Deliveries, a, b)

	b2 := delivered("evt_1", "b", 2, later)
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w2", Now: later,
		Attempts: []hookbox.Attempt{tried(b2, later)}, Deliveries: []hookbox.Delivery{b2}})
	assertQueued(t, s, "evt_1", hookbox.StateDelivered, 3, time.Time{})
	assertDeliveries(t, mustDeliveries(t, s, "evt_1"), a, b2)
}

// Ensures only the lease holder completes a claim: another owner, an event
// never claimed or no longer claimed, and a missing event are ECONFLICT,
// and nothing of the refused completion is written.
func testCompleteWrongOwner(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, queued("evt_1", base, qt0), queued("evt_idle", base, qt0.Add(time.Hour)))
	mustClaim(t, s, "w1", qt0, 10)
	now := qt0.Add(time.Second)
	d := delivered("evt_1", "orders", 1, now)
	wrong := hookbox.Completion{EventID: "evt_1", Owner: "w2", Now: now,
		Attempts: []hookbox.Attempt{tried(d, now)}, Deliveries: []hookbox.Delivery{d}}
	assertCode(t, s.CompleteClaim(context.Background(), wrong), hookbox.ECONFLICT)
	assertQueued(t, s, "evt_1", hookbox.StateDelivering, 0, time.Time{})
	if n, m := len(mustAttempts(t, s, "evt_1")), len(mustDeliveries(t, s, "evt_1")); n != 0 || m != 0 {
		t.Fatalf("refused completion wrote %d attempts, %d deliveries", n, m)
	}

	for _, id := range []string{"evt_idle", "evt_missing"} {
		c := wrong
		c.EventID, c.Owner = id, "w1"
		c.Attempts = []hookbox.Attempt{tried(delivered(id, "orders", 1, now), now)}
		c.Deliveries = []hookbox.Delivery{delivered(id, "orders", 1, now)}
		assertCode(t, s.CompleteClaim(context.Background(), c), hookbox.ECONFLICT)
	}
	assertQueued(t, s, "evt_idle", hookbox.StatePending, 0, qt0.Add(time.Hour))
	if n := len(mustAttempts(t, s, "evt_idle")); n != 0 {
		t.Fatalf("refused completion wrote %d attempts", n)
	}

	right := wrong
	right.Owner = "w1"
	mustComplete(t, s, right)
	assertCode(t, s.CompleteClaim(context.Background(), right), hookbox.ECONFLICT)
	if n := len(mustAttempts(t, s, "evt_1")); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
}

// Ensures a completion with a delivery in no delivery state, or an attempt
// or delivery of another event, is EINVALID and writes nothing; the owner
// still holds the lease.
func testCompleteInvalid(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, queued("evt_1", base, qt0), queued("evt_2", base, qt0))
	mustClaim(t, s, "w1", qt0, 10)
	now := qt0.Add(time.Second)
	good := delivered("evt_1", "orders", 1, now)
	for name, c := range map[string]hookbox.Completion{
		"delivering": {Deliveries: []hookbox.Delivery{good, {EventID: "evt_1", Destination: "b", State: hookbox.StateDelivering, UpdatedAt: now}}},
		"unknown":    {Deliveries: []hookbox.Delivery{{EventID: "evt_1", Destination: "b", State: "exploded", UpdatedAt: now}}},
		"delivery":   {Deliveries: []hookbox.Delivery{good, delivered("evt_2", "orders", 1, now)}},
		"attempt":    {Attempts: []hookbox.Attempt{tried(good, now), tried(delivered("evt_2", "orders", 1, now), now)}},
	} {
		c.EventID, c.Owner, c.Now = "evt_1", "w1", now
		if err := s.CompleteClaim(context.Background(), c); hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Fatalf("%s: CompleteClaim = %v, want EINVALID", name, err)
		}
	}
	for _, id := range []string{"evt_1", "evt_2"} {
		if n, m := len(mustAttempts(t, s, id)), len(mustDeliveries(t, s, id)); n != 0 || m != 0 {
			t.Fatalf("%s: invalid completions wrote %d attempts, %d deliveries", id, n, m)
		}
		assertQueued(t, s, id, hookbox.StateDelivering, 0, time.Time{})
	}
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: now,
		Attempts: []hookbox.Attempt{tried(good, now)}, Deliveries: []hookbox.Delivery{good}})
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
