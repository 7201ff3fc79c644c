package deliver

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hookbox/hookbox"
	"go.opentelemetry.io/otel/trace"
)

// Worker defaults.
const (
	// DefaultLease is the shortest default lease on claimed events. The
	// default grows past it when the destinations' timeouts add up to more
	// (see Worker.Lease).
	DefaultLease = 60 * time.Second
	// DefaultConcurrency is how many events a Worker delivers at once.
	DefaultConcurrency = 32
	// DefaultPollInterval is how often a Worker looks for due events when
	// nothing wakes it.
	DefaultPollInterval = time.Second
)

const (
	// leaseMargin is the time kept free at the end of a lease for
	// CompleteClaim: delivery contexts end this long before the lease.
	maxLeaseMargin = 10 * time.Second
	// storeTimeout bounds one store call made after the deliveries of a
	// claim (CompleteClaim, ReleaseClaims), even during shutdown.
	storeTimeout = 10 * time.Second
	// completeRetries is how many times CompleteClaim is retried on
	// EUNAVAILABLE before the claim is left to its lease.
	completeRetries = 3
	// errBackoffMin and errBackoffMax bound the wait after a failed claim.
	errBackoffMin = 50 * time.Millisecond
	errBackoffMax = 5 * time.Second
	// abortWait is how long Shutdown waits, after its grace period, for
	// canceled deliveries to return before it releases their claims anyway.
	abortWait = 2 * time.Second
	// maxDue caps the retry times a Worker remembers for its timer; beyond
	// it, polling finds the rest.
	maxDue = 4096
	// maxLastError caps Delivery.LastError, maxAttemptError Attempt.Error.
	maxLastError    = 200
	maxAttemptError = 1024
)

// Worker claims due events from the queue and delivers them to its
// destinations. Set the fields, then call Start; the fields must not change
// afterwards. Several Workers (in one process or several) may share a
// store: leases keep them from delivering the same event at once. Every
// Worker, and every DeliverNow caller, on one store must have the same set
// of destinations: a pending delivery to a destination a Worker does not
// have (or whose filter no longer accepts the event) is marked dead by it.
type Worker struct {
	// Queue is the store's delivery side (e.g. *sqlite.Store). Required.
	Queue hookbox.Queue
	// Destinations receive the events, each keeping its own delivery
	// state under its Name (names must be unique). At least one.
	Destinations []Destination
	// Retry schedules failed attempts; the zero value is the default
	// policy (10 s doubling to 1 h, 25 attempts, 72 h window).
	Retry hookbox.RetryPolicy
	// Owner names this worker in leases; "" means hostname-pid-random.
	Owner string
	// Lease is how long a claim is held; <= 0 means the larger of
	// DefaultLease and the sum of the destinations' attempt timeouts plus
	// 10 s. Deliveries are cut shortly before the lease ends, so a claim
	// is completed while it is still held.
	Lease time.Duration
	// Concurrency is how many events are delivered at once; <= 0 means
	// DefaultConcurrency. Each event goes to its destinations in parallel.
	Concurrency int
	// BatchSize is the most events one claim takes; <= 0 means
	// Concurrency.
	BatchSize int
	// PollInterval is how often the queue is polled when nothing wakes
	// the worker; <= 0 means DefaultPollInterval.
	PollInterval time.Duration
	// NowFunc is the clock for claims and retry times; nil means time.Now.
	NowFunc func() time.Time
	// Logger receives failed attempts (WARN), dead events (ERROR) and
	// store errors; nil means slog.Default(). Event bodies, secrets and
	// response bodies are never logged.
	Logger *slog.Logger
	// OnAttempt, if set, is called once for every attempt made, before it
	// is recorded (metrics hook). It must be fast and safe for concurrent
	// use.
	OnAttempt func(hookbox.Attempt)
	// OnLate, if set, is called once for each late event (Ordering) an
	// ordered destination is given, whether delivered or skipped.
	OnLate func(destination string, skipped bool)
	// OnStoreError, if set, is called when a store call of the worker
	// fails (after its retries), with the operation: "claim", "complete"
	// or "release". Lost leases (ECONFLICT) are not store errors. Delivery
	// can stall on a failing store while ingest is fine; this lets it be
	// counted and alerted on.
	OnStoreError func(op string, err error)
	// OnBreaker, if set, is called when this worker opens (open) or closes
	// a destination's circuit breaker in the store (Controls).
	OnBreaker func(destination string, open bool)
	// OnProbe, if set, is called with the outcome of each attempt this
	// worker makes as an open breaker's probe.
	OnProbe func(destination string, ok bool)
	// OnDefer, if set, is called for each delivery a destination's limits
	// defer without an attempt: reason "rate" or "in_flight".
	OnDefer func(destination, reason string)
	// Tracer, when set, makes one span per attempt, "hookbox.deliver"
	// (see attempt), whose context the destination passes on: a W3C
	// traceparent header on HTTP forwards and broker messages. nil: no
	// spans.
	Tracer trace.Tracer

	chanOnce sync.Once
	wake     chan struct{} // Wake: claim now
	resched  chan struct{} // a retry time earlier than the timer was added
	slot     chan struct{} // an event finished: a slot is free

	initOnce sync.Once
	initErr  error
	owner    string
	lease    time.Duration
	conc     int
	batch    int
	poll     time.Duration
	log      *slog.Logger

	ctl      map[string]*destCtl // per destination: controls and stored state (set by init)
	pausedAt time.Time           // last read of the stored state (loop only)
	syncMu   sync.Mutex          // guards syncRead
	syncRead time.Time           // last read of the stored state by DeliverNow

	mu        sync.Mutex
	started   bool
	stopping  bool
	abandoned bool                // Shutdown has released what was left
	inflight  map[string]struct{} // ids of the events being delivered
	again     map[string]reclaim  // in-flight ids this worker claimed again (see launch)
	late      map[string]uint64   // ids whose completion landed after their lease: tick then
	tick      uint64              // orders claim calls and late completions (under mu)
	release   []string            // aborted claims to release
	due       dueHeap             // retry times this worker scheduled
	stop      chan struct{}       // closed by Shutdown: stop claiming
	loopDone  chan struct{}
	finished  chan struct{} // closed when Shutdown has finished
	finishErr error
	hard      context.Context // deliveries; canceled when the grace ends
	hardStop  context.CancelFunc
	store     context.Context // store calls that must outlive cancellation
	wg        sync.WaitGroup  // event goroutines

	// Group completions (CompleteClaims); set by Start. completeQuit
	// stops the committer, which closes completeStop.
	completeReqs chan completeReq
	completeQuit chan struct{}
	completeStop chan struct{}
}

// WakeAt tells the worker that events come due at t (stored with a later
// NextAttemptAt, such as those an order window holds), so that it claims
// then instead of at the next poll. A no-op on a nil or stopped *Worker.
func (w *Worker) WakeAt(t time.Time) {
	if w == nil {
		return
	}
	w.remember([]time.Time{t})
}

// Wake tells the worker that a new event was committed, so that it claims
// now instead of at the next poll. It never blocks, coalesces (many calls
// before the worker looks count once), and may be called before Start or
// on a nil *Worker (a no-op).
func (w *Worker) Wake() {
	if w == nil {
		return
	}
	w.chans()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *Worker) chans() {
	w.chanOnce.Do(func() {
		w.wake = make(chan struct{}, 1)
		w.resched = make(chan struct{}, 1)
		w.slot = make(chan struct{}, 1)
	})
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// init validates the configuration and applies the defaults, once.
func (w *Worker) init() error {
	w.chans()
	w.initOnce.Do(func() { w.initErr = w.setup() })
	return w.initErr
}

func (w *Worker) setup() error {
	if w.Queue == nil {
		return hookbox.Errorf(hookbox.EINVALID, "deliver: Worker.Queue is nil")
	}
	if len(w.Destinations) == 0 {
		return hookbox.Errorf(hookbox.EINVALID, "deliver: Worker has no destinations")
	}
	seen := make(map[string]bool)
	var timeouts time.Duration
	for i, d := range w.Destinations {
		if d == nil {
			return hookbox.Errorf(hookbox.EINVALID, "deliver: destination %d is nil", i)
		}
		if err := checkName(d.Name()); err != nil {
			return err
		}
		if seen[d.Name()] {
			return hookbox.Errorf(hookbox.EINVALID, "deliver: destination name %q used twice", d.Name())
		}
		seen[d.Name()] = true
		timeouts += attemptTimeout(d)
	}
	w.owner = w.Owner
	if w.owner == "" {
		w.owner = defaultOwner()
	}
	w.lease = w.Lease
	if w.lease <= 0 {
		w.lease = max(DefaultLease, timeouts+maxLeaseMargin)
	}
	w.conc = w.Concurrency
	if w.conc <= 0 {
		w.conc = DefaultConcurrency
	}
	w.batch = w.BatchSize
	if w.batch <= 0 {
		w.batch = w.conc
	}
	w.poll = w.PollInterval
	if w.poll <= 0 {
		w.poll = DefaultPollInterval
	}
	w.log = w.Logger
	if w.log == nil {
		w.log = slog.Default()
	}
	if err := CheckLease(w.Lease, w.Destinations); err != nil {
		w.log.Warn("deliver: " + hookbox.ErrorMessage(err))
	}
	return w.setupControls()
}

// defaultOwner is hostname-pid-random: unique per process run, and telling
// an operator which host holds a lease.
func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "hookbox"
	}
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// OwnerName returns the owner this worker writes in leases (after Start or
// DeliverNow; the configured Owner or its default).
func (w *Worker) OwnerName() string {
	if w.init() != nil {
		return w.Owner
	}
	return w.owner
}

func (w *Worker) now() time.Time {
	if w.NowFunc != nil {
		return w.NowFunc()
	}
	return time.Now()
}

// Start validates the configuration (an error coded EINVALID) and starts
// claiming in a goroutine; it returns at once. The worker runs until
// Shutdown, or until ctx is done, which is a Shutdown without grace period:
// in-flight deliveries are canceled and their claims released.
func (w *Worker) Start(ctx context.Context) error {
	if err := w.init(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return hookbox.Errorf(hookbox.EINVALID, "deliver: Worker started twice")
	}
	w.started = true
	w.inflight = make(map[string]struct{})
	w.again = make(map[string]reclaim)
	w.late = make(map[string]uint64)
	w.stop = make(chan struct{})
	w.loopDone = make(chan struct{})
	w.finished = make(chan struct{})
	w.hard, w.hardStop = context.WithCancel(ctx)
	w.store = context.WithoutCancel(ctx)
	w.completeReqs = make(chan completeReq)
	w.completeQuit = make(chan struct{})
	w.completeStop = make(chan struct{})
	go w.groupComplete(w.completeReqs, w.completeQuit, w.completeStop)
	go w.loop(ctx)
	go func() {
		select {
		case <-ctx.Done():
			w.Shutdown(ctx)
		case <-w.stop:
		}
	}()
	return nil
}

// Shutdown stops claiming, waits for in-flight deliveries until ctx is
// done, then cancels those still running and releases the claims of those
// that stop (ReleaseClaims: back to pending, due now, no attempt counted),
// so nothing is lost. A delivery that ignores cancellation keeps its claim
// until the lease expires, so that no other worker runs it meanwhile.
// Attempts that finished are recorded as usual. It returns nil when every delivery finished in time, ctx's error
// when some were cut short (their claims released), or the release error.
// Safe to call more than once and concurrently; a Worker that was never
// started returns nil. A Worker cannot be restarted.
func (w *Worker) Shutdown(ctx context.Context) error {
	w.mu.Lock()
	if !w.started {
		w.mu.Unlock()
		return nil
	}
	first := !w.stopping
	if first {
		w.stopping = true
		close(w.stop)
	}
	w.mu.Unlock()
	if !first {
		select {
		case <-w.finished:
			return w.finishErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	<-w.loopDone
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		w.hardStop()
		t := time.NewTimer(abortWait)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
	}
	w.hardStop()

	w.mu.Lock()
	w.abandoned = true
	ids := w.release
	w.release = nil
	// A delivery still running ignored cancellation (a Go handler not
	// watching ctx): its claim is not released, or another worker would
	// deliver the event while it still runs. Its result is not recorded
	// (the store may be closed after Shutdown); the lease, which bounds
	// it, expires and the event is delivered again (at least once).
	running := len(w.inflight)
	w.mu.Unlock()
	if running > 0 {
		w.log.LogAttrs(ctx, slog.LevelWarn, "deliveries still running after shutdown; their claims are left to their leases",
			slog.String("owner", w.owner), slog.Int("events", running), slog.Duration("lease", w.lease))
	}
	// Completions received are answered first.
	close(w.completeQuit)
	<-w.completeStop
	if len(ids) > 0 {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		n, rerr := w.Queue.ReleaseClaims(rctx, w.owner, ids)
		cancel()
		if rerr != nil {
			w.storeError("release", rerr)
			w.log.LogAttrs(ctx, slog.LevelError, "release claims failed; they return to the queue when their lease expires",
				slog.String("owner", w.owner), slog.Int("events", len(ids)), slog.Any("error", rerr))
			err = errors.Join(err, fmt.Errorf("release claims: %w", rerr))
		} else {
			w.log.LogAttrs(ctx, slog.LevelInfo, "released unfinished claims",
				slog.String("owner", w.owner), slog.Int("released", n))
		}
	}
	w.finishErr = err
	close(w.finished)
	return err
}

// loop claims due events while there are free slots, and waits for a wake
// up, the poll ticker or the next retry time this worker knows of.
func (w *Worker) loop(ctx context.Context) {
	defer close(w.loopDone)
	poll := time.NewTicker(w.poll)
	defer poll.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var backoff time.Duration

	for {
		select {
		case <-w.stop:
			return
		default:
		}
		w.refreshPaused(ctx)
		// At capacity, wait until a good part of the slots is free again:
		// claiming one event per finished one would turn a backlog into
		// one claim transaction per event.
		free, busy := w.free()
		if free == 0 || (busy > 0 && free < w.batch && free < (w.conc+1)/2) {
			select {
			case <-w.slot:
				continue
			case <-w.stop:
				return
			}
		}
		n := min(w.batch, free)
		w.mu.Lock()
		w.tick++
		asked := w.tick
		w.mu.Unlock()
		claims, err := w.Queue.ClaimEvents(ctx, w.owner, w.now(), w.lease, n)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, errBackoffMin), errBackoffMax)
			w.storeError("claim", err)
			w.log.LogAttrs(ctx, slog.LevelError, "claim events failed",
				slog.String("owner", w.owner), slog.Duration("retry_in", backoff), slog.Any("error", err))
			timer.Reset(backoff)
			select {
			case <-timer.C:
			case <-w.stop:
				return
			}
			continue
		}
		backoff = 0
		for _, c := range claims {
			w.launch(c, asked)
		}
		if len(claims) == n {
			continue // maybe more due: claim again at once
		}

	wait:
		for {
			var tc <-chan time.Time
			if d, ok := w.nextDue(); ok {
				if d <= 0 {
					break wait
				}
				timer.Reset(d)
				tc = timer.C
			}
			select {
			case <-w.wake:
				break wait
			case <-poll.C:
				break wait
			case <-tc:
				break wait
			case <-w.resched:
				timer.Stop()
			case <-w.stop:
				return
			}
		}
	}
}

// free returns the number of free and busy delivery slots.
func (w *Worker) free() (free, busy int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conc - len(w.inflight), len(w.inflight)
}

// nextDue pops the remembered retry times that are due and returns how long
// until the next one.
func (w *Worker) nextDue() (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.due) == 0 {
		return 0, false
	}
	now := w.now()
	due := false
	for len(w.due) > 0 && !w.due[0].After(now) {
		heap.Pop(&w.due)
		due = true
	}
	if due {
		return 0, true
	}
	if len(w.due) == 0 {
		return 0, false
	}
	return w.due[0].Sub(now), true
}

// remember adds retry times to the timer, waking the loop if one is
// earlier than what it waits for.
func (w *Worker) remember(ts []time.Time) {
	if len(ts) == 0 {
		return
	}
	w.mu.Lock()
	if !w.started || w.stopping {
		w.mu.Unlock()
		return
	}
	earlier := false
	for _, t := range ts {
		if len(w.due) >= maxDue {
			break
		}
		if len(w.due) == 0 || t.Before(w.due[0]) {
			earlier = true
		}
		heap.Push(&w.due, t)
	}
	w.mu.Unlock()
	if earlier {
		signal(w.resched)
	}
}

// launch delivers one claimed event in its own goroutine, unless this
// worker is still busy with the same event. The store gave it back to this
// owner because the running delivery's completion committed and the retry
// came due before the goroutine let go of it, or because its lease ran out
// while the completion was slow. Leases are held by owner, so delivering
// the new claim now would overlap the running one (and its completion would
// land on the new lease); the claim's snapshot may also be older than what
// that completion records. So the new claim is handed back (ReleaseClaims)
// once the running delivery is done, and claimed afresh; or, when it was
// asked for after that delivery's outcome was recorded (its snapshot is
// current), delivered next by the same goroutine (see processOnce).
//
// The same goes for a claim asked for (tick asked) before a completion of
// the event that landed after its lease: that completion may have landed
// on this very claim's lease once the running delivery had let go, and the
// claim's snapshot predates it (the event may be delivered by now).
func (w *Worker) launch(c *hookbox.Claim, asked uint64) {
	id := c.Event.ID
	w.mu.Lock()
	if _, busy := w.inflight[id]; busy {
		w.again[id] = reclaim{c, asked}
		w.mu.Unlock()
		return
	}
	if t, ok := w.late[id]; ok {
		delete(w.late, id)
		if t > asked {
			w.mu.Unlock()
			if w.handBack(id) {
				signal(w.wake) // claim it afresh
			}
			return
		}
	}
	w.inflight[id] = struct{}{}
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer signal(w.slot)
		w.process(c)
	}()
}

// reclaim is a claim of an event that launch found in flight, and the tick
// at which it was asked for.
type reclaim struct {
	c     *hookbox.Claim
	asked uint64
}

// process delivers c and records the outcome; then, while the event is
// still in flight, it deals with the claims of it made meanwhile (see
// launch): those asked for before the outcome was recorded are handed back,
// and one asked for after is delivered here, in turn.
func (w *Worker) process(c *hookbox.Claim) {
	for c != nil {
		c = w.processOnce(c)
	}
}

// processOnce delivers c and records the outcome. It returns a claim of the
// same event to deliver next, or nil when it let go of the event.
func (w *Worker) processOnce(c *hookbox.Claim) *hookbox.Claim {
	id := c.Event.ID
	out := w.deliverClaim(w.hard, c, false)
	if out.aborted && len(out.completion.Attempts) == 0 {
		// Cut short by Shutdown with nothing to record: release it.
		w.mu.Lock()
		delete(w.again, id) // the same lease, released with it
		if !w.abandoned {
			delete(w.inflight, id)
			w.release = append(w.release, id)
		}
		w.mu.Unlock()
		return nil
	}
	w.mu.Lock()
	abandoned := w.abandoned
	w.mu.Unlock()
	if !abandoned {
		if err := w.complete(w.store, out.completion); err == nil {
			w.remember(out.retries)
			if c.Event.OrderKey != "" {
				// The next event of its object may be due now that this
				// one is settled or waiting for a retry: claim again
				// rather than at the next poll.
				signal(w.wake)
			}
		}
		if !c.LeaseUntil.IsZero() && !w.now().Before(c.LeaseUntil) {
			// Landed (or failed) after the lease: a claim of the event
			// asked for meanwhile may hold a stale snapshot (see launch).
			w.mu.Lock()
			if len(w.late) >= maxDue { // rare; never let it grow unbounded
				clear(w.late)
			}
			w.tick++
			w.late[id] = w.tick
			w.mu.Unlock()
		}
	}
	// The outcome is recorded (or never will be): a claim asked for from
	// now on holds what the store has now.
	w.mu.Lock()
	w.tick++
	done := w.tick
	w.mu.Unlock()
	// Hand back the claims of id made before that while id is still in
	// flight (so none of them is launched), and let go of it under the
	// same lock as the last check (so none is missed). A claim asked for
	// after is delivered next instead: handing it back too would let the
	// loop claim the event again during each release, and the two could
	// trade it (two write transactions a round) for as long as claims come
	// faster than releases.
	handed := false
	for {
		w.mu.Lock()
		r, again := w.again[id]
		delete(w.again, id)
		if !again || w.stopping {
			delete(w.inflight, id)
			if again && !w.abandoned {
				w.release = append(w.release, id) // Shutdown releases it
			}
			w.mu.Unlock()
			break
		}
		if r.asked > done {
			delete(w.late, id) // it landed before this claim was asked for
			w.mu.Unlock()
			return r.c
		}
		w.mu.Unlock()
		handed = w.handBack(id) || handed
	}
	if handed {
		signal(w.wake) // claim it afresh
	}
	return nil
}

// handBack releases a claim launch did not deliver, so that the event is
// claimed again with what the store now holds. A claim the completion has
// already settled is not held any more and is left alone by ReleaseClaims.
func (w *Worker) handBack(id string) bool {
	ctx, cancel := context.WithTimeout(w.store, storeTimeout)
	defer cancel()
	if _, err := w.Queue.ReleaseClaims(ctx, w.owner, []string{id}); err != nil {
		w.storeError("release", err)
		w.log.LogAttrs(ctx, slog.LevelWarn, "release of a repeated claim failed; the event is retried when its lease expires",
			slog.String("event_id", id), slog.String("owner", w.owner), slog.Any("error", err))
		return false
	}
	return true
}

// complete records a claim's outcome, retrying a few times while the store
// is unavailable. ECONFLICT (the lease was lost: the delivery outlived it
// and another worker may have the event now) is logged and dropped.
func (w *Worker) complete(ctx context.Context, c hookbox.Completion) error {
	var err error
	for i := 0; i < completeRetries; i++ {
		err = w.completeOnce(ctx, c)
		if err == nil {
			return nil
		}
		if hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE || !sleepCtx(ctx, time.Duration(i+1)*100*time.Millisecond) {
			break
		}
	}
	if hookbox.ErrorCode(err) == hookbox.ECONFLICT {
		w.log.LogAttrs(ctx, slog.LevelWarn, "lease lost before completion; attempts not recorded",
			slog.String("event_id", c.EventID), slog.String("owner", c.Owner), slog.Any("error", err))
	} else {
		w.storeError("complete", err)
		w.log.LogAttrs(ctx, slog.LevelError, "complete claim failed; the event is retried when its lease expires",
			slog.String("event_id", c.EventID), slog.String("owner", c.Owner), slog.Any("error", err))
	}
	return err
}

// sleepCtx waits d, or less when ctx ends first; it reports whether the
// whole d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dueHeap is a min-heap of times.
type dueHeap []time.Time

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *dueHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// storeError reports a failed store call to OnStoreError.
func (w *Worker) storeError(op string, err error) {
	if w.OnStoreError != nil {
		w.OnStoreError(op, err)
	}
}
