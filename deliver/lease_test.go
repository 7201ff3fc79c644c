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

// The tests of this file run on a clock they drive (see clock): a lease
// expires when the test moves the clock past it, and leases are long in
// real time, so a loaded machine neither expires one too early nor lets a
// delivery outrun its budget.

// slowClaims is the real SQLite store whose ClaimEvents answers late, once:
// the claim waits (for the writer connection, a busy lock, a slow network)
// after the worker read its clock, so the lease, counted from that time,
// is partly spent when the claim returns. The wait is the test's clock
// moving forward by delay before the answer.
type slowClaims struct {
	*sqlite.Store
	clock *clock
	delay time.Duration
	once  sync.Once
}

func (s *slowClaims) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookbox.Claim, error) {
	cl, err := s.Store.ClaimEvents(ctx, owner, now, lease, limit)
	if len(cl) > 0 {
		s.once.Do(func() { s.clock.Advance(s.delay) })
	}
	return cl, err
}

// TestWorker_DeliveryEndsBeforeLease ensures a delivery is cut before the
// claim's lease ends, counted from the lease the store granted, not from
// when the worker got the claim back: otherwise a second worker takes the
// expired lease and delivers the same event while the first delivery is
// still running (a double delivery).
func TestWorker_DeliveryEndsBeforeLease(t *testing.T) {
	s := mustOpenStore(t)
	clk := &clock{}
	// Deliveries are cut lease/4 (5 s) before the lease ends. The claim
	// comes back 14 s into a 20 s lease: counted from the lease, the
	// delivery is cut 1 s later, and the lease still has 5 s (real ones)
	// for the attempt to be recorded; counted from the claim's return, as
	// before the fix, it would run to 15 s, past the lease end at 6 s,
	// where the other worker takes the event.
	const lease, delay = 20 * time.Second, 14 * time.Second
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
		Queue: &slowClaims{Store: s, clock: clk, delay: delay}, Owner: "slow", Destinations: dest(),
		Lease: lease, Retry: hookbox.RetryPolicy{Base: time.Hour, Cap: time.Hour, MaxAttempts: 5},
		NowFunc: clk.Now,
		// Claims only when woken: the expired lease is the other worker's
		// to take (the store would give it back to this one too).
		PollInterval: time.Hour,
	})
	slow.Wake()
	waitFor(t, "the first request", func() bool { return hang.count() == 1 })
	other := startWorker(t, &deliver.Worker{
		Queue: s, Owner: "other", Destinations: dest(), Lease: lease,
		PollInterval: 10 * time.Millisecond, NowFunc: clk.Now,
	})
	other.Wake()
	// The slow worker's delivery is cut, recorded as a failed attempt and
	// scheduled an hour later, all before its lease ends: the other worker
	// never gets the event. (Without the fix, the other worker's request
	// comes first.)
	waitFor(t, "the attempt recorded, or a second request", func() bool {
		return hang.count() > 1 || len(mustAttempts(t, s, ev.ID)) == 1
	})
	if n := hang.count(); n != 1 || overlap.Load() != 0 {
		t.Fatalf("destination got %d requests (%d while another ran), want 1", n, overlap.Load())
	}
	if d := mustDeliveries(t, s, ev.ID)["app"]; d.State != hookbox.StatePending || d.Attempts != 1 {
		t.Errorf("delivery %+v, want pending after 1 attempt", d)
	}
}

// slowFirstComplete is the real SQLite store whose first CompleteClaims
// commits late (a lock wait, an fsync stall, a slow link to PostgreSQL):
// it waits until the test closes proceed. It counts the claims it hands
// out.
type slowFirstComplete struct {
	*sqlite.Store
	calls     atomic.Int32
	claims    atomic.Int32
	entered   chan struct{} // closed when the first completion starts
	proceed   chan struct{} // the first completion commits once closed
	committed atomic.Bool   // the first completion has committed
}

func (s *slowFirstComplete) CompleteClaims(ctx context.Context, cs []hookbox.Completion) ([]error, error) {
	if s.calls.Add(1) == 1 {
		close(s.entered)
		<-s.proceed
		errs, err := s.Store.CompleteClaims(ctx, cs)
		s.committed.Store(true)
		return errs, err
	}
	return s.Store.CompleteClaims(ctx, cs)
}

func (s *slowFirstComplete) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookbox.Claim, error) {
	cl, err := s.Store.ClaimEvents(ctx, owner, now, lease, limit)
	s.claims.Add(int32(len(cl)))
	return cl, err
}

// TestWorker_NoSecondDeliveryWhileRecording ensures a worker whose
// completion is slower than the lease does not deliver the event again
// while that completion is pending: the store gives the expired lease back
// to the same owner, and a second delivery launched then would overlap the
// retry that the late completion schedules.
func TestWorker_NoSecondDeliveryWhileRecording(t *testing.T) {
	s := &slowFirstComplete{Store: mustOpenStore(t), entered: make(chan struct{}), proceed: make(chan struct{})}
	var proceedOnce sync.Once
	t.Cleanup(func() { proceedOnce.Do(func() { close(s.proceed) }) })
	clk := &clock{}
	const lease = time.Minute
	var inflight, overlap, early atomic.Int32
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if inflight.Add(1) > 1 {
			overlap.Add(1)
		}
		defer inflight.Add(-1)
		if n == 1 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		if !s.committed.Load() {
			early.Add(1) // delivered again while the first completion is pending
		}
		time.Sleep(200 * time.Millisecond) // slow but successful
	})
	ev := newEvent("evt_slow_complete", "charge.succeeded", false)
	mustInsert(t, s.Store, ev)
	startWorker(t, &deliver.Worker{
		Queue: s, Owner: "w1", Lease: lease, Retry: fastRetry(10), PollInterval: 10 * time.Millisecond,
		NowFunc:      clk.Now,
		Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{Timeout: 5 * time.Second})},
	}).Wake()
	waitFor(t, "the first completion", func() bool { return closed(s.entered) })
	// The lease runs out while the completion is pending: the worker's
	// next poll claims the event again, and the store gives it back to w1.
	clk.Advance(lease + time.Second)
	waitFor(t, "the event claimed again", func() bool { return s.claims.Load() >= 2 })
	proceedOnce.Do(func() { close(s.proceed) })
	waitState(t, s.Store, ev.ID, hookbox.StateDelivered)
	if early.Load() > 0 || overlap.Load() > 0 || rc.count() != 2 {
		t.Errorf("destination got %d requests, %d before the first completion committed, %d while another ran; want 2, the second after it, one at a time",
			rc.count(), early.Load(), overlap.Load())
	}
}

// eagerReclaims is slowFirstComplete whose every release (of the first
// 20) is followed by a claim of the event before it returns: the worker's
// loop claims faster than the worker releases (a short poll, a wake per
// ingested event, slow commits on a loaded machine).
type eagerReclaims struct {
	*slowFirstComplete
	releases atomic.Int32
}

func (s *eagerReclaims) ReleaseClaims(ctx context.Context, owner string, ids []string) (int, error) {
	n, err := s.Store.ReleaseClaims(ctx, owner, ids)
	if s.releases.Add(1) <= 20 {
		claims := s.claims.Load()
		for deadline := time.Now().Add(5 * time.Second); s.claims.Load() == claims && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	return n, err
}

// TestWorker_ReclaimDuringHandBackDelivered ensures that once a slow
// completion has landed, a claim of the event made while the worker hands
// back the claims that predate it is delivered, not handed back in turn:
// otherwise the worker's loop and its hand-back trade the event (a claim, a
// release, a claim...) for as long as claims come faster than releases,
// and the event waits meanwhile.
func TestWorker_ReclaimDuringHandBackDelivered(t *testing.T) {
	s := &slowFirstComplete{Store: mustOpenStore(t), entered: make(chan struct{}), proceed: make(chan struct{})}
	var proceedOnce sync.Once
	t.Cleanup(func() { proceedOnce.Do(func() { close(s.proceed) }) })
	q := &eagerReclaims{slowFirstComplete: s}
	clk := &clock{}
	const lease = time.Minute
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	})
	ev := newEvent("evt_hand_back", "charge.succeeded", false)
	mustInsert(t, s.Store, ev)
	startWorker(t, &deliver.Worker{
		Queue: q, Owner: "w1", Lease: lease, Retry: fastRetry(10), PollInterval: 10 * time.Millisecond,
		NowFunc:      clk.Now,
		Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{Timeout: 5 * time.Second})},
	}).Wake()
	waitFor(t, "the first completion", func() bool { return closed(s.entered) })
	clk.Advance(lease + time.Second) // the loop claims the event again
	waitFor(t, "the event claimed again", func() bool { return s.claims.Load() >= 2 })
	proceedOnce.Do(func() { close(s.proceed) })
	waitFor(t, "the event delivered, or handed back 20 times", func() bool {
		return q.releases.Load() >= 20 || mustEvent(t, s.Store, ev.ID).State == hookbox.StateDelivered
	})
	// One release hands back the claim made while the completion was
	// pending; one more at most, a claim asked for before the completion
	// landed but answered after the worker let go of the event.
	if n := q.releases.Load(); n > 2 || rc.count() != 2 {
		t.Errorf("%d releases, %d requests; want at most 2 releases and the event delivered by the second request", n, rc.count())
	}
}

// closed reports whether c is closed.
func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestWorker_ShutdownKeepsRunningClaims ensures Shutdown does not release
// the claim of a delivery that ignores cancellation (a Go handler whose
// work is not bound to ctx): another worker would run the event at the
// same time. The claim is left to its lease; the event is delivered again
// after it (at least once).
func TestWorker_ShutdownKeepsRunningClaims(t *testing.T) {
	s := mustOpenStore(t)
	clk := &clock{}
	const lease = time.Minute
	unblock := make(chan struct{})
	var unblockOnce sync.Once
	t.Cleanup(func() { unblockOnce.Do(func() { close(unblock) }) })
	var calls, running, most atomic.Int32
	handler := func(ctx context.Context, ev *deliver.Event) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if calls.Add(1) == 1 {
			<-unblock // ignores ctx
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
	w1 := &deliver.Worker{Queue: s, Destinations: []deliver.Destination{mux()}, Owner: "w1", Lease: lease, NowFunc: clk.Now, Logger: quietLogger()}
	if err := w1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w1.Wake()
	waitFor(t, "the handler running", func() bool { return running.Load() == 1 })
	held := mustEvent(t, s, ev.ID) // delivering; NextAttemptAt is w1's lease end
	startWorker(t, &deliver.Worker{Queue: s, Destinations: []deliver.Destination{mux()}, Owner: "w2", Lease: lease,
		NowFunc: clk.Now, PollInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	w1.Shutdown(ctx) // the grace, then 2 s for cancellation to take
	// The handler still runs: its claim is still w1's, as granted.
	if got := mustEvent(t, s, ev.ID); got.State != hookbox.StateDelivering || !got.NextAttemptAt.Equal(held.NextAttemptAt) || calls.Load() != 1 {
		t.Fatalf("after shutdown: %s until %v, handler ran %d times; want delivering until %v (w1's lease), once",
			got.State, got.NextAttemptAt, calls.Load(), held.NextAttemptAt)
	}
	// The handler returns, then the lease expires: w2 delivers the event.
	unblockOnce.Do(func() { close(unblock) })
	waitFor(t, "the first handler to return", func() bool { return running.Load() == 0 })
	clk.Advance(lease + time.Second)
	waitState(t, s, ev.ID, hookbox.StateDelivered)
	if most.Load() != 1 || calls.Load() != 2 {
		t.Errorf("handler ran %d times, up to %d at once; want twice (the second after the lease), one at a time", calls.Load(), most.Load())
	}
}

// staleClaimStore: the first completion of the event is slow (it commits
// after the lease expired, once the event is claimed again); that claim,
// made meanwhile, returns only after the completion committed and the
// running goroutine let go of the event.
type staleClaimStore struct {
	*sqlite.Store
	worker     *deliver.Worker
	tb         testing.TB
	completes  atomic.Int32
	claims     atomic.Int32
	releases   atomic.Int32
	completing chan struct{} // closed when the first completion starts
	reclaimed  chan struct{} // closed when the store gave the event again
	committed  chan struct{} // closed when the first completion committed
}

func (s *staleClaimStore) CompleteClaims(ctx context.Context, cs []hookbox.Completion) ([]error, error) {
	if s.completes.Add(1) == 1 {
		close(s.completing)
		<-s.reclaimed // the lease expired and the loop re-claimed
		errs, err := s.Store.CompleteClaims(ctx, cs)
		close(s.committed)
		return errs, err
	}
	return s.Store.CompleteClaims(ctx, cs)
}

func (s *staleClaimStore) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookbox.Claim, error) {
	cl, err := s.Store.ClaimEvents(ctx, owner, now, lease, limit)
	if len(cl) > 0 && s.claims.Add(1) == 2 {
		close(s.reclaimed)
		<-s.committed // the completion lands on this new lease
		// process() ends before launch(). (Not waitFor: this is not the
		// test's goroutine.)
		for deadline := time.Now().Add(10 * time.Second); s.worker.InFlight(cl[0].Event.ID); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				s.tb.Errorf("the first delivery did not let go of the event")
				break
			}
		}
	}
	return cl, err
}

func (s *staleClaimStore) ReleaseClaims(ctx context.Context, owner string, ids []string) (int, error) {
	s.releases.Add(1)
	return s.Store.ReleaseClaims(ctx, owner, ids)
}

// TestWorker_StaleReclaimNotDelivered ensures a claim asked for while a
// completion of the same event was landing late (after its lease) is not
// delivered from its stale snapshot: the completion landed on that claim's
// lease (leases are held by owner) and delivered the event, and the
// running goroutine let go before the claim was launched.
func TestWorker_StaleReclaimNotDelivered(t *testing.T) {
	s := mustOpenStore(t)
	clk := &clock{}
	const lease = time.Minute
	rc := newReceiver(t, nil)
	mustInsert(t, s, newEvent("evt_stale", "charge.succeeded", false))
	q := &staleClaimStore{Store: s, tb: t,
		completing: make(chan struct{}), reclaimed: make(chan struct{}), committed: make(chan struct{})}
	q.worker = &deliver.Worker{
		Queue:        q,
		Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{Timeout: 5 * time.Second})},
		Lease:        lease,
		Retry:        fastRetry(5),
		NowFunc:      clk.Now,
	}
	startWorker(t, q.worker)
	waitFor(t, "the first completion", func() bool { return closed(q.completing) })
	clk.Advance(lease + time.Second) // the lease expires; the loop re-claims
	waitState(t, s, "evt_stale", hookbox.StateDelivered)
	// The stale claim is handed back (released, to be claimed afresh), or,
	// without the fix, delivered again.
	waitFor(t, "the stale claim handed back or delivered", func() bool { return q.releases.Load() > 0 || rc.count() > 1 })
	if n := rc.count(); n != 1 {
		t.Fatalf("destination received the event %d times; want 1 (delivered once, then a stale re-claim delivered again)", n)
	}
}
