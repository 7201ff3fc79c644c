package storetest

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// orderStressSize is how much one run of OrderStress does: keys, events
// per key at the start, events inserted while claimers run, claimers.
// HOOKBOX_LONG=1 (the convention of cmd/hookbox's -hookbox.long) runs a
// larger size.
type orderStressSize struct {
	keys, initial, inserts, claimers int
}

func stressSize() orderStressSize {
	if os.Getenv("HOOKBOX_LONG") == "1" {
		return orderStressSize{keys: 12, initial: 6, inserts: 600, claimers: 8}
	}
	return orderStressSize{keys: 6, initial: 4, inserts: 60, claimers: 4}
}

// runOrderStress runs OrderStress on one handle: its claimers race inside
// the store (a PostgreSQL pool's connections, SQLite's one writer).
func runOrderStress(t *testing.T, open func(tb testing.TB) hookbox.Store) {
	testOrderStress(t, []hookbox.Store{open(t)}, stressSize())
}

// OrderStress runs the stress case of ordered claims on handles handles of
// db, each standing for a replica: claimers spread over the handles race
// on one database. For the stores that several processes may claim from
// at once (PostgreSQL); Run runs the same case on one handle.
func OrderStress(t *testing.T, db Database, handles int) {
	ctx := context.Background()
	stores := make([]hookbox.Store, handles)
	for i := range stores {
		s, err := db.Open(ctx)
		if err != nil {
			t.Fatalf("open handle %d: %v", i, err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	testOrderStress(t, stores, stressSize())
}

// stressEvent is what the stress test knows of an event: its order and
// when it was, for certain, waiting to be delivered.
type stressEvent struct {
	id, key  string
	created  int64
	received time.Time
	skipDead bool
	// unsettled are the intervals [from, to) of the logical clock during
	// which the event was for certain pending or delivering: from its
	// insert's (or replay's) return to the call of the completion that
	// delivered it or killed it (to is max while open).
	unsettled [][2]int64
	delivered int64 // clock when its delivering completion returned, 0 if never
	dead      bool  // last completed dead, not replayed since
	settled   bool  // last completed delivered or dead
	settledAt int64 // clock when the last such completion was called
}

func (e *stressEvent) before(o *stressEvent) bool {
	return cmp.Or(cmp.Compare(e.created, o.created), e.received.Compare(o.received), strings.Compare(e.id, o.id)) < 0
}

// stressClaim is one claim: [claimed, released] lies inside the time the
// event was delivering (claimed is read after ClaimEvents returned,
// released before CompleteClaim is called), and [start, claimed] holds the
// claim's commit.
type stressClaim struct {
	ev                       *stressEvent
	owner, late              string
	start, claimed, released int64
}

// Ensures several handles on one database, each with claimers that
// complete, retry or kill what they claim while new events (some older
// than delivered ones: late; some created in the same second) and replays
// of dead ones arrive for the same keys, never hold two events of a key at
// once, and claim a key's events in order unless the claim says late.
//
// Times are a logical clock (an atomic counter) read before and after each
// call, so that every check holds for certain whatever the scheduling: an
// overlap or an order reported is one the store committed. The injected
// now advances with it; leases never expire.
func testOrderStress(t *testing.T, stores []hookbox.Store, size orderStressSize) {
	ctx := context.Background()
	var (
		clock  atomic.Int64 // logical time; now() is qt0 + clock ms
		mu     sync.Mutex
		events = map[string]*stressEvent{}
		claims []stressClaim
		recv   int64 // microseconds after base of the next insert
	)
	tick := func() int64 { return clock.Add(1) }
	now := func() time.Time { return qt0.Add(time.Duration(clock.Load()) * time.Millisecond) }
	const lease = 24 * time.Hour

	// newEvent returns a new event of key k created at created, recorded
	// once inserted.
	newEvent := func(k int, created int64) (*hookbox.Event, *stressEvent) {
		mu.Lock()
		recv++
		r := recv
		mu.Unlock()
		key := fmt.Sprintf("K%02d", k)
		se := &stressEvent{id: fmt.Sprintf("evt_%s_%06d", key, r), key: key, created: created,
			received: base.Add(time.Duration(r) * time.Microsecond).UTC(), skipDead: k%2 == 0}
		ev := queued(se.id, se.received, qt0)
		ev.OrderKey, ev.Created, ev.OrderSkipDead = key, created, se.skipDead
		return ev, se
	}
	insert := func(s hookbox.Store, evs []*hookbox.Event, ses []*stressEvent) {
		mu.Lock()
		for _, se := range ses {
			events[se.id] = se
		}
		mu.Unlock()
		rs, err := s.InsertEvents(ctx, evs)
		if err != nil {
			t.Errorf("InsertEvents: %v", err)
			return
		}
		for i, r := range rs {
			if r.Err != nil || r.Duplicate {
				t.Errorf("InsertEvents(%s): %v, duplicate %v", evs[i].ID, r.Err, r.Duplicate)
			}
		}
		at := tick()
		mu.Lock()
		for _, se := range ses {
			if !se.settled { // else claimed and settled before the insert returned
				se.unsettled = append(se.unsettled, [2]int64{at, 1<<63 - 1})
			}
		}
		mu.Unlock()
	}

	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	var evs []*hookbox.Event
	var ses []*stressEvent
	for i := range size.keys * size.initial {
		ev, se := newEvent(i%size.keys, 1000+int64(rng.IntN(size.initial)))
		evs, ses = append(evs, ev), append(ses, se)
	}
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i]; ses[i], ses[j] = ses[j], ses[i] })
	insert(stores[0], evs, ses)

	var inserting atomic.Bool
	inserting.Store(true)
	var wg sync.WaitGroup
	wg.Go(func() { // the receiver: new events, late ones and ties, and replays of dead ones
		defer inserting.Store(false)
		rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
		for i := range size.inserts {
			k := rng.IntN(size.keys)
			ev, se := newEvent(k, 1000+int64(rng.IntN(size.initial+2))-1)
			insert(stores[i%len(stores)], []*hookbox.Event{ev}, []*stressEvent{se})
			if i%5 != 4 {
				continue
			}
			mu.Lock()
			var deadID string
			for _, e := range events {
				if e.dead {
					deadID = e.id
					break
				}
			}
			mu.Unlock()
			if deadID == "" {
				continue
			}
			start := tick()
			n, err := stores[0].ReplayEvents(ctx, hookbox.ReplayFilter{IDs: []string{deadID}}, now())
			if err != nil || n != 1 {
				t.Errorf("ReplayEvents(%s) = %d, %v", deadID, n, err)
				return
			}
			at := tick()
			mu.Lock()
			// Unless a claimer took the replayed event and settled it
			// again before the replay returned.
			if e := events[deadID]; e.settledAt < start {
				e.dead, e.settled = false, false
				e.unsettled = append(e.unsettled, [2]int64{at, 1<<63 - 1})
			}
			mu.Unlock()
		}
	})
	for w := range size.claimers {
		s, owner := stores[w%len(stores)], fmt.Sprintf("w%d", w)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w)+3, uint64(time.Now().UnixNano())))
			for idle := 0; idle < 20; { // 20 empty claims: more ticks than any retry waits
				start := tick()
				cs, err := s.ClaimEvents(ctx, owner, now(), lease, 1+rng.IntN(3))
				claimed := tick()
				if err != nil {
					t.Errorf("ClaimEvents: %v", err)
					return
				}
				if len(cs) == 0 {
					if !inserting.Load() {
						idle++
					}
					continue
				}
				idle = 0
				for _, c := range cs {
					mu.Lock()
					se := events[c.Event.ID]
					mu.Unlock()
					if se == nil {
						t.Errorf("claimed %s, which was never inserted", c.Event.ID)
						return
					}
					d := delivered(c.Event.ID, "app", c.Event.Attempts+1, now())
					switch p := rng.IntN(10); {
					case p < 3 && c.Event.Attempts < 3:
						d = pending(c.Event.ID, "app", c.Event.Attempts+1, now().Add(time.Duration(1+rng.IntN(5))*time.Millisecond), now(), "HTTP 500")
					case p < 5 && se.skipDead:
						d = dead(c.Event.ID, "app", c.Event.Attempts+1, now(), "HTTP 500")
					}
					released := tick()
					mu.Lock()
					claims = append(claims, stressClaim{ev: se, owner: owner, late: c.Event.LateAfter, start: start, claimed: claimed, released: released})
					if n := len(se.unsettled); d.State != hookbox.StatePending && n > 0 && se.unsettled[n-1][1] == 1<<63-1 {
						se.unsettled[n-1][1] = released
					}
					if se.settled = d.State != hookbox.StatePending; se.settled {
						se.settledAt = released
					}
					mu.Unlock()
					if err := s.CompleteClaim(ctx, hookbox.Completion{EventID: c.Event.ID, Owner: owner, Now: now(),
						Attempts: []hookbox.Attempt{tried(d, now())}, Deliveries: []hookbox.Delivery{d}}); err != nil {
						t.Errorf("CompleteClaim(%s): %v", c.Event.ID, err)
						return
					}
					at := tick()
					mu.Lock()
					switch d.State {
					case hookbox.StateDelivered:
						se.delivered = at
					case hookbox.StateDead:
						se.dead = true
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	checkOrderStress(t, events, claims)
	if t.Failed() {
		for _, e := range events {
			got := MustFindByID(t, stores[0], e.id)
			t.Logf("stored %s: %s next %s created %d received %s", e.id, got.State, got.NextAttemptAt.Format("05.000000"), got.Created, got.ReceivedAt.Format("05.000000"))
		}
	}
}

// checkOrderStress fails t when two claims of one key overlap, when a
// claim not marked late came after a newer event of its key was delivered,
// or when an event was claimed while an older one of its key was for
// certain waiting.
func checkOrderStress(t *testing.T, events map[string]*stressEvent, claims []stressClaim) {
	t.Helper()
	byKey := map[string][]*stressEvent{}
	for _, e := range events {
		byKey[e.key] = append(byKey[e.key], e)
		if !e.settled {
			t.Errorf("%s was never delivered nor killed", e.id)
		}
	}
	late := 0
	for i, a := range claims {
		for _, b := range claims[i+1:] {
			if a.ev.key == b.ev.key && a.claimed < b.released && b.claimed < a.released {
				t.Errorf("key %s: %s (by %s, delivering during [%d, %d]) and %s (by %s, during [%d, %d]) in flight at once",
					a.ev.key, a.ev.id, a.owner, a.claimed, a.released, b.ev.id, b.owner, b.claimed, b.released)
			}
		}
		if a.late != "" {
			late++
		}
		for _, o := range byKey[a.ev.key] {
			// Late is about the newer event as the store holds it: one
			// replayed after its delivery (a replay of a delivered event is
			// an explicit resend) is pending again, not delivered, so an
			// older event claimed meanwhile is not late after it.
			if a.late == "" && a.ev.before(o) && o.delivered != 0 && o.delivered < a.start && !reopened(o, a.start) {
				t.Errorf("key %s: %s claimed at %d, not late, after the newer %s was delivered at %d",
					a.ev.key, a.ev.id, a.start, o.id, o.delivered)
			}
			if o.before(a.ev) {
				for _, u := range o.unsettled {
					if u[0] < a.start && a.claimed <= u[1] {
						t.Errorf("key %s: %s claimed during [%d, %d] while the older %s waited during [%d, %d)",
							a.ev.key, a.ev.id, a.start, a.claimed, o.id, u[0], u[1])
					}
				}
			}
		}
	}
	t.Logf("%d events, %d claims, %d late", len(events), len(claims), late)
	if t.Failed() {
		for k, es := range byKey {
			slices.SortFunc(es, func(a, b *stressEvent) int {
				if a.before(b) {
					return -1
				}
				return 1
			})
			for _, e := range es {
				t.Logf("key %s: %s created %d received %s unsettled %v delivered %d", k, e.id, e.created, e.received.Format("05.000000"), e.unsettled, e.delivered)
			}
		}
		for _, c := range claims {
			t.Logf("claim %s %s by %s late %q [%d %d %d]", c.ev.key, c.ev.id, c.owner, c.late, c.start, c.claimed, c.released)
		}
	}
}

// reopened reports whether e was made pending again (replayed) after its
// last delivery and before at.
func reopened(e *stressEvent, at int64) bool {
	for _, u := range e.unsettled {
		if u[0] > e.delivered && u[0] < at {
			return true
		}
	}
	return false
}
