package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// Ensures ReplayEvents by ID and by state, type and since puts dead events
// back to pending, due now, with ReplayedAt set and a fresh retry budget for
// their destinations that did not deliver (delivered ones stay delivered,
// attempts already recorded stay), skips leased events, and returns how
// many it replayed.
func testReplayDead(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	now := qt0
	settleDead := func(id, typ string, receivedAt time.Time, ds ...hookbox.Delivery) {
		t.Helper()
		ev := queued(id, receivedAt, now)
		ev.Type = typ
		settle(t, s, ev, now, ds...)
		assertQueued(t, s, id, hookbox.StateDead, len(ds), time.Time{})
	}
	settleDead("evt_d1", "invoice.paid", base.Add(time.Second),
		delivered("evt_d1", "a", 1, now), dead("evt_d1", "b", 3, now, "410 Gone"))
	settleDead("evt_d0", "invoice.paid", base, dead("evt_d0", "a", 5, now, "404"))
	settleDead("evt_d2", "invoice.paid", base.Add(3*time.Second), dead("evt_d2", "a", 5, now, "404"))
	settleDead("evt_d3", "charge.failed", base.Add(4*time.Second), dead("evt_d3", "a", 5, now, "404"))
	settleDead("evt_d4", "invoice.created", base.Add(6*time.Second), dead("evt_d4", "a", 5, now, "404"))
	settleDead("evt_d5", "invoiceitem.created", base.Add(7*time.Second), dead("evt_d5", "a", 5, now, "404"))
	ok := queued("evt_ok", base.Add(5*time.Second), now)
	ok.Type = "invoice.paid"
	settle(t, s, ok, now, delivered("evt_ok", "a", 1, now))
	at := now.Add(time.Hour + 1500) // stored to the microsecond
	MustInsert(t, s, queued("evt_leased", base, now))
	mustClaimEvent(t, s, "evt_leased", "w9", at.Add(-time.Second))
	n, err := s.ReplayEvents(ctx, hookbox.ReplayFilter{IDs: []string{"evt_d1", "evt_leased", "evt_missing"}}, at)
	if err != nil || n != 1 {
		t.Fatalf("ReplayEvents(IDs) = %d, %v; want 1", n, err)
	}
	ev := assertQueued(t, s, "evt_d1", hookbox.StatePending, 2, at)
	if !ev.ReplayedAt.Equal(storedTime(at)) || !ev.WindowStart().Equal(storedTime(at)) {
		t.Fatalf("ReplayedAt %v, WindowStart %v; want %v", ev.ReplayedAt, ev.WindowStart(), storedTime(at))
	}
	// The dead destination keeps its last error until the next attempt.
	wantD1 := []hookbox.Delivery{delivered("evt_d1", "a", 1, now), pending("evt_d1", "b", 0, at, at, "410 Gone")}
	assertDeliveries(t, mustDeliveries(t, s, "evt_d1"), wantD1...)
	if n := len(mustAttempts(t, s, "evt_d1")); n != 2 {
		t.Fatalf("%d attempts after replay, want the 2 recorded", n)
	}
	assertQueued(t, s, "evt_leased", hookbox.StateDelivering, 0, time.Time{})
	mustComplete(t, s, hookbox.Completion{EventID: "evt_leased", Owner: "w9", Now: at})

	cs := mustClaim(t, s, "w1", at, 10)
	assertClaimIDs(t, cs, "evt_d1")
	if !cs[0].Event.ReplayedAt.Equal(storedTime(at)) {
		t.Fatalf("claimed event: ReplayedAt %v", cs[0].Event.ReplayedAt)
	}
	assertDeliveries(t, cs[0].Deliveries, wantD1...)

	n, err = s.ReplayEvents(ctx, hookbox.ReplayFilter{State: hookbox.StateDead, Type: "invoice.*", Since: base.Add(2 * time.Second)}, at)
	if err != nil || n != 2 {
		t.Fatalf("ReplayEvents(dead, invoice.*, since) = %d, %v; want 2", n, err)
	}
	for _, id := range []string{"evt_d2", "evt_d4"} {
		assertQueued(t, s, id, hookbox.StatePending, 1, at)
		ds := mustDeliveries(t, s, id)
		if len(ds) != 1 || ds[0].State != hookbox.StatePending || ds[0].Attempts != 0 || !ds[0].NextAttemptAt.Equal(storedTime(at)) {
			t.Fatalf("%s: deliveries %+v, want one pending with a fresh budget", id, ds)
		}
	}
	for _, id := range []string{"evt_d0", "evt_d3", "evt_d5"} {
		assertQueued(t, s, id, hookbox.StateDead, 1, time.Time{})
	}
	assertQueued(t, s, "evt_ok", hookbox.StateDelivered, 1, time.Time{})

	n, err = s.ReplayEvents(ctx, hookbox.ReplayFilter{State: hookbox.StateDead, Type: "charge.failed"}, at)
	if err != nil || n != 1 {
		t.Fatalf("ReplayEvents(dead, charge.failed) = %d, %v; want 1", n, err)
	}
	assertQueued(t, s, "evt_d3", hookbox.StatePending, 1, at)
}

// Ensures replaying a delivered event sends it to every destination again:
// every delivery row back to pending with a fresh budget.
func testReplayDelivered(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	now := qt0
	settle(t, s, queued("evt_1", base, now), now, delivered("evt_1", "a", 1, now), delivered("evt_1", "b", 2, now))
	settle(t, s, queued("evt_2", base.Add(time.Second), now), now, delivered("evt_2", "a", 1, now))

	at := now.Add(time.Hour)
	n, err := s.ReplayEvents(ctx, hookbox.ReplayFilter{IDs: []string{"evt_1"}}, at)
	if err != nil || n != 1 {
		t.Fatalf("ReplayEvents(IDs) = %d, %v; want 1", n, err)
	}
	assertQueued(t, s, "evt_1", hookbox.StatePending, 2, at)
	cs := mustClaim(t, s, "w1", at, 10)
	assertClaimIDs(t, cs, "evt_1")
	if len(cs[0].Deliveries) != 2 {
		t.Fatalf("deliveries %+v, want a and b", cs[0].Deliveries)
	}
	for _, d := range cs[0].Deliveries {
		if d.State != hookbox.StatePending || d.Attempts != 0 || !d.NextAttemptAt.Equal(storedTime(at)) {
			t.Fatalf("delivery %+v, want pending with a fresh budget, due at %v", d, storedTime(at))
		}
	}

	n, err = s.ReplayEvents(ctx, hookbox.ReplayFilter{State: hookbox.StateDelivered}, at)
	if err != nil || n != 1 {
		t.Fatalf("ReplayEvents(delivered) = %d, %v; want 1", n, err)
	}
	assertQueued(t, s, "evt_2", hookbox.StatePending, 1, at)
	ds := mustDeliveries(t, s, "evt_2")
	if len(ds) != 1 || ds[0].State != hookbox.StatePending || ds[0].Attempts != 0 {
		t.Fatalf("evt_2 deliveries %+v", ds)
	}
}

// Ensures a delivered event whose body retention emptied is not replayed,
// by id or by state: there is nothing left to send, and a claim of it
// would send an empty body. The event stays delivered; one with its body
// in the same filter is replayed.
func testReplayPrunedBody(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	settle(t, s, queued("evt_old", base, qt0), qt0, delivered("evt_old", "a", 1, qt0))
	settle(t, s, queued("evt_new", base.Add(2*time.Hour), qt0), qt0, delivered("evt_new", "a", 1, qt0))
	if bodies, _, err := s.PruneEvents(ctx, base.Add(time.Hour), time.Time{}); err != nil || bodies != 1 {
		t.Fatalf("PruneEvents = %d bodies, %v; want 1", bodies, err)
	}
	at := qt0.Add(time.Hour)
	if n, err := s.ReplayEvents(ctx, hookbox.ReplayFilter{IDs: []string{"evt_old"}}, at); err != nil || n != 0 {
		t.Fatalf("ReplayEvents(pruned id) = %d, %v; want 0", n, err)
	}
	if n, err := s.ReplayEvents(ctx, hookbox.ReplayFilter{State: hookbox.StateDelivered}, at); err != nil || n != 1 {
		t.Fatalf("ReplayEvents(delivered) = %d, %v; want 1 (the event with a body)", n, err)
	}
	assertQueued(t, s, "evt_old", hookbox.StateDelivered, 1, time.Time{})
	assertClaimIDs(t, mustClaim(t, s, "w1", at, 10), "evt_new")
}

// Ensures a replay filter that selects neither by ID nor by state, or
// names an unknown state, is EINVALID and changes nothing.
func testReplayEmptyFilter(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	settle(t, s, queued("evt_1", base, qt0), qt0, dead("evt_1", "a", 5, qt0, "404"))
	for _, f := range []hookbox.ReplayFilter{
		{},
		{IDs: []string{}},
		{Type: "evt_1"},
		{Type: "*", Since: base.Add(-time.Hour)},
		{State: "exploded"},
	} {
		n, err := s.ReplayEvents(ctx, f, qt0.Add(time.Hour))
		if n != 0 || hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Fatalf("ReplayEvents(%+v) = %d, %v; want EINVALID", f, n, err)
		}
	}
	assertQueued(t, s, "evt_1", hookbox.StateDead, 1, time.Time{})
}
