package thin

import (
	"context"
	"io"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// DefaultWait is how long a delivery of the full event waits before it
// looks again when the event is not fetched yet. The store makes the event
// due as soon as the fetch ends (hookbox.ThinStore.CompleteFetch), so the
// wait only bounds how late a missed wake-up is made good.
const DefaultWait = 30 * time.Second

// DeliverEvent returns d sending the full event of each thin notification
// (deliver: event) instead of the notification itself, read from store
// where the Fetcher stored it. A destination of a thin endpoint gets, for
// each notification:
//
//   - the fetched event, byte for byte as GET /v2/core/events/{id}
//     returned it, in place of the body (d signs and sends it as it sends
//     any body; its headers are d's own);
//   - nothing yet while the fetch is pending: the delivery waits (see
//     deliver.Preparer), without an attempt and without spending the
//     retry budget, and is tried again when the fetch ends;
//   - nothing, ever, when the fetch was given up: the delivery is dead,
//     naming the reason, and a replay tries again.
//
// A snapshot event (object "event") goes to d unchanged.
//
// This is the choice between the three ways a destination could wait for
// the fetch: claiming the notification only once fetched would hold the
// other destinations (deliver: notification gets the event at once), and
// counting failed attempts would kill the delivery during a long 429; a
// deferred delivery holds only itself.
func DeliverEvent(d deliver.Destination, store hookbox.ThinStore) deliver.Destination {
	return eventDest{Destination: d, store: store}
}

type eventDest struct {
	deliver.Destination
	store hookbox.ThinStore
}

var _ deliver.Preparer = eventDest{}

// Prepare returns ev with the fetched event as its body, or a wait or a
// dead reason.
func (e eventDest) Prepare(ctx context.Context, ev *hookbox.Event) deliver.Prepared {
	if ev.Object != hookbox.ThinObject {
		return deliver.Prepared{Event: ev}
	}
	f, err := e.store.FindFetch(ctx, ev.ID)
	switch {
	case hookbox.ErrorCode(err) == hookbox.ENOTFOUND:
		return deliver.Prepared{Dead: true, Reason: "the full event was never fetched (no fetch is recorded for this notification)"}
	case err != nil:
		return deliver.Prepared{Wait: DefaultWait, Reason: "waiting for the full event: the store could not say whether it is fetched"}
	}
	switch f.State {
	case hookbox.FetchDone:
		if len(f.Body) == 0 {
			return deliver.Prepared{Dead: true, Reason: "the full event was fetched but its body is gone (retention)"}
		}
		full := *ev
		full.Body = f.Body
		return deliver.Prepared{Event: &full}
	case hookbox.FetchFailed:
		return deliver.Prepared{Dead: true, Reason: "the full event could not be fetched: " + f.LastError}
	}
	return deliver.Prepared{Wait: DefaultWait, Reason: "waiting for the full event to be fetched from Stripe"}
}

// Unwrap returns the destination that delivers.
func (e eventDest) Unwrap() deliver.Destination { return e.Destination }

// AttemptTimeout passes the wrapped destination's timeout on.
func (e eventDest) AttemptTimeout() time.Duration {
	if t, ok := e.Destination.(deliver.Timeouter); ok {
		return t.AttemptTimeout()
	}
	return deliver.DefaultTimeout
}

// Close closes the wrapped destination when it holds resources.
func (e eventDest) Close() error {
	if c, ok := e.Destination.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
