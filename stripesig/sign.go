package stripesig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// ComputeSignature returns HMAC-SHA256(key = secret, message = "<t>.<payload>"),
// the raw bytes of a v1 signature.
func ComputeSignature(t time.Time, payload []byte, secret string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	var ts [20]byte
	mac.Write(strconv.AppendInt(ts[:0], t.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(payload)
	return mac.Sum(nil)
}

// Sign returns a Stripe-Signature header value for payload signed at t with
// every given secret, one v1 per secret, as Stripe does while a secret is
// being rolled: "t=<unix>,v1=<hex>[,v1=<hex>...]". With no secret the
// header has no v1. A t before 1970 gives a negative t, which ParseHeader
// and Verify reject, as Stripe never sends one.
func Sign(payload []byte, t time.Time, secrets ...string) string {
	b := make([]byte, 0, 2+20+len(secrets)*(4+64))
	b = append(b, "t="...)
	b = strconv.AppendInt(b, t.Unix(), 10)
	for _, s := range secrets {
		b = append(b, ",v1="...)
		b = hex.AppendEncode(b, ComputeSignature(t, payload, s))
	}
	return string(b)
}
