// Package groupcommit batches concurrent single-event submissions into one
// store transaction.
//
// A durable commit costs an fsync; an ingest path that commits each request
// on its own is bound by that latency, one request at a time. A Committer
// runs one writer goroutine: it takes the first queued submission, drains
// whatever else is already queued (up to MaxBatch, yielding first to the
// goroutines about to submit, or lingering for more when asked), inserts
// the batch with one call and answers every submitter. Under
// load the batch grows by itself; when idle, a lone event is committed at
// once.
package groupcommit

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbox/hookbox"
)

// DefaultMaxBatch is the largest batch when Options.MaxBatch is <= 0.
const DefaultMaxBatch = 256

// DefaultTimeout bounds one insert when Options.Timeout is <= 0.
const DefaultTimeout = 10 * time.Second

// Options configure a Committer. The zero value is ready to use.
type Options struct {
	// MaxBatch caps the events of one insert; <= 0 means DefaultMaxBatch.
	MaxBatch int
	// Linger is how long the writer waits for more submissions once the
	// queue is empty and the batch is not full. 0 (the default): take what
	// is queued, let the goroutines ready to run submit too (a Gosched,
	// repeated while it brings more), and commit; batching then comes from
	// submissions that arrive while the previous batch commits.
	Linger time.Duration
	// QueueSize is the capacity of the submission queue; <= 0 means
	// MaxBatch. Submit blocks while the queue is full.
	QueueSize int
	// OnBatchFunc, when set, is called by the writer goroutine after each
	// insert with the batch size, the time the insert took and its error.
	// It must be quick: the next batch waits for it. With Sync it is called
	// once the batch is durable or has failed (by the syncer, the time
	// running from the insert's start to the end of its Sync), so that a
	// failing Sync shows wherever a failing insert does.
	OnBatchFunc func(size int, dur time.Duration, err error)
	// Timeout bounds one insert (its context's deadline); <= 0 means
	// DefaultTimeout. A database that blocks instead of failing (a lock
	// held elsewhere, a stalled disk or network) then fails the batch, and
	// its submitters answer 503 so that Stripe retries, instead of every
	// request hanging behind it.
	Timeout time.Duration
	// Prepare, when set, is called by Submit with the event, in the
	// submitter's goroutine, before the event is queued: the store's
	// PrepareInsert (hookbox.Preparer), so that the CPU work of storing
	// each event runs in parallel across submitters, while the previous
	// batch commits, instead of on the one goroutine that inserts.
	Prepare func(*hookbox.Event)
	// Sync, when set, makes every batch the insert has committed so far
	// durable: the insert is then the store's InsertEventsNoSync
	// (hookbox.PipelinedInserter), which commits without waiting for the
	// disk. The writer hands each committed batch to a second goroutine,
	// which calls Sync and only then answers the batch's submitters; the
	// writer inserts the next batch while the disk syncs. A failed Sync fails the batches it was
	// to make durable (their events may be stored: a retry is a
	// Duplicate).
	Sync func(ctx context.Context) error
}

// ErrClosed is returned by Submit once Close has been called. Its code is
// EUNAVAILABLE: the ingest layer answers 503 and Stripe retries.
var ErrClosed = hookbox.Errorf(hookbox.EUNAVAILABLE, "committer closed")

// Committer batches concurrent Submits into one insert call. It is safe for
// concurrent use.
type Committer struct {
	insert hookbox.InsertFunc
	opts   Options

	// mu guards closed and the sends on queue: Submit sends under RLock,
	// Close closes queue under Lock, so nothing sends on a closed channel.
	mu     sync.RWMutex
	closed bool
	queue  chan *request
	done   chan struct{}  // closed when the writer goroutine (and the syncer) have returned
	synced chan syncBatch // to the syncer (Options.Sync); closed when the writer returns
	once   sync.Once

	busySince atomic.Int64 // unix ns at which the running insert began; 0 when idle
	syncSince atomic.Int64 // the same for the running Options.Sync
}

type request struct {
	ctx   context.Context
	ev    *hookbox.Event
	reply chan reply // buffered: the writer never blocks on a submitter
}

type reply struct {
	res hookbox.InsertResult
	err error
}

// New starts a Committer whose writer goroutine calls insert. Call Close to
// stop it.
func New(insert hookbox.InsertFunc, opts Options) *Committer {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Linger < 0 {
		opts.Linger = 0
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = opts.MaxBatch
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	c := &Committer{
		insert: insert,
		opts:   opts,
		queue:  make(chan *request, opts.QueueSize),
		done:   make(chan struct{}),
	}
	if opts.Sync != nil {
		c.synced = make(chan syncBatch, syncQueue)
		syncerDone := make(chan struct{})
		go c.syncer(syncerDone)
		go func() {
			c.run()
			close(c.synced)
			<-syncerDone
			close(c.done)
		}()
		return c
	}
	go func() {
		c.run()
		close(c.done)
	}()
	return c
}

// Submit queues ev and returns its result once the batch holding it has
// committed: on a nil error the event is durably stored (or was already,
// res.Duplicate) unless res.Err tells why this event alone was refused. On
// a batch failure every member of the batch gets the insert's error.
//
// Submit fails with ErrClosed (EUNAVAILABLE) after Close, with EINVALID for
// a nil event, and with ctx.Err() when ctx ends first. A submitter whose
// ctx ends while its event is still queued is skipped by the writer; but
// once the event is in a batch, it is inserted all the same. So after a
// ctx error the caller does not know: the event may be stored. That is
// safe for webhooks, where the sender retries and the retry is a
// Duplicate.
func (c *Committer) Submit(ctx context.Context, ev *hookbox.Event) (hookbox.InsertResult, error) {
	if ev == nil {
		return hookbox.InsertResult{}, hookbox.Errorf(hookbox.EINVALID, "nil event")
	}
	if c.opts.Prepare != nil && ctx.Err() == nil {
		c.opts.Prepare(ev)
	}
	req := &request{ctx: ctx, ev: ev, reply: make(chan reply, 1)}

	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return hookbox.InsertResult{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		c.mu.RUnlock()
		return hookbox.InsertResult{}, err
	}
	select {
	case c.queue <- req:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return hookbox.InsertResult{}, ctx.Err()
	}

	select {
	case r := <-req.reply:
		return r.res, r.err
	case <-ctx.Done():
		return hookbox.InsertResult{}, ctx.Err()
	}
}

// Queued returns the number of submissions waiting for a batch (a gauge
// for metrics).
func (c *Committer) Queued() int {
	return len(c.queue)
}

// Close stops accepting submissions (later Submits fail with ErrClosed),
// commits every batch already queued or in flight and answers its
// submitters, then returns. It always returns nil; it is idempotent and
// safe to call concurrently.
func (c *Committer) Close() error {
	c.once.Do(func() {
		c.mu.Lock() // waits for Submits in the middle of a send
		c.closed = true
		close(c.queue)
		c.mu.Unlock()
	})
	<-c.done
	return nil
}

// run is the writer goroutine. It returns once the queue is closed and
// drained.
func (c *Committer) run() {
	var (
		reqs  = make([]*request, 0, c.opts.MaxBatch)
		evs   = make([]*hookbox.Event, 0, c.opts.MaxBatch)
		timer *time.Timer
	)
	for first := range c.queue {
		reqs = append(reqs[:0], first)
		reqs, timer = c.fill(reqs, timer)
		c.commit(reqs, evs[:0])
		clear(reqs) // drop references to answered requests
	}
}

// fill adds what is already queued to reqs, up to MaxBatch, then lingers
// for more when Linger is set, or else yields.
func (c *Committer) fill(reqs []*request, timer *time.Timer) ([]*request, *time.Timer) {
	reqs, open := c.drain(reqs)
	if !open || len(reqs) >= c.opts.MaxBatch {
		return reqs, timer
	}
	if c.opts.Linger <= 0 {
		return c.yield(reqs), timer
	}
	if timer == nil {
		timer = time.NewTimer(c.opts.Linger)
	} else {
		timer.Reset(c.opts.Linger) // Go 1.23+: no stale value to drain
	}
	defer timer.Stop()
	for len(reqs) < c.opts.MaxBatch {
		select {
		case r, ok := <-c.queue:
			if !ok {
				return reqs, timer
			}
			reqs = append(reqs, r)
		case <-timer.C:
			return reqs, timer
		}
	}
	return reqs, timer
}

// drain adds what is queued now to reqs, up to MaxBatch, without waiting;
// false once the queue is closed and empty.
func (c *Committer) drain(reqs []*request) ([]*request, bool) {
	for len(reqs) < c.opts.MaxBatch {
		select {
		case r, ok := <-c.queue:
			if !ok {
				return reqs, false
			}
			reqs = append(reqs, r)
		default:
			return reqs, true
		}
	}
	return reqs, true
}

// yield lets the goroutines that are ready to run go first, again as long
// as that brings more submissions, before the batch commits. Under load the
// queue empties each time a batch is answered, while the next requests are
// still being read and verified by their handlers; the writer would commit
// the first of them alone, a whole commit and fsync for one event, on the
// path every event waits for. (With 64 connections, a quarter of the
// batches held one event.) When no other goroutine is ready to run,
// Gosched returns at once, so an idle Committer still commits a lone event
// without delay.
func (c *Committer) yield(reqs []*request) []*request {
	for len(reqs) < c.opts.MaxBatch {
		runtime.Gosched()
		n := len(reqs)
		var open bool
		if reqs, open = c.drain(reqs); !open || len(reqs) == n {
			break
		}
	}
	return reqs
}

// commit inserts the events of the requests still waiting, in one call, and
// answers each request.
func (c *Committer) commit(reqs []*request, evs []*hookbox.Event) {
	// Skip submitters that gave up while queued: they have their ctx error
	// already, and Stripe will retry them.
	live := reqs[:0]
	for _, r := range reqs {
		if r.ctx.Err() != nil {
			continue
		}
		live = append(live, r)
		evs = append(evs, r.ev)
	}
	if len(live) == 0 {
		return
	}

	start := time.Now()
	results, err := c.safeInsert(evs)
	if err == nil && len(results) != len(evs) {
		err = fmt.Errorf("group commit: %d results for %d events", len(results), len(evs))
	} else if err != nil {
		err = fmt.Errorf("group commit: %w", err)
	}
	if c.opts.OnBatchFunc != nil && (err != nil || c.synced == nil) {
		c.opts.OnBatchFunc(len(evs), time.Since(start), err)
	}
	clear(evs)
	if err == nil && c.synced != nil {
		// Answered by the syncer once the disk has the batch: live is
		// reused by the next batch, so the syncer gets a copy.
		c.synced <- syncBatch{reqs: append([]*request(nil), live...), results: results, start: start}
		return
	}
	answer(live, results, err)
}

// answer replies to each request of a batch: its result, or err.
func answer(reqs []*request, results []hookbox.InsertResult, err error) {
	for i, r := range reqs {
		if err != nil {
			r.reply <- reply{err: err}
		} else {
			r.reply <- reply{res: results[i]}
		}
	}
}

// safeInsert calls the insert func, turning a panic into an EINTERNAL error
// for the batch: the writer serves every endpoint, and one bad batch must
// not take the process down with the submissions of others (each gets the
// error and answers 503; Stripe retries). Whatever the panic left of the
// batch, a retry is at worst a Duplicate.
func (c *Committer) safeInsert(evs []*hookbox.Event) (results []hookbox.InsertResult, err error) {
	defer func() {
		if v := recover(); v != nil {
			results, err = nil, &hookbox.Error{Code: hookbox.EINTERNAL, Message: "insert panicked",
				Err: fmt.Errorf("%v\n%s", v, debug.Stack())} // logged by the ingest handler
		}
	}()
	// Not any submitter's context: one caller going away must not abort the
	// batch of the others.
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	c.busySince.Store(time.Now().UnixNano())
	defer c.busySince.Store(0)
	return c.insert(ctx, evs)
}

// Stalled returns how long the insert (or the Sync) in progress has been
// running, the longer of the two, 0 when both are idle: a readiness check
// can tell a store that blocks (and takes every request with it) from one
// that answers.
func (c *Committer) Stalled() time.Duration {
	since := c.busySince.Load()
	if s := c.syncSince.Load(); s != 0 && (since == 0 || s < since) {
		since = s
	}
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}

// syncQueue is how many committed batches may wait for the syncer before
// the writer waits for it. None: the writer inserts one batch while the
// last one syncs, then waits to hand it over, and the requests that queue
// meanwhile make the next batch larger: fewer, fuller transactions, each
// writing the pages every batch changes (the tables' last pages) once
// for more events (hookbox-bench: 0.93 of the CPU per request and 1.06 of
// the rate of a queue of 8, in one run).
const syncQueue = 0

// syncBatch is a committed batch whose submitters wait for Options.Sync.
type syncBatch struct {
	reqs    []*request
	results []hookbox.InsertResult
	start   time.Time // when its insert began
}

// syncer answers committed batches once Options.Sync has made them
// durable: one Sync for every batch that committed while the last one ran.
func (c *Committer) syncer(done chan<- struct{}) {
	defer close(done)
	var batches []syncBatch
	for first := range c.synced {
		batches = append(batches[:0], first)
	more:
		for {
			select {
			case b, ok := <-c.synced:
				if !ok {
					break more
				}
				batches = append(batches, b)
			default:
				break more
			}
		}
		err := c.safeSync()
		for _, b := range batches {
			// OnBatchFunc reports a batch once it is durable, or failed:
			// a failing Sync shows in readiness and metrics.
			if c.opts.OnBatchFunc != nil {
				c.opts.OnBatchFunc(len(b.reqs), time.Since(b.start), err)
			}
			answer(b.reqs, b.results, err)
		}
		clear(batches)
	}
}

// safeSync calls Options.Sync with the insert's timeout, turning a panic
// into an error as safeInsert does.
func (c *Committer) safeSync() (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &hookbox.Error{Code: hookbox.EINTERNAL, Message: "sync panicked",
				Err: fmt.Errorf("%v\n%s", v, debug.Stack())}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	c.syncSince.Store(time.Now().UnixNano())
	defer c.syncSince.Store(0)
	if err := c.opts.Sync(ctx); err != nil {
		return fmt.Errorf("group commit: sync: %w", err)
	}
	return nil
}
