package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// runSearch runs the hookbox.EventSearcher cases when the store is one.
func runSearch(t *testing.T, h Harness) {
	if _, ok := h.Open(t).(hookbox.EventSearcher); !ok {
		skipf(t, "the store is not a hookbox.EventSearcher")
	}
	open := func(t *testing.T) searchStore { return h.Open(t).(searchStore) }
	t.Run("Filters", func(t *testing.T) { testSearchFilters(t, open(t)) })
	t.Run("Paging", func(t *testing.T) { testSearchPaging(t, open(t)) })
	t.Run("CountUpTo", func(t *testing.T) { testSearchCount(t, open(t)) })
	t.Run("OldestPending", func(t *testing.T) { testOldestPending(t, open(t)) })
	t.Run("ErrInvalid", func(t *testing.T) { testSearchInvalid(t, open(t)) })
	t.Run("ErrClosed", func(t *testing.T) { testSearchClosed(t, open(t)) })
}

type searchStore interface {
	hookbox.Store
	hookbox.EventSearcher
}

// st0 is the search dataset's time origin, whole microseconds: evt_NN is
// received about NN seconds after it.
var st0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// Object ids longer than any index key: longObj1 and longObj2 share their
// first 200 characters, longPrefix is those 200 characters.
var (
	longPrefix = strings.Repeat("x", 199) + "\u00e9"
	longObj1   = longPrefix + "1"
	longObj2   = longPrefix + "2"
)

// searchRow is one event of the search dataset.
type searchRow struct {
	id, typ string
	at      time.Duration // received at st0+at
	state   hookbox.State // its state once seeded
	body    string        // %[1]s is the event id
	dests   []hookbox.Delivery
}

// searchRows is the search dataset. Its object ids follow the contract's
// definition: the body's data.object.id, when it is a string whose bytes
// appear in the body as they are (Stripe's own bodies escape nothing
// there).
var searchRows = []searchRow{
	{"evt_01", "charge.succeeded", 1 * time.Second, hookbox.StatePending,
		`{"id":"%[1]s","data":{"object":{"id":"ch_1","object":"charge"}}}`,
		[]hookbox.Delivery{{Destination: "app", State: hookbox.StatePending}}},
	{"evt_02", "charge.failed", 2 * time.Second, hookbox.StateDelivered,
		`{"id":"%[1]s","data":{"object":{"id":"ch_2","customer":"ch_1"}}}`, nil}, // ch_1 elsewhere
	{"evt_03", "invoice.paid", 2 * time.Second, hookbox.StateDead,
		`{ "id" : "%[1]s" , "data" : { "object" : { "id" : "in_1" } } }`,
		[]hookbox.Delivery{{Destination: "app", State: hookbox.StateDead}}},
	{"evt_04", "invoiceitem.created", 4 * time.Second, hookbox.StatePending,
		`{"id":"%[1]s","data":{"object":{"id":"a/b"}}}`,
		[]hookbox.Delivery{{Destination: "app", State: hookbox.StateDelivered}, {Destination: "billing", State: hookbox.StatePending}}},
	{"evt_05", "charge.succeeded", 5 * time.Second, hookbox.StateDelivered,
		`{"id":"%[1]s","data":{"object":{"id":"a\/b"}}}`, nil}, // escaped: not "a/b"
	{"evt_06", "customer.created", 6 * time.Second, hookbox.StateDead,
		`{"id":"%[1]s","data":{"object":{"id":"é_1"}}}`, nil},
	{"evt_07", "invoice.payment_failed", 7 * time.Second, hookbox.StatePending,
		`{"id":"%[1]s","data":{"object":{"id":"\u00e9_1"}}}`, nil}, // escaped: not "é_1"
	{"evt_08", "charge.refunded", 8*time.Second + 1500, hookbox.StateDelivering, // stored at +1µs
		`{"id":"%[1]s","data":{"object":{"id":123}}}`, nil}, // a number: not "123"
	{"evt_09", "ch", 9 * time.Second, hookbox.StatePending,
		`{"id":"%[1]s","data":{"object":{"id":["ch_1"]}}}`, nil},
	{"evt_10", "invoice.paid", 10 * time.Second, hookbox.StateDead,
		`{"id":"%[1]s","data":{"object":["ch_1"]},"x":"ch_1"}`, nil},
	{"evt_11", "charge.succeeded", 11 * time.Second, hookbox.StateDelivered,
		`{"id":"ch_1","evt":"%[1]s"}`, nil}, // a top-level id only
	{"evt_12", "customer.updated", 12 * time.Second, hookbox.StatePending,
		`{"id":"%[1]s","data":{"object":{"id":"ch_1"}}`, nil}, // truncated: not JSON
	{"evt_13", "charge.succeeded", 13 * time.Second, hookbox.StateDelivered,
		`{"id":"%[1]s","data":{"object":{"id":"` + longObj1 + `"}}}`, nil},
	{"evt_14", "charge.succeeded", 13 * time.Second, hookbox.StatePending,
		`{"id":"%[1]s","data":{"object":{"id":"` + longObj2 + `"}}}`, nil},
	{"evt_15", "invoice.paid", 15 * time.Second, hookbox.StateDead,
		`{"id":"%[1]s","data":{"object":{"id":"` + longPrefix + `"}}}`, nil},
	{"evt_16", "charge.succeeded", 16 * time.Second, hookbox.StateDelivered,
		`{"id":"%[1]s","data":{"object":{"id":"ch_1"}},"n":[1.5e3,true,null,{}]}`,
		[]hookbox.Delivery{{Destination: "billing", State: hookbox.StateDelivered}}},
	{"evt_17", "charge.succeeded", 17 * time.Second, hookbox.StateDelivered, "", nil}, // no body
}

// searchOrder gives events of the search dataset an ordered key: evt_03
// (dead, tried at "app") and evt_15 (dead, never tried) hold theirs, evt_06
// is dead but its key moves on (OrderSkipDead), evt_01 is pending.
var searchOrder = map[string]struct {
	key      string
	skipDead bool
}{
	"evt_01": {"K1", false},
	"evt_03": {"K3", false},
	"evt_06": {"K6", true},
	"evt_15": {"K15", false},
}

// seedSearch stores searchRows in s. The events with destinations are
// stored pending, claimed and completed, which records their delivery rows
// and derives their state.
func seedSearch(tb testing.TB, s hookbox.Store) {
	tb.Helper()
	now := qt0
	for _, r := range searchRows {
		ev := NewEvent(r.id, r.typ, st0.Add(r.at))
		ev.Body = nil
		if r.body != "" {
			ev.Body = fmt.Appendf(nil, r.body, r.id)
		}
		ev.State, ev.Attempts, ev.NextAttemptAt = r.state, 0, time.Time{}
		ev.OrderKey, ev.OrderSkipDead = searchOrder[r.id].key, searchOrder[r.id].skipDead
		if len(r.dests) == 0 {
			MustInsert(tb, s, ev)
			continue
		}
		ev.State = hookbox.StatePending
		var ds []hookbox.Delivery
		for _, d := range r.dests {
			d.EventID, d.Attempts, d.UpdatedAt = r.id, 1, now
			if d.State == hookbox.StatePending {
				d.NextAttemptAt = now.Add(time.Minute)
			}
			ds = append(ds, d)
		}
		settle(tb, s, ev, now, ds...)
		if got := MustFindByID(tb, s, r.id).State; got != r.state {
			tb.Fatalf("seed %s: state %q, want %q", r.id, got, r.state)
		}
	}
}

// mustSearch returns SearchEvents(q) and fails tb on error or on an event
// returned with its body.
func mustSearch(tb testing.TB, s hookbox.EventSearcher, q hookbox.EventQuery) []*hookbox.Event {
	tb.Helper()
	evs, err := s.SearchEvents(context.Background(), q)
	if err != nil {
		tb.Fatalf("SearchEvents(%+v): %v", q, err)
	}
	for _, ev := range evs {
		if ev.Body != nil {
			tb.Fatalf("SearchEvents(%+v): %s returned with its body", q, ev.ID)
		}
	}
	return evs
}

// searchCases are queries of the search dataset and the ids they select,
// in listing order (newest received first, ties by descending id).
func searchCases() []struct {
	name string
	q    hookbox.EventQuery
	want []string
} {
	at := func(d time.Duration) time.Time { return st0.Add(d) }
	type q = hookbox.EventQuery
	type f = hookbox.EventFilter
	ev := func(ns ...int) []string {
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = fmt.Sprintf("evt_%02d", n)
		}
		return out
	}
	all := ev(17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
	return []struct {
		name string
		q    hookbox.EventQuery
		want []string
	}{
		{"all", q{}, all},
		{"type exact", q{EventFilter: f{Type: "charge.succeeded"}}, ev(17, 16, 14, 13, 11, 5, 1)},
		{"type prefix", q{EventFilter: f{Type: "charge.*"}}, ev(17, 16, 14, 13, 11, 8, 5, 2, 1)},
		{"type bare prefix", q{EventFilter: f{Type: "ch*"}}, ev(17, 16, 14, 13, 11, 9, 8, 5, 2, 1)},
		{"type dot prefix", q{EventFilter: f{Type: "invoice.*"}}, ev(15, 10, 7, 3)},
		{"type any", q{EventFilter: f{Type: "*"}}, all},
		{"type none", q{EventFilter: f{Type: "nope"}}, nil},
		{"pending", q{EventFilter: f{State: hookbox.StatePending}}, ev(14, 12, 9, 7, 4, 1)},
		{"delivering", q{EventFilter: f{State: hookbox.StateDelivering}}, ev(8)},
		{"delivered", q{EventFilter: f{State: hookbox.StateDelivered}}, ev(17, 16, 13, 11, 5, 2)},
		{"dead", q{EventFilter: f{State: hookbox.StateDead}}, ev(15, 10, 6, 3)},
		{"state and type", q{EventFilter: f{State: hookbox.StatePending, Type: "charge.*"}}, ev(14, 1)},
		{"blocked", q{EventFilter: f{Blocked: true}}, ev(15, 3)},
		{"blocked and dead", q{EventFilter: f{Blocked: true, State: hookbox.StateDead}}, ev(15, 3)},
		{"blocked and pending", q{EventFilter: f{Blocked: true, State: hookbox.StatePending}}, nil},
		{"blocked and destination", q{EventFilter: f{Blocked: true}, Destination: "app"}, ev(3)},
		{"blocked and since", q{EventFilter: f{Blocked: true, Since: at(13 * time.Second)}}, ev(15)},
		{"since", q{EventFilter: f{Since: at(13 * time.Second)}}, ev(17, 16, 15, 14, 13)},
		{"until", q{Until: at(13 * time.Second)}, ev(12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)},
		{"since on the stored microsecond", q{EventFilter: f{Since: at(8*time.Second + 1000)}}, ev(17, 16, 15, 14, 13, 12, 11, 10, 9, 8)},
		{"since a nanosecond after it", q{EventFilter: f{Since: at(8*time.Second + 1001)}}, ev(17, 16, 15, 14, 13, 12, 11, 10, 9)},
		{"until the stored microsecond", q{Until: at(8*time.Second + 1000)}, ev(7, 6, 5, 4, 3, 2, 1)},
		{"until a nanosecond after it", q{Until: at(8*time.Second + 1001)}, ev(8, 7, 6, 5, 4, 3, 2, 1)},
		{"since and until", q{EventFilter: f{Since: at(2 * time.Second)}, Until: at(5 * time.Second)}, ev(4, 3, 2)},
		{"object", q{ObjectID: "ch_1"}, ev(16, 1)},
		{"object, another", q{ObjectID: "ch_2"}, ev(2)},
		{"object, spaced JSON", q{ObjectID: "in_1"}, ev(3)},
		{"object with a slash", q{ObjectID: "a/b"}, ev(4)},
		{"object, UTF-8", q{ObjectID: "é_1"}, ev(6)},
		{"object, a number", q{ObjectID: "123"}, nil},
		{"object, none", q{ObjectID: "nope"}, nil},
		{"object, long 1", q{ObjectID: longObj1}, ev(13)},
		{"object, long 2", q{ObjectID: longObj2}, ev(14)},
		{"object, long prefix", q{ObjectID: longPrefix}, ev(15)},
		{"destination", q{Destination: "app"}, ev(4, 3, 1)},
		{"destination, another", q{Destination: "billing"}, ev(16, 4)},
		{"destination, none", q{Destination: "nope"}, nil},
		{"object and destination", q{ObjectID: "ch_1", Destination: "app"}, ev(1)},
		{"object and state", q{ObjectID: "ch_1", EventFilter: f{State: hookbox.StateDelivered}}, ev(16)},
		{"destination and state", q{Destination: "app", EventFilter: f{State: hookbox.StatePending}}, ev(4, 1)},
		{"destination and type", q{Destination: "billing", EventFilter: f{Type: "charge.*"}}, ev(16)},
		{"cursor", q{EventFilter: f{BeforeReceivedAt: at(13 * time.Second), BeforeID: "evt_14"}}, ev(13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)},
		{"cursor without id", q{EventFilter: f{BeforeReceivedAt: at(13 * time.Second)}}, ev(12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)},
		{"cursor in a tie", q{EventFilter: f{BeforeReceivedAt: at(2 * time.Second), BeforeID: "evt_03"}}, ev(2, 1)},
		{"cursor between microseconds", q{EventFilter: f{BeforeReceivedAt: at(8*time.Second + 1700), BeforeID: "evt_00"}}, ev(8, 7, 6, 5, 4, 3, 2, 1)},
		{"cursor on the stored microsecond", q{EventFilter: f{BeforeReceivedAt: at(8*time.Second + 1000), BeforeID: "evt_08"}}, ev(7, 6, 5, 4, 3, 2, 1)},
		{"cursor on it, a greater id", q{EventFilter: f{BeforeReceivedAt: at(8*time.Second + 1000), BeforeID: "evt_09"}}, ev(8, 7, 6, 5, 4, 3, 2, 1)},
		{"cursor and type", q{EventFilter: f{BeforeReceivedAt: at(13 * time.Second), BeforeID: "evt_14", Type: "charge.succeeded"}}, ev(13, 11, 5, 1)},
		{"cursor and until", q{EventFilter: f{BeforeReceivedAt: at(13 * time.Second), BeforeID: "evt_14"}, Until: at(10 * time.Second)}, ev(9, 8, 7, 6, 5, 4, 3, 2, 1)},
	}
}

// Ensures SearchEvents selects what each filter and combination of them
// selects, in listing order, without bodies: type (exact, prefixes),
// state, since and until to the nanosecond against stored microseconds,
// the keyset cursor (ties, no id, between microseconds), the body's
// data.object.id (spaced JSON, escapes, a number, an array, another place
// of the id, invalid JSON, no body, ids longer than an index key), the
// destination, and the dead events that hold their ordered key (Blocked).
func testSearchFilters(t *testing.T, s searchStore) {
	seedSearch(t, s)
	for _, c := range searchCases() {
		c.q.Limit = 100
		if got := ids(mustSearch(t, s, c.q)); !slices.Equal(got, c.want) && len(got)+len(c.want) > 0 {
			t.Errorf("%s: SearchEvents(%+v):\n\tgot  %v\n\twant %v", c.name, c.q, got, c.want)
		}
	}
}

// Ensures keyset paging through SearchEvents visits every selected event
// of each query once, in listing order, in pages of 1, 2 or 3, across ties;
// and that a Limit <= 0 means DefaultListLimit.
func testSearchPaging(t *testing.T, s searchStore) {
	seedSearch(t, s)
	for i, c := range searchCases() {
		q, limit := c.q, 1+i%3 // pages of 1, 2 or 3 in turn
		q.Limit = limit
		var got []string
		for pages := 0; ; pages++ {
			if pages > len(searchRows) {
				t.Fatalf("%s: paging by %d does not end", c.name, limit)
			}
			page := mustSearch(t, s, q)
			got = append(got, ids(page)...)
			if len(page) < limit {
				break
			}
			last := page[len(page)-1]
			q.BeforeReceivedAt, q.BeforeID = last.ReceivedAt, last.ID
		}
		if !slices.Equal(got, c.want) && len(got)+len(c.want) > 0 {
			t.Errorf("%s: pages of %d:\n\tgot  %v\n\twant %v", c.name, limit, got, c.want)
		}
	}
	if n := len(mustSearch(t, s, hookbox.EventQuery{})); n != len(searchRows) {
		t.Fatalf("Limit 0: %d events, want all %d (fewer than DefaultListLimit)", n, len(searchRows))
	}
}

// Ensures CountEventsUpTo counts what SearchEvents selects, stopping at
// its limit: a result equal to limit means limit or more.
func testSearchCount(t *testing.T, s searchStore) {
	seedSearch(t, s)
	ctx := context.Background()
	for _, c := range searchCases() {
		c.q.Limit = 1 // ignored
		for _, limit := range []int{0, 1, 3, len(c.want), len(c.want) + 1} {
			got, err := s.CountEventsUpTo(ctx, c.q, limit)
			if err != nil {
				t.Fatalf("%s: CountEventsUpTo(%d): %v", c.name, limit, err)
			}
			if want := min(limit, len(c.want)); got != want {
				t.Errorf("%s: CountEventsUpTo(%+v, %d) = %d, want %d", c.name, c.q, limit, got, want)
			}
		}
	}
}

// Ensures OldestPending is zero without pending or delivering events, and
// otherwise the reception of the oldest of them, a delivering one
// included, in UTC.
func testOldestPending(t *testing.T, s searchStore) {
	ctx := context.Background()
	if got, err := s.OldestPending(ctx); err != nil || !got.IsZero() {
		t.Fatalf("OldestPending on an empty store = %v, %v; want zero", got, err)
	}
	at := func(id string, st hookbox.State, d time.Duration) *hookbox.Event {
		ev := NewEvent(id, "charge.succeeded", base.Add(d))
		ev.State = st
		return ev
	}
	MustInsert(t, s, at("evt_1", hookbox.StateDelivered, 0), at("evt_2", hookbox.StateDead, time.Second))
	if got, err := s.OldestPending(ctx); err != nil || !got.IsZero() {
		t.Fatalf("OldestPending without pending events = %v, %v; want zero", got, err)
	}
	MustInsert(t, s, at("evt_3", hookbox.StatePending, 3*time.Second), at("evt_4", hookbox.StateDelivering, 2*time.Second+1500))
	want := storedTime(base.Add(2*time.Second + 1500))
	if got, err := s.OldestPending(ctx); err != nil || !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("OldestPending = %v, %v; want %v (the delivering one) in UTC", got, err, want)
	}
}

// Ensures SearchEvents and CountEventsUpTo refuse what FindEvents refuses,
// and times out of range, with EINVALID.
func testSearchInvalid(t *testing.T, s searchStore) {
	ctx := context.Background()
	MustInsert(t, s, NewEvent("evt_1", "charge.succeeded", base))
	for name, q := range map[string]hookbox.EventQuery{
		"state":     {EventFilter: hookbox.EventFilter{State: "exploded"}},
		"cursor id": {EventFilter: hookbox.EventFilter{BeforeID: "evt_1"}},
		"since":     {EventFilter: hookbox.EventFilter{Since: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		"until":     {Until: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"cursor":    {EventFilter: hookbox.EventFilter{BeforeReceivedAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	} {
		_, err := s.SearchEvents(ctx, q)
		assertCodeOf(t, "SearchEvents "+name, err, hookbox.EINVALID)
		_, err = s.CountEventsUpTo(ctx, q, 10)
		assertCodeOf(t, "CountEventsUpTo "+name, err, hookbox.EINVALID)
	}
}

// Ensures a closed store's searches fail with EUNAVAILABLE.
func testSearchClosed(t *testing.T, s searchStore) {
	ctx := context.Background()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := s.SearchEvents(ctx, hookbox.EventQuery{})
	assertCodeOf(t, "SearchEvents", err, hookbox.EUNAVAILABLE)
	_, err = s.CountEventsUpTo(ctx, hookbox.EventQuery{}, 1)
	assertCodeOf(t, "CountEventsUpTo", err, hookbox.EUNAVAILABLE)
	_, err = s.OldestPending(ctx)
	assertCodeOf(t, "OldestPending", err, hookbox.EUNAVAILABLE)
}

// assertCodeOf reports an error unless err has code, naming what returned
// it, and lets the case go on.
func assertCodeOf(tb testing.TB, what string, err error, code string) {
	tb.Helper()
	if got := hookbox.ErrorCode(err); got != code {
		tb.Errorf("%s: error %v, code %q; want %q", what, err, got, code)
	}
}
