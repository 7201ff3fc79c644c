package reconcile_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/reconcile"
)

// manualClock is a clock tests move by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// Ensures each periodic run covers the window since the end of the previous
// successful run's window minus the overlap, leaves the settle time to the
// webhooks, and that a failed run does not move the window.
func TestPeriodic_Windows(t *testing.T) {
	t.Parallel()
	sc := newScenario(t)
	r, _ := newReconciler(t, sc.base, testKey, sc.store)
	clk := &manualClock{t: now}
	p := &reconcile.Periodic{
		Reconciler: r,
		Options:    reconcile.Options{Since: 72 * time.Hour, NowFunc: clk.Now},
		Every:      15 * time.Minute,
		Overlap:    2 * time.Minute,
	}
	ctx := context.Background()

	res := p.RunOnce(ctx)
	if res.Err != nil || res.Skipped || res.Summary.Recovered != 210 || !res.LastSuccess.Equal(now) {
		t.Fatalf("first run: %+v", res)
	}
	q := sc.fake.reqs()[0].Query
	if q.Get("created[gte]") != unix(now.Add(-72*time.Hour)) || q.Get("created[lte]") != unix(now.Add(-reconcile.DefaultSettle)) {
		t.Fatalf("first run query: %v", q)
	}
	firstTo := now.Add(-reconcile.DefaultSettle)

	clk.Add(15 * time.Minute)
	n := len(sc.fake.reqs())
	res = p.RunOnce(ctx)
	if res.Err != nil || res.Summary.Seen != 0 {
		t.Fatalf("second run: %+v", res)
	}
	q = sc.fake.reqs()[n].Query
	if q.Get("created[gte]") != unix(firstTo.Add(-2*time.Minute)) || q.Get("created[lte]") != unix(clk.Now().Add(-reconcile.DefaultSettle)) {
		t.Fatalf("second run query: %v", q)
	}
	secondTo := clk.Now().Add(-reconcile.DefaultSettle)
	lastSuccess := res.LastSuccess

	clk.Add(15 * time.Minute)
	sc.fake.failNext(fakeFailure{status: 400, errType: "invalid_request_error"})
	res = p.RunOnce(ctx)
	if res.Err == nil || !res.LastSuccess.Equal(lastSuccess) {
		t.Fatalf("failed run: %+v", res)
	}

	clk.Add(15 * time.Minute)
	n = len(sc.fake.reqs())
	if res = p.RunOnce(ctx); res.Err != nil {
		t.Fatal(res.Err)
	}
	if q = sc.fake.reqs()[n].Query; q.Get("created[gte]") != unix(secondTo.Add(-2*time.Minute)) {
		t.Fatalf("run after a failure: %v, want created[gte] from the last success", q)
	}
}

// Ensures two replicas sharing one store's lock (the SQLite store's
// locks table), on a short interval, never run at the same time, that both
// keep running, and that between them every missing event is recovered
// exactly once.
func TestPeriodic_TwoReplicas(t *testing.T) {
	t.Parallel()
	sc := newScenario(t)
	sc.fake.delay = 5 * time.Millisecond
	var locker hookbox.Locker = sc.store

	var (
		mu      sync.Mutex
		results = map[string][]reconcile.RunResult{}
	)
	var ps []*reconcile.Periodic
	for _, name := range []string{"a", "b"} {
		r, _ := newReconciler(t, sc.base, testKey, sc.store)
		p := &reconcile.Periodic{
			Reconciler: r,
			Options:    reconcile.Options{Settle: -1, NowFunc: clock},
			Every:      2 * time.Millisecond,
			Locker:     locker,
			Owner:      "replica-" + name,
			OnRun: func(res reconcile.RunResult) {
				mu.Lock()
				defer mu.Unlock()
				results[name] = append(results[name], res)
			},
		}
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
		ps = append(ps, p)
	}
	ran := func(rs []reconcile.RunResult) int {
		n := 0
		for _, r := range rs {
			if !r.Skipped {
				n++
			}
		}
		return n
	}
	// A generous deadline: on a loaded 2-core machine each run of the
	// scenario's fake API and SQLite store is slow (a 20 s deadline was
	// missed with a 1, b 0).
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		done := ran(results["a"]) >= 3 && ran(results["b"]) >= 3
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs after 60s: a %d, b %d", ran(results["a"]), ran(results["b"]))
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	for _, p := range ps {
		p.Stop()
	}

	var all []reconcile.RunResult
	recovered, skipped := 0, 0
	for _, rs := range results {
		for _, r := range rs {
			if r.Err != nil {
				t.Fatalf("run failed: %v", r.Err)
			}
			if r.Skipped {
				skipped++
				continue
			}
			recovered += r.Summary.Recovered
			all = append(all, r)
		}
	}
	slices.SortFunc(all, func(a, b reconcile.RunResult) int { return a.Started.Compare(b.Started) })
	for i := 1; i < len(all); i++ {
		if all[i].Started.Before(all[i-1].Finished) {
			t.Fatalf("runs overlap: %v-%v and %v-%v", all[i-1].Started, all[i-1].Finished, all[i].Started, all[i].Finished)
		}
	}
	if skipped == 0 {
		t.Fatal("no run was ever skipped: the lock was never contended")
	}
	sc.fake.mu.Lock()
	maxInfl := sc.fake.maxInfl
	sc.fake.mu.Unlock()
	if maxInfl != 1 {
		t.Fatalf("%d list requests at once", maxInfl)
	}
	if recovered != 210 || countStored(t, sc.store) != 250 {
		t.Fatalf("recovered %d in all, want 210", recovered)
	}
}

// refusingLocker grants the first TryLock and refuses every renewal.
type refusingLocker struct {
	mu    sync.Mutex
	calls int
}

func (l *refusingLocker) TryLock(context.Context, string, string, time.Time, time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	return l.calls == 1, nil
}

func (l *refusingLocker) Unlock(context.Context, string, string) error { return nil }

// Ensures a run whose lock renewal is refused stops with ErrLockLost.
func TestPeriodic_ErrLockLost(t *testing.T) {
	t.Parallel()
	sc := newScenario(t)
	sc.fake.delay = 30 * time.Millisecond
	r, _ := newReconciler(t, sc.base, testKey, sc.store)
	p := &reconcile.Periodic{Reconciler: r, Every: time.Hour, Locker: &refusingLocker{}, LockTTL: 15 * time.Millisecond}
	res := p.RunOnce(context.Background())
	if !errors.Is(res.Err, reconcile.ErrLockLost) || !res.LastSuccess.IsZero() {
		t.Fatalf("run: %+v", res)
	}
}

// Ensures Start validates, runs at once, refuses a second Start, and Stop
// waits for the goroutine (and is safe to repeat).
func TestPeriodic_StartStop(t *testing.T) {
	t.Parallel()
	sc := newScenario(t)
	r, _ := newReconciler(t, sc.base, testKey, sc.store)
	if err := (&reconcile.Periodic{Reconciler: r}).Start(context.Background()); hookbox.ErrorCode(err) != hookbox.EINVALID {
		t.Fatalf("Start without Every: %v", err)
	}
	if err := (&reconcile.Periodic{Reconciler: r, Every: time.Minute, Options: reconcile.Options{Since: 40 * 24 * time.Hour}}).Start(context.Background()); err == nil {
		t.Fatal("Start with Since over 30 days: no error")
	}
	first := make(chan reconcile.RunResult, 1)
	p := &reconcile.Periodic{Reconciler: r, Every: time.Hour, Options: reconcile.Options{NowFunc: clock},
		OnRun: func(res reconcile.RunResult) {
			select {
			case first <- res:
			default:
			}
		}}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err == nil {
		t.Fatal("second Start: no error")
	}
	select {
	case res := <-first:
		if res.Err != nil || res.Summary.Recovered != 210 {
			t.Fatalf("first run: %+v", res)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no run at start")
	}
	p.Stop()
	p.Stop()
}

// slowLocker grants every TryLock, but the first TryLock of the second run
// takes `delay` (a PostgreSQL pool that waits for a connection, a locks row
// held by a stuck transaction): the clock moves on meanwhile.
type slowLocker struct {
	clk   *manualClock
	calls int
	delay time.Duration
}

func (l *slowLocker) TryLock(_ context.Context, _, _ string, _ time.Time, _ time.Duration) (bool, error) {
	l.calls++
	if l.calls == 2 {
		l.clk.Add(l.delay)
	}
	return true, nil
}
func (l *slowLocker) Unlock(context.Context, string, string) error { return nil }

// TestPeriodic_SlowLockNoGap ensures consecutive periodic runs cover
// overlapping creation-time windows however long taking the lock took: an
// event created just after the first run's upper bound is recovered by the
// second, whose lock took 8 minutes.
func TestPeriodic_SlowLockNoGap(t *testing.T) {
	sc := newScenario(t)
	// One event created at 11:56:xx, after run 1's settle bound (11:55).
	gapEv := sc.fake.add(false, genEvents(9, now.Add(-4*time.Minute), 1)...)[0]
	r, _ := newReconciler(t, sc.base, testKey, sc.store)
	clk := &manualClock{t: now}
	p := &reconcile.Periodic{
		Reconciler: r,
		Options:    reconcile.Options{Since: 72 * time.Hour, NowFunc: clk.Now},
		Every:      15 * time.Minute,
		Locker:     &slowLocker{clk: clk, delay: 8 * time.Minute},
		LockTTL:    time.Hour,
	}
	res1 := p.RunOnce(context.Background())
	if res1.Err != nil {
		t.Fatal(res1.Err)
	}
	clk.Add(15 * time.Minute)
	res2 := p.RunOnce(context.Background())
	if res2.Err != nil {
		t.Fatal(res2.Err)
	}
	if _, err := sc.store.FindEventByID(context.Background(), gapEv.id); err != nil {
		t.Errorf("event %s (created %s) never recovered: %v", gapEv.id, time.Unix(gapEv.created, 0).UTC().Format(time.TimeOnly), err)
	}
	if res2.Summary.Window.From.After(res1.Summary.Window.To) {
		t.Fatalf("gap: events created in (%s, %s) are listed by neither run",
			res1.Summary.Window.To.Format(time.TimeOnly), res2.Summary.Window.From.Format(time.TimeOnly))
	}
}
