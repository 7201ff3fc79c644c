package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// runOrder runs the cases of delivery in object order (Event.OrderKey):
// only the head of a key is due, one event of a key in flight, keys never
// held by each other, late events, dead heads that hold their key, skips.
func runOrder(t *testing.T, open func(tb testing.TB) hookbox.Store) {
	t.Run("OrderRoundTrip", func(t *testing.T) { testOrderRoundTrip(t, open(t)) })
	t.Run("OrderHeadOnly", func(t *testing.T) { testOrderHeadOnly(t, open(t)) })
	t.Run("OrderTies", func(t *testing.T) { testOrderTies(t, open(t)) })
	t.Run("OrderInFlightHoldsKey", func(t *testing.T) { testOrderInFlight(t, open(t)) })
	t.Run("OrderRetryHoldsKey", func(t *testing.T) { testOrderRetry(t, open(t)) })
	t.Run("OrderDeadBlocks", func(t *testing.T) { testOrderDeadBlocks(t, open(t)) })
	t.Run("OrderDeadReplayed", func(t *testing.T) { testOrderDeadReplayed(t, open(t)) })
	t.Run("OrderDeadSkipPolicy", func(t *testing.T) { testOrderDeadSkipPolicy(t, open(t)) })
	t.Run("OrderSkipInvalid", func(t *testing.T) { testOrderSkipInvalid(t, open(t)) })
	t.Run("OrderRacingClaimers", func(t *testing.T) { testOrderRacing(t, open(t)) })
}

// ordered returns a pending event of key, created at created (unix
// seconds), received at base+recv, due at qt0.
func ordered(id, key string, created int64, recv time.Duration) *hookbox.Event {
	ev := queued(id, base.Add(recv), qt0)
	ev.OrderKey = key
	ev.Created = created
	return ev
}

// deliver claims nothing: it completes claim c at now as delivered to
// "app".
func completeAs(tb testing.TB, s hookbox.Store, c *hookbox.Claim, now time.Time, d hookbox.Delivery) {
	tb.Helper()
	mustComplete(tb, s, hookbox.Completion{EventID: c.Event.ID, Owner: c.Owner, Now: now,
		Attempts: []hookbox.Attempt{tried(d, now)}, Deliveries: []hookbox.Delivery{d}})
}

func testOrderRoundTrip(t *testing.T, s hookbox.Store) {
	ev := ordered("evt_1", "stripe/acct_1/live/sub_1", 100, 0)
	ev.OrderSkipDead = true
	MustInsert(t, s, ev, queued("evt_2", base, qt0))
	got := MustFindByID(t, s, "evt_1")
	if got.OrderKey != ev.OrderKey || !got.OrderSkipDead || got.LateAfter != "" {
		t.Fatalf("stored order: key %q skip dead %v late %q", got.OrderKey, got.OrderSkipDead, got.LateAfter)
	}
	if got := MustFindByID(t, s, "evt_2"); got.OrderKey != "" || got.OrderSkipDead {
		t.Fatalf("unordered event stored with key %q skip dead %v", got.OrderKey, got.OrderSkipDead)
	}
}

// Ensures only the oldest event of a key (by Created, not by arrival) is
// due, that other keys and unordered events are not held, and that the
// key's events come one by one in creation order as each is delivered.
func testOrderHeadOnly(t *testing.T, s hookbox.Store) {
	MustInsert(t, s,
		ordered("evt_k3", "K", 300, 0), // arrives first, created last
		ordered("evt_k1", "K", 100, time.Millisecond),
		ordered("evt_l1", "L", 500, 2*time.Millisecond),
		queued("evt_u1", base.Add(3*time.Millisecond), qt0),
		ordered("evt_k2", "K", 200, 4*time.Millisecond),
	)
	now := qt0
	cs := mustClaim(t, s, "w", now, 10)
	assertClaimIDs(t, cs, "evt_k1", "evt_l1", "evt_u1")
	assertClaimIDs(t, mustClaim(t, s, "w2", now, 10)) // k2, k3 wait behind k1
	for _, c := range cs {
		completeAs(t, s, c, now, delivered(c.Event.ID, "app", 1, now))
	}
	for _, want := range []string{"evt_k2", "evt_k3"} {
		cs := mustClaim(t, s, "w", now, 10)
		assertClaimIDs(t, cs, want)
		if cs[0].Event.LateAfter != "" {
			t.Fatalf("%s: LateAfter %q, want none", want, cs[0].Event.LateAfter)
		}
		completeAs(t, s, cs[0], now, delivered(want, "app", 1, now))
	}
	assertClaimIDs(t, mustClaim(t, s, "w", now, 10))
}

// Ensures events created in the same second go in the order they were
// received, then by id.
func testOrderTies(t *testing.T, s hookbox.Store) {
	MustInsert(t, s,
		ordered("evt_b", "K", 100, 2*time.Millisecond),
		ordered("evt_c", "K", 100, time.Millisecond),
		ordered("evt_a", "K", 100, 2*time.Millisecond),
	)
	for _, want := range []string{"evt_c", "evt_a", "evt_b"} {
		cs := mustClaim(t, s, "w", qt0, 10)
		assertClaimIDs(t, cs, want)
		completeAs(t, s, cs[0], qt0, delivered(want, "app", 1, qt0))
	}
}

// Ensures an older event that arrives while a newer one of its key is in
// flight waits for it, and is then claimed late after it.
func testOrderInFlight(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, ordered("evt_new", "K", 200, 0))
	cs := mustClaim(t, s, "w", qt0, 10)
	assertClaimIDs(t, cs, "evt_new")
	MustInsert(t, s, ordered("evt_old", "K", 100, time.Second))
	assertClaimIDs(t, mustClaim(t, s, "w2", qt0, 10)) // evt_new in flight
	// An expired lease still holds the key: the crashed worker's event
	// comes back first.
	later := qt0.Add(qLease + time.Second)
	cs2 := mustClaim(t, s, "w3", later, 10)
	assertClaimIDs(t, cs2, "evt_new")
	completeAs(t, s, cs2[0], later, delivered("evt_new", "app", 1, later))
	cs3 := mustClaim(t, s, "w", later, 10)
	assertClaimIDs(t, cs3, "evt_old")
	if got := cs3[0].Event.LateAfter; got != "evt_new" {
		t.Fatalf("evt_old: LateAfter %q, want evt_new", got)
	}
}

// Ensures a head waiting for a retry holds the later events of its key
// until it is delivered.
func testOrderRetry(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, ordered("evt_1", "K", 100, 0), ordered("evt_2", "K", 200, time.Millisecond))
	cs := mustClaim(t, s, "w", qt0, 10)
	assertClaimIDs(t, cs, "evt_1")
	retry := qt0.Add(time.Minute)
	completeAs(t, s, cs[0], qt0, pending("evt_1", "app", 1, retry, qt0, "HTTP 500"))
	assertClaimIDs(t, mustClaim(t, s, "w", qt0.Add(time.Second), 10))
	cs = mustClaim(t, s, "w", retry, 10)
	assertClaimIDs(t, cs, "evt_1")
	completeAs(t, s, cs[0], retry, delivered("evt_1", "app", 2, retry))
	assertClaimIDs(t, mustClaim(t, s, "w", retry, 10), "evt_2")
}

// Ensures a dead head holds its key, is listed and counted as blocked,
// and that skipping it by hand lets the key go on.
func testOrderDeadBlocks(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, ordered("evt_1", "K", 100, 0), ordered("evt_2", "K", 200, time.Millisecond),
		ordered("evt_other", "L", 100, 2*time.Millisecond))
	cs := mustClaim(t, s, "w", qt0, 10)
	assertClaimIDs(t, cs, "evt_1", "evt_other")
	completeAs(t, s, cs[0], qt0, dead("evt_1", "app", 8, qt0, "HTTP 500"))
	completeAs(t, s, cs[1], qt0, delivered("evt_other", "app", 1, qt0))
	assertClaimIDs(t, mustClaim(t, s, "w", qt0.Add(time.Hour), 10))

	ctx := context.Background()
	blocked, err := s.CountBlocked(ctx)
	if err != nil {
		t.Fatalf("CountBlocked: %v", err)
	}
	if want := map[string]int{"app": 1}; !maps.Equal(blocked, want) {
		t.Fatalf("CountBlocked = %v, want %v", blocked, want)
	}
	list, err := s.FindEvents(ctx, hookbox.EventFilter{Blocked: true})
	if err != nil {
		t.Fatalf("FindEvents(Blocked): %v", err)
	}
	if len(list) != 1 || list[0].ID != "evt_1" {
		t.Fatalf("FindEvents(Blocked) = %v, want [evt_1]", eventIDs(list))
	}

	at := qt0.Add(2 * time.Hour)
	n, err := s.SkipEvents(ctx, []string{"evt_1", "evt_2", "evt_none"}, "skipped by hand", at)
	if err != nil || n != 1 { // evt_2 is pending and never tried: not skipped
		t.Fatalf("SkipEvents = %d, %v; want 1, nil", n, err)
	}
	assertQueued(t, s, "evt_1", hookbox.StateDelivered, 1, time.Time{})
	want := delivered("evt_1", "app", 8, at)
	want.LastError, want.SkipReason = "HTTP 500", "skipped by hand"
	assertDeliveries(t, mustDeliveries(t, s, "evt_1"), want)
	if blocked, _ := s.CountBlocked(ctx); len(blocked) != 0 {
		t.Fatalf("CountBlocked after skip = %v, want none", blocked)
	}
	cs = mustClaim(t, s, "w", at, 10)
	assertClaimIDs(t, cs, "evt_2")
	if cs[0].Event.LateAfter != "" {
		t.Fatalf("evt_2: LateAfter %q after a skipped older event", cs[0].Event.LateAfter)
	}
}

// Ensures replaying a dead head sends it before the events it held, and
// that a replay clears a skip.
func testOrderDeadReplayed(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, ordered("evt_1", "K", 100, 0), ordered("evt_2", "K", 200, time.Millisecond))
	cs := mustClaim(t, s, "w", qt0, 10)
	completeAs(t, s, cs[0], qt0, dead("evt_1", "app", 8, qt0, "HTTP 500"))
	at := qt0.Add(time.Hour)
	if n, err := s.ReplayEvents(context.Background(), hookbox.ReplayFilter{IDs: []string{"evt_1"}}, at); err != nil || n != 1 {
		t.Fatalf("ReplayEvents = %d, %v", n, err)
	}
	cs = mustClaim(t, s, "w", at, 10)
	assertClaimIDs(t, cs, "evt_1")
	skipped := delivered("evt_1", "app", 1, at)
	skipped.SkipReason = "late"
	completeAs(t, s, cs[0], at, skipped)
	assertDeliveries(t, mustDeliveries(t, s, "evt_1"), skipped)
	cs = mustClaim(t, s, "w", at, 10)
	assertClaimIDs(t, cs, "evt_2")
	completeAs(t, s, cs[0], at, delivered("evt_2", "app", 1, at))
	// A replay of the whole delivered event clears the skip.
	if n, err := s.ReplayEvents(context.Background(), hookbox.ReplayFilter{IDs: []string{"evt_1"}}, at); err != nil || n != 1 {
		t.Fatalf("ReplayEvents = %d, %v", n, err)
	}
	ds := mustDeliveries(t, s, "evt_1")
	if len(ds) != 1 || ds[0].SkipReason != "" || ds[0].State != hookbox.StatePending {
		t.Fatalf("deliveries after replay: %+v", ds)
	}
	cs = mustClaim(t, s, "w", at, 10)
	assertClaimIDs(t, cs, "evt_1")
	if got := cs[0].Event.LateAfter; got != "evt_2" {
		t.Fatalf("replayed evt_1: LateAfter %q, want evt_2", got)
	}
}

// Ensures a dead event whose key moves on (OrderSkipDead) holds nothing.
func testOrderDeadSkipPolicy(t *testing.T, s hookbox.Store) {
	e1, e2 := ordered("evt_1", "K", 100, 0), ordered("evt_2", "K", 200, time.Millisecond)
	e1.OrderSkipDead, e2.OrderSkipDead = true, true
	MustInsert(t, s, e1, e2)
	cs := mustClaim(t, s, "w", qt0, 10)
	assertClaimIDs(t, cs, "evt_1")
	completeAs(t, s, cs[0], qt0, dead("evt_1", "app", 8, qt0, "HTTP 500"))
	assertClaimIDs(t, mustClaim(t, s, "w", qt0, 10), "evt_2")
	if blocked, _ := s.CountBlocked(context.Background()); len(blocked) != 0 {
		t.Fatalf("CountBlocked = %v, want none", blocked)
	}
}

func testOrderSkipInvalid(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	for _, c := range []struct {
		ids    []string
		reason string
		now    time.Time
	}{{nil, "r", qt0}, {[]string{"evt_1"}, "", qt0}, {[]string{"evt_1"}, "r", time.Time{}}} {
		if _, err := s.SkipEvents(ctx, c.ids, c.reason, c.now); hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Errorf("SkipEvents(%v, %q, %v) = %v, want EINVALID", c.ids, c.reason, c.now, err)
		}
	}
	MustInsert(t, s, queued("evt_1", base, qt0))
	cs := mustClaim(t, s, "w", qt0, 1)
	bad := pending("evt_1", "app", 1, qt0, qt0, "")
	bad.SkipReason = "late"
	err := s.CompleteClaim(ctx, hookbox.Completion{EventID: "evt_1", Owner: cs[0].Owner, Now: qt0, Deliveries: []hookbox.Delivery{bad}})
	if hookbox.ErrorCode(err) != hookbox.EINVALID {
		t.Fatalf("CompleteClaim with a pending skipped delivery = %v, want EINVALID", err)
	}
	// A leased event is never skipped.
	if n, err := s.SkipEvents(ctx, []string{"evt_1"}, "r", qt0); err != nil || n != 0 {
		t.Fatalf("SkipEvents(leased) = %d, %v; want 0, nil", n, err)
	}
}

// Ensures claimers racing over many keys never hold two events of a key
// at once and receive each key's events in creation order, whatever the
// arrival order.
func testOrderRacing(t *testing.T, s hookbox.Store) {
	const keys, per, claimers = 12, 5, 4
	var evs []*hookbox.Event
	for i := range keys * per {
		k, n := i%keys, per-1-(i/keys) // each key's events arrive newest first
		evs = append(evs, ordered(fmt.Sprintf("evt_%02d_%d", k, n), fmt.Sprintf("K%02d", k), int64(1000+n), time.Duration(i)*time.Millisecond))
	}
	MustInsert(t, s, evs...)
	var (
		mu       sync.Mutex
		inflight = map[string]string{} // key -> event id
		seen     = map[string][]string{}
		wg       sync.WaitGroup
	)
	for w := range claimers {
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for idle := 0; idle < 3; {
				cs, err := s.ClaimEvents(context.Background(), owner, qt0, qLease, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(cs) == 0 {
					idle++
					continue
				}
				idle = 0
				mu.Lock()
				for _, c := range cs {
					k := c.Event.OrderKey
					if other, ok := inflight[k]; ok {
						t.Errorf("%s claimed by %s while %s of the same key is in flight", c.Event.ID, owner, other)
					}
					inflight[k] = c.Event.ID
					seen[k] = append(seen[k], c.Event.ID)
				}
				mu.Unlock()
				for _, c := range cs {
					mu.Lock()
					delete(inflight, c.Event.OrderKey)
					mu.Unlock()
					completeAs(t, s, c, qt0, delivered(c.Event.ID, "app", 1, qt0))
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != keys {
		t.Fatalf("%d keys delivered, want %d", len(seen), keys)
	}
	for k, ids := range seen {
		if !slices.IsSorted(ids) || len(ids) != per {
			t.Errorf("key %s: claimed %v, want %d events in creation order", k, ids, per)
		}
	}
}

func eventIDs(evs []*hookbox.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}
