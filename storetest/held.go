package storetest

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// runHeld runs the cases of held deliveries (Delivery.HoldReason).
func runHeld(t *testing.T, open func(tb testing.TB) hookbox.Store) {
	t.Run("HeldNotClaimed", func(t *testing.T) { testHeldNotClaimed(t, open(t)) })
	t.Run("HeldReleased", func(t *testing.T) { testHeldReleased(t, open(t)) })
	t.Run("HeldInvalid", func(t *testing.T) { testHeldInvalid(t, open(t)) })
	t.Run("HeldHeadHoldsKey", func(t *testing.T) { testHeldHeadHoldsKey(t, open(t)) })
}

func heldDelivery(id, dest string, now time.Time) hookbox.Delivery {
	return hookbox.Delivery{EventID: id, Destination: dest, State: hookbox.StatePending,
		NextAttemptAt: hookbox.HeldUntil, HoldReason: "event in API version 2024-06-20; the destination reads dahlia", UpdatedAt: now}
}

// Ensures an event whose only undelivered destination is held is never
// due, is listed and counted as held, and does not age the backlog; and
// that its other destination's delivery is kept.
func testHeldNotClaimed(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	MustInsert(t, s, queued("evt_1", base, qt0), queued("evt_2", base.Add(time.Second), qt0))
	cs := mustClaim(t, s, "w", qt0, 1)
	assertClaimIDs(t, cs, "evt_1")
	h := heldDelivery("evt_1", "app", qt0)
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w", Now: qt0,
		Attempts:   []hookbox.Attempt{tried(delivered("evt_1", "other", 1, qt0), qt0)},
		Deliveries: []hookbox.Delivery{h, delivered("evt_1", "other", 1, qt0)}})
	assertQueued(t, s, "evt_1", hookbox.StatePending, 1, hookbox.HeldUntil)
	assertDeliveries(t, mustDeliveries(t, s, "evt_1"), h, delivered("evt_1", "other", 1, qt0))
	if got := mustDeliveries(t, s, "evt_1")[0].HoldReason; got != h.HoldReason {
		t.Fatalf("HoldReason %q, want %q", got, h.HoldReason)
	}
	assertClaimIDs(t, mustClaim(t, s, "w", qt0.Add(24*time.Hour), 10), "evt_2")

	held, err := s.CountHeld(ctx)
	if err != nil || !maps.Equal(held, map[string]int{"app": 1}) {
		t.Fatalf("CountHeld = %v, %v; want app 1", held, err)
	}
	for _, f := range []hookbox.EventFilter{{Held: true}, {Held: true, HeldDestination: "app"}} {
		list, err := s.FindEvents(ctx, f)
		if err != nil || len(list) != 1 || list[0].ID != "evt_1" {
			t.Fatalf("FindEvents(%+v) = %v, %v; want [evt_1]", f, eventIDs(list), err)
		}
	}
	if list, _ := s.FindEvents(ctx, hookbox.EventFilter{Held: true, HeldDestination: "other"}); len(list) != 0 {
		t.Fatalf("held at other: %v", eventIDs(list))
	}
	// evt_2 is delivering, evt_1 only held: the oldest unsettled is evt_2.
	_, oldest, err := s.CountEvents(ctx)
	if err != nil || !oldest.Equal(storedTime(base.Add(time.Second))) {
		t.Fatalf("CountEvents oldest = %v, %v; want evt_2's reception", oldest, err)
	}
}

// Ensures ReleaseHeld makes a held delivery due, marked released until it
// is delivered (a failed attempt keeps the mark), and that a replay of a
// held event releases it too.
func testHeldReleased(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	MustInsert(t, s, queued("evt_1", base, qt0), queued("evt_2", base.Add(time.Second), qt0))
	for _, c := range mustClaim(t, s, "w", qt0, 2) {
		mustComplete(t, s, hookbox.Completion{EventID: c.Event.ID, Owner: "w", Now: qt0,
			Deliveries: []hookbox.Delivery{heldDelivery(c.Event.ID, "app", qt0)}})
	}
	at := qt0.Add(time.Hour)
	if n, err := s.ReleaseHeld(ctx, "other", nil, at); err != nil || n != 0 {
		t.Fatalf("ReleaseHeld(other) = %d, %v; want 0", n, err)
	}
	if n, err := s.ReleaseHeld(ctx, "app", []string{"evt_1", "evt_none"}, at); err != nil || n != 1 {
		t.Fatalf("ReleaseHeld(app, evt_1) = %d, %v; want 1", n, err)
	}
	cs := mustClaim(t, s, "w", at, 10)
	assertClaimIDs(t, cs, "evt_1")
	if d := cs[0].Deliveries; len(d) != 1 || d[0].HoldReason != hookbox.HoldReleased || !d[0].NextAttemptAt.Equal(storedTime(at)) {
		t.Fatalf("released delivery %+v", d)
	}
	retry := pending("evt_1", "app", 1, at.Add(time.Minute), at, "HTTP 500")
	retry.HoldReason = hookbox.HoldReleased
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w", Now: at, Attempts: []hookbox.Attempt{tried(retry, at)}, Deliveries: []hookbox.Delivery{retry}})
	if held, _ := s.CountHeld(ctx); !maps.Equal(held, map[string]int{"app": 1}) {
		t.Fatalf("CountHeld = %v; want app 1 (evt_2; a released delivery is not held)", held)
	}
	if n, err := s.ReplayEvents(ctx, hookbox.ReplayFilter{IDs: []string{"evt_2"}}, at); err != nil || n != 1 {
		t.Fatalf("ReplayEvents = %d, %v", n, err)
	}
	if d := mustDeliveries(t, s, "evt_2"); d[0].HoldReason != hookbox.HoldReleased || d[0].State != hookbox.StatePending {
		t.Fatalf("replayed held delivery %+v", d[0])
	}
	if held, _ := s.CountHeld(ctx); len(held) != 0 {
		t.Fatalf("CountHeld after release and replay = %v", held)
	}
	if _, err := s.ReleaseHeld(ctx, "", nil, at); hookbox.ErrorCode(err) != hookbox.EINVALID {
		t.Fatalf("ReleaseHeld without destination = %v, want EINVALID", err)
	}
}

func testHeldInvalid(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, queued("evt_1", base, qt0))
	cs := mustClaim(t, s, "w", qt0, 1)
	bad := delivered("evt_1", "app", 1, qt0)
	bad.HoldReason = "held"
	err := s.CompleteClaim(context.Background(), hookbox.Completion{EventID: "evt_1", Owner: cs[0].Owner, Now: qt0, Deliveries: []hookbox.Delivery{bad}})
	if hookbox.ErrorCode(err) != hookbox.EINVALID {
		t.Fatalf("a delivered held delivery: %v, want EINVALID", err)
	}
}

// Ensures a held head of an ordered key holds the key's later events, even
// when a dead event would not (OrderSkipDead), until it is released.
func testHeldHeadHoldsKey(t *testing.T, s hookbox.Store) {
	e1, e2 := ordered("evt_1", "K", 100, 0), ordered("evt_2", "K", 200, time.Millisecond)
	e1.OrderSkipDead, e2.OrderSkipDead = true, true
	MustInsert(t, s, e1, e2)
	cs := mustClaim(t, s, "w", qt0, 10)
	assertClaimIDs(t, cs, "evt_1")
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w", Now: qt0,
		Deliveries: []hookbox.Delivery{heldDelivery("evt_1", "app", qt0)}})
	assertClaimIDs(t, mustClaim(t, s, "w", qt0.Add(24*time.Hour), 10)) // evt_2 waits
	at := qt0.Add(25 * time.Hour)
	if n, err := s.ReleaseHeld(context.Background(), "app", nil, at); err != nil || n != 1 {
		t.Fatalf("ReleaseHeld = %d, %v; want 1, nil", n, err)
	}
	cs = mustClaim(t, s, "w", at, 10)
	assertClaimIDs(t, cs, "evt_1")
	completeAs(t, s, cs[0], at, delivered("evt_1", "app", 1, at))
	assertClaimIDs(t, mustClaim(t, s, "w", at, 10), "evt_2")
}
