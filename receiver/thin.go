package receiver

import (
	"context"
	"errors"
	"log/slog"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/reconcile"
	"github.com/hookbox/hookbox/thin"
)

// ThinOptions turn on the fetching of thin events' full form
// (GET /v2/core/events/{id}) in the background, for the endpoints whose
// Payload is PayloadThin. Without them thin notifications are still
// verified, stored and delivered as they came; nothing fetches their
// events, and destinations that want the full event (thin.DeliverEvent)
// cannot be configured.
type ThinOptions struct {
	Key     string // Stripe API key (rk_/sk_) with read access to Events v2; never logged
	APIBase string // "": https://api.stripe.com
}

// thinEndpoints returns the names of the endpoints of thin events.
func thinEndpoints(eps []Endpoint) []string {
	var out []string
	for _, ep := range eps {
		if ep.Payload == PayloadThin {
			out = append(out, ep.Name)
		}
	}
	return out
}

// validateThin checks that destinations that deliver the full event are on
// thin endpoints and that something fetches it.
func validateThin(o Options) error {
	for _, ep := range o.Endpoints {
		for _, d := range ep.Destinations {
			if _, ok := deliver.PreparerOf(d); !ok {
				continue
			}
			if ep.Payload != PayloadThin {
				return errors.New("endpoint " + ep.Name + ": destination " + d.Name() + " needs the fetched event (deliver: event, dedupe_snapshot), which only a thin endpoint (payload: thin) has")
			}
			if o.Thin == nil {
				return errors.New("endpoint " + ep.Name + ": destination " + d.Name() + " needs the fetched event (deliver: event, dedupe_snapshot): set STRIPE_API_KEY or STRIPE_API_KEY_FILE so that hookbox fetches it")
			}
		}
	}
	if o.Thin != nil {
		if _, err := reconcile.CheckClient(o.Thin.Key, reconcile.ClientConfig{APIBase: o.Thin.APIBase}); err != nil {
			return errors.New("thin event fetching: " + err.Error())
		}
	}
	return nil
}

// newFetcher returns the fetcher of thin events' full form, not started;
// nil without ThinOptions, without a thin endpoint or on a store that is
// no hookbox.ThinStore.
func (r *Receiver) newFetcher() (*thin.Fetcher, error) {
	names := thinEndpoints(r.opts.Endpoints)
	if len(names) > 0 {
		var count func(context.Context) (map[hookbox.FetchState]int, error)
		if ts, ok := r.store.(hookbox.ThinStore); ok {
			count = ts.CountFetches
		}
		r.metrics.RegisterThin(names, count)
	}
	o := r.opts.Thin
	if o == nil || len(names) == 0 {
		if len(names) > 0 {
			r.logger.Warn("thin endpoints without STRIPE_API_KEY: notifications are stored and delivered, their full events are not fetched", "endpoints", names)
		}
		return nil, nil
	}
	ts, ok := r.store.(hookbox.ThinStore)
	if !ok {
		r.logger.Warn("the store keeps no thin events' full form: nothing is fetched")
		return nil, nil
	}
	client, err := thin.NewClient(o.Key, reconcile.ClientConfig{APIBase: o.APIBase})
	if err != nil {
		return nil, err
	}
	return &thin.Fetcher{
		Store: ts, Client: client, NowFunc: r.opts.NowFunc,
		Logger:   r.logger.With(slog.String("component", "thin")),
		OnFetch:  func(o thin.Outcome) { r.metrics.ThinFetch(string(o)) },
		OnStored: func(string) { r.wake() },
	}, nil
}

// fetchInsert wraps insert so that a stored thin event wakes the fetcher.
func (r *Receiver) fetchInsert(insert hookbox.InsertFunc) hookbox.InsertFunc {
	if r.fetcher == nil {
		return insert
	}
	return func(ctx context.Context, evs []*hookbox.Event) ([]hookbox.InsertResult, error) {
		res, err := insert(ctx, evs)
		if err == nil {
			for i, ev := range evs {
				if ev.Object == hookbox.ThinObject && i < len(res) && res[i].Err == nil && !res[i].Duplicate {
					r.fetcher.Wake()
					break
				}
			}
		}
		return res, err
	}
}

// newThinPeriodics returns one periodic reconcile per thin endpoint,
// listing GET /v2/core/events, each under its own lock.
func (r *Receiver) newThinPeriodics(base reconcile.Options) ([]*reconcile.Periodic, error) {
	c := r.opts.Reconcile
	var out []*reconcile.Periodic
	for _, name := range thinEndpoints(r.opts.Endpoints) {
		client, err := thin.NewClient(c.Key, reconcile.ClientConfig{APIBase: c.APIBase})
		if err != nil {
			return nil, err
		}
		logger := r.logger.With(slog.String("component", "reconcile"), slog.String("endpoint", name))
		p := &reconcile.Periodic{
			Reconciler: &reconcile.Reconciler{V2: client, Store: r.store, Insert: r.insert, Wake: r.wake, Logger: logger},
			Options:    reconcile.Options{Since: base.Since, Endpoint: name},
			Every:      c.Every,
			Lock:       reconcile.LockName + ":" + name,
			OnRun: func(res reconcile.RunResult) {
				if !res.Skipped {
					r.metrics.ReconcileRun(res.Err == nil, res.Summary.Recovered, res.Finished)
				}
			},
		}
		if l, ok := r.store.(hookbox.Locker); ok {
			p.Locker = l
		}
		out = append(out, p)
	}
	return out, nil
}
