package stripesig_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox/stripesig"
)

// TestVerify_EdgeCases ensures each edge case where the official libraries
// differ (shared/stripe-webhooks.md) gets the outcome the package
// documentation promises. Each case says why it is there.
func TestVerify_EdgeCases(t *testing.T) {
	const (
		old   = "whsec_old"
		new   = "whsec_new"
		other = "whsec_other"
	)
	body := goPayload
	at := func(d time.Duration) time.Time { return fixedNow.Add(d) }
	ts := func(d time.Duration) string { return fmt.Sprint(at(d).Unix()) }
	sig := func(d time.Duration, secret string) string { return sigHex(at(d), body, secret) }
	good := sig(0, testSecret)
	valid := "t=" + ts(0) + ",v1=" + good

	tests := []struct {
		name    string
		why     string
		header  string
		secrets []string      // default {testSecret}
		now     time.Time     // default fixedNow
		tol     time.Duration // default DefaultTolerance
		ignore  bool
		want    error // nil: accepted
		index   int
	}{
		// Timestamp window, both directions.
		{name: "FutureWithinTolerance", why: "a clock a little behind Stripe's is fine",
			header: "t=" + ts(299*time.Second) + ",v1=" + sig(299*time.Second, testSecret)},
		{name: "FutureExactlyTolerance", why: "the window is closed at both ends",
			header: "t=" + ts(300*time.Second) + ",v1=" + sig(300*time.Second, testSecret)},
		{name: "FutureBeyondTolerance", why: "divergence: stripe-go accepts any future t",
			header: "t=" + ts(301*time.Second) + ",v1=" + sig(301*time.Second, testSecret), want: stripesig.ErrTooNew},
		{name: "FutureBeyondToleranceByOneNanosecond", why: "now 1 ns before t - tolerance",
			header: "t=" + ts(300*time.Second) + ",v1=" + sig(300*time.Second, testSecret), now: fixedNow.Add(-time.Nanosecond), want: stripesig.ErrTooNew},
		{name: "FutureMaxInt64", why: "the largest t does not overflow the window arithmetic",
			header: "t=9223372036854775807,v1=" + sigHex(time.Unix(math.MaxInt64, 0), body, testSecret), want: stripesig.ErrTooNew},
		{name: "FutureIgnored", why: "IgnoreTolerance disables the future check too",
			header: "t=" + ts(24*time.Hour) + ",v1=" + sig(24*time.Hour, testSecret), ignore: true},
		{name: "PastExactlyTolerance", why: "exactly the tolerance old is accepted, as in stripe-go",
			header: "t=" + ts(-300*time.Second) + ",v1=" + sig(-300*time.Second, testSecret)},
		{name: "PastBeyondToleranceByOneNanosecond", why: "one nanosecond beyond is too old",
			header: "t=" + ts(-300*time.Second) + ",v1=" + sig(-300*time.Second, testSecret), now: fixedNow.Add(time.Nanosecond), want: stripesig.ErrTooOld},
		{name: "PastZero", why: "t=0 is a valid but ancient timestamp",
			header: "t=0,v1=" + sigHex(time.Unix(0, 0), body, testSecret), want: stripesig.ErrTooOld},
		{name: "CustomTolerance", why: "a tolerance of 1 h admits 59 min in both directions",
			header: "t=" + ts(-59*time.Minute) + ",v1=" + sig(-59*time.Minute, testSecret), tol: time.Hour},
		{name: "ExtremeClockPast", why: "a clock far before t does not overflow",
			header: "t=9223372036854775807,v1=" + sigHex(time.Unix(math.MaxInt64, 0), body, testSecret),
			now:    time.Unix(math.MinInt64/2, 0), want: stripesig.ErrTooNew},
		{name: "ExtremeClockFuture", why: "a clock far after t does not overflow",
			header: "t=0,v1=" + sigHex(time.Unix(0, 0), body, testSecret), now: time.Unix(math.MaxInt64/2, 999), want: stripesig.ErrTooOld},
		{name: "SignatureCheckedFirst", why: "a forged old request is reported as forged, not as old",
			header: "t=" + ts(-time.Hour) + ",v1=" + sig(-time.Hour, other), want: stripesig.ErrNoValidSignature},
		{name: "TimestampIsSigned", why: "a signature is bound to its t",
			header: "t=" + ts(time.Second) + ",v1=" + good, want: stripesig.ErrNoValidSignature},
		{name: "PayloadIsSigned", why: "a signature of another body does not verify",
			header: "t=" + ts(0) + ",v1=" + sigHex(fixedNow, pythonPayload, testSecret), want: stripesig.ErrNoValidSignature},

		// The t item.
		{name: "DuplicateTSame", why: "divergence: a repeated t is rejected even when equal",
			header: valid + ",t=" + ts(0), want: stripesig.ErrInvalidHeader},
		{name: "DuplicateTDifferent", why: "divergence: stripe-go takes the last, Python the first",
			header: "t=" + ts(-time.Hour) + "," + valid, want: stripesig.ErrInvalidHeader},
		{name: "MissingT", why: "no t, no signed message", header: "v1=" + good, want: stripesig.ErrInvalidHeader},
		{name: "LeadingZeros", why: "as stripe-go, the HMAC covers the canonical decimal",
			header: "t=000" + ts(0) + ",v1=" + good},
		{name: "PlusSign", why: "divergence: stripe-go accepts a sign", header: "t=+" + ts(0) + ",v1=" + good, want: stripesig.ErrInvalidHeader},
		{name: "Negative", why: "no sign", header: "t=-1,v1=" + good, want: stripesig.ErrInvalidHeader},
		{name: "NotDecimal", why: "digits only", header: "t=0x10,v1=" + good, want: stripesig.ErrInvalidHeader},
		{name: "TwentyDigits", why: "19 digits at most", header: "t=0" + strings.Repeat("1", 19) + ",v1=" + good, want: stripesig.ErrInvalidHeader},
		{name: "Overflow", why: "beyond int64", header: "t=9223372036854775808,v1=" + good, want: stripesig.ErrInvalidHeader},

		// Item syntax.
		{name: "NoEquals", why: "as stripe-go", header: valid + ",v1", want: stripesig.ErrInvalidHeader},
		{name: "TwoEquals", why: "as stripe-go, even in a v1 we would skip", header: valid + ",v1=ab=cd", want: stripesig.ErrInvalidHeader},
		{name: "TwoEqualsInUnknownItem", why: "the rule is syntactic", header: valid + ",x=1=2", want: stripesig.ErrInvalidHeader},
		{name: "TrailingComma", why: "an empty item has no '='", header: valid + ",", want: stripesig.ErrInvalidHeader},
		{name: "LeadingComma", why: "an empty item has no '='", header: "," + valid, want: stripesig.ErrInvalidHeader},
		{name: "EmptyKey", why: "\"=x\" is well formed with an unknown key", header: valid + ",=x"},
		{name: "UnknownScheme", why: "unknown schemes are ignored", header: valid + ",v2=" + good},

		// Whitespace is never trimmed.
		{name: "SpaceAfterComma", why: "\" v1\" is an unknown key", header: "t=" + ts(0) + ", v1=" + good, want: stripesig.ErrNoValidSignature},
		{name: "SpaceAfterCommaWithGoodV1", why: "the good v1 still counts", header: "t=" + ts(0) + ", v1=x,v1=" + good},
		{name: "SpaceInT", why: "t must be digits only", header: "t= " + ts(0) + ",v1=" + good, want: stripesig.ErrInvalidHeader},
		{name: "SpaceBeforeT", why: "\" t\" is not t", header: " t=" + ts(0) + ",v1=" + good, want: stripesig.ErrInvalidHeader},
		{name: "TrailingSpaceInV1", why: "65 characters are not a v1", header: valid + " ", want: stripesig.ErrNoValidSignature},
		{name: "TabInV1", why: "no trimming of any kind", header: "t=" + ts(0) + ",v1=\t" + good, want: stripesig.ErrNoValidSignature},

		// v1 values.
		{name: "UppercaseHex", why: "as stripe-go, decoded bytes are compared", header: "t=" + ts(0) + ",v1=" + strings.ToUpper(good)},
		{name: "MixedCaseHex", why: "as stripe-go", header: "t=" + ts(0) + ",v1=" + strings.ToUpper(good[:31]) + good[31:]},
		{name: "UndecodableThenGood", why: "undecodable v1 are skipped", header: "t=" + ts(0) + ",v1=" + strings.Repeat("zz", 32) + ",v1=" + good},
		{name: "OnlyUndecodable", why: "nothing usable", header: "t=" + ts(0) + ",v1=" + strings.Repeat("zz", 32), want: stripesig.ErrNoValidSignature},
		{name: "OddLength", why: "skipped", header: "t=" + ts(0) + ",v1=" + good[:63], want: stripesig.ErrNoValidSignature},
		{name: "Truncated", why: "a 31-byte prefix of the HMAC is not accepted", header: "t=" + ts(0) + ",v1=" + good[:62], want: stripesig.ErrNoValidSignature},
		{name: "Extended", why: "33 bytes are not accepted", header: "t=" + ts(0) + ",v1=" + good + "00", want: stripesig.ErrNoValidSignature},
		{name: "EmptyV1", why: "skipped", header: "t=" + ts(0) + ",v1=", want: stripesig.ErrNoValidSignature},
		{name: "V0Only", why: "v0 is a decoy", header: "t=" + ts(0) + ",v0=" + good, want: stripesig.ErrNoValidSignature},
		{name: "V0BesideGood", why: "a decoy does not spoil a good v1", header: valid + ",v0=" + strings.Repeat("0", 64)},

		// Several secrets and several v1 (rolling).
		{name: "RollOldSecret", why: "the old secret still verifies during a roll",
			header: "t=" + ts(0) + ",v1=" + sig(0, old) + ",v1=" + sig(0, new), secrets: []string{old}},
		{name: "RollNewSecret", why: "the new secret verifies during a roll",
			header: "t=" + ts(0) + ",v1=" + sig(0, old) + ",v1=" + sig(0, new), secrets: []string{new}},
		{name: "RollBothFirstIndex", why: "the first matching secret is reported",
			header: "t=" + ts(0) + ",v1=" + sig(0, old) + ",v1=" + sig(0, new), secrets: []string{new, old}},
		{name: "RollSecondIndex", why: "the index of the matching secret is reported",
			header: "t=" + ts(0) + ",v1=" + sig(0, new), secrets: []string{old, new}, index: 1},
		{name: "ThirdOfThree", why: "any secret, any position",
			header: "t=" + ts(0) + ",v1=" + sig(0, other), secrets: []string{old, new, other}, index: 2},
		{name: "NoSecretMatches", why: "several secrets, several v1, no match",
			header: "t=" + ts(0) + ",v1=" + sig(0, old) + ",v1=" + sig(0, new), secrets: []string{other, testSecret}, want: stripesig.ErrNoValidSignature},
		{name: "DuplicateSecret", why: "the first of equal secrets is reported", secrets: []string{testSecret, testSecret}, header: valid},
		{name: "ManySignatures", why: "more v1 than Verify decodes on the stack",
			header: "t=" + ts(0) + strings.Repeat(",v1="+sig(0, other), 6) + ",v1=" + sig(0, new), secrets: []string{old, new}, index: 1},
		{name: "ManySignaturesNoMatch", why: "the spill path rejects too",
			header: "t=" + ts(0) + strings.Repeat(",v1="+sig(0, other), 9), secrets: []string{old, new}, want: stripesig.ErrNoValidSignature},

		// Empty and garbage headers.
		{name: "Empty", why: "no header at all", header: "", want: stripesig.ErrNotSigned},
		{name: "Space", why: "a blank header is malformed, not missing", header: " ", want: stripesig.ErrInvalidHeader},
		{name: "Garbage", why: "not a header", header: "\x00\xff,==", want: stripesig.ErrInvalidHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Log(tc.why)
			if tc.secrets == nil {
				tc.secrets = []string{testSecret}
			}
			if tc.now.IsZero() {
				tc.now = fixedNow
			}
			v := mustVerifier(t, tc.secrets, stripesig.Options{Tolerance: tc.tol, IgnoreTolerance: tc.ignore, NowFunc: clock(tc.now)})
			if tc.want == nil {
				wantOK(t, v, body, tc.header, tc.index)
			} else {
				wantErr(t, v, body, tc.header, tc.want)
			}
		})
	}
}

// TestParseHeader ensures ParseHeader returns the timestamp and the
// usable v1 signatures, decoded and in order, and the documented errors.
func TestParseHeader(t *testing.T) {
	a, b := strings.Repeat("ab", 32), strings.Repeat("CD", 32)
	tests := []struct {
		header string
		t      int64
		sigs   []string // hex, as decoded then re-encoded in lowercase
		err    error
	}{
		{header: "t=1,v1=" + a, t: 1, sigs: []string{a}},
		{header: "v1=" + a + ",t=42,v0=" + b + ",v1=" + b + ",v1=nope", t: 42, sigs: []string{a, strings.ToLower(b)}},
		{header: "t=0009223372036854775", t: 9223372036854775, err: stripesig.ErrNoValidSignature},
		{header: "", err: stripesig.ErrNotSigned},
		{header: "t=1", err: stripesig.ErrNoValidSignature},
		{header: "t=1,t=1,v1=" + a, err: stripesig.ErrInvalidHeader},
		{header: "t=1,v1", err: stripesig.ErrInvalidHeader},
		{header: "t==1,v1=" + a, err: stripesig.ErrInvalidHeader},
		{header: "v1=" + a, err: stripesig.ErrInvalidHeader},
	}
	for _, tc := range tests {
		got, err := stripesig.ParseHeader(tc.header)
		if !errors.Is(err, tc.err) {
			t.Errorf("ParseHeader(%q) error = %v, want %v", tc.header, err, tc.err)
			continue
		}
		if err != nil {
			if got.Timestamp != 0 || got.Signatures != nil {
				t.Errorf("ParseHeader(%q) = %+v with an error, want zero Header", tc.header, got)
			}
			continue
		}
		if got.Timestamp != tc.t || len(got.Signatures) != len(tc.sigs) {
			t.Errorf("ParseHeader(%q) = %+v, want t=%d and %d signatures", tc.header, got, tc.t, len(tc.sigs))
			continue
		}
		for i, s := range got.Signatures {
			if fmt.Sprintf("%x", s) != tc.sigs[i] || cap(s) != 32 {
				t.Errorf("ParseHeader(%q) signature %d = %x (cap %d), want %s", tc.header, i, s, cap(s), tc.sigs[i])
			}
		}
	}
}

// TestNewVerifier ensures options are validated at construction: at least
// one secret, no empty secret, no negative tolerance; zero tolerance means
// the 300 s default, and the secrets slice is copied.
func TestNewVerifier(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secrets []string
		opts    stripesig.Options
	}{
		{"NoSecret", nil, stripesig.Options{}},
		{"EmptySecret", []string{testSecret, ""}, stripesig.Options{}},
		{"NegativeTolerance", []string{testSecret}, stripesig.Options{Tolerance: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := stripesig.NewVerifier(tc.secrets, tc.opts); err == nil || v != nil {
				t.Fatalf("NewVerifier = (%v, %v), want an error", v, err)
			}
		})
	}
	t.Run("ZeroToleranceIsDefault", func(t *testing.T) {
		v := mustVerifier(t, []string{testSecret}, stripesig.Options{NowFunc: clock(fixedNow)})
		for d, want := range map[time.Duration]error{
			-300 * time.Second: nil, -301 * time.Second: stripesig.ErrTooOld,
			300 * time.Second: nil, 301 * time.Second: stripesig.ErrTooNew,
		} {
			at := fixedNow.Add(d)
			if _, err := v.Verify(goPayload, stripesig.Sign(goPayload, at, testSecret)); !errors.Is(err, want) {
				t.Errorf("t = now%+v: err = %v, want %v", d, err, want)
			}
		}
	})
	t.Run("SecretsCopied", func(t *testing.T) {
		secrets := []string{testSecret}
		v := mustVerifier(t, secrets, stripesig.Options{NowFunc: clock(fixedNow)})
		secrets[0] = "whsec_changed"
		wantOK(t, v, goPayload, stripesig.Sign(goPayload, fixedNow, testSecret), 0)
	})
}

// TestReason ensures every sentinel, bare or wrapped, maps to its stable
// name, nil to "" and anything else to "other".
func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		nil:                                      "",
		stripesig.ErrNotSigned:                   "not_signed",
		stripesig.ErrInvalidHeader:               "invalid_header",
		stripesig.ErrNoValidSignature:            "no_valid_signature",
		stripesig.ErrTooOld:                      "too_old",
		fmt.Errorf("x: %w", stripesig.ErrTooNew): "too_new",
		errors.New("boom"):                       "other",
	} {
		if got := stripesig.Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}

// TestVerify_ErrorsCarryNoSecretsOrHeader ensures error messages never
// quote the header, the payload or a secret, whatever the failure.
func TestVerify_ErrorsCarryNoSecretsOrHeader(t *testing.T) {
	const mark = "MARK"
	secret := "whsec_" + mark
	v := mustVerifier(t, []string{secret}, stripesig.Options{NowFunc: clock(fixedNow)})
	body := []byte(`{"id":"` + mark + `"}`)
	sign := func(d time.Duration) string { return stripesig.Sign(body, fixedNow.Add(d), secret) }
	for _, h := range []string{
		mark, "t=" + mark, "t=1,t=" + mark, "t=1," + mark + "=1=2", "t=1,v1=" + mark,
		"t=1,v1=" + strings.Repeat("0", 64) + "," + mark + "=x",
		sign(-time.Hour) + "," + mark + "=x", sign(time.Hour) + "," + mark + "=x",
	} {
		_, err := v.Verify(body, h)
		if err == nil {
			t.Fatalf("Verify(%q) accepted", h)
		}
		if msg := err.Error(); strings.Contains(msg, mark) || strings.Contains(msg, secret) {
			t.Errorf("Verify(%q) error %q quotes its input", h, msg)
		}
	}
}

// TestVerify_Concurrent ensures one Verifier serves many goroutines with
// different secrets and headers at once (run with -race).
func TestVerify_Concurrent(t *testing.T) {
	secrets := []string{"whsec_a", "whsec_b", "whsec_c"}
	v := mustVerifier(t, secrets, stripesig.Options{NowFunc: clock(fixedNow)})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				body := fmt.Appendf(nil, `{"g":%d,"i":%d}`, g, i)
				want := (g + i) % len(secrets)
				h := stripesig.Sign(body, fixedNow, secrets[want])
				if got, err := v.Verify(body, h); err != nil || got != want {
					t.Errorf("Verify = (%d, %v), want (%d, nil)", got, err, want)
					return
				}
				if _, err := v.Verify(body[1:], h); !errors.Is(err, stripesig.ErrNoValidSignature) {
					t.Errorf("Verify of another body = %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestVerify_DoesNotAllocate ensures the hot path (a valid header, one
// secret) allocates nothing once the pool is warm.
func TestVerify_DoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	v := mustVerifier(t, []string{"whsec_a", testSecret}, stripesig.Options{NowFunc: clock(fixedNow)})
	h := stripesig.Sign(goPayload, fixedNow, testSecret, "whsec_other")
	if n := testing.AllocsPerRun(100, func() {
		if _, err := v.Verify(goPayload, h); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Verify allocates %v times per call, want 0", n)
	}
}

// TestVerify_EveryByteOfTheMACCounts ensures a signature that differs from
// the right one in a single byte, whichever byte (first, middle, last: each
// half of the MAC), is refused: a comparison of part of the MAC fails here.
func TestVerify_EveryByteOfTheMACCounts(t *testing.T) {
	const secret = "whsec_mac_halves_0123456789abcdef0123456789"
	v, err := stripesig.NewVerifier([]string{secret}, stripesig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"evt_mac","type":"invoice.paid"}`)
	now := time.Now()
	header := stripesig.Sign(body, now, secret)
	if _, err := v.Verify(body, header); err != nil {
		t.Fatalf("the right signature: %v", err)
	}
	i := strings.Index(header, "v1=") + len("v1=")
	hexSig := header[i:]
	if len(hexSig) != 64 {
		t.Fatalf("signature %q is not 32 bytes of hex", hexSig)
	}
	for _, b := range []int{0, 1, 15, 16, 17, 30, 31} {
		for _, half := range []int{0, 1} { // flip the byte's high or low nibble
			pos := 2*b + half
			flipped := []byte(hexSig)
			flipped[pos] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", flipped[pos])+1)%16]
			bad := header[:i] + string(flipped)
			if _, err := v.Verify(body, bad); !errors.Is(err, stripesig.ErrNoValidSignature) {
				t.Errorf("byte %d (hex %d) flipped: err = %v, want ErrNoValidSignature", b, pos, err)
			}
		}
	}
}
