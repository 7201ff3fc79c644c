package storetest

import (
	"context"
	"slices"
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

// runQueue runs the hookbox.Queue cases. They live one file per concern,
// named as the stores' files are: claim.go, complete.go, release.go,
// replay.go, find.go (the attempt log), prune.go and count.go; this file
// holds the helpers they share.
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
	t.Run("CompleteClaimsBatch", func(t *testing.T) { testCompleteClaimsBatch(t, open(t)) })
	t.Run("CompleteClaimsEmpty", func(t *testing.T) { testCompleteClaimsEmpty(t, open(t)) })
	runOrder(t, open)
	runHeld(t, open)
	runPause(t, open)
	runControls(t, open)
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
			g.Attempts != w.Attempts || g.LastError != w.LastError || g.SkipReason != w.SkipReason || g.HoldReason != w.HoldReason ||
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
