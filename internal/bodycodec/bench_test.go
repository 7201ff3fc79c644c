package bodycodec_test

import (
	"testing"

	"github.com/hookbox/hookbox/internal/bodycodec"
	"github.com/hookbox/hookbox/stripefixture"
)

// Benchmark3KB measures encoding (with the dictionary and without),
// decoding and the object id of a Stripe-shaped event (about 3 KB): the
// work compression adds per event.
func Benchmark3KB(b *testing.B) {
	body := stripefixture.New(1).Event("payment_intent.succeeded", false)
	withDict, err := bodycodec.New(bodycodec.Dict)
	if err != nil {
		b.Fatal(err)
	}
	enc, data := withDict.Encode(body)
	b.Run("EncodePlain", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			bodycodec.Plain.Encode(body)
		}
	})
	b.Run("Encode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			withDict.Encode(body)
		}
	})
	// EncodeCold is Encode with the caches filled by other work first, as
	// in a server where every request runs between two encodings: the
	// match table's and the dictionary's lines are then misses.
	evict := make([]byte, 4<<20)
	b.Run("EncodeCold", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			b.StopTimer()
			for i := 0; i < len(evict); i += 64 {
				evict[i]++
			}
			b.StartTimer()
			withDict.Encode(body)
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := withDict.Decode(enc, data); err != nil {
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
