package storetest

// The FindEvents and FindEventByID cases.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// Ensures a missing event is ENOTFOUND.
func testFindByIDNotFound(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, NewEvent("evt_there", "charge.succeeded", base))
	for _, id := range []string{"evt_missing", "", "EVT_THERE"} {
		ev, err := s.FindEventByID(context.Background(), id)
		if ev != nil {
			t.Fatalf("FindEventByID(%q) = %v, want nil", id, ev)
		}
		assertCode(t, err, hookbox.ENOTFOUND)
	}
}

// sortedNewestFirst returns evs in listing order: ReceivedAt (as stored)
// descending, then ID descending.
func sortedNewestFirst(evs []*hookbox.Event) []string {
	s := slices.Clone(evs)
	slices.SortFunc(s, func(a, b *hookbox.Event) int {
		if c := storedTime(b.ReceivedAt).Compare(storedTime(a.ReceivedAt)); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return ids(s)
}

// Ensures listings are newest received first, ties on ReceivedAt broken by
// descending ID, whatever the insertion order, and carry no bodies.
func testFindOrder(t *testing.T, s hookbox.Store) {
	rng := rand.New(rand.NewPCG(7, 7))
	t0 := base.Truncate(time.Microsecond)
	var evs []*hookbox.Event
	for i := range 40 {
		// Four events per microsecond; the nanoseconds below it differ
		// but are not kept, so they must not order the events.
		at := t0.Add(time.Duration(i/4)*time.Millisecond + time.Duration(rng.IntN(1000)))
		evs = append(evs, NewEvent(fmt.Sprintf("evt_%02d_%02d", rng.IntN(100), i), "charge.succeeded", at))
	}
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	MustInsert(t, s, evs[:20]...)
	MustInsert(t, s, evs[20:]...)

	got := all(t, s)
	assertIDs(t, got, sortedNewestFirst(evs)...)
	byID := map[string]*hookbox.Event{}
	for _, ev := range evs {
		byID[ev.ID] = ev
	}
	for _, g := range got {
		AssertEvent(t, g, Stored(byID[g.ID]), false)
	}
}

// Ensures Limit caps a listing and a Limit <= 0 means DefaultListLimit.
func testFindLimit(t *testing.T, s hookbox.Store) {
	n := hookbox.DefaultListLimit + 20
	var evs []*hookbox.Event
	for i := range n {
		evs = append(evs, NewEvent(fmt.Sprintf("evt_%04d", i), "charge.succeeded", base.Add(time.Duration(i)*time.Second)))
	}
	MustInsert(t, s, evs...)
	for _, tc := range []struct{ limit, want int }{
		{0, hookbox.DefaultListLimit},
		{-1, hookbox.DefaultListLimit},
		{5, 5},
		{n + 1, n},
	} {
		got := MustFind(t, s, hookbox.EventFilter{Limit: tc.limit})
		if len(got) != tc.want {
			t.Fatalf("Limit %d: %d events, want %d", tc.limit, len(got), tc.want)
		}
		if got[0].ID != evs[n-1].ID {
			t.Fatalf("Limit %d: first %s, want the newest %s", tc.limit, got[0].ID, evs[n-1].ID)
		}
	}
}

// typed inserts one event per type, received one second apart in the given
// order, so the listing order is the reverse.
func typed(t *testing.T, s hookbox.Store, types ...string) {
	t.Helper()
	var evs []*hookbox.Event
	for i, typ := range types {
		evs = append(evs, NewEvent("evt_"+typ, typ, base.Add(time.Duration(i)*time.Second)))
	}
	MustInsert(t, s, evs...)
}

// Ensures an exact Type matches only that type.
func testFindTypeExact(t *testing.T, s hookbox.Store) {
	typed(t, s, "invoice.paid", "invoice.paid.extra", "invoice", "invoiceitem.created", "charge.succeeded")
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{Type: "invoice.paid"}), "evt_invoice.paid")
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{Type: "invoice"}), "evt_invoice")
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{Type: "Invoice.paid"}))
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{Type: "invoice.pai"}))
}

// Ensures a Type ending in "*" is a literal, case-sensitive prefix:
// "invoice.*" is not "invoiceitem.*", and SQL wildcards match themselves.
func testFindTypePrefix(t *testing.T, s hookbox.Store) {
	typed(t, s,
		"invoice.created", "invoice.paid", "invoiceitem.created", "invoice",
		"payment_intent.succeeded", "paymentXintent.succeeded", "payment%intent.odd",
		"charge.succeeded", "Invoice.upper", "invoice/slash", "\u00e9v\u00e9nement.cr\u00e9\u00e9")
	for _, tc := range []struct {
		typ  string
		want []string
	}{
		{"invoice.*", []string{"evt_invoice.paid", "evt_invoice.created"}},
		{"invoice*", []string{"evt_invoice/slash", "evt_invoice", "evt_invoiceitem.created", "evt_invoice.paid", "evt_invoice.created"}},
		{"payment_intent.*", []string{"evt_payment_intent.succeeded"}},
		{"payment%*", []string{"evt_payment%intent.odd"}},
		{"pay*", []string{"evt_payment%intent.odd", "evt_paymentXintent.succeeded", "evt_payment_intent.succeeded"}},
		{"\u00e9v*", []string{"evt_\u00e9v\u00e9nement.cr\u00e9\u00e9"}},
		{"charge.succeeded*", []string{"evt_charge.succeeded"}},
		{"nothing.*", nil},
	} {
		got := MustFind(t, s, hookbox.EventFilter{Type: tc.typ})
		if g := ids(got); !slices.Equal(g, tc.want) && !(len(g) == 0 && len(tc.want) == 0) {
			t.Errorf("Type %q:\n\tgot  %v\n\twant %v", tc.typ, g, tc.want)
		}
	}
	if n := len(MustFind(t, s, hookbox.EventFilter{Type: "*"})); n != 11 {
		t.Errorf(`Type "*": %d events, want all 11`, n)
	}
}

// Ensures State selects one state, combines with Type, and an unknown
// state is EINVALID.
func testFindState(t *testing.T, s hookbox.Store) {
	var evs []*hookbox.Event
	for i, st := range []hookbox.State{hookbox.StatePending, hookbox.StateDelivered, hookbox.StateDead, hookbox.StatePending, hookbox.StateDelivering} {
		ev := NewEvent(fmt.Sprintf("evt_%d", i), "charge.succeeded", base.Add(time.Duration(i)*time.Second))
		if i == 3 {
			ev.Type = "invoice.paid"
		}
		ev.State = st
		evs = append(evs, ev)
	}
	MustInsert(t, s, evs...)
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{State: hookbox.StatePending}), "evt_3", "evt_0")
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{State: hookbox.StateDelivered}), "evt_1")
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{State: hookbox.StateDead}), "evt_2")
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{State: hookbox.StateDelivering}), "evt_4")
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{State: hookbox.StatePending, Type: "charge.*"}), "evt_0")

	_, err := s.FindEvents(context.Background(), hookbox.EventFilter{State: "exploded"})
	assertCode(t, err, hookbox.EINVALID)
}

// Ensures Since keeps events received at or after it, to the nanosecond
// of the bound against microsecond-precision stored times.
func testFindSince(t *testing.T, s hookbox.Store) {
	t0 := base.Truncate(time.Microsecond)
	typed(t, s, "a.x", "b.x", "c.x") // received t0, t0+1s, t0+2s
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{Since: t0.Add(time.Second)}), "evt_c.x", "evt_b.x")
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{Since: t0.Add(time.Second + time.Nanosecond)}), "evt_c.x")
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{Since: t0.UTC()}), "evt_c.x", "evt_b.x", "evt_a.x")
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{Since: t0.Add(time.Hour)}))
	assertIDs(t, MustFind(t, s, hookbox.EventFilter{Since: t0.Add(time.Second), Type: "c.*"}), "evt_c.x")
}

// Ensures keyset paging through 250 events, many sharing a reception
// time, visits every event once in listing order, with and without other
// filters, and that a cursor without an ID means "strictly before".
func testFindPaging(t *testing.T, s hookbox.Store) {
	rng := rand.New(rand.NewPCG(250, 1))
	var evs []*hookbox.Event
	for i := range 250 {
		at := base.Add(time.Duration(i/6) * time.Second) // six events per instant
		typ := "charge.succeeded"
		if i%3 == 0 {
			typ = "invoice.paid"
		}
		evs = append(evs, NewEvent(fmt.Sprintf("evt_%08x", rng.Uint32()), typ, at))
	}
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	for i := 0; i < len(evs); i += 50 {
		MustInsert(t, s, evs[i:i+50]...)
	}

	page := func(f hookbox.EventFilter) []string {
		t.Helper()
		var seen []string
		for pages := 0; ; pages++ {
			if pages > 300 {
				t.Fatalf("paging does not end")
			}
			got := MustFind(t, s, f)
			seen = append(seen, ids(got)...)
			if len(got) < f.Limit {
				return seen
			}
			last := got[len(got)-1]
			f.BeforeReceivedAt, f.BeforeID = last.ReceivedAt, last.ID
		}
	}
	want := sortedNewestFirst(evs)
	if got := page(hookbox.EventFilter{Limit: 7}); !slices.Equal(got, want) {
		t.Fatalf("paging all (%d seen, %d stored): order, gap or repeat\n\tgot  %v\n\twant %v", len(got), len(want), got, want)
	}
	var invoices []*hookbox.Event
	for _, ev := range evs {
		if ev.Type == "invoice.paid" {
			invoices = append(invoices, ev)
		}
	}
	if got, want := page(hookbox.EventFilter{Limit: 6, Type: "invoice.*"}), sortedNewestFirst(invoices); !slices.Equal(got, want) {
		t.Fatalf("paging invoices: order, gap or repeat\n\tgot  %v\n\twant %v", got, want)
	}

	// A cursor on a reception time alone: strictly before it.
	cut := base.Truncate(time.Microsecond).Add(10 * time.Second) // six events sit exactly on it
	got := MustFind(t, s, hookbox.EventFilter{BeforeReceivedAt: cut, Limit: 1000})
	var before []*hookbox.Event
	for _, ev := range evs {
		if storedTime(ev.ReceivedAt).Before(cut) {
			before = append(before, ev)
		}
	}
	if g, w := ids(got), sortedNewestFirst(before); !slices.Equal(g, w) {
		t.Fatalf("BeforeReceivedAt alone:\n\tgot  %v\n\twant %v", g, w)
	}
}

// Ensures a cursor ID without a cursor time is EINVALID.
func testFindInvalid(t *testing.T, s hookbox.Store) {
	_, err := s.FindEvents(context.Background(), hookbox.EventFilter{BeforeID: "evt_1"})
	assertCode(t, err, hookbox.EINVALID)
}

// Ensures FindEvents (and SearchEvents, when the store has it) select by
// API version: exactly, or every version of a release train, and nothing
// else (a train is matched on what follows the dot, not as a substring).
func testFindAPIVersion(t *testing.T, s hookbox.Store) {
	var evs []*hookbox.Event
	for i, v := range []string{"2026-03-25.dahlia", "2026-07-29.dahlia", "2025-03-31.basil", "2025-03-31.notdahlia", ""} {
		ev := NewEvent(fmt.Sprintf("evt_v%d", i), "invoice.paid", base.Add(time.Duration(i)*time.Second))
		ev.APIVersion = v
		evs = append(evs, ev)
	}
	MustInsert(t, s, evs...)
	for _, c := range []struct {
		v    string
		want []string
	}{
		{"dahlia", []string{"evt_v1", "evt_v0"}},
		{"2026-03-25.dahlia", []string{"evt_v0"}},
		{"basil", []string{"evt_v2"}},
		{"clover", nil},
		{"", []string{"evt_v4", "evt_v3", "evt_v2", "evt_v1", "evt_v0"}},
	} {
		got, err := s.FindEvents(context.Background(), hookbox.EventFilter{APIVersion: c.v})
		if err != nil || !slices.Equal(eventIDs(got), c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("FindEvents(APIVersion %q) = %v, %v; want %v", c.v, eventIDs(got), err, c.want)
		}
		if es, ok := s.(hookbox.EventSearcher); ok {
			got, err := es.SearchEvents(context.Background(), hookbox.EventQuery{EventFilter: hookbox.EventFilter{APIVersion: c.v}})
			if err != nil || !slices.Equal(eventIDs(got), c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Errorf("SearchEvents(APIVersion %q) = %v, %v; want %v", c.v, eventIDs(got), err, c.want)
			}
		}
	}
}
