package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// runBodies runs the cases of bodies stored as they come or compressed:
// whatever the store does to keep them small, each body comes back byte
// for byte wherever it is read.
func runBodies(t *testing.T, open func(tb testing.TB) hookbox.Store) {
	t.Run("RoundTrip", func(t *testing.T) { testBodyRoundTrip(t, open(t)) })
	t.Run("Batch", func(t *testing.T) { testBodyBatch(t, open(t)) })
	t.Run("ReplayAndPrune", func(t *testing.T) { testBodyReplayPrune(t, open(t)) })
	t.Run("SearchObjectID", func(t *testing.T) { testBodySearch(t, open(t)) })
	t.Run("Prepared", func(t *testing.T) { testBodyPrepared(t, open(t), open(t)) })
}

// stripeBody is a Stripe-shaped event of about 2.7 KB: a body the store
// compresses.
func stripeBody(id, objectID string) []byte {
	return bytes.Replace(BenchBody(id), []byte("pi_3QxYzA2eZvKYlo2C1a2b3c4d"), []byte(objectID), -1)
}

// testBodies are bodies of every kind: empty, tiny, not JSON, random
// (incompressible), large, and bytes that start as a zstd frame does.
func testBodies() map[string][]byte {
	rng := rand.New(rand.NewPCG(7, 8))
	random := make([]byte, 20_000)
	for i := range random {
		random[i] = byte(rng.IntN(256))
	}
	large := make([]byte, 0, 3<<20)
	for i := 0; len(large) < 3<<20; i++ {
		large = fmt.Appendf(large, `{"n":%d,"v":"%x"},`, i, rng.Uint64())
	}
	return map[string][]byte{
		"evt_empty":  {},
		"evt_nil":    nil,
		"evt_tiny":   []byte(`{}`),
		"evt_binary": []byte("\x00\xff\x00binary\r\n\x80 not JSON"),
		"evt_random": random,
		"evt_large":  large,
		"evt_stripe": stripeBody("evt_stripe", "pi_1"),
		"evt_magic":  append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00}, bytes.Repeat([]byte("zstd? "), 100)...),
		"evt_zeros":  make([]byte, 100_000),
	}
}

// Ensures every body comes back byte for byte from FindEventByID and from
// a claim, empty (not nil) when none was given.
func testBodyRoundTrip(t *testing.T, s hookbox.Store) {
	bodies := testBodies()
	var evs []*hookbox.Event
	i := 0
	for id, b := range bodies {
		ev := queued(id, base.Add(time.Duration(i)*time.Second), qt0)
		ev.Body = b
		evs = append(evs, ev)
		i++
	}
	MustInsert(t, s, evs...)
	check := func(how, id string, got []byte) {
		t.Helper()
		want := bodies[id]
		if got == nil || !bytes.Equal(got, want) {
			t.Errorf("%s %s: %d bytes back (nil %v), want the %d stored", how, id, len(got), got == nil, len(want))
		}
	}
	for id := range bodies {
		check("FindEventByID", id, MustFindByID(t, s, id).Body)
	}
	cs := mustClaim(t, s, "w1", qt0, len(bodies))
	if len(cs) != len(bodies) {
		t.Fatalf("claimed %d, want %d", len(cs), len(bodies))
	}
	for _, c := range cs {
		check("claim", c.Event.ID, c.Event.Body)
	}
	if c := mustClaimEvent(t, s, "evt_stripe", "w2", qt0.Add(time.Hour)); c != nil {
		check("ClaimEventByID", "evt_stripe", c.Event.Body)
	}
}

// Ensures a compressed body is replayed and claimed whole, and that
// retention empties it like any body: it reads empty and is not replayed.
func testBodyReplayPrune(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	now := qt0
	for _, id := range []string{"evt_a", "evt_b"} {
		ev := queued(id, base, now)
		ev.Body = stripeBody(id, "ch_"+id)
		settle(t, s, ev, now, delivered(id, "app", 1, now))
	}
	if n, _, err := s.PruneEvents(ctx, base.Add(time.Second), time.Time{}); err != nil || n != 2 {
		t.Fatalf("PruneEvents = %d, %v; want 2 bodies emptied", n, err)
	}
	for _, id := range []string{"evt_a", "evt_b"} {
		if b := MustFindByID(t, s, id).Body; b == nil || len(b) != 0 {
			t.Fatalf("%s after prune: %d bytes (nil %v), want empty", id, len(b), b == nil)
		}
	}
	ev := queued("evt_c", base.Add(time.Minute), now)
	ev.Body = stripeBody("evt_c", "ch_c")
	settle(t, s, ev, now, delivered("evt_c", "app", 1, now))
	at := now.Add(time.Hour)
	n, err := s.ReplayEvents(ctx, hookbox.ReplayFilter{IDs: []string{"evt_a", "evt_c"}}, at)
	if err != nil || n != 1 {
		t.Fatalf("ReplayEvents = %d, %v; want 1 (the emptied body is not sent again)", n, err)
	}
	cs := mustClaim(t, s, "w1", at, 10)
	assertClaimIDs(t, cs, "evt_c")
	if !bytes.Equal(cs[0].Event.Body, ev.Body) {
		t.Fatalf("replayed body: %d bytes, want the %d stored", len(cs[0].Event.Body), len(ev.Body))
	}
}

// Ensures a search by object id finds events by a compressed body's
// data.object.id, and not by an id found elsewhere in it. An event's
// ObjectID (read with the envelope at ingest) is used as it is, and one
// that its body does not hold is not trusted.
func testBodySearch(t *testing.T, s hookbox.Store) {
	se, ok := s.(hookbox.EventSearcher)
	if !ok {
		skipf(t, "%T is not a hookbox.EventSearcher", s)
	}
	a := queued("evt_a", base, qt0)
	a.Body = stripeBody("evt_a", "pi_A")
	b := queued("evt_b", base.Add(time.Second), qt0)
	b.Body = stripeBody("evt_b", "pi_B")
	c := queued("evt_c", base.Add(2*time.Second), qt0)
	c.Body, c.ObjectID = stripeBody("evt_c", "pi_C"), "pi_C"
	d := queued("evt_d", base.Add(3*time.Second), qt0)
	d.Body, d.ObjectID = stripeBody("evt_d", "pi_D"), "pi_nowhere"
	MustInsert(t, s, a, b, c, d)
	for _, tc := range []struct {
		id   string
		want []string
	}{
		{"pi_A", []string{"evt_a"}},
		{"pi_B", []string{"evt_b"}},
		{"pi_C", []string{"evt_c"}},
		{"pi_D", []string{"evt_d"}},
		{"pi_nowhere", nil},
		{"cus_RkQ2mZp9xY3aBc", nil}, // data.object.customer, not its id
	} {
		evs, err := se.SearchEvents(context.Background(), hookbox.EventQuery{ObjectID: tc.id})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range evs {
			got = append(got, ev.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("object %s: %v, want %v", tc.id, got, tc.want)
		}
	}
}

// Ensures each event of a large batch gets its own body back and is found
// by its own object id (a store may encode a batch's bodies in parallel).
func testBodyBatch(t *testing.T, s hookbox.Store) {
	const n = 200
	evs := make([]*hookbox.Event, n)
	for i := range evs {
		id := fmt.Sprintf("evt_%03d", i)
		evs[i] = queued(id, base.Add(time.Duration(i)*time.Millisecond), qt0)
		evs[i].Body = stripeBody(id, fmt.Sprintf("pi_%03d", i))
	}
	MustInsert(t, s, evs...)
	for _, ev := range evs {
		if got := MustFindByID(t, s, ev.ID).Body; !bytes.Equal(got, ev.Body) {
			t.Fatalf("%s: another body came back", ev.ID)
		}
	}
	se, ok := s.(hookbox.EventSearcher)
	if !ok {
		return
	}
	for _, i := range []int{0, 77, n - 1} {
		got, err := se.SearchEvents(context.Background(), hookbox.EventQuery{ObjectID: fmt.Sprintf("pi_%03d", i)})
		if err != nil || len(got) != 1 || got[0].ID != evs[i].ID {
			t.Fatalf("object pi_%03d: %d events, %v; want %s", i, len(got), err, evs[i].ID)
		}
	}
}

// Ensures a body prepared ahead (hookbox.Preparer, in the request's
// goroutine) is stored as it would be without: byte for byte, found by its
// object id. A preparation that no longer matches the event (its Body
// replaced since, or made by another store, or of another kind) is not
// used: the event's own Body is stored.
func testBodyPrepared(t *testing.T, s, other hookbox.Store) {
	p, ok := s.(hookbox.Preparer)
	if !ok {
		skipf(t, "%T is not a hookbox.Preparer", s)
	}
	op, _ := other.(hookbox.Preparer)
	evs := map[string]*hookbox.Event{}
	for i, id := range []string{"evt_prep", "evt_stale", "evt_other", "evt_kind", "evt_empty"} {
		ev := queued(id, base.Add(time.Duration(i)*time.Second), qt0)
		ev.Body = stripeBody(id, "pi_"+id)
		evs[id] = ev
	}
	evs["evt_empty"].Body = []byte{}
	for _, ev := range evs {
		p.PrepareInsert(ev)
	}
	stale := evs["evt_stale"]
	stale.Body = stripeBody("evt_stale", "pi_replaced") // after PrepareInsert
	if op != nil {
		op.PrepareInsert(evs["evt_other"])
	}
	evs["evt_kind"].Prepared = "not a preparation"
	MustInsert(t, s, evs["evt_prep"], stale, evs["evt_other"], evs["evt_kind"], evs["evt_empty"])
	for id, ev := range evs {
		if got := MustFindByID(t, s, id).Body; got == nil || !bytes.Equal(got, ev.Body) {
			t.Errorf("%s: %d bytes back, want the %d of its Body", id, len(got), len(ev.Body))
		}
	}
	se, ok := s.(hookbox.EventSearcher)
	if !ok {
		return
	}
	for objectID, want := range map[string]string{"pi_evt_prep": "evt_prep", "pi_replaced": "evt_stale", "pi_evt_stale": ""} {
		got, err := se.SearchEvents(context.Background(), hookbox.EventQuery{ObjectID: objectID})
		if err != nil {
			t.Fatal(err)
		}
		if (want == "" && len(got) != 0) || (want != "" && (len(got) != 1 || got[0].ID != want)) {
			t.Errorf("object %s: %d events, want %q", objectID, len(got), want)
		}
	}
}
