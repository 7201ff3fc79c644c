package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// Ensures ClaimEvents leases due pending events oldest due first
// (NextAttemptAt, a zero one first, then ReceivedAt), at most limit per
// call, with bodies, owner and lease end, leaving them delivering; and
// that delivered, dead and future events are not due.
func testClaimDue(t *testing.T, s hookbox.Store) {
	now := qt0
	evs := []*hookbox.Event{
		queued("evt_a", base, now.Add(-10*time.Minute)),
		queued("evt_b", base.Add(time.Second), now.Add(-10*time.Minute)),
		queued("evt_c", base.Add(2*time.Second), time.Time{}),
		queued("evt_d", base.Add(-time.Second), now.Add(-5*time.Minute)),
		queued("evt_e", base, now),
		queued("evt_future", base, now.Add(time.Microsecond)),
	}
	dlv := queued("evt_delivered", base, now.Add(-time.Hour))
	dlv.State = hookbox.StateDelivered
	dd := queued("evt_dead", base, now.Add(-time.Hour))
	dd.State = hookbox.StateDead
	MustInsert(t, s, evs[4], dlv, evs[1], evs[5], evs[3], dd, evs[0], evs[2])

	first := mustClaim(t, s, "w1", now, 3)
	assertClaimIDs(t, first, "evt_c", "evt_a", "evt_b")
	for _, c := range first {
		if c.Owner != "w1" || !c.LeaseUntil.Equal(storedTime(now.Add(qLease))) {
			t.Fatalf("claim %s: owner %q, lease until %v; want w1, %v", c.Event.ID, c.Owner, c.LeaseUntil, storedTime(now.Add(qLease)))
		}
		if c.Event.State != hookbox.StateDelivering || len(c.Deliveries) != 0 {
			t.Fatalf("claim %s: state %q, %d deliveries; want delivering, none", c.Event.ID, c.Event.State, len(c.Deliveries))
		}
		want := evs[slices.IndexFunc(evs, func(e *hookbox.Event) bool { return e.ID == c.Event.ID })]
		if string(c.Event.Body) != string(want.Body) || c.Event.Type != want.Type || !c.Event.ReceivedAt.Equal(storedTime(want.ReceivedAt)) {
			t.Fatalf("claim %s: event not returned as stored (body %q)", c.Event.ID, c.Event.Body)
		}
		assertQueued(t, s, c.Event.ID, hookbox.StateDelivering, 0, time.Time{})
	}
	assertClaimIDs(t, mustClaim(t, s, "w1", now, 10), "evt_d", "evt_e")
	assertClaimIDs(t, mustClaim(t, s, "w2", now, 10))
	for _, id := range []string{"evt_future", "evt_delivered", "evt_dead"} {
		if ev := MustFindByID(t, s, id); ev.State == hookbox.StateDelivering {
			t.Fatalf("%s was claimed", id)
		}
	}
}

// Ensures an event is due exactly from its NextAttemptAt as stored (to the
// microsecond): not a nanosecond before.
func testClaimSkipsFuture(t *testing.T, s hookbox.Store) {
	at := qt0.Add(time.Hour)
	MustInsert(t, s,
		queued("evt_1", base, at),
		queued("evt_2", base, at.Add(time.Hour+999)), // stored as at+1h
	)
	assertClaimIDs(t, mustClaim(t, s, "w", at.Add(-time.Nanosecond), 10))
	assertClaimIDs(t, mustClaim(t, s, "w", at, 10), "evt_1")
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w", Now: at}) // or its lease expires
	assertClaimIDs(t, mustClaim(t, s, "w", at.Add(time.Hour-time.Nanosecond), 10))
	assertClaimIDs(t, mustClaim(t, s, "w", at.Add(time.Hour), 10), "evt_2")
}

// ClaimConcurrently runs one claimer per queue (named w0, w1, ...) in
// parallel, each claiming batches of batch until nothing is due at now, and
// returns which claimer got each event. A second claim of the same event is
// a test error.
func ClaimConcurrently(tb testing.TB, queues []hookbox.Queue, now time.Time, lease time.Duration, batch int) map[string]string {
	tb.Helper()
	var (
		mu    sync.Mutex
		owner = map[string]string{}
		wg    sync.WaitGroup
		errs  = make(chan error, len(queues))
	)
	for w, q := range queues {
		name := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for {
				cs, err := q.ClaimEvents(context.Background(), name, now, lease, batch)
				if err != nil {
					errs <- err
					return
				}
				if len(cs) == 0 {
					return
				}
				mu.Lock()
				for _, c := range cs {
					if prev, ok := owner[c.Event.ID]; ok {
						errs <- fmt.Errorf("%s claimed by %s and %s", c.Event.ID, prev, name)
					}
					owner[c.Event.ID] = name
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Error(err)
	}
	return owner
}

// Ensures concurrent claimers never receive the same event: every due
// event is claimed exactly once.
func testClaimNoOverlap(t *testing.T, s hookbox.Store) {
	const (
		events   = 60
		claimers = 6
	)
	var evs []*hookbox.Event
	for i := range events {
		evs = append(evs, queued(fmt.Sprintf("evt_%02d", i), base.Add(time.Duration(i)*time.Millisecond), qt0))
	}
	MustInsert(t, s, evs...)

	queues := make([]hookbox.Queue, claimers)
	for i := range queues {
		queues[i] = s
	}
	owner := ClaimConcurrently(t, queues, qt0, qLease, 4)
	if len(owner) != events {
		t.Fatalf("%d events claimed, want %d", len(owner), events)
	}
	assertClaimIDs(t, mustClaim(t, s, "late", qt0, 10))
}

// Ensures a lease holds until its end inclusive, after which another owner
// claims the event, and the first owner can no longer complete it.
func testLeaseExpiry(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, queued("evt_1", base, qt0))
	c1 := mustClaim(t, s, "w1", qt0, 10)
	assertClaimIDs(t, c1, "evt_1")
	end := c1[0].LeaseUntil

	assertClaimIDs(t, mustClaim(t, s, "w2", end, 10))
	_, err := s.ClaimEvent(context.Background(), "evt_1", "w2", end, qLease)
	assertCode(t, err, hookbox.ECONFLICT)

	c2 := mustClaim(t, s, "w2", end.Add(time.Nanosecond), 10)
	assertClaimIDs(t, c2, "evt_1")
	if c2[0].Owner != "w2" || !c2[0].LeaseUntil.Equal(storedTime(end.Add(time.Nanosecond+qLease))) {
		t.Fatalf("second claim: owner %q, lease until %v", c2[0].Owner, c2[0].LeaseUntil)
	}
	done := end.Add(time.Second)
	err = s.CompleteClaim(context.Background(), hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: done,
		Deliveries: []hookbox.Delivery{delivered("evt_1", "orders", 1, done)}})
	assertCode(t, err, hookbox.ECONFLICT)
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w2", Now: done,
		Deliveries: []hookbox.Delivery{delivered("evt_1", "orders", 1, done)}})
	assertQueued(t, s, "evt_1", hookbox.StateDelivered, 0, time.Time{})
}

// Ensures ClaimEvent claims one event whatever its NextAttemptAt, and
// refuses a missing event (ENOTFOUND), a delivered or dead one, or one
// under a live lease (ECONFLICT); an expired lease is claimed by another
// owner, and is due to ClaimEvents too.
func testClaimEventByID(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	dlv := queued("evt_delivered", base, qt0)
	dlv.State = hookbox.StateDelivered
	dd := queued("evt_dead", base, qt0)
	dd.State = hookbox.StateDead
	future := queued("evt_future", base, qt0.Add(time.Hour))
	MustInsert(t, s, dlv, dd, future)

	_, err := s.ClaimEvent(ctx, "evt_missing", "w1", qt0, qLease)
	assertCode(t, err, hookbox.ENOTFOUND)
	for _, id := range []string{"evt_delivered", "evt_dead"} {
		_, err := s.ClaimEvent(ctx, id, "w1", qt0, qLease)
		assertCode(t, err, hookbox.ECONFLICT)
	}

	c := mustClaimEvent(t, s, "evt_future", "w1", qt0)
	if c.Owner != "w1" || !c.LeaseUntil.Equal(storedTime(qt0.Add(qLease))) || c.Event.State != hookbox.StateDelivering ||
		string(c.Event.Body) != string(future.Body) || len(c.Deliveries) != 0 {
		t.Fatalf("claim: %+v, event %+v", c, c.Event)
	}
	assertQueued(t, s, "evt_future", hookbox.StateDelivering, 0, time.Time{})
	_, err = s.ClaimEvent(ctx, "evt_future", "w2", qt0.Add(time.Second), qLease)
	assertCode(t, err, hookbox.ECONFLICT)
	_, err = s.ClaimEvent(ctx, "evt_future", "w2", c.LeaseUntil, qLease)
	assertCode(t, err, hookbox.ECONFLICT)

	// The lease expired: another owner claims the event by id.
	c2 := mustClaimEvent(t, s, "evt_future", "w2", c.LeaseUntil.Add(time.Nanosecond))
	if c2.Owner != "w2" || c2.Event.State != hookbox.StateDelivering {
		t.Fatalf("second claim: owner %q, state %q", c2.Owner, c2.Event.State)
	}
	// Its worker crashes too: the lease expires long before the event's
	// old NextAttemptAt, and the queue takes the event back.
	assertClaimIDs(t, mustClaim(t, s, "w3", c2.LeaseUntil, 10))
	assertClaimIDs(t, mustClaim(t, s, "w3", c2.LeaseUntil.Add(time.Nanosecond), 10), "evt_future")
}
