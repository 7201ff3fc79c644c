package reconcile

import (
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
)

// Defaults for Periodic.
const (
	// DefaultOverlap is how far each run reaches back before the end of the
	// previous successful run's window: events become listable a little
	// after their created time, and clocks differ.
	DefaultOverlap = 5 * time.Minute
	// DefaultSettle leaves the webhook of a fresh event time to arrive
	// before a periodic run counts it as missing.
	DefaultSettle = 5 * time.Minute
	// DefaultLockTTL is how long the lock is taken for; a run renews it
	// every third of that, so a replica that dies frees it within the ttl.
	DefaultLockTTL = 2 * time.Minute
	// LockName is the hookbox.Locker name periodic runs take.
	LockName = "reconcile"
)

// ErrLockLost ends a run whose lock renewal failed or was refused: another
// replica may be running.
var ErrLockLost = errors.New("reconcile lock lost")

// RunResult describes one periodic run, for metrics and logs.
type RunResult struct {
	Started, Finished time.Time
	// Skipped: another replica holds the lock; nothing was listed.
	Skipped bool
	Summary Summary
	Err     error
	// LastSuccess is when the latest successful run finished (this one, if
	// it succeeded); zero before the first.
	LastSuccess time.Time
}

// Periodic runs a Reconciler every Every, the first time at Start. Each run
// covers the creation times since the end of the previous successful run's
// window minus Overlap; the first (and any before a success) covers
// Options.Since. The window is kept in memory: after a restart the first
// run covers Options.Since again, which the store's dedupe makes safe.
//
// With a Locker, a run first takes LockName for Owner (renewing it while
// it runs, and releasing it after), so replicas sharing a database run one
// at a time; a replica that finds the lock held skips that run.
//
// Configure the fields, then Start; Stop ends it.
type Periodic struct {
	Reconciler *Reconciler
	// Options of every run. Since is the first run's window (0:
	// DefaultSince); Settle 0 means DefaultSettle (negative: none); NowFunc
	// is also the clock of the lock.
	Options Options
	Every   time.Duration // required
	Overlap time.Duration // 0: DefaultOverlap
	Locker  hookbox.Locker
	Owner   string        // this replica's lock owner; "": DefaultOwner()
	LockTTL time.Duration // 0: DefaultLockTTL
	// Lock is the Locker name runs take; "": LockName. Periodics that
	// list different things (each thin endpoint's /v2/core/events) take
	// their own.
	Lock string
	// OnRun, if set, is called after each run, skipped ones included, from
	// the Periodic's goroutine; not for a run cut short by Stop.
	OnRun func(RunResult)

	mu          sync.Mutex // guards the fields below
	cancel      context.CancelFunc
	done        chan struct{}
	lastTo      time.Time // Window.To of the last successful run
	lastSuccess time.Time
}

func (p *Periodic) lockName() string {
	if p.Lock != "" {
		return p.Lock
	}
	return LockName
}

// Start validates the configuration, then runs at once and every Every in
// a goroutine until ctx ends or Stop is called. It fails if already started.
func (p *Periodic) Start(ctx context.Context) error {
	if p.Reconciler == nil {
		return hookbox.Errorf(hookbox.EINVALID, "periodic reconcile: no Reconciler")
	}
	if p.Every <= 0 {
		return hookbox.Errorf(hookbox.EINVALID, "periodic reconcile: the interval must be positive")
	}
	if p.Overlap < 0 {
		return hookbox.Errorf(hookbox.EINVALID, "periodic reconcile: the overlap must not be negative")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		return errors.New("periodic reconcile: already started")
	}
	opts := p.runOptions(p.now(), p.lastTo)
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("periodic reconcile: %w", err)
	}
	if p.Owner == "" {
		p.Owner = DefaultOwner()
	}
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	go p.loop(ctx, p.done)
	return nil
}

// Stop cancels the run in flight, if any, and waits for the goroutine to
// return. It is safe to call more than once, and before Start.
func (p *Periodic) Stop() {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func (p *Periodic) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(p.Every)
	defer t.Stop()
	for {
		res := p.RunOnce(ctx)
		if ctx.Err() != nil {
			// Stopped: a run cut short by shutdown is neither a success
			// nor a failure worth an alert.
			return
		}
		if p.OnRun != nil {
			p.OnRun(res)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce makes one run now, as the schedule does: lock, window, run,
// unlock. Start calls it; calling it concurrently with a started Periodic
// is a mistake.
func (p *Periodic) RunOnce(ctx context.Context) (res RunResult) {
	res.Started = p.now()
	p.mu.Lock()
	lastTo := p.lastTo
	p.mu.Unlock()
	defer func() {
		res.Finished = p.now()
		p.mu.Lock()
		defer p.mu.Unlock()
		if res.Err == nil && !res.Skipped {
			p.lastSuccess = res.Finished
			p.lastTo = res.Summary.Window.To
		}
		res.LastSuccess = p.lastSuccess
	}()
	log := p.Reconciler.logger()

	runCtx := ctx
	if p.Locker != nil {
		owner, ttl := p.owner(), p.lockTTL()
		lctx, lcancel := context.WithTimeout(ctx, ttl) // a stuck store must not stall the schedule
		ok, err := p.Locker.TryLock(lctx, p.lockName(), owner, p.now(), ttl)
		lcancel()
		if err != nil {
			res.Err = fmt.Errorf("take reconcile lock: %w", err)
			log.Warn("periodic reconcile: lock failed", slog.Any("error", err))
			return res
		}
		if !ok {
			res.Skipped = true
			log.Debug("periodic reconcile: another replica holds the lock")
			return res
		}
		var cancel context.CancelCauseFunc
		runCtx, cancel = context.WithCancelCause(ctx)
		stopRenew := p.renew(runCtx, cancel, owner, ttl)
		defer func() {
			stopRenew()
			cancel(nil)
			uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer ucancel()
			if err := p.Locker.Unlock(uctx, p.lockName(), owner); err != nil {
				log.Warn("periodic reconcile: unlock failed (the lock expires by itself)", slog.Any("error", err))
			}
		}()
	}

	// The window is sized and placed from one reading of the clock, taken
	// once the lock is held: sized from a reading before TryLock and
	// placed by Run's own later one, a slow lock (a busy pool, a stuck
	// transaction) shifted its start past the previous run's end, and the
	// events created in between were listed by neither run.
	at := p.now()
	opts := p.runOptions(at, lastTo)
	opts.NowFunc = func() time.Time { return at }
	res.Summary, res.Err = p.Reconciler.Run(runCtx, opts)
	if res.Err != nil && errors.Is(context.Cause(runCtx), ErrLockLost) {
		res.Err = fmt.Errorf("%w: %w", ErrLockLost, res.Err)
	}
	if res.Err != nil && ctx.Err() == nil {
		log.Error("periodic reconcile failed", slog.Any("error", res.Err))
	}
	return res
}

// runOptions are the Options of a run starting at now, after a successful
// run whose window ended at lastTo (zero: none yet).
func (p *Periodic) runOptions(now, lastTo time.Time) Options {
	opts := p.Options
	switch {
	case opts.Settle == 0:
		opts.Settle = DefaultSettle
	case opts.Settle < 0:
		opts.Settle = 0
	}
	if opts.Since == 0 {
		opts.Since = DefaultSince
	}
	if !lastTo.IsZero() {
		overlap := p.Overlap
		if overlap == 0 {
			overlap = DefaultOverlap
		}
		opts.Since = min(now.Sub(lastTo.Add(-overlap)), MaxSince)
		if opts.Since <= opts.Settle {
			// A clock that went back: cover at least the settle time and
			// the overlap.
			opts.Since = opts.Settle + overlap
		}
	}
	return opts
}

// renew keeps the lock while the run lasts; if the lock is refused or
// cannot be renewed before it expires, it cancels the run with ErrLockLost.
func (p *Periodic) renew(ctx context.Context, cancel context.CancelCauseFunc, owner string, ttl time.Duration) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		deadline := time.Now().Add(ttl)
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// A renewal that hangs past its turn fails (and so, near the
			// deadline, stops the run) rather than block this loop.
			lctx, lcancel := context.WithTimeout(ctx, ttl/3)
			ok, err := p.Locker.TryLock(lctx, p.lockName(), owner, p.now(), ttl)
			lcancel()
			switch {
			case err == nil && ok:
				deadline = time.Now().Add(ttl)
			case err == nil && !ok, time.Now().After(deadline.Add(-ttl / 3)):
				p.Reconciler.logger().Error("periodic reconcile: lock lost, stopping the run", slog.Any("error", err))
				cancel(ErrLockLost)
				return
			}
		}
	}()
	return func() { close(done); <-exited }
}

func (p *Periodic) now() time.Time { return p.Options.now() }

func (p *Periodic) owner() string {
	if p.Owner == "" {
		p.Owner = DefaultOwner()
	}
	return p.Owner
}

func (p *Periodic) lockTTL() time.Duration {
	if p.LockTTL > 0 {
		return p.LockTTL
	}
	return DefaultLockTTL
}

// DefaultOwner names this process as a lock owner: host, pid and a random
// suffix, so two processes never share a name.
func DefaultOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
