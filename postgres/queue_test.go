package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/pgtest"
)

// Ensures a completion whose row the database rejects (a constraint that
// validation let through) gets EINVALID alone: the batch runs again with a
// savepoint per completion, the others are recorded, and it writes
// nothing.
func TestCompleteClaims_RejectedRow(t *testing.T) {
	pgtest.DSN(t)
	s := mustOpenStore(t)
	ctx := context.Background()
	now := timeBase
	ids := []string{"evt_1", "evt_2", "evt_3"}
	for _, id := range ids {
		ev := &hookbox.Event{ID: id, Type: "charge.succeeded", Object: "event", Body: []byte(`{"id":"` + id + `"}`), ReceivedAt: now}
		if res, err := s.InsertEvents(ctx, []*hookbox.Event{ev}); err != nil || res[0].Err != nil {
			t.Fatalf("InsertEvents: %v %+v", err, res)
		}
	}
	if cs, err := s.ClaimEvents(ctx, "w1", now, time.Minute, 10); err != nil || len(cs) != 3 {
		t.Fatalf("ClaimEvents = %d claims, %v", len(cs), err)
	}
	var cs []hookbox.Completion
	for _, id := range ids {
		cs = append(cs, hookbox.Completion{EventID: id, Owner: "w1", Now: now,
			Attempts:   []hookbox.Attempt{{Destination: "a", Number: 1, StartedAt: now, StatusCode: 200, OK: true}},
			Deliveries: []hookbox.Delivery{{Destination: "a", State: hookbox.StateDelivered, Attempts: 1}}})
	}
	errs, err := s.CompleteClaimsRejecting(ctx, cs, 1)
	if err != nil {
		t.Fatalf("CompleteClaims: %v", err)
	}
	for i, want := range []string{"", hookbox.EINVALID, ""} {
		if got := hookbox.ErrorCode(errs[i]); got != want {
			t.Errorf("completion %d: %v, want code %q", i, errs[i], want)
		}
	}
	for id, want := range map[string]hookbox.State{"evt_1": hookbox.StateDelivered, "evt_2": hookbox.StateDelivering, "evt_3": hookbox.StateDelivered} {
		ev, err := s.FindEventByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		as, err := s.FindAttempts(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		wantAttempts := 0
		if want == hookbox.StateDelivered {
			wantAttempts = 1
		}
		if ev.State != want || len(as) != wantAttempts {
			t.Errorf("%s: %s with %d attempts, want %s with %d", id, ev.State, len(as), want, wantAttempts)
		}
	}
}
