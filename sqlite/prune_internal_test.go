package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// TestPruneEvents_Batches ensures a sweep larger than one batch prunes
// every event it should, batch after batch, with events sharing a
// reception time across batch boundaries (the body cursor is received_at
// then id), and counts them all.
func TestPruneEvents_Batches(t *testing.T) {
	defer func(n int) { pruneBatch = n }(pruneBatch)
	pruneBatch = 3
	s, _ := openTest(t)
	ctx := context.Background()
	var evs []*hookbox.Event
	for i := range 10 {
		ev := event(fmt.Sprintf("evt_old_%02d", i))
		ev.ReceivedAt = t0.Add(time.Duration(i/4) * time.Second) // 4 share each second
		evs = append(evs, ev)
	}
	keep := event("evt_pending")
	evs = append(evs, keep)
	if _, err := s.InsertEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	// 7 delivered (bodies to empty), 3 dead; the pending one stays.
	if _, err := s.writer.ExecContext(ctx, `UPDATE events SET state = CASE WHEN id < 'evt_old_07' THEN 'delivered' ELSE 'dead' END WHERE id LIKE 'evt_old_%'`); err != nil {
		t.Fatal(err)
	}
	bodies, rows, err := s.PruneEvents(ctx, t0.Add(time.Hour), time.Time{})
	if err != nil || bodies != 7 || rows != 0 {
		t.Fatalf("PruneEvents(bodies) = %d, %d, %v; want 7, 0", bodies, rows, err)
	}
	for i := range 7 {
		if ev, err := s.FindEventByID(ctx, fmt.Sprintf("evt_old_%02d", i)); err != nil || len(ev.Body) != 0 {
			t.Fatalf("evt_old_%02d: body %q, %v", i, ev.Body, err)
		}
	}
	bodies, rows, err = s.PruneEvents(ctx, time.Time{}, t0.Add(time.Hour))
	if err != nil || bodies != 0 || rows != 10 {
		t.Fatalf("PruneEvents(rows) = %d, %d, %v; want 0, 10", bodies, rows, err)
	}
	if ev, err := s.FindEventByID(ctx, keep.ID); err != nil || len(ev.Body) == 0 {
		t.Fatalf("pending event: %v", err)
	}
}
