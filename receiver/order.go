package receiver

import (
	"context"
	"fmt"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/envelope"
)

// endpointOrder is how an endpoint's events are queued when some of its
// destinations deliver in object order (deliver.Ordered).
type endpointOrder struct {
	window   time.Duration // the longest hold of its ordered destinations
	skipDead bool          // every ordered destination moves on past a dead event
}

// orders returns the endpoints that have an ordered destination, by name;
// the default endpoint (the first) also under "", the endpoint of older
// rows and reconciled events.
func orders(eps []Endpoint) map[string]endpointOrder {
	out := map[string]endpointOrder{}
	for i, ep := range eps {
		o, any := endpointOrder{skipDead: true}, false
		for _, d := range ep.Destinations {
			do, ok := deliver.OrderingOf(d)
			if !ok {
				continue
			}
			any = true
			o.window = max(o.window, do.Window)
			o.skipDead = o.skipDead && do.OnDead == deliver.DeadSkip
		}
		if !any {
			continue
		}
		out[ep.Name] = o
		if i == 0 {
			out[""] = o
		}
	}
	return out
}

// orderedNames returns the names of the ordered destinations.
func orderedNames(eps []Endpoint) []string {
	var out []string
	for _, ep := range eps {
		for _, d := range ep.Destinations {
			if _, ok := deliver.OrderingOf(d); ok {
				out = append(out, d.Name())
			}
		}
	}
	return out
}

// versionedNames returns the names of the destinations that state the
// Stripe API version they read (their events may be held).
func versionedNames(eps []Endpoint) []string {
	var out []string
	for _, ep := range eps {
		for _, d := range ep.Destinations {
			if deliver.VersionOf(d) != "" {
				out = append(out, d.Name())
			}
		}
	}
	return out
}

// validateOrder checks the orderings of the destinations.
func validateOrder(o Options) error {
	for _, ep := range o.Endpoints {
		for _, d := range ep.Destinations {
			do, ok := deliver.OrderingOf(d)
			if !ok {
				continue
			}
			if err := do.Check(); err != nil {
				return fmt.Errorf("destination %s: %w", d.Name(), err)
			}
			if o.Mode == ModeSync {
				return fmt.Errorf("destination %s: ordered delivery needs --mode async (in sync mode each request delivers its own event at once)", d.Name())
			}
		}
	}
	return nil
}

// orderInsert wraps insert so that the events of endpoints with an
// ordered destination are stored with their OrderKey (the object's
// data.object.id; an event about no object is not ordered) and first due
// once the hold window has passed. Both webhooks and reconciled events
// go through it. wakeAt is told when the held events come due.
func orderInsert(insert hookbox.InsertFunc, byEndpoint map[string]endpointOrder, wakeAt func(time.Time)) hookbox.InsertFunc {
	if len(byEndpoint) == 0 {
		return insert
	}
	return func(ctx context.Context, events []*hookbox.Event) ([]hookbox.InsertResult, error) {
		var due time.Time
		for _, ev := range events {
			if ev == nil {
				continue // the store reports it
			}
			o, ok := byEndpoint[ev.Endpoint]
			if !ok {
				continue
			}
			id, ok := envelope.KnownObjectID(ev.Body, ev.ObjectID) // read with the envelope (ParseEvent)
			if !ok {
				continue
			}
			ev.OrderKey = hookbox.OrderKeyOf(ev.Endpoint, ev.Account, ev.Livemode, id)
			ev.OrderSkipDead = o.skipDead
			if at := ev.ReceivedAt.Add(o.window); at.After(ev.NextAttemptAt) {
				ev.NextAttemptAt = at
			}
			if due.IsZero() || ev.NextAttemptAt.Before(due) {
				due = ev.NextAttemptAt
			}
		}
		res, err := insert(ctx, events)
		if err == nil && !due.IsZero() && wakeAt != nil {
			wakeAt(due)
		}
		return res, err
	}
}
