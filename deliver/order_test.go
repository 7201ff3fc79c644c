package deliver_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

func TestParseOrdering(t *testing.T) {
	for _, c := range []struct {
		order, late, dead string
		window            time.Duration
		want              *deliver.Ordering
		fail              bool
	}{
		{order: "", want: nil},
		{order: "none", want: nil},
		{order: "none", late: "skip", fail: true},
		{order: "none", window: time.Second, fail: true},
		{order: "object", want: &deliver.Ordering{Window: deliver.DefaultOrderWindow, Late: deliver.LateDeliver, OnDead: deliver.DeadBlock}},
		{order: "object", late: "skip", dead: "skip", window: 3 * time.Second, want: &deliver.Ordering{Window: 3 * time.Second, Late: deliver.LateSkip, OnDead: deliver.DeadSkip}},
		{order: "object", late: "later", fail: true},
		{order: "object", dead: "retry", fail: true},
		{order: "object", window: -time.Second, fail: true},
		{order: "type", fail: true},
	} {
		got, err := deliver.ParseOrdering(c.order, c.window, c.late, c.dead)
		if (err != nil) != c.fail || (err == nil && (got == nil) != (c.want == nil)) || (got != nil && c.want != nil && *got != *c.want) {
			t.Errorf("ParseOrdering(%q, %v, %q, %q) = %+v, %v; want %+v, failure %v", c.order, c.window, c.late, c.dead, got, err, c.want, c.fail)
		}
	}
}

// Ensures a Go handler behind deliver.Ordered sees a late event's
// LateAfter (and, under LateSkip, is not called: the delivery is recorded
// as skipped), while an unordered destination of the same event sees no
// LateAfter.
func TestWorker_LateEvent(t *testing.T) {
	for _, policy := range []deliver.LatePolicy{deliver.LateDeliver, deliver.LateSkip} {
		t.Run(string(policy), func(t *testing.T) {
			s := mustOpenStore(t)
			var (
				mu   sync.Mutex
				seen = map[string]string{} // destination/event -> LateAfter
			)
			handler := func(name string) *deliver.Mux {
				m := deliver.NewMux(name)
				m.HandleFunc("*", func(_ context.Context, ev *deliver.Event) error {
					mu.Lock()
					defer mu.Unlock()
					seen[name+"/"+ev.ID] = ev.LateAfter
					return nil
				})
				return m
			}
			newer, older := newEvent("evt_newer", "customer.subscription.updated", false), newEvent("evt_older", "customer.subscription.updated", false)
			newer.OrderKey, older.OrderKey = "stripe//test/sub_1", "stripe//test/sub_1"
			newer.Created, older.Created = 200, 100
			mustInsert(t, s, newer)
			w := &deliver.Worker{Queue: s, Logger: quietLogger(), PollInterval: 10 * time.Millisecond,
				Destinations: []deliver.Destination{deliver.Ordered(handler("ordered"), deliver.Ordering{Late: policy}), handler("plain")}}
			var lates []string
			w.OnLate = func(dest string, skipped bool) {
				mu.Lock()
				defer mu.Unlock()
				lates = append(lates, dest)
			}
			if err := w.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer w.Shutdown(context.Background())
			waitState(t, s, "evt_newer", hookbox.StateDelivered)
			mustInsert(t, s, older) // arrives after the newer one was delivered
			w.Wake()
			waitState(t, s, "evt_older", hookbox.StateDelivered)
			mu.Lock()
			defer mu.Unlock()
			if got, ok := seen["plain/evt_older"]; !ok || got != "" {
				t.Fatalf("the unordered destination saw LateAfter %q (called %v), want it called with none", got, ok)
			}
			got, called := seen["ordered/evt_older"]
			switch policy {
			case deliver.LateDeliver:
				if !called || got != "evt_newer" {
					t.Fatalf("ordered handler: called %v with LateAfter %q, want evt_newer", called, got)
				}
			case deliver.LateSkip:
				if called {
					t.Fatal("ordered handler called with a late event under LateSkip")
				}
				ds, _ := s.FindDeliveries(context.Background(), "evt_older")
				var skipped bool
				for _, d := range ds {
					skipped = skipped || (d.Destination == "ordered" && d.SkipReason != "" && d.State == hookbox.StateDelivered)
				}
				if !skipped {
					t.Fatalf("deliveries %+v: want ordered skipped", ds)
				}
			}
			if len(lates) != 1 || lates[0] != "ordered" {
				t.Fatalf("OnLate calls %v, want one for ordered", lates)
			}
		})
	}
}
