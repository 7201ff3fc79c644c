package thin

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// DefaultTwinWait is how long, from its receipt, a thin event whose fetched
// form names a snapshot event that is not stored yet waits for it before
// it is delivered anyway (SkipSnapshotTwins). Stripe sends both forms of a
// logical event at about the same time; a snapshot event later than this
// is one Stripe is retrying (its endpoint failed), and the thin event is
// not held back for as long as that may take.
const DefaultTwinWait = time.Minute

// EventStore is what SkipSnapshotTwins reads: the fetches of thin events,
// and stored events by id (the snapshot events they name).
type EventStore interface {
	hookbox.ThinStore
	FindEventByID(ctx context.Context, id string) (*hookbox.Event, error)
}

// TwinOptions configure SkipSnapshotTwins.
type TwinOptions struct {
	Store   EventStore       // required
	Wait    time.Duration    // 0: DefaultTwinWait
	NowFunc func() time.Time // nil: time.Now
}

// SkipSnapshotTwins returns d delivering each logical event once during
// Stripe's snapshot-to-thin migration, when Stripe sends it twice: as a
// snapshot event (to a snapshot endpoint) and as a thin event whose
// fetched form names it in snapshot_event. The snapshot copy wins: d does
// not send a thin event whose snapshot twin is stored and not dead
// (pending, delivering or delivered: the app has it or will have it); the
// delivery is settled as delivered with a SkipReason naming the twin, and
// a replay sends it.
//
// Knowing the twin takes the fetched form (snapshot_event is read from the
// notification too, when Stripe puts it there), so each thin delivery of d
// waits for the fetch as deliver: event does (deferred, no attempt spent).
// Then:
//
//   - no snapshot_event, or a fetch given up: d sends as it would without
//     this wrapper (a lost fetch must not lose the event);
//   - the twin is stored and not dead: skipped;
//   - the twin is dead (its destinations gave up): sent, the app never got
//     the snapshot copy;
//   - the twin is not stored yet (the thin copy came first): the delivery
//     waits until Wait after the thin event's receipt, then looks again,
//     and is sent if the twin is still missing. A snapshot event stored
//     after that is delivered by its own endpoint: the app gets both.
//
// A replayed thin event is always sent (an explicit request). Snapshot
// events go to d unchanged. d may itself be a deliver.Preparer
// (DeliverEvent): it prepares what is sent.
func SkipSnapshotTwins(d deliver.Destination, o TwinOptions) deliver.Destination {
	if o.Wait <= 0 {
		o.Wait = DefaultTwinWait
	}
	return twinDest{Destination: d, o: o}
}

type twinDest struct {
	deliver.Destination
	o TwinOptions
}

var _ deliver.Preparer = twinDest{}

func (t twinDest) now() time.Time {
	if t.o.NowFunc != nil {
		return t.o.NowFunc()
	}
	return time.Now()
}

// youngFetchWait is how soon a delivery looks again at a fetch that is
// pending while its notification is younger than a minute. The store makes
// the event due when the fetch ends, but not while the event is claimed:
// a fetch that ends during the claim that decided to wait is seen at the
// next look, and a fetch usually takes well under a second, so the first
// looks come soon (a claim each, no attempt). Later, DefaultWait.
const youngFetchWait = 2 * time.Second

func (t twinDest) fetchWait(ev *hookbox.Event) time.Duration {
	if t.now().Sub(ev.ReceivedAt) < time.Minute {
		return youngFetchWait
	}
	return DefaultWait
}

// inner is what the wrapped destination would do with ev.
func (t twinDest) inner(ctx context.Context, ev *hookbox.Event) deliver.Prepared {
	if p, ok := deliver.PreparerOf(t.Destination); ok {
		return p.Prepare(ctx, ev)
	}
	return deliver.Prepared{Event: ev}
}

// Prepare skips the thin twin of a stored snapshot event, waits while that
// cannot be told yet, and otherwise defers to the wrapped destination.
func (t twinDest) Prepare(ctx context.Context, ev *hookbox.Event) deliver.Prepared {
	if ev.Object != hookbox.ThinObject || !ev.ReplayedAt.IsZero() {
		return t.inner(ctx, ev)
	}
	snap := SnapshotEvent(ev.Body)
	if snap == "" {
		f, err := t.o.Store.FindFetch(ctx, ev.ID)
		switch {
		case hookbox.ErrorCode(err) == hookbox.ENOTFOUND:
			return t.inner(ctx, ev)
		case err != nil:
			return deliver.Prepared{Wait: DefaultWait, Reason: "waiting for the full event (snapshot twin check): the store could not say whether it is fetched"}
		case f.State == hookbox.FetchPending:
			return deliver.Prepared{Wait: t.fetchWait(ev), Reason: "waiting for the full event to tell whether it duplicates a snapshot event"}
		case f.State == hookbox.FetchFailed:
			return t.inner(ctx, ev)
		}
		if snap = SnapshotEvent(f.Body); snap == "" {
			return t.inner(ctx, ev)
		}
	}
	twin, err := t.o.Store.FindEventByID(ctx, snap)
	switch {
	case err == nil && twin.State != hookbox.StateDead:
		return deliver.Prepared{Skip: "duplicate of snapshot event " + snap + " (" + string(twin.State) + " at endpoint " + twin.Endpoint + "): snapshot-to-thin migration, the snapshot copy is delivered"}
	case err == nil:
		return t.inner(ctx, ev) // the snapshot copy is dead: send this one
	case hookbox.ErrorCode(err) != hookbox.ENOTFOUND:
		return deliver.Prepared{Wait: DefaultWait, Reason: "waiting to look up snapshot event " + snap + ": the store could not answer"}
	}
	if left := ev.ReceivedAt.Add(t.o.Wait).Sub(t.now()); left > 0 {
		return deliver.Prepared{Wait: min(left, DefaultWait), Reason: "waiting for snapshot event " + snap + ", which this thin event duplicates"}
	}
	return t.inner(ctx, ev)
}

// SnapshotEvent returns the id of the snapshot event a thin event (its
// notification or its fetched form) duplicates: its snapshot_event, a
// string, or the id of an object in its place; "" when there is none.
func SnapshotEvent(body []byte) string {
	var v struct {
		SnapshotEvent json.RawMessage `json:"snapshot_event"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.SnapshotEvent) == 0 {
		return ""
	}
	var id string
	if json.Unmarshal(v.SnapshotEvent, &id) == nil {
		return id
	}
	var obj struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(v.SnapshotEvent, &obj) == nil {
		return obj.ID
	}
	return ""
}

// Unwrap returns the wrapped destination.
func (t twinDest) Unwrap() deliver.Destination { return t.Destination }

// AttemptTimeout passes the wrapped destination's timeout on.
func (t twinDest) AttemptTimeout() time.Duration {
	if x, ok := t.Destination.(deliver.Timeouter); ok {
		return x.AttemptTimeout()
	}
	return deliver.DefaultTimeout
}

// Close closes the wrapped destination when it holds resources.
func (t twinDest) Close() error {
	if c, ok := t.Destination.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
