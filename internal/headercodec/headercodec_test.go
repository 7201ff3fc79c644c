package headercodec

import (
	"maps"
	"strings"
	"testing"
)

var stripeHeaders = map[string]string{
	"Stripe-Signature": "t=1764220800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
	"User-Agent":       "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
	"Content-Type":     "application/json; charset=utf-8",
}

// Ensures every map comes back exactly, whether its values take a short
// form or not, and that Stripe's usual headers take about a third of their
// JSON.
func TestRoundTrip(t *testing.T) {
	for _, h := range []map[string]string{
		stripeHeaders,
		{"Stripe-Signature": "t=1764220800,v1=5257A869E7ECEBEDA32AFFA62CDCA3FA51CAD7E77A0E56FF536D0CE8E108D8BD"},
		{"Stripe-Signature": "t=01764220800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"},
		{"Stripe-Signature": "t=1764220800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"},
		{"Stripe-Signature": "t=1764220800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8b"},
		{"Stripe-Signature": "t=99999999999999999999,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"},
		{"Stripe-Signature": ""},
		{"Stripe-Signature": "t=0,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"},
		{"Stripe-Signature": "t=+1764220800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"},
		{"Stripe-Signature": "t=1764220800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bg"},
		{"X-Other": "application/json; charset=utf-8", "": "", "User-Agent": "curl/8.0"},
		{"Stripe-Webhook-Id": strings.Repeat("é", 300), "Hookbox-Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	} {
		b := Encode(h)
		got, err := Decode(b)
		if err != nil || !maps.Equal(got, h) {
			t.Errorf("Decode(Encode(%q)) = %q, %v", h, got, err)
		}
	}
	if b := Encode(stripeHeaders); len(b) > 50 {
		t.Errorf("Stripe's headers take %d bytes, want <= 50", len(b))
	}
	if b := Encode(nil); b != nil {
		t.Errorf("Encode(nil) = %x, want nil", b)
	}
	if h, err := Decode(nil); err != nil || h == nil || len(h) != 0 {
		t.Errorf("Decode(nil) = %v, %v; want an empty map", h, err)
	}
}

// Ensures encoding Stripe's usual headers allocates only its result: it
// runs for every stored event, on the writer's path.
func TestEncodeAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count")
	}
	if n := testing.AllocsPerRun(100, func() { Encode(stripeHeaders) }); n > 1 {
		t.Errorf("Encode allocates %.0f times, want 1", n)
	}
}

// Ensures bytes Encode did not produce are refused, never read past.
func TestDecodeCorrupt(t *testing.T) {
	good := Encode(stripeHeaders)
	for _, b := range [][]byte{
		{2},
		{1, 9, 1},
		{1, 1},
		{1, 1, 7},
		{1, 0, 5, 'a'},
		{1, 1, 0, 200, 1},
		{1, 1, sigTag, 1},
		{1, 2, 1, 2, 1},
		good[:len(good)-1],
	} {
		if h, err := Decode(b); err == nil {
			t.Errorf("Decode(%x) = %q, want an error", b, h)
		}
	}
}

// FuzzRoundTrip checks that any headers round-trip, and that any bytes
// Decode accepts encode back to the same headers.
//
//	go test -run '^$' -fuzz FuzzRoundTrip -fuzztime 30s ./internal/headercodec/
func FuzzRoundTrip(f *testing.F) {
	f.Add("Stripe-Signature", stripeHeaders["Stripe-Signature"], "User-Agent", stripeHeaders["User-Agent"], []byte(nil))
	f.Add("X", "t=1,v1=00", "", "", Encode(stripeHeaders))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, raw []byte) {
		h := map[string]string{k1: v1, k2: v2}
		got, err := Decode(Encode(h))
		if err != nil || !maps.Equal(got, h) {
			t.Fatalf("Decode(Encode(%q)) = %q, %v", h, got, err)
		}
		if h, err := Decode(raw); err == nil {
			if got, err := Decode(Encode(h)); err != nil || !maps.Equal(got, h) {
				t.Fatalf("re-encoding %q: %q, %v", h, got, err)
			}
		}
	})
}
