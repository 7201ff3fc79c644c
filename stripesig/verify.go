package stripesig

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"time"
)

// DefaultTolerance is how far a signature's timestamp may lie from the
// verifier's clock, in either direction, when Options.Tolerance is zero.
// Every official Stripe library uses the same 300 s.
const DefaultTolerance = 300 * time.Second

// Options configures a Verifier. The zero value is the safe default.
type Options struct {
	// Tolerance is how far the signed timestamp may lie from now, in
	// either direction. Zero means DefaultTolerance; negative is invalid.
	Tolerance time.Duration

	// IgnoreTolerance disables the timestamp check altogether, so a
	// captured request can be replayed forever. UNSAFE: it exists only to
	// port the upstream "timestamp off but no tolerance" tests and to
	// verify stored fixtures. Never set it for live traffic.
	IgnoreTolerance bool

	// NowFunc returns the current time. Nil means time.Now.
	NowFunc func() time.Time
}

// Verifier checks Stripe-Signature headers against one or more endpoint
// secrets. Create it with NewVerifier; it is safe for concurrent use.
type Verifier struct {
	secrets         [][]byte
	tolerance       time.Duration
	ignoreTolerance bool
	now             func() time.Time
	pool            sync.Pool // of *scratch
}

// scratch is the per-call working state of Verify, pooled so that the hot
// path does not allocate: one keyed HMAC per secret (Reset restores the
// precomputed key state) and buffers that must live on the heap anyway,
// because they are passed through the hash.Hash interface.
type scratch struct {
	macs []hash.Hash
	ts   [maxTimestampDigits + 1]byte // "<t>."
	sum  [sigLen]byte
}

// NewVerifier returns a Verifier accepting a signature made with any of
// secrets (typically one; two while a secret is rolled). It fails when
// secrets is empty, when any secret is empty, or when opts.Tolerance is
// negative. It copies secrets.
func NewVerifier(secrets []string, opts Options) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("stripesig: new verifier: no secret")
	}
	v := &Verifier{
		secrets:         make([][]byte, len(secrets)),
		tolerance:       opts.Tolerance,
		ignoreTolerance: opts.IgnoreTolerance,
		now:             opts.NowFunc,
	}
	for i, s := range secrets {
		if s == "" {
			return nil, fmt.Errorf("stripesig: new verifier: secret %d is empty", i)
		}
		v.secrets[i] = []byte(s)
	}
	switch {
	case v.tolerance < 0:
		return nil, fmt.Errorf("stripesig: new verifier: negative tolerance %v", v.tolerance)
	case v.tolerance == 0:
		v.tolerance = DefaultTolerance
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.pool.New = func() any {
		s := &scratch{macs: make([]hash.Hash, len(v.secrets))}
		for i, key := range v.secrets {
			s.macs[i] = hmac.New(sha256.New, key)
		}
		return s
	}
	return v, nil
}

// Verify checks that header (the Stripe-Signature value) carries a v1
// signature of payload, the raw request body, made with one of the
// verifier's secrets, and that its timestamp is within the tolerance.
//
// It returns the index (in the secrets given to NewVerifier) of the first
// secret that produced a matching signature, and a nil error. Otherwise
// it returns -1 and an error for which errors.Is reports one of
// ErrNotSigned, ErrInvalidHeader, ErrNoValidSignature, ErrTooOld or
// ErrTooNew; Reason names it. The signature is checked before the
// timestamp, so ErrTooOld and ErrTooNew mean the request was genuinely
// signed by Stripe.
//
// Verify does not look at the payload beyond hashing it: it does not
// check that it is JSON.
func (v *Verifier) Verify(payload []byte, header string) (secretIndex int, err error) {
	var buf [inlineSigs][sigLen]byte
	t, sigs, err := parseHeader(header, buf[:0])
	if err != nil {
		return -1, err
	}

	s := v.pool.Get().(*scratch)
	prefix := append(strconv.AppendInt(s.ts[:0], t, 10), '.')
	// Every secret is computed and every signature compared, whatever
	// matches, so the time taken depends on the number of secrets and
	// signatures only; the index is selected in constant time too.
	idx, found := -1, 0
	for i, mac := range s.macs {
		mac.Reset()
		mac.Write(prefix)
		mac.Write(payload)
		sum := mac.Sum(s.sum[:0])
		m := 0
		for j := range sigs {
			m |= subtle.ConstantTimeCompare(sum, sigs[j][:]) // hmac.Equal
		}
		idx = subtle.ConstantTimeSelect(m&^found, i, idx)
		found |= m
	}
	v.pool.Put(s)
	if found == 0 {
		return -1, ErrNoValidSignature
	}

	if !v.ignoreTolerance {
		if err := v.checkTimestamp(t); err != nil {
			return -1, err
		}
	}
	return idx, nil
}

// checkTimestamp reports whether t (Unix seconds, never negative) lies
// within the tolerance of now. A timestamp exactly the tolerance away is
// accepted, as in stripe-go. The comparison is done on (seconds,
// nanoseconds) pairs, so that no timestamp, however absurd, overflows.
func (v *Verifier) checkTimestamp(t int64) error {
	now := v.now()
	nowSec, nowNsec := now.Unix(), int64(now.Nanosecond())
	tolSec, tolNsec := int64(v.tolerance/time.Second), int64(v.tolerance%time.Second)
	beyond := func(sec, nsec int64) bool { // (sec s + nsec ns) > tolerance
		return sec > tolSec || (sec == tolSec && nsec > tolNsec)
	}
	const minInt64 = -1 << 63
	if nowSec <= minInt64+t { // nowSec - t would overflow: t is ages ahead
		return fmt.Errorf("%w: timestamp is beyond tolerance %v", ErrTooNew, v.tolerance)
	}
	// age = now - t = (nowSec - t) s + nowNsec ns, nowNsec in [0, 1e9).
	ageSec := nowSec - t
	if ageSec >= 0 {
		if beyond(ageSec, nowNsec) {
			return fmt.Errorf("%w: timestamp is %ds old, tolerance %v", ErrTooOld, ageSec, v.tolerance)
		}
		return nil
	}
	// ahead = t - now = -ageSec s - nowNsec ns, normalised.
	aheadSec, aheadNsec := -ageSec, int64(0)
	if nowNsec > 0 {
		aheadSec, aheadNsec = aheadSec-1, int64(time.Second)-nowNsec
	}
	if beyond(aheadSec, aheadNsec) {
		return fmt.Errorf("%w: timestamp is %ds ahead, tolerance %v", ErrTooNew, -ageSec, v.tolerance)
	}
	return nil
}
