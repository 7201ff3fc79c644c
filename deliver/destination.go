package deliver

import (
	"context"
	"io"
	"time"

	"github.com/hookbox/hookbox"
)

// Destination is where events go: an HTTP endpoint (HTTP) or Go handlers
// in the same process (Mux). Implementations are safe for concurrent use.
type Destination interface {
	// Name is the destination's stable name: the key of its delivery
	// state in the store. Renaming a destination makes it a new one.
	Name() string

	// Accepts reports whether the destination wants ev at all (its type
	// and livemode filters). An event no destination accepts is delivered
	// to nobody and ends StateDelivered.
	Accepts(ev *hookbox.Event) bool

	// Deliver makes one attempt, numbered attempt (1-based, per
	// destination, across replays), and returns its outcome as data: a
	// failure is an Attempt with OK false, never a panic or an error. It
	// returns when ctx is done at the latest. The Worker fills in EventID,
	// Destination and Number.
	Deliver(ctx context.Context, ev *hookbox.Event, attempt int) hookbox.Attempt
}

// Timeouter is implemented by destinations whose Deliver is bounded in
// time; the Worker sizes its default lease from their timeouts.
type Timeouter interface {
	AttemptTimeout() time.Duration
}

// Versioned is implemented by destinations that state the Stripe API
// version they understand (HTTPOptions.APIVersion,
// BrokerOptions.APIVersion). The zero APIVersion states nothing.
type Versioned interface {
	APIVersion() hookbox.APIVersion
}

// DefaultTimeout bounds one delivery attempt (an HTTP request, or a Mux
// handler call).
const DefaultTimeout = 10 * time.Second

// Preparer is implemented by destinations that send something else than
// the stored body, which may not be there yet: a destination of a thin
// endpoint that delivers the full event (fetched from Stripe in the
// background) rather than the notification. The Worker asks it before
// each attempt, looking through wrappers that implement Unwrap()
// Destination.
type Preparer interface {
	// Prepare returns what to deliver for ev. Ready: Event is sent (it may
	// be ev itself). Otherwise Wait > 0 defers the delivery: it stays
	// pending, is tried again after Wait, and no attempt is recorded or
	// counted against the retry budget; or Dead, a reason, gives up on the
	// destination (the delivery is dead with that reason; a replay tries
	// again); or Skip, a reason, settles it without sending.
	Prepare(ctx context.Context, ev *hookbox.Event) Prepared
}

// Prepared is a Preparer's answer.
type Prepared struct {
	Event *hookbox.Event
	Wait  time.Duration
	// Reason says why the delivery waits (kept as its LastError) or, with
	// Dead, why it is dead.
	Reason string
	Dead   bool
	// Skip, a reason, settles the delivery without sending: it is
	// StateDelivered with SkipReason Skip (as a late event under
	// LateSkip), and a replay sends the event.
	Skip string
}

// PreparerOf returns the Preparer of d, looking through wrappers that
// implement Unwrap() Destination; false when there is none.
func PreparerOf(d Destination) (Preparer, bool) {
	for d != nil {
		if p, ok := d.(Preparer); ok {
			return p, true
		}
		u, ok := d.(interface{ Unwrap() Destination })
		if !ok {
			return nil, false
		}
		d = u.Unwrap()
	}
	return nil, false
}

// hasPreparer reports whether d has a Preparer: its deliveries wait for
// something the store signals on the event (a thin event's fetch), not on
// the delivery, so they are tried whenever the event is claimed.
func hasPreparer(d Destination) bool {
	_, ok := PreparerOf(d)
	return ok
}

// VersionOf returns the Stripe API version destination d states
// (Versioned), looking through wrappers that implement Unwrap()
// Destination; the zero APIVersion when none states one.
func VersionOf(d Destination) hookbox.APIVersion {
	for d != nil {
		if v, ok := d.(Versioned); ok {
			return v.APIVersion()
		}
		u, ok := d.(interface{ Unwrap() Destination })
		if !ok {
			return ""
		}
		d = u.Unwrap()
	}
	return ""
}

// wrapped is embedded by the destinations that wrap another to add an
// option (Ordered, Controlled): it delivers through the wrapped one and
// passes its timeout and Close on.
type wrapped struct {
	Destination
}

// Unwrap returns the destination that delivers.
func (d wrapped) Unwrap() Destination { return d.Destination }

// AttemptTimeout passes the wrapped destination's timeout on.
func (d wrapped) AttemptTimeout() time.Duration { return attemptTimeout(d.Destination) }

// Close closes the wrapped destination when it holds resources.
func (d wrapped) Close() error {
	if c, ok := d.Destination.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// CheckLease reports, for a Worker.Lease set explicitly (> 0), a
// destination whose attempt timeout is longer than what the lease leaves a
// delivery: deliveries are cut lease/4 (at most 10 s) before the lease
// ends, so every slow but successful attempt there would be cut and the
// event retried until dead. A Worker only logs it; serve refuses it.
func CheckLease(lease time.Duration, dests []Destination) error {
	if lease <= 0 {
		return nil
	}
	budget := lease - min(lease/4, maxLeaseMargin)
	for _, d := range dests {
		if t := attemptTimeout(d); t > budget {
			return hookbox.Errorf(hookbox.EINVALID, "delivery lease %v leaves %v for a delivery, less than destination %q's timeout %v", lease, budget, d.Name(), t)
		}
	}
	return nil
}

// attemptTimeout is how long one attempt at d may take.
func attemptTimeout(d Destination) time.Duration {
	if tt, ok := d.(Timeouter); ok && tt.AttemptTimeout() > 0 {
		return tt.AttemptTimeout()
	}
	return DefaultTimeout
}
