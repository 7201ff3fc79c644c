package deliver

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/hookbox/hookbox"
	"go.opentelemetry.io/otel/trace"
)

// outcome is what delivering one claim produced.
type outcome struct {
	completion hookbox.Completion
	retries    []time.Time // next attempt times of the pending deliveries
	// aborted: the hard context ended during delivery; failed attempts
	// made then are not recorded (the destination stays as it was).
	aborted bool
	// allOK: every destination that accepts the event is now delivered.
	allOK bool
}

// target is one destination to try for a claim.
type target struct {
	dest   Destination
	ev     *hookbox.Event   // the event as this destination sees it
	prev   hookbox.Delivery // zero when never tried
	tried  bool
	number int // attempt number to make
	att    hookbox.Attempt
	probe  bool // the attempt is an open breaker's probe (HoldProbe)
	// deferTo, when set, is when the delivery comes back: a limit of the
	// destination (deferReason) held it back, no attempt was made.
	deferTo     time.Time
	deferReason string
}

// deliverClaim delivers a claimed event to every destination that accepts
// it and has not delivered it (or died on it) yet, in parallel, and builds
// the Completion. hard ending (Shutdown, a gone sync request) cuts the
// deliveries short. Unless all (sync mode: Stripe's retry is the
// schedule), a destination whose delivery is not due yet is left as it is:
// the event came due for another destination (a retry, a deferral by a
// limit, a probe, a release), and this one keeps its own schedule.
func (w *Worker) deliverClaim(hard context.Context, c *hookbox.Claim, all bool) outcome {
	ev := c.Event
	claimed := w.now()
	prev := make(map[string]hookbox.Delivery, len(c.Deliveries))
	for _, d := range c.Deliveries {
		prev[d.Destination] = d
	}
	out := outcome{allOK: true}
	comp := hookbox.Completion{EventID: ev.ID, Owner: w.owner}
	var orphans []hookbox.Delivery // pending deliveries no destination takes
	var skipped []hookbox.Delivery // late events an ordered destination skips, Preparer skips
	var waiting []hookbox.Delivery // deliveries a Preparer defers: no attempt
	var holds []hookbox.Delivery   // deliveries held for their API version: no attempt

	known := make(map[string]bool, len(w.Destinations))
	var targets []*target
	history := false
	for _, d := range w.Destinations {
		name := d.Name()
		known[name] = true
		p, tried := prev[name]
		if !d.Accepts(ev) {
			if tried && p.State == hookbox.StatePending {
				orphans = append(orphans, orphan(p, "destination no longer accepts this event"))
			}
			continue
		}
		if tried && p.State == hookbox.StateDelivered {
			continue
		}
		if tried && p.State == hookbox.StateDead {
			out.allOK = false
			continue
		}
		if !all && tried && p.State == hookbox.StatePending && p.NextAttemptAt.After(claimed) && !hasPreparer(d) {
			if p.NextAttemptAt.Before(hookbox.HeldUntil) {
				out.retries = append(out.retries, p.NextAttemptAt)
			}
			out.allOK = false
			continue
		}
		if w.isPaused(name) {
			holds = append(holds, parkedDelivery(name, p, hookbox.HoldPaused))
			out.allOK = false
			continue
		}
		if h, ok := held(ev, d, p); ok {
			h.Destination = name
			holds = append(holds, h)
			out.allOK = false
			continue
		}
		t := &target{dest: d, ev: ev, prev: p, tried: tried, number: p.Attempts + 1}
		if ev.LateAfter != "" {
			var skip *hookbox.Delivery
			if t.ev, skip = w.lateFor(ev, d, p, tried); skip != nil {
				skipped = append(skipped, *skip)
				continue
			}
		}
		park, _ := hookbox.ParkedAs(p.HoldReason)
		t.probe = tried && park == hookbox.HoldProbe
		if !t.probe && all && w.breakerOpen(name) {
			t.probe = w.ctl[name].syncProbe(claimed)
		}
		if !t.probe && w.breakerOpen(name) {
			// An open breaker: parked until it closes or this delivery
			// is its probe; no attempt, the retry budget untouched.
			holds = append(holds, parkedDelivery(name, p, hookbox.HoldBreaker))
			out.allOK = false
			continue
		}
		if pr, ok := PreparerOf(d); ok {
			// What the destination sends may not be there yet (the full
			// form of a thin event, fetched in the background): such a
			// delivery waits without an attempt, so waiting spends none
			// of the retry budget; the store makes the event due again
			// as soon as the fetch ends (hookbox.ThinStore).
			prep := pr.Prepare(hard, t.ev)
			switch {
			case prep.Skip != "":
				skipped = append(skipped, hookbox.Delivery{Destination: name, State: hookbox.StateDelivered,
					Attempts: p.Attempts, LastError: p.LastError, SkipReason: cleanText(prep.Skip, maxLastError)})
				continue
			case prep.Dead:
				d := p
				d.Destination = name
				orphans = append(orphans, orphan(d, prep.Reason))
				out.allOK = false
				continue
			case prep.Event == nil:
				d := p
				d.Destination, d.State = name, hookbox.StatePending
				d.NextAttemptAt, d.LastError = w.now().Add(max(prep.Wait, time.Second)), cleanText(prep.Reason, maxLastError)
				waiting = append(waiting, d)
				out.retries = append(out.retries, d.NextAttemptAt)
				out.allOK = false
				continue
			}
			t.ev = prep.Event
		}
		if tried && (!ev.ReplayedAt.IsZero() || p.Attempts == 0 || t.probe) {
			// After a replay the retry budget restarted at 0 (and failed
			// probes spend none of it), but attempt numbers continue:
			// count them in the log.
			history = true
		}
		targets = append(targets, t)
	}
	for _, p := range c.Deliveries {
		if !known[p.Destination] && p.State == hookbox.StatePending {
			orphans = append(orphans, orphan(p, "destination not configured"))
		}
	}
	if len(ev.Body) == 0 && len(targets) > 0 {
		// Retention empties the bodies of delivered events and a replay
		// skips those, so this is a store edited by hand: an empty POST
		// would be recorded as a delivery. Dead, with the reason.
		for _, t := range targets {
			d := t.prev
			d.Destination = t.dest.Name()
			orphans = append(orphans, orphan(d, "the event has no body (emptied by retention): nothing to deliver"))
		}
		targets = nil
		out.allOK = false
	}
	// Deliveries end before the lease, so that the claim is completed
	// while it is still held. The lease runs from the time the claim was
	// asked for (the store may have answered late, and the attempt log is
	// read first): count from its end, not from now.
	margin := min(w.lease/4, maxLeaseMargin)
	left := w.lease
	if !c.LeaseUntil.IsZero() {
		left = c.LeaseUntil.Sub(w.now())
	}
	dctx, cancel := context.WithTimeout(hard, left-margin)
	defer cancel()
	if history {
		w.numberFromHistory(dctx, ev.ID, targets)
	}
	if len(targets) == 1 {
		w.gatedAttempt(dctx, targets[0])
	} else if len(targets) > 1 {
		var wg sync.WaitGroup
		for _, t := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.gatedAttempt(dctx, t)
			}()
		}
		wg.Wait()
	}

	now := w.now()
	comp.Now = now
	out.aborted = hard.Err() != nil
	for _, t := range targets {
		a := t.att
		name := t.dest.Name()
		if !t.deferTo.IsZero() {
			comp.Deliveries = append(comp.Deliveries, w.deferred(ev, t, now))
			out.retries = append(out.retries, t.deferTo)
			out.allOK = false
			continue
		}
		if out.aborted && !a.OK {
			// Cut short: record nothing; the destination stays pending
			// (a row is written so the event cannot look delivered).
			out.allOK = false
			d := t.prev
			d.EventID, d.Destination, d.State = ev.ID, name, hookbox.StatePending
			d.NextAttemptAt, d.UpdatedAt = now, now
			comp.Deliveries = append(comp.Deliveries, d)
			continue
		}
		if w.OnAttempt != nil {
			w.OnAttempt(a)
		}
		comp.Attempts = append(comp.Attempts, a)
		d := hookbox.Delivery{
			EventID:     ev.ID,
			Destination: name,
			Attempts:    t.prev.Attempts + 1,
			UpdatedAt:   now,
		}
		if !a.OK && hookbox.Released(t.prev.HoldReason) {
			d.HoldReason = hookbox.HoldReleased // released: sent whatever its version, until delivered
		}
		if a.OK {
			w.attemptOK(hard, name, t.probe)
			d.State = hookbox.StateDelivered
			w.log.LogAttrs(context.Background(), slog.LevelDebug, "event delivered",
				slog.String("event_id", ev.ID), slog.String("type", ev.Type),
				slog.String("destination", name), slog.Int("attempt", a.Number),
				slog.Int("status", a.StatusCode), slog.Duration("duration", a.Duration))
		} else {
			out.allOK = false
			d.LastError = lastError(a)
			parked := w.attemptFailed(hard, name, t.probe)
			if parked && t.probe {
				// A failed probe tells of the destination, not of the
				// event: it spends none of the event's retry budget,
				// so that an outage sends no event dead.
				d.Attempts = t.prev.Attempts
			}
			next, dead := w.Retry.Next(d.Attempts, ev.WindowStart(), now)
			if dead && !parked {
				// Before an event goes dead, the store's word: another
				// replica may have opened the breaker since this one last
				// read it (every second).
				parked = w.openInStore(hard, name)
			}
			// A failure that opens the breaker, or comes while it is
			// open, is the destination's outage: the delivery is parked,
			// not sent dead, whatever its budget; once the breaker
			// closes, a failure counts against the budget again.
			if parked {
				d.State, d.NextAttemptAt, d.HoldReason = hookbox.StatePending, hookbox.HeldUntil, hookbox.Park(t.prev.HoldReason, hookbox.HoldBreaker)
				w.log.LogAttrs(context.Background(), slog.LevelWarn, "delivery attempt failed; breaker open: parked",
					slog.String("event_id", ev.ID), slog.String("type", ev.Type),
					slog.String("destination", name), slog.Int("attempt", a.Number),
					slog.String("error", d.LastError))
			} else if dead {
				d.State = hookbox.StateDead
				w.log.LogAttrs(context.Background(), slog.LevelError, "event dead at destination",
					slog.String("event_id", ev.ID), slog.String("type", ev.Type),
					slog.String("destination", name), slog.Int("attempt", a.Number),
					slog.Int("attempts_since_replay", d.Attempts), slog.String("error", d.LastError))
			} else {
				d.State, d.NextAttemptAt = hookbox.StatePending, next
				out.retries = append(out.retries, next)
				w.log.LogAttrs(context.Background(), slog.LevelWarn, "delivery attempt failed",
					slog.String("event_id", ev.ID), slog.String("type", ev.Type),
					slog.String("destination", name), slog.Int("attempt", a.Number),
					slog.String("error", d.LastError), slog.Time("next_attempt_at", next))
			}
		}
		comp.Deliveries = append(comp.Deliveries, d)
	}
	// Deliveries settled or parked without an attempt: recorded as they
	// are, each logged with its reason.
	for _, kind := range []struct {
		ds     []hookbox.Delivery
		msg    string
		reason func(hookbox.Delivery) string
	}{
		{holds, "delivery held", func(d hookbox.Delivery) string { return d.HoldReason }},
		{skipped, "delivery skipped", func(d hookbox.Delivery) string { return d.SkipReason }},
	} {
		for _, d := range kind.ds {
			d.EventID, d.UpdatedAt = ev.ID, now
			w.log.LogAttrs(context.Background(), slog.LevelInfo, kind.msg,
				slog.String("event_id", ev.ID), slog.String("type", ev.Type),
				slog.String("destination", d.Destination), slog.String("reason", kind.reason(d)))
			comp.Deliveries = append(comp.Deliveries, d)
		}
	}
	for _, d := range waiting {
		d.EventID, d.UpdatedAt = ev.ID, now
		w.log.LogAttrs(context.Background(), slog.LevelDebug, "delivery waits",
			slog.String("event_id", ev.ID), slog.String("destination", d.Destination),
			slog.String("reason", d.LastError), slog.Time("next_attempt_at", d.NextAttemptAt))
		comp.Deliveries = append(comp.Deliveries, d)
	}
	for _, o := range orphans {
		o.EventID, o.UpdatedAt = ev.ID, now
		w.log.LogAttrs(context.Background(), slog.LevelWarn, "pending delivery marked dead",
			slog.String("event_id", ev.ID), slog.String("destination", o.Destination), slog.String("reason", o.LastError))
		comp.Deliveries = append(comp.Deliveries, o)
	}
	out.completion = comp
	return out
}

// orphan marks dead a pending delivery that no configured destination will
// ever make; otherwise the event would stay pending and be claimed forever.
// A replay revives it.
func orphan(d hookbox.Delivery, reason string) hookbox.Delivery {
	d.State = hookbox.StateDead
	d.NextAttemptAt = time.Time{}
	d.LastError = reason
	return d
}

// attempt makes one attempt and normalizes its record: the worker, not the
// destination, is the authority on event, destination and number, and on
// the response snippet limit.
func (w *Worker) attempt(ctx context.Context, t *target) hookbox.Attempt {
	ev := t.ev
	start := time.Now()
	var span trace.Span
	if w.Tracer != nil {
		ctx, span = w.startSpan(ctx, t)
	}
	a := t.dest.Deliver(ctx, ev, t.number)
	if span != nil {
		defer endSpan(span, &a)
	}
	a.EventID, a.Destination, a.Number = ev.ID, t.dest.Name(), t.number
	if a.StartedAt.IsZero() {
		a.StartedAt = start
	}
	if a.Duration <= 0 {
		a.Duration = time.Since(start)
	}
	if len(a.Response) > hookbox.MaxResponseSnippet {
		a.Response = a.Response[:hookbox.MaxResponseSnippet]
	}
	if a.OK {
		a.Error = ""
	} else if a.Error == "" {
		a.Error = "failed"
		if a.StatusCode != 0 {
			a.Error = "status " + strconv.Itoa(a.StatusCode)
		}
	}
	a.Error = cleanText(a.Error, maxAttemptError)
	return a
}

// numberFromHistory sets the attempt numbers of targets from the attempt
// log: one more than the highest number recorded for the destination.
func (w *Worker) numberFromHistory(ctx context.Context, eventID string, targets []*target) {
	atts, err := w.Queue.FindAttempts(ctx, eventID)
	if err != nil {
		w.log.LogAttrs(ctx, slog.LevelWarn, "find attempts failed; attempt numbers restart from the retry budget",
			slog.String("event_id", eventID), slog.Any("error", err))
		return
	}
	for _, t := range targets {
		for _, a := range atts {
			if a.Destination == t.dest.Name() && a.Number >= t.number {
				t.number = a.Number + 1
			}
		}
	}
}

// lastError is the short form of a failed attempt for Delivery.LastError.
func lastError(a hookbox.Attempt) string {
	return cleanText(a.Error, maxLastError)
}

// lateFor decides what destination d does with ev, a claimed event with a
// newer event of its object already delivered: an unordered destination
// sees it as any event (LateAfter cleared); an ordered one is given it
// with LateAfter, or, under LateSkip, skips it (the returned delivery)
// unless the event was replayed (a replay is an explicit request to send).
// OnLate counts it the first time d is given it.
func (w *Worker) lateFor(ev *hookbox.Event, d Destination, prev hookbox.Delivery, tried bool) (*hookbox.Event, *hookbox.Delivery) {
	o, ok := OrderingOf(d)
	if !ok {
		plain := *ev
		plain.LateAfter = ""
		return &plain, nil
	}
	skip := o.Late == LateSkip && ev.ReplayedAt.IsZero()
	if !tried && w.OnLate != nil {
		w.OnLate(d.Name(), skip)
	}
	if !skip {
		return ev, nil
	}
	return ev, &hookbox.Delivery{Destination: d.Name(), State: hookbox.StateDelivered,
		Attempts: prev.Attempts, LastError: prev.LastError, SkipReason: lateReason(ev)}
}

// held returns the held delivery of ev at d when d states a Stripe API
// version (Versioned) that ev, rendered in another, is not compatible with
// (hookbox.APIVersion.Compatible): due at hookbox.HeldUntil, no attempt
// made, the retry budget untouched. A delivery released by hand
// (hookbox.HoldReleased) and an event replayed are not held: both are
// explicit requests to send it. An event with no api_version (thin
// notifications) is never held.
func held(ev *hookbox.Event, d Destination, prev hookbox.Delivery) (hookbox.Delivery, bool) {
	v := VersionOf(d)
	if v == "" || ev.APIVersion == "" || hookbox.Released(prev.HoldReason) || !ev.ReplayedAt.IsZero() || v.Compatible(ev.APIVersion) {
		return hookbox.Delivery{}, false
	}
	return hookbox.Delivery{State: hookbox.StatePending, Attempts: prev.Attempts, LastError: prev.LastError,
		NextAttemptAt: hookbox.HeldUntil,
		HoldReason:    "event in API version " + ev.APIVersion + "; the destination reads " + v.String()}, true
}
