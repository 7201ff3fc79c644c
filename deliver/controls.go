package deliver

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbox/hookbox"
)

// Circuit breaker defaults.
const (
	// DefaultBreakerFailures is how many consecutive failed attempts at a
	// destination open its breaker.
	DefaultBreakerFailures = 10
	// DefaultBreakerProbe is how often an open breaker lets one probe
	// through.
	DefaultBreakerProbe = 10 * time.Second
)

// rateWait is how long an attempt may wait in the worker for its turn
// under a rate limit; a later turn defers the delivery to it instead.
const rateWait = 500 * time.Millisecond

// Controls limit how a destination is delivered to: how many attempts at
// once and how many per second, and when to stop trying (the circuit
// breaker). A delivery held back by a limit waits as pending with no
// attempt made and no retry budget spent.
type Controls struct {
	// MaxInFlight caps the attempts at the destination at once, in this
	// worker (each replica has its own). 0: no cap.
	MaxInFlight int
	// Rate caps the attempts per second, with Burst at once after a quiet
	// time (< 1 means 1). The limit is kept in the store
	// (hookbox.DestinationControls.TakeRate), so replicas share it: in any
	// second the destination sees at most Rate+Burst attempts. 0: no cap.
	Rate  float64
	Burst int
	// BreakerFailures consecutive failed attempts open the destination's
	// circuit breaker: its deliveries are parked (no attempt, budget
	// untouched) and one probe goes every BreakerProbe; a success closes it.
	// 0 means DefaultBreakerFailures; < 0 turns the breaker off.
	BreakerFailures int
	// BreakerProbe is the time between probes; 0 means DefaultBreakerProbe.
	BreakerProbe time.Duration
}

// WithDefaults returns c with its zero fields set to their defaults.
func (c Controls) WithDefaults() Controls {
	if c.BreakerFailures == 0 {
		c.BreakerFailures = DefaultBreakerFailures
	}
	if c.BreakerProbe <= 0 {
		c.BreakerProbe = DefaultBreakerProbe
	}
	if c.Rate > 0 && c.Burst < 1 {
		c.Burst = 1
	}
	return c
}

// Check reports invalid Controls.
func (c Controls) Check() error {
	switch {
	case c.MaxInFlight < 0:
		return fmt.Errorf("max in flight %d is negative", c.MaxInFlight)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("rate %v: want a positive number of events per second", c.Rate)
	case c.Rate > 0 && c.Rate < 0.001:
		return fmt.Errorf("rate %v: below one event in 1000 s", c.Rate)
	case c.Burst < 0:
		return fmt.Errorf("burst %d is negative", c.Burst)
	case c.Burst > 0 && c.Rate == 0:
		return fmt.Errorf("burst %d without a rate", c.Burst)
	case c.BreakerProbe < 0:
		return fmt.Errorf("breaker probe interval %v is negative", c.BreakerProbe)
	}
	return nil
}

// Controlled returns d delivered under Controls c. A destination not
// wrapped gets the zero Controls: no caps, the default breaker.
func Controlled(d Destination, c Controls) Destination {
	return controlled{wrapped: wrapped{d}, c: c}
}

// ControlsOf returns the Controls of d (with defaults), looking through
// wrappers that implement Unwrap() Destination.
func ControlsOf(d Destination) Controls {
	for d != nil {
		if c, ok := d.(controlled); ok {
			return c.c.WithDefaults()
		}
		u, ok := d.(interface{ Unwrap() Destination })
		if !ok {
			break
		}
		d = u.Unwrap()
	}
	return Controls{}.WithDefaults()
}

type controlled struct {
	wrapped
	c Controls
}

// DestinationStatus is a destination's delivery controls as a Worker sees
// them (Worker.Status).
type DestinationStatus struct {
	Controls Controls
	// InFlight is the attempts at the destination under way in this
	// worker.
	InFlight int
	// Failures is the run of consecutive failed attempts this worker saw.
	Failures int
	// Paused, BreakerOpenAt (zero: closed) and ProbeAt are the store's, as
	// last read (every second).
	Paused        bool
	BreakerOpenAt time.Time
	ProbeAt       time.Time
}

// destCtl is a Worker's runtime state of one destination's controls.
type destCtl struct {
	name     string
	c        Controls
	inflight atomic.Int64
	failures atomic.Int64
	avgNanos atomic.Int64 // moving average of attempt durations

	mu       sync.Mutex
	st       hookbox.DestinationState // as last read or set
	nextFree time.Time                // in-flight deferrals: the next turn handed out
}

func (c *destCtl) state() hookbox.DestinationState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

// open reports whether the breaker is open (and on).
func (c *destCtl) open() bool {
	return c.c.BreakerFailures > 0 && !c.state().BreakerOpenAt.IsZero()
}

// acquire takes an in-flight slot; false at the cap.
func (c *destCtl) acquire() bool {
	if c.c.MaxInFlight <= 0 {
		c.inflight.Add(1)
		return true
	}
	for {
		n := c.inflight.Load()
		if n >= int64(c.c.MaxInFlight) {
			return false
		}
		if c.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// done releases an in-flight slot and counts the attempt's duration.
func (c *destCtl) done(d time.Duration) {
	c.inflight.Add(-1)
	if d <= 0 {
		return
	}
	old := c.avgNanos.Load()
	if old == 0 {
		c.avgNanos.Store(int64(d))
		return
	}
	c.avgNanos.Store(old + (int64(d)-old)/8)
}

// inflightTurn is when a delivery refused at the in-flight cap comes back:
// the turns handed out are spaced by the destination's throughput (mean
// attempt time / cap), so a backlog comes back in order instead of all at
// once.
func (c *destCtl) inflightTurn(now time.Time) time.Time {
	avg := time.Duration(c.avgNanos.Load())
	if avg <= 0 {
		avg = 100 * time.Millisecond // no attempt finished yet
	}
	step := min(max(avg/time.Duration(c.c.MaxInFlight), 10*time.Millisecond), 5*time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	base := now
	if c.nextFree.After(base) {
		base = c.nextFree
	}
	c.nextFree = base.Add(step)
	return c.nextFree
}

// setupControls builds the runtime state of every destination.
func (w *Worker) setupControls() error {
	w.ctl = make(map[string]*destCtl, len(w.Destinations))
	for _, d := range w.Destinations {
		c := ControlsOf(d)
		if err := c.Check(); err != nil {
			return hookbox.Errorf(hookbox.EINVALID, "deliver: destination %q: %v", d.Name(), err)
		}
		w.ctl[d.Name()] = &destCtl{name: d.Name(), c: c}
	}
	return nil
}

// Status returns each destination's controls and state as this worker
// sees them (after Start or DeliverNow; nil before).
func (w *Worker) Status() map[string]DestinationStatus {
	if w.init() != nil {
		return nil
	}
	out := make(map[string]DestinationStatus, len(w.ctl))
	for name, c := range w.ctl {
		st := c.state()
		s := DestinationStatus{Controls: c.c, InFlight: int(c.inflight.Load()), Failures: int(c.failures.Load()),
			Paused: !st.PausedAt.IsZero(), ProbeAt: st.ProbeAt}
		if c.c.BreakerFailures > 0 {
			s.BreakerOpenAt = st.BreakerOpenAt
		}
		out[name] = s
	}
	return out
}

// gate holds an attempt at t to its destination's in-flight cap and rate
// limit: it returns true when the attempt may go (an in-flight slot held:
// call done), or false with t.deferTo set (the delivery waits, no attempt).
func (w *Worker) gate(ctx context.Context, t *target) bool {
	c := w.ctl[t.dest.Name()]
	if c == nil {
		return true
	}
	if !c.acquire() {
		t.deferTo, t.deferReason = c.inflightTurn(w.now()), "in_flight"
		return false
	}
	if c.c.Rate <= 0 {
		return true
	}
	now := w.now()
	at, ok, err := w.Queue.TakeRate(ctx, c.name, hookbox.RateLimit{Rate: c.c.Rate, Burst: c.c.Burst}, rateWait, now)
	if err != nil {
		w.storeError("rate", err)
		at, ok = now.Add(time.Second), false
	}
	if !ok {
		c.inflight.Add(-1)
		t.deferTo, t.deferReason = at, "rate"
		return false
	}
	if d := at.Sub(now); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
	}
	return true
}

// attemptFailed counts a failed attempt at destination name and opens its
// breaker at the threshold; it reports whether the breaker is open (the
// delivery is then parked rather than scheduled).
func (w *Worker) attemptFailed(ctx context.Context, name string, probe bool) bool {
	c := w.ctl[name]
	if c == nil || c.c.BreakerFailures <= 0 {
		return false
	}
	n := c.failures.Add(1)
	if probe && w.OnProbe != nil {
		w.OnProbe(name, false)
	}
	if c.open() {
		return true
	}
	if n < int64(c.c.BreakerFailures) {
		return false
	}
	now := w.now()
	probeAt := now.Add(c.c.BreakerProbe)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	changed, err := w.Queue.SetBreaker(sctx, name, true, probeAt, now)
	if err != nil {
		w.storeError("breaker", err)
		return false
	}
	c.mu.Lock()
	if c.st.BreakerOpenAt.IsZero() {
		c.st.BreakerOpenAt, c.st.ProbeAt = now, probeAt
	}
	c.mu.Unlock()
	w.WakeAt(probeAt) // the first probe
	if changed {
		w.log.LogAttrs(ctx, slog.LevelWarn, "circuit breaker opened: deliveries parked, one probe at a time",
			slog.String("destination", name), slog.Int64("consecutive_failures", n), slog.Duration("probe_every", c.c.BreakerProbe))
		if w.OnBreaker != nil {
			w.OnBreaker(name, true)
		}
	}
	return true
}

// attemptOK resets destination name's run of failures and, when its
// breaker is open (or the attempt was its probe), closes it and makes the
// parked deliveries due.
func (w *Worker) attemptOK(ctx context.Context, name string, probe bool) {
	c := w.ctl[name]
	if c == nil || c.c.BreakerFailures <= 0 {
		return
	}
	c.failures.Store(0)
	if probe && w.OnProbe != nil {
		w.OnProbe(name, true)
	}
	if !probe && !c.open() {
		return
	}
	now := w.now()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	changed, err := w.Queue.SetBreaker(sctx, name, false, time.Time{}, now)
	if err != nil {
		w.storeError("breaker", err)
		return
	}
	c.mu.Lock()
	c.st.BreakerOpenAt, c.st.ProbeAt = time.Time{}, time.Time{}
	paused := !c.st.PausedAt.IsZero()
	c.mu.Unlock()
	if changed {
		w.log.LogAttrs(ctx, slog.LevelInfo, "circuit breaker closed", slog.String("destination", name))
		if w.OnBreaker != nil {
			w.OnBreaker(name, false)
		}
	}
	if paused {
		return
	}
	if n, err := w.Queue.ReleasePaused(sctx, name, now); err != nil {
		w.storeError("breaker", err)
	} else if n > 0 {
		w.log.LogAttrs(ctx, slog.LevelInfo, "breaker closed: parked deliveries due",
			slog.String("destination", name), slog.Int("deliveries", n))
		signal(w.wake)
	}
}

// breakerOpen reports whether destination name's breaker is open, as last
// read or set.
func (w *Worker) breakerOpen(name string) bool {
	c := w.ctl[name]
	return c != nil && c.open()
}

// gatedAttempt makes the attempt of t if its destination's limits let it
// go now; otherwise t.deferTo says when it comes back.
func (w *Worker) gatedAttempt(ctx context.Context, t *target) {
	if !w.gate(ctx, t) {
		return
	}
	t.att = w.attempt(ctx, t)
	if c := w.ctl[t.dest.Name()]; c != nil {
		c.done(t.att.Duration)
	}
}

// deferred is the delivery of t held back by a limit of its destination:
// pending, due at t.deferTo, no attempt made, what it was kept (its last
// error, a release or probe mark).
func (w *Worker) deferred(ev *hookbox.Event, t *target, now time.Time) hookbox.Delivery {
	name := t.dest.Name()
	d := t.prev
	d.EventID, d.Destination, d.State = ev.ID, name, hookbox.StatePending
	d.NextAttemptAt, d.UpdatedAt = t.deferTo, now
	if w.OnDefer != nil {
		w.OnDefer(name, t.deferReason)
	}
	w.log.LogAttrs(context.Background(), slog.LevelDebug, "delivery deferred by a limit",
		slog.String("event_id", ev.ID), slog.String("destination", name),
		slog.String("reason", t.deferReason), slog.Time("next_attempt_at", t.deferTo))
	return d
}

// openInStore reads the stored state of destination name's breaker (and
// keeps it as last read): true when it is open. A failed read is false.
func (w *Worker) openInStore(ctx context.Context, name string) bool {
	c := w.ctl[name]
	if c == nil || c.c.BreakerFailures <= 0 {
		return false
	}
	states, ok := w.readStates(context.WithoutCancel(ctx), "breaker")
	if !ok {
		return false
	}
	st := states[name]
	c.set(st, false)
	return !st.BreakerOpenAt.IsZero()
}

// readStates reads every destination's stored state (pauses, breakers);
// a failed read is reported as a store error of op and returns false.
func (w *Worker) readStates(ctx context.Context, op string) (map[string]hookbox.DestinationState, bool) {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	states, err := w.Queue.DestinationStates(sctx)
	if err != nil {
		w.storeError(op, err)
		return nil, false
	}
	return states, true
}

// set keeps st as the destination's last read state; keepProbe keeps a
// later probe time this process moved on while the breaker stays open.
func (c *destCtl) set(st hookbox.DestinationState, keepProbe bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if keepProbe && !st.BreakerOpenAt.IsZero() && c.st.ProbeAt.After(st.ProbeAt) {
		st.ProbeAt = c.st.ProbeAt
	}
	c.st = st
}

// parkedDelivery is the delivery p parked for its destination (a pause, an open
// breaker) with reason: pending, due never, no attempt, its budget and
// last error kept.
func parkedDelivery(name string, p hookbox.Delivery, reason string) hookbox.Delivery {
	return hookbox.Delivery{Destination: name, State: hookbox.StatePending, Attempts: p.Attempts,
		LastError: p.LastError, NextAttemptAt: hookbox.HeldUntil, HoldReason: hookbox.Park(p.HoldReason, reason)}
}
