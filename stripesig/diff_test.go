package stripesig_test

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/hookbox/hookbox/stripesig"
)

// TestSign_MatchesStripeGo ensures Sign and ComputeSignature produce what
// stripe-go's GenerateTestSignedPayload and ComputeSignature produce, and
// that stripe-go accepts every header Sign makes, for each of its secrets.
func TestSign_MatchesStripeGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		payload := randomBytes(rng, rng.IntN(200))
		at := time.Unix(rng.Int64N(4_000_000_000), rng.Int64N(1e9))
		secrets := []string{fmt.Sprintf("whsec_%d", i), randomSecret(rng), randomSecret(rng)}[:1+rng.IntN(3)]

		got := stripesig.Sign(payload, at, secrets...)
		want := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secrets[0], Timestamp: at}).Header
		for _, s := range secrets[1:] {
			want += ",v1=" + hex.EncodeToString(webhook.ComputeSignature(at, payload, s))
		}
		if got != want {
			t.Fatalf("Sign = %q, stripe-go makes %q", got, want)
		}
		for _, s := range secrets {
			if !slices.Equal(stripesig.ComputeSignature(at, payload, s), webhook.ComputeSignature(at, payload, s)) {
				t.Fatalf("ComputeSignature differs from stripe-go's for t=%d", at.Unix())
			}
			if err := webhook.ValidatePayloadIgnoringTolerance(payload, got, s); err != nil {
				t.Fatalf("stripe-go rejects %q: %v", got, err)
			}
		}
	}
}

// Divergences from stripe-go, as documented in doc.go.
const (
	divFuture    = "future t beyond tolerance"
	divDuplicate = "duplicate t"
	divSign      = "sign in t"
)

// TestVerify_DifferentialStripeGo ensures that on thousands of generated
// headers (valid, wrong secret, extra v0, bad hex, duplicate t, future and
// past t, whitespace, missing or broken items) Verify accepts exactly when
// stripe-go's ValidatePayloadWithTolerance accepts with some configured
// secret, except in the documented divergences, which are classified
// explicitly and must each be seen. Both use the real clock, and generated
// timestamps stay at least 10 s away from the edges of the window.
func TestVerify_DifferentialStripeGo(t *testing.T) {
	const n = 5000
	rng := rand.New(rand.NewPCG(42, 7))
	pool := []string{testSecret, "whsec_rolled", "whsec_unrelated"}
	seen := map[string]int{}
	for i := range n {
		secrets := pool[:1+rng.IntN(2)] // the verifier knows the first one or two
		payload := goPayload
		if rng.IntN(3) == 0 {
			payload = randomBytes(rng, rng.IntN(64))
		}
		h := randomHeader(rng, payload, pool)

		v := mustVerifier(t, secrets, stripesig.Options{Tolerance: stripesig.DefaultTolerance})
		idx, err := v.Verify(payload, h)
		ours := err == nil
		theirs := false
		for _, s := range secrets {
			if webhook.ValidatePayloadWithTolerance(payload, h, s, stripesig.DefaultTolerance) == nil {
				theirs = true
			}
		}
		if ours {
			if want := stripesig.ComputeSignature(mustParse(t, h), payload, secrets[idx]); !strings.Contains(strings.ToLower(h), hex.EncodeToString(want)) {
				t.Fatalf("case %d: accepted %q with secret %d, whose signature it does not carry", i, h, idx)
			}
		}
		switch {
		case ours == theirs && ours:
			seen["agree: accept"]++
		case ours == theirs:
			seen["agree: reject ("+stripesig.Reason(err)+")"]++
		case ours:
			t.Fatalf("case %d: we accept what stripe-go rejects: %q", i, h)
		default:
			class := classify(h, err)
			if class == "" {
				t.Fatalf("case %d: unexplained divergence on %q: we say %v, stripe-go accepts", i, h, err)
			}
			seen["diverge: "+class]++
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range seen {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		t.Logf("%5d %s", seen[k], k)
	}
	for _, k := range []string{"agree: accept", "diverge: " + divFuture, "diverge: " + divDuplicate, "diverge: " + divSign} {
		if seen[k] == 0 {
			t.Errorf("no case of %q was generated", k)
		}
	}
	if seen["agree: accept"] < n/10 {
		t.Errorf("only %d accepted cases; the generator is too destructive", seen["agree: accept"])
	}
}

// mustParse returns the timestamp of an accepted header.
func mustParse(tb testing.TB, h string) time.Time {
	tb.Helper()
	p, err := stripesig.ParseHeader(h)
	if err != nil {
		tb.Fatalf("ParseHeader(%q) after Verify accepted it: %v", h, err)
	}
	return time.Unix(p.Timestamp, 0)
}

// classify names the documented divergence explaining why we reject a
// header that stripe-go accepts, or returns "".
func classify(h string, err error) string {
	var ts []string
	for item := range strings.SplitSeq(h, ",") {
		if v, ok := strings.CutPrefix(item, "t="); ok {
			ts = append(ts, v)
		}
	}
	switch {
	case stripesig.Reason(err) == "too_new":
		return divFuture
	case stripesig.Reason(err) == "invalid_header" && len(ts) > 1:
		return divDuplicate
	case stripesig.Reason(err) == "invalid_header" && len(ts) == 1 && strings.HasPrefix(ts[0], "+"):
		return divSign
	}
	return ""
}

// randomHeader builds a Stripe-Signature header around a real signature,
// then damages or decorates it in the ways headers go wrong.
func randomHeader(rng *rand.Rand, payload []byte, pool []string) string {
	offsets := []time.Duration{0, 0, 0, -10 * time.Second, -290 * time.Second, -310 * time.Second, -time.Hour,
		10 * time.Second, 290 * time.Second, 310 * time.Second, time.Hour, -1e9 * time.Second}
	at := time.Now().Add(offsets[rng.IntN(len(offsets))])
	tv := fmt.Sprint(at.Unix())
	items := []string{"t=" + tv}
	for _, s := range pool {
		if rng.IntN(2) == 0 {
			items = append(items, "v1="+sigHex(at, payload, s))
		}
	}
	if rng.IntN(5) == 0 { // a signature of another payload
		items = append(items, "v1="+sigHex(at, append([]byte("x"), payload...), pool[0]))
	}
	for range rng.IntN(4) {
		if len(items) == 0 {
			break
		}
		switch rng.IntN(16) {
		case 0: // a v0 decoy, sometimes carrying the right signature
			items = append(items, "v0="+sigHex(at, payload, pool[rng.IntN(2)]))
		case 1: // undecodable or wrong-length v1
			bad := []string{"bad_signature", "", "abc", strings.Repeat("zz", 32), strings.Repeat("0", 62), strings.Repeat("0", 66)}
			items = append(items, "v1="+bad[rng.IntN(len(bad))])
		case 2: // uppercase hex
			if j := rng.IntN(len(items)); len(items[j]) > 3 {
				items[j] = items[j][:3] + strings.ToUpper(items[j][3:])
			}
		case 3: // duplicate t, same or another value, before or after
			d := "t=" + tv
			if rng.IntN(2) == 0 {
				d = "t=" + fmt.Sprint(at.Unix()-int64(rng.IntN(1000)))
			}
			items = slices.Insert(items, rng.IntN(len(items)+1), d)
		case 4: // drop an item (perhaps t, perhaps every v1)
			j := rng.IntN(len(items))
			items = slices.Delete(items, j, j+1)
		case 5: // whitespace around an item or in a value
			j := rng.IntN(len(items) + 1)
			if j == len(items) {
				items = append(items, "")
			}
			items[j] = []string{" ", "\t"}[rng.IntN(2)] + items[j] + []string{"", " "}[rng.IntN(2)]
		case 6: // an item without '=', or with two
			items = slices.Insert(items, rng.IntN(len(items)+1), []string{"v1", "t", "v1=a=b", "x=1=2", "=", "=x", ""}[rng.IntN(7)])
		case 7: // a sign or leading zeros on t
			items[0] = "t=" + []string{"+", "-", "00", "0x"}[rng.IntN(4)] + tv
		case 8: // reorder
			rng.Shuffle(len(items), func(a, b int) { items[a], items[b] = items[b], items[a] })
		case 9: // unknown scheme carrying a good signature
			items = append(items, "v2="+sigHex(at, payload, pool[0]))
		case 10: // empty or non-numeric t
			items[0] = "t=" + []string{"", "now", tv + ".5", " " + tv}[rng.IntN(4)]
		case 11: // a flipped hex digit in some v1
			j := rng.IntN(len(items))
			if b := []byte(items[j]); len(b) > 4 {
				k := 3 + rng.IntN(len(b)-3)
				b[k] = "0123456789abcdef"[rng.IntN(16)]
				items[j] = string(b)
			}
		}
	}
	h := strings.Join(items, ",")
	switch rng.IntN(40) {
	case 0:
		h = ""
	case 1:
		h = h[:rng.IntN(len(h)+1)]
	case 2:
		h += ","
	}
	return h
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

func randomSecret(rng *rand.Rand) string {
	return "whsec_" + hex.EncodeToString(randomBytes(rng, 1+rng.IntN(32)))
}
