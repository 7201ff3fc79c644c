package stripesig_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/hookbox/hookbox/stripesig"
)

// body3KB is a 3 KB JSON-ish body, the size of a typical Stripe event.
var body3KB = func() []byte {
	b := []byte(`{"id":"evt_test_webhook","object":"event","data":{"object":{"blob":"`)
	b = append(b, bytes.Repeat([]byte("x"), 3*1024-len(b)-4)...)
	return append(b, `"}}}`...)
}()

// BenchmarkVerify3KB measures Verify of a fresh 3 KB request, one secret.
func BenchmarkVerify3KB(b *testing.B) {
	now := time.Now()
	v := mustVerifier(b, []string{testSecret}, stripesig.Options{NowFunc: clock(now)})
	h := stripesig.Sign(body3KB, now, testSecret)
	b.SetBytes(int64(len(body3KB)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(body3KB, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify3KBRolling measures the roll case: two secrets, two v1,
// the match on the second secret.
func BenchmarkVerify3KBRolling(b *testing.B) {
	now := time.Now()
	v := mustVerifier(b, []string{"whsec_old", testSecret}, stripesig.Options{NowFunc: clock(now)})
	h := stripesig.Sign(body3KB, now, testSecret, "whsec_new")
	b.SetBytes(int64(len(body3KB)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(body3KB, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify3KBParallel measures Verify from every P at once.
func BenchmarkVerify3KBParallel(b *testing.B) {
	now := time.Now()
	v := mustVerifier(b, []string{testSecret}, stripesig.Options{NowFunc: clock(now)})
	h := stripesig.Sign(body3KB, now, testSecret)
	b.SetBytes(int64(len(body3KB)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(body3KB, h); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkStripeGoValidatePayload3KB measures stripe-go's equivalent on
// the same request, for comparison.
func BenchmarkStripeGoValidatePayload3KB(b *testing.B) {
	h := stripesig.Sign(body3KB, time.Now(), testSecret)
	b.SetBytes(int64(len(body3KB)))
	b.ReportAllocs()
	for b.Loop() {
		if err := webhook.ValidatePayloadWithTolerance(body3KB, h, testSecret, webhook.DefaultTolerance); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseHeader measures ParseHeader on a two-signature header.
func BenchmarkParseHeader(b *testing.B) {
	h := stripesig.Sign(body3KB, time.Now(), testSecret, "whsec_new") + ",v0=" + sigHex(time.Now(), body3KB, "x")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stripesig.ParseHeader(h); err != nil {
			b.Fatal(err)
		}
	}
}
