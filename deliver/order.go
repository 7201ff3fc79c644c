package deliver

import (
	"fmt"
	"time"

	"github.com/hookbox/hookbox"
)

// HeaderLate is sent with a late event (see Ordering): the id of the newer
// event of the same Stripe object that the destination already received.
const HeaderLate = "Hookbox-Late"

// DefaultOrderWindow is how long an event of an ordered destination is
// held after it is stored before its first attempt, so that the events
// Stripe sends out of order within that time are put right first.
const DefaultOrderWindow = time.Second

// LatePolicy is what an ordered destination does with a late event: one
// that arrives after a newer event of its object was delivered.
type LatePolicy string

const (
	// LateDeliver delivers it, with the Hookbox-Late header (a Go handler
	// reads Event.LateAfter). The default.
	LateDeliver LatePolicy = "deliver"
	// LateSkip records it as skipped with its reason; a replay sends it.
	LateSkip LatePolicy = "skip"
)

// DeadPolicy is what an ordered destination does when an event of an
// object goes dead.
type DeadPolicy string

const (
	// DeadBlock holds the object's later events until the dead one is
	// replayed or skipped by hand. The default.
	DeadBlock DeadPolicy = "block"
	// DeadSkip lets the later events go on.
	DeadSkip DeadPolicy = "skip"
)

// Ordering is how a destination takes the events of one Stripe object
// (data.object.id, within an account and livemode, at one endpoint): in
// the order Stripe created them, one at a time.
type Ordering struct {
	// Window is the hold before a first attempt; 0 means
	// DefaultOrderWindow.
	Window time.Duration
	Late   LatePolicy // "" means LateDeliver
	OnDead DeadPolicy // "" means DeadBlock
}

// WithDefaults returns o with its zero fields set to their defaults.
func (o Ordering) WithDefaults() Ordering {
	if o.Window == 0 {
		o.Window = DefaultOrderWindow
	}
	if o.Late == "" {
		o.Late = LateDeliver
	}
	if o.OnDead == "" {
		o.OnDead = DeadBlock
	}
	return o
}

// Check reports an invalid Ordering.
func (o Ordering) Check() error {
	switch {
	case o.Window < 0:
		return fmt.Errorf("order window %v is negative", o.Window)
	case o.Late != "" && o.Late != LateDeliver && o.Late != LateSkip:
		return fmt.Errorf("late %q: want deliver or skip", o.Late)
	case o.OnDead != "" && o.OnDead != DeadBlock && o.OnDead != DeadSkip:
		return fmt.Errorf("on-dead %q: want block or skip", o.OnDead)
	}
	return nil
}

// Ordered returns d delivering the events of each Stripe object in order
// (see Ordering); the ordering itself is the queue's (hookbox.Queue,
// Event.OrderKey), which the receiver sets up for every endpoint that has
// an ordered destination.
func Ordered(d Destination, o Ordering) Destination {
	return ordered{wrapped: wrapped{d}, o: o.WithDefaults()}
}

// OrderingOf returns the Ordering of d, looking through wrappers that
// implement Unwrap() Destination; false when d is not ordered.
func OrderingOf(d Destination) (Ordering, bool) {
	for d != nil {
		if o, ok := d.(ordered); ok {
			return o.o, true
		}
		u, ok := d.(interface{ Unwrap() Destination })
		if !ok {
			return Ordering{}, false
		}
		d = u.Unwrap()
	}
	return Ordering{}, false
}

type ordered struct {
	wrapped
	o Ordering
}

// lateReason is the SkipReason of a late event under LateSkip.
func lateReason(ev *hookbox.Event) string {
	return "late: " + ev.LateAfter + " (newer, same object) was delivered first"
}

// ParseOrdering reads the ordering options as serve's flags and --config
// spell them: order "none" or "" (not ordered: nil, and then window, late
// and onDead must be unset) or "object"; late "", "deliver" or "skip";
// onDead "", "block" or "skip"; a window of 0 is the default.
func ParseOrdering(order string, window time.Duration, late, onDead string) (*Ordering, error) {
	switch order {
	case "", "none":
		if window != 0 || late != "" || onDead != "" {
			return nil, fmt.Errorf("order window, late and on-dead apply to ordered delivery only: set order to object")
		}
		return nil, nil
	case "object":
	default:
		return nil, fmt.Errorf("order %q: want none or object", order)
	}
	o := Ordering{Window: window, Late: LatePolicy(late), OnDead: DeadPolicy(onDead)}
	if err := o.Check(); err != nil {
		return nil, err
	}
	o = o.WithDefaults()
	return &o, nil
}

// String describes o for humans (config check).
func (o Ordering) String() string {
	o = o.WithDefaults()
	return fmt.Sprintf("per object, window %v, late events: %s, on dead: %s", o.Window, o.Late, o.OnDead)
}
