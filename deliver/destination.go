package deliver

import (
	"context"
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
