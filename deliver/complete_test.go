package deliver_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/sqlite"
)

// batchStore is the real SQLite store recording the size of each group
// the Worker completes with CompleteClaims.
type batchStore struct {
	*sqlite.Store
	mu     sync.Mutex
	groups []int
}

func (b *batchStore) CompleteClaims(ctx context.Context, cs []hookbox.Completion) ([]error, error) {
	b.mu.Lock()
	b.groups = append(b.groups, len(cs))
	b.mu.Unlock()
	return b.Store.CompleteClaims(ctx, cs)
}

func (b *batchStore) completions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, g := range b.groups {
		n += g
	}
	return n
}

// TestWorker_GroupCompletion ensures that every completion goes through
// CompleteClaims, each destination keeps its own state (retries
// included), and every event is delivered exactly once to the healthy
// destination.
func TestWorker_GroupCompletion(t *testing.T) {
	s := &batchStore{Store: mustOpenStore(t)}
	const n = 100
	var mu sync.Mutex
	seen := map[string]int{}
	good := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
	})
	var flakyCalls atomic.Int32
	flaky := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Hookbox-Attempt") == "1" {
			flakyCalls.Add(1)
			http.Error(w, "first time fails", http.StatusInternalServerError)
		}
	})
	evs := make([]*hookbox.Event, n)
	for i := range evs {
		evs[i] = newEvent(fmt.Sprintf("evt_group_%03d", i), "charge.succeeded", false)
	}
	mustInsert(t, s.Store, evs...)
	w := startWorker(t, &deliver.Worker{
		Queue: s,
		Destinations: []deliver.Destination{
			mustHTTP(t, "good", good.URL, deliver.HTTPOptions{}),
			// Every first attempt fails: no breaker, which would park
			// the retries for a probe interval.
			deliver.Controlled(mustHTTP(t, "flaky", flaky.URL, deliver.HTTPOptions{}), deliver.Controls{BreakerFailures: -1}),
		},
		Retry: fastRetry(5),
	})
	w.Wake()
	waitFor(t, "every event delivered", func() bool {
		counts, _, err := s.CountEvents(context.Background())
		return err == nil && counts[hookbox.StateDelivered] == n
	})
	if got := s.completions(); got != 2*n {
		t.Errorf("%d completions through CompleteClaims, want %d (one per claim)", got, 2*n)
	}
	if got := flakyCalls.Load(); got != n {
		t.Errorf("flaky destination failed %d first attempts, want %d", got, n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range evs {
		if seen[ev.ID] != 1 {
			t.Errorf("%s delivered %d times to the healthy destination", ev.ID, seen[ev.ID])
		}
	}
}

// TestWorker_GroupCompletionShutdown ensures Shutdown with the grouped
// completion path still releases unfinished claims and records finished
// ones.
func TestWorker_GroupCompletionShutdown(t *testing.T) {
	s := &batchStore{Store: mustOpenStore(t)}
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	rc := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Idempotency-Key") == "evt_gs_stuck" {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}
	})
	stuck, quick := newEvent("evt_gs_stuck", "charge.succeeded", false), newEvent("evt_gs_quick", "charge.succeeded", false)
	mustInsert(t, s.Store, stuck, quick)
	w := &deliver.Worker{Queue: s, Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{})}, Logger: quietLogger()}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Wake()
	waitState(t, s.Store, quick.ID, hookbox.StateDelivered)
	waitFor(t, "the stuck request", func() bool { return rc.count() == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	w.Shutdown(ctx)
	if st := mustEvent(t, s.Store, stuck.ID).State; st != hookbox.StatePending {
		t.Errorf("stuck event %s after shutdown, want pending", st)
	}
}
