package bodycodec_test

import (
	"testing"

	"github.com/hookbox/hookbox/internal/bodycodec"
	"github.com/hookbox/hookbox/stripefixture"
)

// Benchmark3KB measures encoding, decoding and the object id of a
// Stripe-shaped event (about 3 KB): the work compression adds per event.
func Benchmark3KB(b *testing.B) {
	body := stripefixture.New(1).Event("payment_intent.succeeded", false)
	enc, data := bodycodec.Plain.Encode(body)
	b.Logf("%d bytes -> %d (%.2f)", len(body), len(data), float64(len(data))/float64(len(body)))
	b.Run("Encode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			bodycodec.Plain.Encode(body)
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := bodycodec.Plain.Decode(enc, data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ObjectID", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			bodycodec.ObjectID(body)
		}
	})
}
