package deliver

import (
	"context"
	"log/slog"
	"time"

	"github.com/hookbox/hookbox"
)

// pausedEvery is how often a worker reads the destinations' stored state
// (pauses, breakers), makes due the parked deliveries of those neither
// paused nor with an open breaker, and lets an open breaker's probe go.
const pausedEvery = time.Second

// refreshPaused reads the destinations' stored state at most every
// pausedEvery. A destination resumed (on any replica, or by the CLI) or
// whose breaker closed gets its parked deliveries made due; an open breaker
// whose probe time has come gets one parked delivery made due as its probe.
// A failed read keeps the last state.
func (w *Worker) refreshPaused(ctx context.Context) {
	now := time.Now()
	// The poll ticker fires a hair less than pausedEvery after the last
	// read began: a tenth of slack keeps the reads once a tick, not every
	// other tick. A probe that is due reads sooner, so that probes go once
	// per BreakerProbe rather than at the next read after it.
	since := now.Sub(w.pausedAt)
	if since < pausedEvery-pausedEvery/10 && !w.probeDue(w.now()) {
		return
	}
	w.pausedAt = now
	states, ok := w.readStates(ctx, "paused")
	if !ok {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	wake := false
	for _, d := range w.Destinations {
		name := d.Name()
		c := w.ctl[name]
		st := states[name]
		c.set(st, false)
		if c.c.BreakerFailures <= 0 && !st.BreakerOpenAt.IsZero() {
			// Opened while the breaker was on (this worker's config
			// turned it off): close it, so that it is not reported open.
			if _, err := w.Queue.SetBreaker(sctx, name, false, time.Time{}, w.now()); err != nil {
				w.storeError("breaker", err)
			}
		}
		switch {
		case !st.PausedAt.IsZero():
		case c.open():
			wake = w.probe(sctx, c, st) || wake
		default:
			n, err := w.Queue.ReleasePaused(sctx, name, w.now())
			if err != nil {
				w.storeError("paused", err)
				continue
			}
			if n > 0 {
				w.log.LogAttrs(ctx, slog.LevelInfo, "destination resumed: parked deliveries due",
					slog.String("destination", name), slog.Int("deliveries", n))
				wake = true
			}
		}
	}
	for name, st := range states {
		if w.ctl[name] != nil || st.BreakerOpenAt.IsZero() {
			continue
		}
		// The open breaker of a destination this worker does not have
		// (removed or renamed): nothing probes or closes it, and what it
		// parked would wait for ever. Close it and, unless paused, make
		// its parked deliveries due, to be marked dead as any pending
		// delivery to a destination not configured.
		if _, err := w.Queue.SetBreaker(sctx, name, false, time.Time{}, w.now()); err != nil {
			w.storeError("breaker", err)
			continue
		}
		if !st.PausedAt.IsZero() {
			continue
		}
		if n, err := w.Queue.ReleasePaused(sctx, name, w.now()); err != nil {
			w.storeError("breaker", err)
		} else if n > 0 {
			w.log.LogAttrs(ctx, slog.LevelWarn, "breaker of a destination not configured closed: parked deliveries due",
				slog.String("destination", name), slog.Int("deliveries", n))
			wake = true
		}
	}
	if wake {
		signal(w.wake)
	}
}

// probe lets the open breaker of c's destination send one probe when its
// time has come; true when a parked delivery was made due.
func (w *Worker) probe(ctx context.Context, c *destCtl, st hookbox.DestinationState) bool {
	now := w.now()
	if st.ProbeAt.After(now) {
		w.WakeAt(st.ProbeAt) // read again then (probeDue)
		return false
	}
	next := now.Add(c.c.BreakerProbe)
	id, err := w.Queue.ProbeBreaker(ctx, c.name, next, now)
	if err != nil || id == "" {
		// Nothing parked, another replica probed, or the store failed:
		// the next regular read tells.
		if err != nil {
			w.storeError("breaker", err)
		}
		next = now.Add(pausedEvery)
	}
	c.mu.Lock()
	c.st.ProbeAt = next
	c.mu.Unlock()
	if id == "" {
		return false
	}
	w.WakeAt(next) // the next probe
	w.log.LogAttrs(ctx, slog.LevelInfo, "circuit breaker probe",
		slog.String("destination", c.name), slog.String("event_id", id))
	return true
}

// probeDue reports whether the probe of an open breaker (of a destination
// not paused) is due at now, as last read or set.
func (w *Worker) probeDue(now time.Time) bool {
	for _, c := range w.ctl {
		if st := c.state(); c.open() && st.PausedAt.IsZero() && !st.ProbeAt.After(now) {
			return true
		}
	}
	return false
}

// isPaused reports whether destination name is paused, as last read.
func (w *Worker) isPaused(name string) bool {
	c := w.ctl[name]
	return c != nil && !c.state().PausedAt.IsZero()
}
