// Package headercodec stores the request headers kept with an event
// (hookbox.Event.Headers) compactly: about 80 bytes for Stripe's usual
// three instead of about 230 as a JSON object (issue #18).
//
// An encoding is a version byte (1), then one entry per header in name
// order: the name, as a byte naming one of knownNames or 0 followed by
// its length (uvarint) and bytes; then the value, as a byte naming one of
// knownValues, or sigTag followed by a Stripe-Signature of the usual form
// (one timestamp, one v1 signature) in binary, or 0 followed by its
// length and bytes. Encode chooses a short form only when decoding it
// gives back the exact value, so every map round-trips.
package headercodec

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
)

const version = 1

// knownNames and knownValues are fixed forever once released: a stored
// encoding names them by position. Append only.
var (
	knownNames = []string{
		"Stripe-Signature",
		"User-Agent",
		"Content-Type",
		"Stripe-Webhook-Id",
		"Hookbox-Traceparent",
	}
	knownValues = []string{
		"Stripe/1.0 (+https://stripe.com/docs/webhooks)",
		"application/json; charset=utf-8",
	}
)

// sigTag marks a value stored as "t=<decimal>,v1=<64 lowercase hex>":
// the timestamp as a uvarint, then the 32 signature bytes.
const sigTag = 0xff

// ErrCorrupt is returned by Decode for bytes Encode did not produce.
var ErrCorrupt = errors.New("headercodec: corrupt encoding")

// Encode returns the compact form of h; nil when h is empty. It runs for
// every stored event, so its only allocation is the result.
func Encode(h map[string]string) []byte {
	if len(h) == 0 {
		return nil
	}
	var stack [8]string // the usual headers sort without an allocation
	names := stack[:0]
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	b := make([]byte, 1, 96)
	b[0] = version
	for _, k := range names {
		if i := slices.Index(knownNames, k); i >= 0 {
			b = append(b, byte(i+1))
		} else {
			b = appendString(append(b, 0), k)
		}
		v := h[k]
		if i := slices.Index(knownValues, v); i >= 0 {
			b = append(b, byte(i+1))
		} else if sig, ok := appendSig(append(b, sigTag), v); ok {
			b = sig
		} else {
			b = appendString(append(b, 0), v)
		}
	}
	return b
}

// Decode returns the headers of an encoding; an empty map for nil.
func Decode(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return map[string]string{}, nil
	}
	if b[0] != version {
		return nil, ErrCorrupt
	}
	h := make(map[string]string, 4)
	b = b[1:]
	for len(b) > 0 {
		var k, v string
		var ok bool
		switch tag := b[0]; {
		case tag == 0:
			k, b, ok = readString(b[1:])
		case int(tag) <= len(knownNames):
			k, b, ok = knownNames[tag-1], b[1:], true
		}
		if !ok || len(b) == 0 {
			return nil, ErrCorrupt
		}
		switch tag := b[0]; {
		case tag == 0:
			v, b, ok = readString(b[1:])
		case tag == sigTag:
			v, b, ok = unpackSig(b[1:])
		case int(tag) <= len(knownValues):
			v, b, ok = knownValues[tag-1], b[1:], true
		default:
			ok = false
		}
		if !ok {
			return nil, ErrCorrupt
		}
		if _, dup := h[k]; dup {
			return nil, ErrCorrupt
		}
		h[k] = v
	}
	return h, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func readString(b []byte) (string, []byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return "", nil, false
	}
	return string(b[w : w+int(n)]), b[w+int(n):], true
}

// appendSig appends the binary form of a Stripe-Signature value
// "t=<timestamp>,v1=<signature>" to b; false for any other value, or one
// that would not render back byte for byte (a leading zero, upper-case
// hex), and then b is unchanged up to its length.
func appendSig(b []byte, v string) ([]byte, bool) {
	const sigHex = 64
	if len(v) < len("t=0,v1=")+sigHex || v[:2] != "t=" || v[len(v)-sigHex-4:len(v)-sigHex] != ",v1=" {
		return b, false
	}
	ts := v[2 : len(v)-sigHex-4]
	t, err := strconv.ParseUint(ts, 10, 63)
	if err != nil {
		return b, false
	}
	var back [20]byte // what unpackSig renders: no sign, no leading zero
	if string(strconv.AppendUint(back[:0], t, 10)) != ts {
		return b, false
	}
	n := len(b)
	b = binary.AppendUvarint(b, t)
	hexSig := v[len(v)-sigHex:]
	for i := 0; i < sigHex; i += 2 {
		hi, ok1 := lowerHex(hexSig[i])
		lo, ok2 := lowerHex(hexSig[i+1])
		if !ok1 || !ok2 {
			return b[:n], false
		}
		b = append(b, hi<<4|lo)
	}
	return b, true
}

// lowerHex is the value of a lower-case hex digit (what unpackSig
// renders).
func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func unpackSig(b []byte) (string, []byte, bool) {
	t, w := binary.Uvarint(b)
	if w <= 0 || t >= 1<<63 || len(b)-w < 32 {
		return "", nil, false
	}
	s := "t=" + strconv.FormatUint(t, 10) + ",v1=" + hex.EncodeToString(b[w:w+32])
	return s, b[w+32:], true
}
