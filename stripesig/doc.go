// Package stripesig verifies and produces Stripe webhook signatures, the
// Stripe-Signature header. It uses the standard library only.
//
// # The scheme
//
// Stripe sends
//
//	Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=<hex>]
//
// where each v1 is the lowercase hex of HMAC-SHA256 keyed with an endpoint
// secret ("whsec_..." taken as bytes) over "<t>.<raw body>". While a secret
// is being rolled Stripe signs with every active secret, one v1 each. Sign
// and ComputeSignature produce exactly that; a Verifier checks it.
//
// Verify the raw body bytes before any JSON parsing: a body that was
// parsed and re-serialised no longer verifies. This package never parses
// the body, so a signed body that is not JSON verifies; checking the JSON
// is the caller's business.
//
// # Parsing
//
// ParseHeader, and Verify through the same code, read the header like
// stripe-go's webhook package, with the differences marked "divergence":
//
//   - An empty header is ErrNotSigned.
//   - Items are separated by ','. Nothing is trimmed: " v1=..." is an item
//     with the unknown key " v1" and is ignored, and "t= 1" is malformed.
//   - Every item must be key=value with exactly one '=': an item without
//     '=' (such as the empty item a stray comma leaves) or with two is
//     ErrInvalidHeader, even when the rest of the header is fine.
//   - t must occur exactly once and be 1 to 19 ASCII decimal digits
//     (leading zeros allowed, the HMAC covering the canonical decimal, as
//     in stripe-go). Otherwise ErrInvalidHeader. Divergence: stripe-go
//     takes the last of several t items, other libraries the first; a
//     repeated t is ambiguous, so it is rejected. Divergence: stripe-go
//     accepts a sign ("t=+1700000000") and zero-padding beyond 19
//     characters; a missing t makes it use the zero time (always too old).
//     All of these are ErrInvalidHeader here.
//   - v1 values are hex-decoded. Upper- and mixed-case hex decode to the
//     same bytes and so verify, as in stripe-go (stripe-python and others
//     compare strings and reject them); the bytes, not the spelling, are
//     what Stripe signed. A v1 that is not exactly 64 hex digits (odd
//     length, non-hex characters, a wrong length such as "v1=bad_signature"
//     or "v1=") is skipped, not fatal: another v1 may still match.
//   - v0 (a decoy on test events; accepting it would be a downgrade) and
//     unknown schemes are ignored.
//   - A header with no usable v1 at all is ErrNoValidSignature.
//
// Error messages say which rule failed and at which item, but never
// contain the header text, the payload or any secret material.
//
// # Verifying
//
// NewVerifier takes one or more secrets and validates its Options at
// construction. Verify then:
//
//  1. parses the header as above;
//  2. computes the HMAC of "<t>.<payload>" with every secret and compares
//     each with every v1 in constant time (crypto/subtle, the comparison
//     behind hmac.Equal), without stopping at the first match; a request is
//     genuine when any v1 matches any secret, and Verify returns the index
//     of the first secret that matched, so callers can tell when the old
//     secret of a roll is no longer used;
//  3. only then checks the timestamp: older than now minus the tolerance
//     is ErrTooOld, further ahead than now plus the tolerance is ErrTooNew.
//     Exactly the tolerance away is accepted (as in stripe-go: 300 s minus
//     1 s old is fine, 300 s plus 1 ms is too old).
//
// Checking the signature first (as stripe-python and stripe-node do; stripe-go
// checks the age first) means ErrTooOld and ErrTooNew are only ever
// reported for genuine requests, so they point at a replay or a skewed
// clock and not at a forgery.
//
// Divergence: stripe-go, stripe-python and stripe-node accept a timestamp
// any distance in the future. Here the window is symmetric, as in Stripe's
// PHP and .NET libraries: a genuine signature dated beyond the tolerance
// ahead is ErrTooNew, because it is either a clock problem worth seeing or
// a signature that could be replayed long after it was captured.
//
// The tolerance defaults to DefaultTolerance (300 s, as every official
// library). Stripe gives every delivery attempt, retries included, a fresh
// t, so the window never conflicts with retries. A tolerance of zero means
// the default (Stripe's documentation warns against disabling the check);
// Options.IgnoreTolerance does disable it, is unsafe, and exists only to
// port the upstream tests and to check stored fixtures.
//
// # Performance
//
// Verify does not allocate on success: the header is parsed in place and
// up to four v1 signatures are decoded on the stack, and the keyed HMAC
// state of every secret is kept in a sync.Pool, so each call only resets
// it. A Verifier is safe for concurrent use. The cost is one HMAC-SHA256
// of the body per secret; callers should bound both the body and the
// header size (net/http limits headers to 1 MB by default).
package stripesig
