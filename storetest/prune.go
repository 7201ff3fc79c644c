package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// Ensures PruneEvents empties the bodies of old delivered events but keeps
// their rows (a re-insert is still a Duplicate), deletes older delivered
// and dead events with their deliveries and attempts, never touches
// pending or delivering events however old, and counts both (disjointly:
// a deleted row's body is not counted).
func testPrune(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	now := qt0
	rowCut := base.Add(time.Hour)
	bodyCut := base.Add(2 * time.Hour).Truncate(time.Microsecond) // a reception time as stored
	settle(t, s, queued("evt_old_delivered", base, now), now, delivered("evt_old_delivered", "a", 1, now))
	settle(t, s, queued("evt_old_dead", base.Add(time.Second), now), now, dead("evt_old_dead", "a", 9, now, "404"))
	settle(t, s, queued("evt_mid_delivered", base.Add(90*time.Minute), now), now, delivered("evt_mid_delivered", "a", 1, now))
	settle(t, s, queued("evt_mid_dead", base.Add(90*time.Minute), now), now, dead("evt_mid_dead", "a", 9, now, "404"))
	settle(t, s, queued("evt_new_delivered", bodyCut, now), now, delivered("evt_new_delivered", "a", 1, now))
	oldPending := queued("evt_old_pending", base.Add(-time.Hour), now.Add(time.Hour))
	oldDelivering := queued("evt_old_delivering", base.Add(-time.Hour), now)
	MustInsert(t, s, oldPending, oldDelivering)
	mustClaimEvent(t, s, "evt_old_delivering", "w1", now)

	bodies, rows, err := s.PruneEvents(ctx, bodyCut, rowCut)
	if err != nil || bodies != 1 || rows != 2 {
		t.Fatalf("PruneEvents = %d bodies, %d rows, %v; want 1, 2", bodies, rows, err)
	}
	for _, id := range []string{"evt_old_delivered", "evt_old_dead"} {
		_, err := s.FindEventByID(ctx, id)
		assertCode(t, err, hookbox.ENOTFOUND)
		if n, m := len(mustDeliveries(t, s, id)), len(mustAttempts(t, s, id)); n != 0 || m != 0 {
			t.Fatalf("%s: %d deliveries, %d attempts left", id, n, m)
		}
	}
	mid := MustFindByID(t, s, "evt_mid_delivered")
	if len(mid.Body) != 0 || mid.State != hookbox.StateDelivered || mid.Type != "charge.succeeded" {
		t.Fatalf("pruned body: %q, state %q", mid.Body, mid.State)
	}
	if n := len(mustAttempts(t, s, "evt_mid_delivered")); n != 1 {
		t.Fatalf("evt_mid_delivered: %d attempts, want 1 kept", n)
	}
	if res := MustInsert(t, s, queued("evt_mid_delivered", base, now)); !res[0].Duplicate {
		t.Fatalf("re-insert of a pruned body: not a Duplicate")
	}
	for _, id := range []string{"evt_mid_dead", "evt_new_delivered", "evt_old_pending", "evt_old_delivering"} {
		ev := MustFindByID(t, s, id)
		if string(ev.Body) != string(body(id, "charge.succeeded")) {
			t.Fatalf("%s: body %q, want it kept", id, ev.Body)
		}
	}
	assertQueued(t, s, "evt_old_pending", hookbox.StatePending, 0, now.Add(time.Hour))
	assertQueued(t, s, "evt_old_delivering", hookbox.StateDelivering, 0, time.Time{})

	if bodies, rows, err := s.PruneEvents(ctx, bodyCut, rowCut); err != nil || bodies != 0 || rows != 0 {
		t.Fatalf("PruneEvents again = %d, %d, %v; want 0, 0", bodies, rows, err)
	}
}

// Ensures retention ages an event from its last replay, not only from its
// reception: a dead event received long ago, replayed, and dead again keeps
// its row (the only copy of an event never delivered, with the attempts
// just made), and a replayed delivered event keeps its body, until the
// replay itself is older than the bounds.
func testPruneReplayed(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	rowCut, bodyCut := base.Add(time.Hour), base.Add(2*time.Hour)
	settle(t, s, queued("evt_dead_again", base, qt0), qt0, dead("evt_dead_again", "a", 9, qt0, "404"))
	settle(t, s, queued("evt_sent_again", base, qt0), qt0, delivered("evt_sent_again", "a", 1, qt0))
	at := qt0.Add(time.Hour) // after both bounds
	if n, err := s.ReplayEvents(ctx, hookbox.ReplayFilter{IDs: []string{"evt_dead_again", "evt_sent_again"}}, at); err != nil || n != 2 {
		t.Fatalf("ReplayEvents = %d, %v; want 2", n, err)
	}
	assertClaimIDs(t, mustClaim(t, s, "w1", at, 10), "evt_dead_again", "evt_sent_again")
	for _, d := range []hookbox.Delivery{dead("evt_dead_again", "a", 1, at, "404"), delivered("evt_sent_again", "a", 1, at)} {
		mustComplete(t, s, hookbox.Completion{EventID: d.EventID, Owner: "w1", Now: at, Deliveries: []hookbox.Delivery{d}, Attempts: []hookbox.Attempt{tried(d, at)}})
	}
	if bodies, rows, err := s.PruneEvents(ctx, bodyCut, rowCut); err != nil || bodies != 0 || rows != 0 {
		t.Fatalf("PruneEvents = %d bodies, %d rows, %v; want 0, 0 (replayed after the bounds)", bodies, rows, err)
	}
	for _, id := range []string{"evt_dead_again", "evt_sent_again"} {
		if ev := MustFindByID(t, s, id); len(ev.Body) == 0 {
			t.Fatalf("%s: body emptied", id)
		}
		if n := len(mustAttempts(t, s, id)); n != 2 {
			t.Fatalf("%s: %d attempts, want 2 kept", id, n)
		}
	}
	// Once the replay is older than the bounds, both go as usual.
	if bodies, rows, err := s.PruneEvents(ctx, at.Add(2*time.Hour), at.Add(time.Hour)); err != nil || bodies != 0 || rows != 2 {
		t.Fatalf("PruneEvents past the replay = %d bodies, %d rows, %v; want 0, 2", bodies, rows, err)
	}
}
