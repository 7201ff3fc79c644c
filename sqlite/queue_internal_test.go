package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// Ensures a completion whose row the database rejects (a constraint that
// validation let through, simulated here by tampering with its validated
// arguments) gets EINVALID alone: the transaction runs again without it,
// the other completions of the batch are recorded, and it writes nothing.
func TestCompleteClaims_RejectedRow(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	ids := []string{"evt_1", "evt_2", "evt_3"}
	for _, id := range ids {
		if _, err := s.InsertEvents(ctx, []*hookbox.Event{event(id)}); err != nil {
			t.Fatal(err)
		}
	}
	if cs, err := s.ClaimEvents(ctx, "w1", t0, time.Minute, 10); err != nil || len(cs) != 3 {
		t.Fatalf("ClaimEvents = %d claims, %v", len(cs), err)
	}
	var (
		cs   []hookbox.Completion
		args []completion
	)
	for _, id := range ids {
		c := hookbox.Completion{EventID: id, Owner: "w1", Now: t0,
			Attempts:   []hookbox.Attempt{{Destination: "a", Number: 1, StartedAt: t0, StatusCode: 200, OK: true}},
			Deliveries: []hookbox.Delivery{{Destination: "a", State: hookbox.StateDelivered, Attempts: 1}}}
		a, err := completionArgs(c)
		if err != nil {
			t.Fatal(err)
		}
		cs, args = append(cs, c), append(args, a)
	}
	args[1].attempts[0][2] = int64(0) // number: CHECK (number >= 1)

	errs, err := s.completeClaims(ctx, cs, args, make([]error, len(cs)), len(cs))
	if err != nil {
		t.Fatalf("completeClaims: %v", err)
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

// Ensures the queue's statements are prepared once per Store and reused,
// each Store having its own, and that a closed Store answers EUNAVAILABLE
// without preparing anything.
func TestQueueStmts(t *testing.T) {
	s1, _ := openTest(t)
	s2, _ := openTest(t)
	ctx := context.Background()
	a, err := s1.stmts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := s1.stmts(ctx); err != nil || b != a {
		t.Fatalf("second stmts() = %p, %v; want the first, %p", b, err, a)
	}
	if c, err := s2.stmts(ctx); err != nil || c == a {
		t.Fatalf("another store's stmts() = %p, %v; want its own", c, err)
	}
	s1.Close()
	_, err = s1.CompleteClaims(ctx, []hookbox.Completion{{EventID: "evt_1", Owner: "w1", Now: t0}})
	if hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("CompleteClaims on a closed store: %v, want EUNAVAILABLE", err)
	}
}
