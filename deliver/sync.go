package deliver

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookbox/hookbox"
)

// eventFinder is the part of hookbox.Store DeliverNow uses, when the Queue
// has it, to tell why an event cannot be claimed.
type eventFinder interface {
	FindEventByID(ctx context.Context, id string) (*hookbox.Event, error)
}

// DeliverNow delivers one event inside the caller's request (sync mode):
// it claims the event by id whatever its next attempt time (Stripe's retry
// is the schedule), delivers it to every accepting destination that has not
// delivered it yet, records the attempts, and reports whether every
// destination that accepts the event now has it. The Worker's fields
// configure it; the Worker need not be started.
//
// Dedupe holds: an event already delivered (ClaimEvent's ECONFLICT, the
// event's state delivered) is not delivered again and reports true. An event
// leased by someone else, or dead, reports false with a nil error, so that
// Stripe retries later. Failed attempts are scheduled by the retry policy as
// in async mode (a running Worker on the same store retries them too).
// When ctx ends mid-delivery, the cut attempts are not recorded and the
// claim is released. A store error is returned with false.
func (w *Worker) DeliverNow(ctx context.Context, eventID string) (allOK bool, err error) {
	if err := w.init(); err != nil {
		return false, err
	}
	w.syncStates(ctx)
	c, err := w.Queue.ClaimEvent(ctx, eventID, w.owner, w.now(), w.lease)
	if hookbox.ErrorCode(err) == hookbox.ECONFLICT {
		return w.settled(ctx, eventID)
	}
	if err != nil {
		return false, fmt.Errorf("deliver now: %w", err)
	}
	out := w.deliverClaim(ctx, c, true)
	sctx := context.WithoutCancel(ctx)
	if out.aborted && len(out.completion.Attempts) == 0 {
		rctx, cancel := context.WithTimeout(sctx, storeTimeout)
		defer cancel()
		if _, err := w.Queue.ReleaseClaims(rctx, w.owner, []string{eventID}); err != nil {
			return false, fmt.Errorf("deliver now: release claim: %w", err)
		}
		return false, fmt.Errorf("deliver now: %w", context.Cause(ctx))
	}
	if err := w.complete(sctx, out.completion); err != nil {
		return false, fmt.Errorf("deliver now: %w", err)
	}
	if !out.allOK {
		w.remember(out.retries)
	}
	return out.allOK, nil
}

// settled tells, for an event that could not be claimed, whether it is
// already delivered everywhere.
func (w *Worker) settled(ctx context.Context, id string) (bool, error) {
	if f, ok := w.Queue.(eventFinder); ok {
		ev, err := f.FindEventByID(ctx, id)
		if err != nil {
			return false, fmt.Errorf("deliver now: %w", err)
		}
		if ev.State != hookbox.StateDelivered {
			w.log.LogAttrs(ctx, slog.LevelInfo, "sync delivery skipped",
				slog.String("event_id", id), slog.String("state", string(ev.State)))
		}
		return ev.State == hookbox.StateDelivered, nil
	}
	// Without the event, its deliveries tell: all delivered and none
	// pending or dead. (No row at all is ambiguous: a first attempt under
	// someone else's lease. Answer false: Stripe retries.)
	ds, err := w.Queue.FindDeliveries(ctx, id)
	if err != nil {
		return false, fmt.Errorf("deliver now: %w", err)
	}
	if len(ds) == 0 {
		return false, nil
	}
	for _, d := range ds {
		if d.State != hookbox.StateDelivered {
			return false, nil
		}
	}
	return true, nil
}

// syncStates reads the destinations' stored state (pauses, breakers) at
// most every pausedEvery for DeliverNow, which has no loop to do it: a
// pause made elsewhere holds in sync mode too, and an open breaker is
// seen (and lets its probe through, syncProbe). A probe time this process
// moved on is kept. A failed read keeps the last state.
func (w *Worker) syncStates(ctx context.Context) {
	w.syncMu.Lock()
	now := time.Now()
	if now.Sub(w.syncRead) < pausedEvery {
		w.syncMu.Unlock()
		return
	}
	w.syncRead = now // concurrent calls go on with the last state
	w.syncMu.Unlock()
	states, ok := w.readStates(ctx, "paused")
	if !ok {
		return
	}
	for name, c := range w.ctl {
		c.set(states[name], true)
	}
}

// syncProbe reports whether a sync delivery to c's destination, whose
// breaker is open, goes as its probe: in sync mode no worker lets parked
// deliveries through, so the delivery at hand (Stripe's retry) is the
// probe once the probe time has come, one per BreakerProbe in this
// process.
func (c *destCtl) syncProbe(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.ProbeAt.After(now) {
		return false
	}
	c.st.ProbeAt = now.Add(c.c.BreakerProbe)
	return true
}
