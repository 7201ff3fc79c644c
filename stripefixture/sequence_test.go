package stripefixture_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/hookbox/hookbox/stripefixture"
)

// TestSequence ensures every lifecycle, at every length, gives events that
// each pass the single-event checks (stripe-go decodes them into the typed
// object, previous_attributes only on *.updated and naming real fields),
// about one object (the same data.object.id), created strictly increasing
// by at most minutes, starting and ending with the lifecycle's first and
// last types, with the object's status following each step.
func TestSequence(t *testing.T) {
	tests := []struct {
		kind        string
		first, last string
		lastStatus  string
		middle      []string // the types allowed between first and last
		lastOf2     string   // the last type when n = 2
	}{
		{"subscription", "customer.subscription.created", "customer.subscription.deleted", "canceled", []string{"customer.subscription.updated"}, "customer.subscription.deleted"},
		{"invoice", "invoice.created", "invoice.paid", "paid", []string{"invoice.updated", "invoice.finalized"}, "invoice.finalized"},
		{"payment_intent", "payment_intent.created", "payment_intent.succeeded", "succeeded", []string{"payment_intent.requires_action", "payment_intent.payment_failed"}, "payment_intent.succeeded"},
	}
	if len(tests) != len(stripefixture.Lifecycles()) {
		t.Fatalf("Lifecycles() = %v, test knows %d", stripefixture.Lifecycles(), len(tests))
	}
	g := stripefixture.New(3)
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			for n := 1; n <= 7; n++ {
				for _, live := range []bool{false, true} {
					for range 5 { // the steps branch on random draws
						last := tt.last
						if n == 2 {
							last = tt.lastOf2
						}
						checkSequence(t, g.Sequence(tt.kind, n, live), n, live, tt.first, last, tt.lastStatus, tt.middle)
					}
				}
			}
		})
	}
}

func checkSequence(t *testing.T, bodies [][]byte, n int, live bool, first, last, lastStatus string, middle []string) {
	t.Helper()
	if len(bodies) != n {
		t.Fatalf("n=%d: %d events", n, len(bodies))
	}
	var id string
	var prev int64
	for k, body := range bodies {
		var ev struct {
			Type    string
			Created int64
			Data    struct{ Object struct{ ID, Status string } }
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatal(err)
		}
		checkEvent(t, ev.Type, live, body)
		switch {
		case k == 0 && ev.Type != first, k == n-1 && n > 1 && ev.Type != last,
			k > 0 && k < n-1 && !slices.Contains(middle, ev.Type):
			t.Fatalf("n=%d: event %d is %s", n, k, ev.Type)
		case k == 0:
			id = ev.Data.Object.ID
		case ev.Data.Object.ID != id:
			t.Fatalf("n=%d: event %d is about %s, event 0 about %s", n, k, ev.Data.Object.ID, id)
		case ev.Created <= prev || ev.Created > prev+300:
			t.Fatalf("n=%d: event %d created %d, previous %d", n, k, ev.Created, prev)
		}
		if k == n-1 && n > 2 && ev.Data.Object.Status != lastStatus {
			t.Fatalf("n=%d: last status %q, want %q", n, ev.Data.Object.Status, lastStatus)
		}
		prev = ev.Created
	}
}

// TestSequenceDeterministic ensures a seed fixes a sequence's bytes and
// that successive objects start where Event's next event would, not after
// the previous object's last step.
func TestSequenceDeterministic(t *testing.T) {
	a, b := stripefixture.New(9), stripefixture.New(9)
	for _, kind := range stripefixture.Lifecycles() {
		x, y := a.Sequence(kind, 4, false), b.Sequence(kind, 4, false)
		if !slices.EqualFunc(x, y, bytes.Equal) {
			t.Fatalf("%s: same seed, different bytes", kind)
		}
	}
	var ev struct{ Created int64 }
	if err := json.Unmarshal(a.Event("charge.succeeded", false), &ev); err != nil {
		t.Fatal(err)
	}
	if start := stripefixture.DefaultStart.Unix(); ev.Created > start+2*3 {
		t.Fatalf("event after 3 sequences created %d, %ds after the start", ev.Created, ev.Created-start)
	}
}
