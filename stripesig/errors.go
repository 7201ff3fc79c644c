package stripesig

import "errors"

// Sentinel errors naming why a request was rejected. Logs and metrics use
// them (see Reason); responses stay generic.
var (
	// ErrNotSigned: the Stripe-Signature header is missing or empty.
	ErrNotSigned = errors.New("stripesig: no Stripe-Signature header")
	// ErrInvalidHeader: the header is malformed (an item without "=" or
	// with two, a t that is missing, repeated, empty, signed or not 1 to 19
	// decimal digits).
	ErrInvalidHeader = errors.New("stripesig: malformed Stripe-Signature header")
	// ErrNoValidSignature: no v1 signature matches any configured secret
	// (or the header carries no v1 at all).
	ErrNoValidSignature = errors.New("stripesig: no valid signature")
	// ErrTooOld: the signature is genuine but its timestamp is older than
	// the tolerance (a replay, or a badly skewed clock).
	ErrTooOld = errors.New("stripesig: timestamp older than tolerance")
	// ErrTooNew: the signature is genuine but its timestamp lies further in
	// the future than the tolerance.
	ErrTooNew = errors.New("stripesig: timestamp further in the future than tolerance")
)

// Reason returns a short stable name for a verification error, for logs and
// metric labels: not_signed, invalid_header, no_valid_signature, too_old,
// too_new, or other.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNotSigned):
		return "not_signed"
	case errors.Is(err, ErrInvalidHeader):
		return "invalid_header"
	case errors.Is(err, ErrNoValidSignature):
		return "no_valid_signature"
	case errors.Is(err, ErrTooOld):
		return "too_old"
	case errors.Is(err, ErrTooNew):
		return "too_new"
	default:
		return "other"
	}
}
