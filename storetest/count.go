package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

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
