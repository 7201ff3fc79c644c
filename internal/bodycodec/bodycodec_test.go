package bodycodec_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/hookbox/hookbox/internal/bodycodec"
	"github.com/hookbox/hookbox/stripefixture"
)

// TestRoundTrip ensures every body comes back byte for byte, compressed or
// not, and that a Stripe event is stored compressed and smaller.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 100_000)
	for i := range random {
		random[i] = byte(rng.IntN(256))
	}
	event := stripefixture.New(1).Event("payment_intent.succeeded", false)
	for _, tc := range []struct {
		name string
		body []byte
		want bodycodec.Encoding
	}{
		{"Empty", []byte{}, bodycodec.Raw},
		{"Nil", nil, bodycodec.Raw},
		{"Small", []byte(`{"id":"evt_1"}`), bodycodec.Raw},
		{"Random", random, bodycodec.Raw},
		{"StripeEvent", event, bodycodec.Zstd},
		{"Large", bytes.Repeat(event, 2000), bodycodec.Zstd},
		{"ZstdMagic", append([]byte{0x28, 0xb5, 0x2f, 0xfd}, bytes.Repeat([]byte("x"), 200)...), bodycodec.Zstd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, data := bodycodec.Plain.Encode(tc.body)
			if enc != tc.want {
				t.Fatalf("encoding %d, want %d", enc, tc.want)
			}
			if enc == bodycodec.Zstd && len(data) >= len(tc.body) {
				t.Fatalf("stored %d bytes of a %d-byte body", len(data), len(tc.body))
			}
			got, err := bodycodec.Plain.Decode(enc, data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.body) {
				t.Fatalf("round trip changed the body (%d bytes back, %d in)", len(got), len(tc.body))
			}
		})
	}
}

// TestDecodeErrors ensures damaged or unknown rows fail instead of
// returning wrong bytes.
func TestDecodeErrors(t *testing.T) {
	enc, data := bodycodec.Plain.Encode(stripefixture.New(1).Event("payment_intent.succeeded", false))
	data[len(data)-1] ^= 0xff // the checksum
	if _, err := bodycodec.Plain.Decode(enc, data); err == nil {
		t.Error("a damaged frame decoded")
	}
	if _, err := bodycodec.Plain.Decode(7, []byte("x")); err == nil {
		t.Error("an unknown encoding decoded")
	}
	if got, err := bodycodec.Plain.Decode(bodycodec.Zstd, nil); err != nil || len(got) != 0 || got == nil {
		t.Errorf("an emptied Zstd body: %q, %v; want an empty body", got, err)
	}
}

// FuzzBodyRoundTrip checks that any body comes back byte for byte, with
// the dictionary and without, and that decoding any bytes as Zstd fails or
// returns, never panics.
func FuzzBodyRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte(`{"id":"evt_1","object":"event"}`))
	f.Add(stripefixture.New(1).Event("payment_intent.succeeded", false))
	f.Add(bytes.Repeat([]byte{0}, 1000))
	withDict, err := bodycodec.New(bodycodec.Dict)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, c := range []*bodycodec.Codec{withDict, bodycodec.Plain} {
			enc, data := c.Encode(body)
			got, err := c.Decode(enc, data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("round trip changed %q into %q", body, got)
			}
			_, _ = c.Decode(bodycodec.Zstd, body)
		}
	})
}
