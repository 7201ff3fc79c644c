package receiver

import (
	"context"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// Ensures the events of an endpoint with an ordered destination are
// stored with their object's key and held for the window, the default
// endpoint's ordering also applies to events with no endpoint
// (reconciled), an event about no object is not ordered, and another
// endpoint's events are left alone; --on-dead skip only when every
// ordered destination of the endpoint skips. An event's ObjectID (read with
// the envelope) is used unless its body does not hold it.
func TestOrderInsert(t *testing.T) {
	mk := func(name string, o *deliver.Ordering) deliver.Destination {
		h, err := deliver.NewHTTP(name, "http://127.0.0.1:9/", "whsec_0123456789abcdef0123456789abcdef", deliver.HTTPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if o == nil {
			return h
		}
		return deliver.Ordered(h, *o)
	}
	eps := []Endpoint{
		{Name: "stripe", Destinations: []deliver.Destination{
			mk("a", &deliver.Ordering{Window: 2 * time.Second, OnDead: deliver.DeadSkip}),
			mk("b", &deliver.Ordering{OnDead: deliver.DeadBlock}),
			mk("c", nil),
		}},
		{Name: "connect", Destinations: []deliver.Destination{mk("d", &deliver.Ordering{OnDead: deliver.DeadSkip})}},
		{Name: "plain", Destinations: []deliver.Destination{mk("e", nil)}},
	}
	at := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	ev := func(id, endpoint, body string) *hookbox.Event {
		return &hookbox.Event{ID: id, Endpoint: endpoint, Account: "acct_1", Livemode: true, ReceivedAt: at, Body: []byte(body)}
	}
	sub := `{"id":"evt","type":"customer.subscription.updated","data":{"object":{"id":"sub_1","object":"subscription"}}}`
	evs := []*hookbox.Event{
		ev("evt_1", "stripe", sub),
		ev("evt_2", "", sub), // reconciled: the default endpoint's
		ev("evt_3", "stripe", `{"id":"evt","type":"invoice.upcoming","data":{"object":{"object":"invoice"}}}`),
		ev("evt_4", "connect", sub),
		ev("evt_5", "plain", sub),
		nil,
		ev("evt_7", "stripe", sub), // the id read with the envelope
		ev("evt_8", "stripe", sub), // an id its body does not hold
	}
	evs[6].ObjectID, evs[7].ObjectID = "sub_1", "sub_nowhere"
	var woke time.Time
	insert := orderInsert(func(_ context.Context, events []*hookbox.Event) ([]hookbox.InsertResult, error) {
		return make([]hookbox.InsertResult, len(events)), nil
	}, orders(eps), func(t time.Time) { woke = t })
	if _, err := insert(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ev       *hookbox.Event
		key      string
		skipDead bool
		due      time.Time
	}{
		{evs[0], "stripe/acct_1/live/sub_1", false, at.Add(2 * time.Second)},
		{evs[1], "/acct_1/live/sub_1", false, at.Add(2 * time.Second)},
		{evs[2], "", false, time.Time{}},
		{evs[3], "connect/acct_1/live/sub_1", true, at.Add(deliver.DefaultOrderWindow)},
		{evs[4], "", false, time.Time{}},
		{evs[6], "stripe/acct_1/live/sub_1", false, at.Add(2 * time.Second)},
		{evs[7], "stripe/acct_1/live/sub_1", false, at.Add(2 * time.Second)},
	} {
		if c.ev.OrderKey != c.key || c.ev.OrderSkipDead != c.skipDead || !c.ev.NextAttemptAt.Equal(c.due) {
			t.Errorf("%s: key %q skip dead %v due %v; want %q %v %v", c.ev.ID, c.ev.OrderKey, c.ev.OrderSkipDead, c.ev.NextAttemptAt, c.key, c.skipDead, c.due)
		}
	}
	if !woke.Equal(at.Add(deliver.DefaultOrderWindow)) {
		t.Errorf("woken for %v, want the earliest hold's end %v", woke, at.Add(deliver.DefaultOrderWindow))
	}
}

// Ensures ordering is refused in sync mode and with bad options.
func TestValidateOrder(t *testing.T) {
	h, _ := deliver.NewHTTP("a", "http://127.0.0.1:9/", "whsec_0123456789abcdef0123456789abcdef", deliver.HTTPOptions{})
	for _, c := range []struct {
		o    Options
		fail bool
	}{
		{Options{Endpoints: []Endpoint{{Destinations: []deliver.Destination{deliver.Ordered(h, deliver.Ordering{})}}}}, false},
		{Options{Mode: ModeSync, Endpoints: []Endpoint{{Destinations: []deliver.Destination{deliver.Ordered(h, deliver.Ordering{})}}}}, true},
		{Options{Endpoints: []Endpoint{{Destinations: []deliver.Destination{deliver.Ordered(h, deliver.Ordering{Late: "maybe"})}}}}, true},
		{Options{Mode: ModeSync, Endpoints: []Endpoint{{Destinations: []deliver.Destination{h}}}}, false},
	} {
		if err := validateOrder(c.o); (err != nil) != c.fail {
			t.Errorf("validateOrder(%+v) = %v, want failure %v", c.o.Mode, err, c.fail)
		}
	}
}
