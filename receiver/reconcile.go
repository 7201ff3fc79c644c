package receiver

import (
	"context"
	"log/slog"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/reconcile"
)

// newPeriodic returns the periodic reconciler, not started. Recovered
// events wake delivery. When the store is a hookbox.Locker, replicas on one
// database take turns; otherwise each runs on its own.
func (r *Receiver) newPeriodic() (*reconcile.Periodic, error) {
	c := r.opts.Reconcile
	client, err := reconcile.NewClient(c.Key, reconcile.ClientConfig{APIBase: c.APIBase})
	if err != nil {
		return nil, err
	}
	logger := r.logger.With(slog.String("component", "reconcile"))
	since := c.Since
	if since == 0 {
		since = reconcile.DefaultSince
	}
	p := &reconcile.Periodic{
		Reconciler: &reconcile.Reconciler{Client: client, Store: r.store, Insert: r.insert, Wake: r.wake, Logger: logger},
		Options: reconcile.Options{
			Since: FirstReconcileSince(since, r.store, r.opts.NowFunc(), logger),
			Types: c.Types, UndeliveredOnly: c.UndeliveredOnly,
			Endpoint: firstSnapshot(r.opts.Endpoints),
		},
		Every: c.Every,
		OnRun: func(res reconcile.RunResult) {
			// A skipped run (another replica held the lock) is not a
			// run of this one.
			if !res.Skipped {
				r.metrics.ReconcileRun(res.Err == nil, res.Summary.Recovered, res.Finished)
			}
		},
	}
	if l, ok := r.store.(hookbox.Locker); ok {
		p.Locker = l
	} else {
		logger.Warn("the store has no lock: every replica on this database reconciles on its own")
	}
	return p, nil
}

// FirstReconcileSince is the window of the first periodic run after a
// start at now: since, or further back to an hour before the last event
// the store received, up to Stripe's 30 days. The window of the runs is
// kept in memory; after an outage longer than since (Stripe stops
// retrying after 3 days) the first run must reach back to where hookbox
// stopped receiving, or those events stay lost.
func FirstReconcileSince(since time.Duration, store hookbox.Store, now time.Time, logger *slog.Logger) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, err := store.FindEvents(ctx, hookbox.EventFilter{Limit: 1}) // the newest
	if err != nil || len(evs) == 0 {
		return since
	}
	gap := now.Sub(evs[0].ReceivedAt) + time.Hour
	if gap <= since {
		return since
	}
	back := min(gap, reconcile.MaxSince)
	logger.Info("the first reconcile reaches back to the last event received", slog.Time("last_received_at", evs[0].ReceivedAt), slog.Duration("since", back))
	return back
}

// firstSnapshot is the endpoint /v1/events recovers into: "" (the default
// endpoint) when the default is a snapshot endpoint, else the first
// snapshot endpoint: a thin endpoint must not receive snapshot events.
func firstSnapshot(eps []Endpoint) string {
	for i, ep := range eps {
		if ep.Payload != PayloadThin {
			if i == 0 {
				return ""
			}
			return ep.Name
		}
	}
	return ""
}
