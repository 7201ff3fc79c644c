package sqlite

import (
	"context"
	"fmt"
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

// Ensures forChunks cuts rows in chunks of at most 64 rows, each padded
// with NULL rows to the next size of rowChunks, in order.
func TestForChunks(t *testing.T) {
	for n, want := range map[int][]int{0: nil, 1: {1}, 3: {4}, 33: {64}, 64: {64}, 65: {64, 1}, 130: {64, 64, 2}} {
		var rows [][]any
		for i := range n {
			rows = append(rows, []any{i, "x"})
		}
		var sizes []int
		next := 0
		err := forChunks(rows, 2, func(size int, args []any) error {
			sizes = append(sizes, rowChunks[size])
			if len(args) != 2*rowChunks[size] {
				t.Fatalf("%d rows: chunk of size %d has %d args", n, rowChunks[size], len(args))
			}
			for i := 0; i < len(args); i += 2 {
				if next < n {
					if args[i] != next {
						t.Fatalf("%d rows: row %v, want %d", n, args[i], next)
					}
					next++
				} else if args[i] != nil || args[i+1] != nil {
					t.Fatalf("%d rows: padding %v, want NULLs", n, args[i:i+2])
				}
			}
			return nil
		})
		if err != nil || next != n || fmt.Sprint(sizes) != fmt.Sprint(want) {
			t.Errorf("%d rows: chunks %v (%d rows), %v; want %v", n, sizes, next, err, want)
		}
	}
}

// Ensures a batch larger than the largest multi-row statement is written
// whole, in several chunks, conflicts included: 150 completions of two
// attempts and two deliveries each, every tenth by the wrong owner.
func TestCompleteClaims_Large(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	const n = 150
	var evs []*hookbox.Event
	for i := range n {
		evs = append(evs, event(fmt.Sprintf("evt_%03d", i)))
	}
	if _, err := s.InsertEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	claims, err := s.ClaimEvents(ctx, "w1", t0, time.Minute, n)
	if err != nil || len(claims) != n {
		t.Fatalf("ClaimEvents = %d claims, %v", len(claims), err)
	}
	cs := make([]hookbox.Completion, n)
	for i, c := range claims {
		owner := "w1"
		if i%10 == 0 {
			owner = "w2"
		}
		cs[i] = hookbox.Completion{EventID: c.Event.ID, Owner: owner, Now: t0,
			Attempts: []hookbox.Attempt{
				{Destination: "a", Number: 1, StartedAt: t0, StatusCode: 200, OK: true},
				{Destination: "b", Number: 1, StartedAt: t0, StatusCode: 500, Error: "status 500"},
			},
			Deliveries: []hookbox.Delivery{
				{Destination: "a", State: hookbox.StateDelivered, Attempts: 1},
				{Destination: "b", State: hookbox.StatePending, Attempts: 1, NextAttemptAt: t0.Add(time.Minute), LastError: "status 500"},
			}}
	}
	errs, err := s.CompleteClaims(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	counts, _, err := s.CountEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[hookbox.StatePending] != n-n/10 || counts[hookbox.StateDelivering] != n/10 {
		t.Fatalf("counts %v, want %d pending, %d delivering", counts, n-n/10, n/10)
	}
	for i, c := range cs {
		ev, err := s.FindEventByID(ctx, c.EventID)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := s.FindDeliveries(ctx, c.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if hookbox.ErrorCode(errs[i]) != hookbox.ECONFLICT || ev.State != hookbox.StateDelivering || len(ds) != 0 {
				t.Fatalf("%s (wrong owner): %v, %s, %d deliveries", c.EventID, errs[i], ev.State, len(ds))
			}
			continue
		}
		if errs[i] != nil || ev.State != hookbox.StatePending || ev.Attempts != 2 || len(ds) != 2 ||
			!ev.NextAttemptAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("%s: %v, %s with %d attempts due %v, %d deliveries", c.EventID, errs[i], ev.State, ev.Attempts, ev.NextAttemptAt, len(ds))
		}
	}
}
