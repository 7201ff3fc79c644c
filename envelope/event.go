package envelope

import (
	"fmt"

	"github.com/hookbox/hookbox"
)

// ParseEvent reads a verified body into the event that stores it: Parse's
// fields become the event's ID, Type, Object, Created, Livemode, Account
// and APIVersion, and Body is body itself (not copied: a caller that reuses
// body's memory sets a copy). Ingest and reconcile both read events through
// it, so a body is accepted, and mapped, the same way on either path; the
// caller sets the rest (source, headers, times, state). A thin
// notification (object "v2.core.event") also gets its Context and
// RelatedObject (see Thin).
//
// Besides Parse's rules, an id or type holding an ASCII control character
// (below 0x20, or DEL) is rejected: Stripe's ids and types are printable
// ASCII, and NUL above all cannot be stored in a PostgreSQL text column.
// Every rejection wraps ErrInvalid.
func ParseEvent(body []byte) (*hookbox.Event, error) {
	f, err := Parse(body)
	if err != nil {
		return nil, err
	}
	if hasControl(f.ID) || hasControl(f.Type) {
		return nil, fmt.Errorf("%w: id or type holds a control character", ErrInvalid)
	}
	ev := &hookbox.Event{
		ID:         f.ID,
		Type:       f.Type,
		Object:     f.Object,
		Created:    f.Created,
		Livemode:   f.Livemode,
		Account:    f.Account,
		APIVersion: f.APIVersion,
		ObjectID:   f.ObjectID,
		Body:       body,
	}
	if f.Object == hookbox.ThinObject {
		if ev.Context, ev.RelatedObject, err = Thin(body); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// hasControl reports whether s holds an ASCII control character.
func hasControl[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
