package stripesig

import (
	"fmt"
	"strings"
)

// HeaderName is the HTTP header Stripe puts the signature in.
const HeaderName = "Stripe-Signature"

// maxTimestampDigits bounds the t value: 19 digits hold any int64 and
// every plausible Unix time; longer values (padding with zeros included)
// are rejected rather than parsed.
const maxTimestampDigits = 19

// Header is a parsed Stripe-Signature header.
type Header struct {
	// Timestamp is the t item, in Unix seconds. It is never negative.
	Timestamp int64
	// Signatures holds every usable v1 signature, decoded, each 32 bytes,
	// in header order. v1 values that are not 64 hex digits are left out.
	Signatures [][]byte
}

// ParseHeader parses a Stripe-Signature header value, with the rules the
// package documentation lists. It returns ErrNotSigned for an empty value,
// an error wrapping ErrInvalidHeader for a malformed one, and
// ErrNoValidSignature when the header carries no usable v1 signature.
//
// Verifier.Verify does not call ParseHeader: it uses the same parser
// without allocating. ParseHeader is for callers that want to inspect a
// header, and for tests.
func ParseHeader(h string) (Header, error) {
	var buf [inlineSigs][sigLen]byte
	t, sigs, err := parseHeader(h, buf[:0])
	if err != nil {
		return Header{}, err
	}
	out := Header{Timestamp: t, Signatures: make([][]byte, len(sigs))}
	flat := make([]byte, len(sigs)*sigLen)
	for i := range sigs {
		out.Signatures[i] = flat[i*sigLen : (i+1)*sigLen : (i+1)*sigLen]
		copy(out.Signatures[i], sigs[i][:])
	}
	return out, nil
}

const (
	// sigLen is the length of an HMAC-SHA256, the only length a v1 can have.
	sigLen = 32
	// inlineSigs is how many v1 signatures Verify decodes on the stack
	// before appending spills to the heap. Stripe sends one per active
	// secret, so one or two in practice.
	inlineSigs = 4
)

// parseHeader parses h, appending every usable v1 signature to sigs, and
// returns the timestamp and the extended slice. It does not allocate
// unless sigs runs out of capacity or it returns an error.
func parseHeader(h string, sigs [][sigLen]byte) (int64, [][sigLen]byte, error) {
	if h == "" {
		return 0, sigs, ErrNotSigned
	}
	var (
		t    int64
		seen bool
	)
	for n, rest := 1, h; ; n++ {
		item, more, found := strings.Cut(rest, ",")
		key, value, ok := strings.Cut(item, "=")
		if !ok {
			return 0, sigs, fmt.Errorf("%w: item %d has no '='", ErrInvalidHeader, n)
		}
		if strings.IndexByte(value, '=') >= 0 {
			return 0, sigs, fmt.Errorf("%w: item %d has more than one '='", ErrInvalidHeader, n)
		}
		switch key {
		case "t":
			if seen {
				return 0, sigs, fmt.Errorf("%w: repeated t (item %d)", ErrInvalidHeader, n)
			}
			seen = true
			if t, ok = parseTimestamp(value); !ok {
				return 0, sigs, fmt.Errorf("%w: t is not 1 to %d decimal digits", ErrInvalidHeader, maxTimestampDigits)
			}
		case "v1":
			var sig [sigLen]byte
			if decodeHex(sig[:], value) {
				sigs = append(sigs, sig)
			}
			// Anything else (odd length, non-hex, wrong length) is
			// skipped, as stripe-go does: another v1 may still match.
		default:
			// v0 (a decoy on test events) and unknown schemes are ignored.
		}
		if !found {
			break
		}
		rest = more
	}
	if !seen {
		return 0, sigs, fmt.Errorf("%w: no t", ErrInvalidHeader)
	}
	if len(sigs) == 0 {
		return 0, sigs, fmt.Errorf("%w: header has no usable v1 signature", ErrNoValidSignature)
	}
	return t, sigs, nil
}

// parseTimestamp parses 1 to maxTimestampDigits ASCII decimal digits into
// a non-negative int64. Signs, spaces, and values beyond int64 are refused.
func parseTimestamp(s string) (int64, bool) {
	if len(s) == 0 || len(s) > maxTimestampDigits {
		return 0, false
	}
	const cutoff = (1<<63 - 1) / 10
	var t int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if t > cutoff || (t == cutoff && d > (1<<63-1)%10) {
			return 0, false
		}
		t = t*10 + d
	}
	return t, true
}

// decodeHex decodes s into dst when s is exactly 2*len(dst) hex digits,
// either case, and reports whether it did. Unlike hex.DecodeString it works
// on a string without copying it.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := fromHexChar(s[2*i])
		lo, ok2 := fromHexChar(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHexChar(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
