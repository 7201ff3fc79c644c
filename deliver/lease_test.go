package deliver_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/sqlite"
)

// slowClaims is the real SQLite store whose ClaimEvents answers late: the
// claim waits (for the writer connection, a busy lock, a slow network)
// after the worker read its clock, so the lease, counted from that time,
// is partly spent when the claim returns.
type slowClaims struct {
	*sqlite.Store
	delay time.Duration
}

func (s slowClaims) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookbox.Claim, error) {
	time.Sleep(s.delay)
	return s.Store.ClaimEvents(ctx, owner, now, lease, limit)
}

// TestWorker_DeliveryEndsBeforeLease ensures a delivery is cut before the
// claim's lease ends, counted from the lease the store granted, not from
// when the worker got the claim back: otherwise a second worker takes the
// expired lease and delivers the same event while the first delivery is
// still running (a double delivery).
func TestWorker_DeliveryEndsBeforeLease(t *testing.T) {
	s := mustOpenStore(t)
	// Deliveries are cut lease/4 before the lease ends. The claim comes
	// back 1.2 s into a 3 s lease: counted from the lease, the delivery has
	// 1.05 s (ample for the request to reach the destination on a loaded
	// machine); counted from the claim's return, as before the fix, it
	// would run to 3.45 s, past the lease, where the other worker takes
	// the event.
	const lease, delay = 3 * time.Second, 1200 * time.Millisecond
	var inflight, overlap atomic.Int32
	hang := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if inflight.Add(1) > 1 {
			overlap.Add(1)
		}
		defer inflight.Add(-1)
		select {
		case <-r.Context().Done():
		case <-time.After(2 * lease):
		}
	})
	ev := newEvent("evt_lease_bound", "charge.succeeded", false)
	mustInsert(t, s, ev)

	dest := func() []deliver.Destination {
		return []deliver.Destination{mustHTTP(t, "app", hang.URL, deliver.HTTPOptions{Timeout: 3 * lease})}
	}
	slow := startWorker(t, &deliver.Worker{
		Queue: slowClaims{s, delay}, Owner: "slow", Destinations: dest(),
		Lease: lease, Retry: hookbox.RetryPolicy{Base: time.Hour, Cap: time.Hour, MaxAttempts: 5},
	})
	slow.Wake()
	waitFor(t, "the first request", func() bool { return hang.count() == 1 })
	other := startWorker(t, &deliver.Worker{
		Queue: s, Owner: "other", Destinations: dest(), Lease: lease,
		PollInterval: 10 * time.Millisecond,
	})
	other.Wake()
	// The slow worker's delivery is cut, recorded as a failed attempt and
	// scheduled an hour later, all before its lease ends: the other worker
	// never gets the event. (Without the fix, the other worker's request
	// has started by the time an attempt is recorded.)
	waitFor(t, "the attempt recorded", func() bool { return len(mustAttempts(t, s, ev.ID)) == 1 })
	if n := hang.count(); n != 1 || overlap.Load() != 0 {
		t.Fatalf("destination got %d requests (%d while another ran), want 1", n, overlap.Load())
	}
	if d := mustDeliveries(t, s, ev.ID)["app"]; d.State != hookbox.StatePending || d.Attempts != 1 {
		t.Errorf("delivery %+v, want pending after 1 attempt", d)
	}
}

// slowFirstComplete is the real SQLite store whose first CompleteClaims
// commits late (a lock wait, an fsync stall, a slow link to PostgreSQL).
type slowFirstComplete struct {
	*sqlite.Store
	calls atomic.Int32
	delay time.Duration
}

func (s *slowFirstComplete) CompleteClaims(ctx context.Context, cs []hookbox.Completion) ([]error, error) {
	if s.calls.Add(1) == 1 {
		time.Sleep(s.delay)
	}
	return s.Store.CompleteClaims(ctx, cs)
}

// TestWorker_NoSecondDeliveryWhileRecording ensures a worker whose
// completion is slower than the lease does not deliver the event again
// while that completion is pending: the store gives the expired lease back
// to the same owner, and a second delivery launched then would overlap the
// retry that the late completion schedules.
func TestWorker_NoSecondDeliveryWhileRecording(t *testing.T) {
	s := &slowFirstComplete{Store: mustOpenStore(t), delay: 1300 * time.Millisecond}
	var inflight, overlap atomic.Int32
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if inflight.Add(1) > 1 {
			overlap.Add(1)
		}
		defer inflight.Add(-1)
		if n == 1 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		time.Sleep(600 * time.Millisecond) // slow but successful
	})
	ev := newEvent("evt_slow_complete", "charge.succeeded", false)
	mustInsert(t, s.Store, ev)
	startWorker(t, &deliver.Worker{
		Queue: s, Owner: "w1", Lease: time.Second, Retry: fastRetry(10), PollInterval: 10 * time.Millisecond,
		Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{Timeout: 5 * time.Second})},
	}).Wake()
	waitState(t, s.Store, ev.ID, hookbox.StateDelivered)
	if overlap.Load() > 0 || rc.count() != 2 {
		t.Errorf("destination got %d requests, %d while another ran; want 2, one at a time", rc.count(), overlap.Load())
	}
}

// TestWorker_ShutdownKeepsRunningClaims ensures Shutdown does not release
// the claim of a delivery that ignores cancellation (a Go handler whose
// work is not bound to ctx): another worker would run the event at the
// same time. The claim is left to its lease; the event is delivered again
// after it (at least once).
func TestWorker_ShutdownKeepsRunningClaims(t *testing.T) {
	s := mustOpenStore(t)
	var calls, running, most atomic.Int32
	handler := func(ctx context.Context, ev *deliver.Event) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if calls.Add(1) == 1 {
			time.Sleep(2500 * time.Millisecond) // ignores ctx
		}
		return nil
	}
	mux := func() *deliver.Mux {
		m := deliver.NewMux("go")
		m.HandleFunc("*", handler)
		return m
	}
	ev := newEvent("evt_shutdown_running", "charge.succeeded", false)
	mustInsert(t, s, ev)
	w1 := &deliver.Worker{Queue: s, Destinations: []deliver.Destination{mux()}, Owner: "w1", Lease: 3 * time.Second, Logger: quietLogger()}
	if err := w1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w1.Wake()
	waitFor(t, "the handler running", func() bool { return running.Load() == 1 })
	startWorker(t, &deliver.Worker{Queue: s, Destinations: []deliver.Destination{mux()}, Owner: "w2", PollInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	w1.Shutdown(ctx) // the grace, then 2 s for cancellation to take
	waitState(t, s, ev.ID, hookbox.StateDelivered)
	if most.Load() != 1 || calls.Load() != 2 {
		t.Errorf("handler ran %d times, up to %d at once; want twice (the second after the lease), one at a time", calls.Load(), most.Load())
	}
}

// staleClaimStore: the first completion of the event is slow (it commits
// after the lease expired); a claim of the event made meanwhile returns
// only after that completion committed and the running goroutine let go.
type staleClaimStore struct {
	*sqlite.Store
	lease     time.Duration
	completes atomic.Int32
	claims    atomic.Int32
	committed chan struct{}
	once      sync.Once
}

func (s *staleClaimStore) CompleteClaims(ctx context.Context, cs []hookbox.Completion) ([]error, error) {
	if s.completes.Add(1) == 1 {
		time.Sleep(s.lease + 300*time.Millisecond) // lease expires; the loop re-claims
		errs, err := s.Store.CompleteClaims(ctx, cs)
		s.once.Do(func() { close(s.committed) })
		return errs, err
	}
	return s.Store.CompleteClaims(ctx, cs)
}

func (s *staleClaimStore) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookbox.Claim, error) {
	cl, err := s.Store.ClaimEvents(ctx, owner, now, lease, limit)
	if len(cl) > 0 && s.claims.Add(1) == 2 {
		<-s.committed                      // the completion lands on this new lease
		time.Sleep(100 * time.Millisecond) // process() ends before launch()
	}
	return cl, err
}

// TestWorker_StaleReclaimNotDelivered ensures a claim asked for while a
// completion of the same event was landing late (after its lease) is not
// delivered from its stale snapshot: the completion landed on that claim's
// lease (leases are held by owner) and delivered the event, and the
// running goroutine let go before the claim was launched.
func TestWorker_StaleReclaimNotDelivered(t *testing.T) {
	s := mustOpenStore(t)
	const lease = 1 * time.Second
	rc := newReceiver(t, nil)
	mustInsert(t, s, newEvent("evt_stale", "charge.succeeded", false))
	q := &staleClaimStore{Store: s, lease: lease, committed: make(chan struct{})}
	startWorker(t, &deliver.Worker{
		Queue:        q,
		Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{Timeout: 200 * time.Millisecond})},
		Lease:        lease,
		Retry:        fastRetry(5),
	})
	waitState(t, s, "evt_stale", hookbox.StateDelivered)
	time.Sleep(lease + time.Second)
	if n := rc.count(); n != 1 {
		t.Fatalf("destination received the event %d times; want 1 (delivered once, then a stale re-claim delivered again)", n)
	}
}
