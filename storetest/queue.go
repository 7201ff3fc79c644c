package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// The queue cases run on an injected clock: every method gets its now from
// the case, counted from qt0, and no case sleeps. qt0 is whole
// microseconds, so the boundaries the cases probe are exact; base, with
// its nanoseconds and zone, still serves the reception times.
var qt0 = time.Date(2026, 11, 27, 8, 0, 0, 123456000, time.UTC)

const qLease = 30 * time.Second

func runQueue(t *testing.T, open func(tb testing.TB) hookbox.Store) {
	t.Run("ClaimDue", func(t *testing.T) { testClaimDue(t, open(t)) })
	t.Run("ClaimSkipsFuture", func(t *testing.T) { testClaimSkipsFuture(t, open(t)) })
	t.Run("ClaimNoOverlap", func(t *testing.T) { testClaimNoOverlap(t, open(t)) })
	t.Run("LeaseExpiry", func(t *testing.T) { testLeaseExpiry(t, open(t)) })
	t.Run("CompleteDelivered", func(t *testing.T) { testCompleteDelivered(t, open(t)) })
	t.Run("CompleteRetry", func(t *testing.T) { testCompleteRetry(t, open(t)) })
	t.Run("CompleteDead", func(t *testing.T) { testCompleteDead(t, open(t)) })
	t.Run("CompleteTwoDestinationsOneFails", func(t *testing.T) { testCompleteTwoDestinationsOneFails(t, open(t)) })
	t.Run("CompleteWrongOwner", func(t *testing.T) { testCompleteWrongOwner(t, open(t)) })
	t.Run("CompleteInvalid", func(t *testing.T) { testCompleteInvalid(t, open(t)) })
	t.Run("ClaimEventByID", func(t *testing.T) { testClaimEventByID(t, open(t)) })
	t.Run("Release", func(t *testing.T) { testRelease(t, open(t)) })
	t.Run("ReplayDead", func(t *testing.T) { testReplayDead(t, open(t)) })
	t.Run("ReplayDelivered", func(t *testing.T) { testReplayDelivered(t, open(t)) })
	t.Run("ReplayEmptyFilter", func(t *testing.T) { testReplayEmptyFilter(t, open(t)) })
	t.Run("ReplayPrunedBody", func(t *testing.T) { testReplayPrunedBody(t, open(t)) })
	t.Run("Attempts", func(t *testing.T) { testAttempts(t, open(t)) })
	t.Run("Prune", func(t *testing.T) { testPrune(t, open(t)) })
	t.Run("PruneReplayed", func(t *testing.T) { testPruneReplayed(t, open(t)) })
	t.Run("Count", func(t *testing.T) { testCount(t, open(t)) })
}

// queued returns a pending event with no attempts, due at next, received at
// receivedAt.
func queued(id string, receivedAt, next time.Time) *hookbox.Event {
	ev := NewEvent(id, "charge.succeeded", receivedAt)
	ev.State = hookbox.StatePending
	ev.Attempts = 0
	ev.NextAttemptAt = next
	ev.UpdatedAt = time.Time{}
	return ev
}

func mustClaim(tb testing.TB, s hookbox.Store, owner string, now time.Time, limit int) []*hookbox.Claim {
	tb.Helper()
	cs, err := s.ClaimEvents(context.Background(), owner, now, qLease, limit)
	if err != nil {
		tb.Fatalf("ClaimEvents(%s, %s): %v", owner, now.Format(time.RFC3339Nano), err)
	}
	for _, c := range cs {
		if c == nil || c.Event == nil {
			tb.Fatalf("ClaimEvents: nil claim or event")
		}
	}
	return cs
}

func mustClaimEvent(tb testing.TB, s hookbox.Store, id, owner string, now time.Time) *hookbox.Claim {
	tb.Helper()
	c, err := s.ClaimEvent(context.Background(), id, owner, now, qLease)
	if err != nil {
		tb.Fatalf("ClaimEvent(%s, %s): %v", id, owner, err)
	}
	if c == nil || c.Event == nil || c.Event.ID != id {
		tb.Fatalf("ClaimEvent(%s): claim %+v", id, c)
	}
	return c
}

func mustComplete(tb testing.TB, s hookbox.Store, c hookbox.Completion) {
	tb.Helper()
	if err := s.CompleteClaim(context.Background(), c); err != nil {
		tb.Fatalf("CompleteClaim(%s, %s): %v", c.EventID, c.Owner, err)
	}
}

func mustDeliveries(tb testing.TB, s hookbox.Store, id string) []hookbox.Delivery {
	tb.Helper()
	ds, err := s.FindDeliveries(context.Background(), id)
	if err != nil {
		tb.Fatalf("FindDeliveries(%s): %v", id, err)
	}
	return ds
}

func mustAttempts(tb testing.TB, s hookbox.Store, id string) []hookbox.Attempt {
	tb.Helper()
	as, err := s.FindAttempts(context.Background(), id)
	if err != nil {
		tb.Fatalf("FindAttempts(%s): %v", id, err)
	}
	return as
}

func claimIDs(cs []*hookbox.Claim) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Event.ID
	}
	return out
}

func assertClaimIDs(tb testing.TB, got []*hookbox.Claim, want ...string) {
	tb.Helper()
	if g := claimIDs(got); !slices.Equal(g, want) && !(len(g) == 0 && len(want) == 0) {
		tb.Fatalf("claimed:\n\tgot  %v\n\twant %v", g, want)
	}
}

// assertQueued fails tb unless the stored event id is in state, with
// attempts attempts and, when next is not zero, due at next.
func assertQueued(tb testing.TB, s hookbox.Store, id string, state hookbox.State, attempts int, next time.Time) *hookbox.Event {
	tb.Helper()
	ev := MustFindByID(tb, s, id)
	if ev.State != state || ev.Attempts != attempts {
		tb.Fatalf("event %s: state %q, attempts %d; want %q, %d", id, ev.State, ev.Attempts, state, attempts)
	}
	if !next.IsZero() && !ev.NextAttemptAt.Equal(storedTime(next)) {
		tb.Fatalf("event %s: next attempt %s, want %s", id,
			ev.NextAttemptAt.Format(time.RFC3339Nano), storedTime(next).Format(time.RFC3339Nano))
	}
	return ev
}

// assertDeliveries fails tb unless got holds want, in order, field by
// field; want's times are compared as stored.
func assertDeliveries(tb testing.TB, got []hookbox.Delivery, want ...hookbox.Delivery) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("deliveries:\n\tgot  %+v\n\twant %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		w.NextAttemptAt = storedTime(w.NextAttemptAt)
		w.UpdatedAt = storedTime(w.UpdatedAt)
		if g.EventID != w.EventID || g.Destination != w.Destination || g.State != w.State ||
			g.Attempts != w.Attempts || g.LastError != w.LastError ||
			!g.NextAttemptAt.Equal(w.NextAttemptAt) || !g.UpdatedAt.Equal(w.UpdatedAt) {
			tb.Fatalf("delivery %d:\n\tgot  %+v\n\twant %+v", i, g, w)
		}
		for _, at := range []time.Time{g.NextAttemptAt, g.UpdatedAt} {
			if !at.IsZero() && at.Location() != time.UTC {
				tb.Fatalf("delivery %d: time %v not in UTC", i, at)
			}
		}
	}
}

func pending(id, dest string, attempts int, next, now time.Time, lastError string) hookbox.Delivery {
	return hookbox.Delivery{EventID: id, Destination: dest, State: hookbox.StatePending,
		Attempts: attempts, NextAttemptAt: next, LastError: lastError, UpdatedAt: now}
}

func delivered(id, dest string, attempts int, now time.Time) hookbox.Delivery {
	return hookbox.Delivery{EventID: id, Destination: dest, State: hookbox.StateDelivered, Attempts: attempts, UpdatedAt: now}
}

func dead(id, dest string, attempts int, now time.Time, lastError string) hookbox.Delivery {
	return hookbox.Delivery{EventID: id, Destination: dest, State: hookbox.StateDead,
		Attempts: attempts, LastError: lastError, UpdatedAt: now}
}

// tried returns the attempt that led to d: OK when d is delivered.
func tried(d hookbox.Delivery, now time.Time) hookbox.Attempt {
	a := hookbox.Attempt{EventID: d.EventID, Destination: d.Destination, Number: max(d.Attempts, 1),
		StartedAt: now, Duration: 20 * time.Millisecond, OK: d.State == hookbox.StateDelivered}
	if a.OK {
		a.StatusCode = 200
	} else {
		a.StatusCode, a.Error = 500, d.LastError
	}
	return a
}

// settle inserts ev, claims it by id and completes
// the claim at now with ds, one attempt per delivery.
func settle(tb testing.TB, s hookbox.Store, ev *hookbox.Event, now time.Time, ds ...hookbox.Delivery) {
	tb.Helper()
	MustInsert(tb, s, ev)
	mustClaimEvent(tb, s, ev.ID, "settle", now)
	c := hookbox.Completion{EventID: ev.ID, Owner: "settle", Now: now, Deliveries: ds}
	for _, d := range ds {
		c.Attempts = append(c.Attempts, tried(d, now))
	}
	mustComplete(tb, s, c)
}

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

// Ensures ReleaseClaims puts back only the events the owner holds, without
// counting an attempt, due to a claimer on the clock that claimed them
// (ReleaseClaims has no clock of its own), and that the releasing owner
// cannot complete them any more.
func testRelease(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	MustInsert(t, s, queued("evt_1", base, qt0), queued("evt_2", base.Add(time.Second), qt0), queued("evt_3", base.Add(2*time.Second), qt0))
	assertClaimIDs(t, mustClaim(t, s, "w1", qt0, 2), "evt_1", "evt_2")
	assertClaimIDs(t, mustClaim(t, s, "w2", qt0, 2), "evt_3")

	n, err := s.ReleaseClaims(ctx, "w1", []string{"evt_1", "evt_2", "evt_3", "evt_missing"})
	if err != nil || n != 2 {
		t.Fatalf("ReleaseClaims = %d, %v; want 2", n, err)
	}
	for _, id := range []string{"evt_1", "evt_2"} {
		assertQueued(t, s, id, hookbox.StatePending, 0, time.Time{})
		if as := mustAttempts(t, s, id); len(as) != 0 {
			t.Fatalf("%s: release recorded %d attempts", id, len(as))
		}
	}
	assertQueued(t, s, "evt_3", hookbox.StateDelivering, 0, time.Time{})
	if n, err := s.ReleaseClaims(ctx, "w1", []string{"evt_1", "evt_3"}); err != nil || n != 0 {
		t.Fatalf("ReleaseClaims again = %d, %v; want 0", n, err)
	}
	err = s.CompleteClaim(ctx, hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: qt0.Add(time.Second)})
	assertCode(t, err, hookbox.ECONFLICT)

	assertClaimIDs(t, mustClaim(t, s, "w3", qt0, 10), "evt_1", "evt_2")
	mustComplete(t, s, hookbox.Completion{EventID: "evt_3", Owner: "w2", Now: qt0.Add(time.Second)})
}

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

// Ensures every Attempt field survives a round trip (times and durations
// to the microsecond, StartedAt in UTC, the response byte for byte, even
// cut inside a UTF-8 sequence) and attempts list oldest StartedAt first,
// ties in recording order, across completions.
func testAttempts(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, queued("evt_1", base, qt0))
	mustClaim(t, s, "w1", qt0, 1)
	start := base.Add(time.Hour) // nanoseconds and a zone on purpose
	x1 := hookbox.Attempt{EventID: "evt_1", Destination: "orders", Number: 1, StartedAt: start,
		Duration: 1500*time.Microsecond + 999, StatusCode: 503,
		Response: "Service Unavailable \u20ac"[:len("Service Unavailable \u20ac")-1]}
	x2 := hookbox.Attempt{EventID: "evt_1", Destination: "billing", Number: 1, StartedAt: start.Add(-time.Second),
		Error: "dial tcp 10.0.0.7:443: connect: connection refused"}
	x3 := hookbox.Attempt{EventID: "evt_1", Destination: "audit", Number: 7, StartedAt: start,
		Duration: 2 * time.Second, StatusCode: 200, Response: strings.Repeat("\u00e9", hookbox.MaxResponseSnippet/2), OK: true}
	now := start.Add(3 * time.Second)
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: now,
		Attempts: []hookbox.Attempt{x1, x2, x3},
		Deliveries: []hookbox.Delivery{
			pending("evt_1", "orders", 1, now.Add(time.Minute), now, "503"),
			pending("evt_1", "billing", 1, now.Add(time.Minute), now, "connection refused"),
			delivered("evt_1", "audit", 7, now),
		}})
	later := now.Add(time.Minute)
	mustClaim(t, s, "w1", later, 1)
	x4 := hookbox.Attempt{EventID: "evt_1", Destination: "orders", Number: 2, StartedAt: later,
		Duration: time.Millisecond, StatusCode: 204, OK: true}
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: later,
		Attempts:   []hookbox.Attempt{x4},
		Deliveries: []hookbox.Delivery{delivered("evt_1", "orders", 2, later)}})

	got := mustAttempts(t, s, "evt_1")
	want := []hookbox.Attempt{x2, x1, x3, x4}
	if len(got) != len(want) {
		t.Fatalf("%d attempts, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		w.StartedAt = storedTime(w.StartedAt)
		w.Duration = w.Duration.Truncate(time.Microsecond)
		g := got[i]
		if g.StartedAt.Location() != time.UTC || !g.StartedAt.Equal(w.StartedAt) {
			t.Fatalf("attempt %d: StartedAt %v, want %v in UTC", i, g.StartedAt, w.StartedAt)
		}
		g.StartedAt = w.StartedAt
		if g != w {
			t.Fatalf("attempt %d:\n\tgot  %+v\n\twant %+v", i, g, w)
		}
	}
	assertQueued(t, s, "evt_1", hookbox.StatePending, 4, time.Time{})
	if as := mustAttempts(t, s, "evt_missing"); len(as) != 0 {
		t.Fatalf("attempts of a missing event: %+v", as)
	}
}

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

// Ensures CountEvents counts each state and reports the reception of the
// oldest event not settled yet (pending or delivering: one stuck in
// delivering must age too), zero when there is none.
func testCount(t *testing.T, s hookbox.Store) {
	// Both stores count pending, delivering and dead, and take delivered as
	// the rest of the table (hookbox.CountStates): a new state must be
	// counted there first.
	if len(hookbox.States) != len(hookbox.CountStates(0, 0, 0, 0)) {
		t.Fatalf("states %v: hookbox.CountStates and the stores' CountEvents know four", hookbox.States)
	}
	ctx := context.Background()
	counts, oldest, err := s.CountEvents(ctx)
	if err != nil || !oldest.IsZero() {
		t.Fatalf("empty store: %v, oldest %v, %v", counts, oldest, err)
	}
	for _, st := range hookbox.States {
		if counts[st] != 0 {
			t.Fatalf("empty store: %v", counts)
		}
	}
	var evs []*hookbox.Event
	for i, st := range []hookbox.State{
		hookbox.StateDelivering, hookbox.StatePending, hookbox.StatePending, hookbox.StateDelivered,
		hookbox.StateDelivered, hookbox.StateDead, hookbox.StateDelivered,
	} {
		ev := queued(fmt.Sprintf("evt_%d", i), base.Add(time.Duration(i)*time.Second), qt0)
		ev.State = st
		evs = append(evs, ev)
	}
	MustInsert(t, s, evs...)
	counts, oldest, err = s.CountEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[hookbox.State]int{hookbox.StatePending: 2, hookbox.StateDelivering: 1, hookbox.StateDelivered: 3, hookbox.StateDead: 1}
	for _, st := range hookbox.States {
		if counts[st] != want[st] {
			t.Fatalf("counts %v, want %v", counts, want)
		}
	}
	if !oldest.Equal(storedTime(base)) || oldest.Location() != time.UTC {
		t.Fatalf("oldest unsettled %v, want %v (the delivering one) in UTC", oldest, storedTime(base))
	}
}
