package stripesig_test

// Ports of the official libraries' webhook signature tests, named after the
// originals: stripe-go webhook/client_test.go (TestStripeGo_*) and
// stripe-python tests/test_webhook.py (TestStripePython_*, the snake_case
// name in CamelCase). Tests about JSON parsing, API versions and thin
// events are not applicable to a verifier that never parses the body;
// where such a test checks a signature too, the signature part is ported.

import (
	"testing"
	"time"

	"github.com/hookbox/hookbox/stripesig"
)

// TestStripeGo_TokenNew ensures every step of stripe-go's TestTokenNew
// gives the same outcome here.
func TestStripeGo_TokenNew(t *testing.T) {
	now := time.Now()
	v := mustVerifier(t, []string{testSecret}, stripesig.Options{})
	valid := header(now, "v1", sigHex(now, goPayload, testSecret))

	// A header signed now with the secret verifies.
	t.Run("ValidHeader", func(t *testing.T) {
		wantOK(t, v, goPayload, valid, 0)
	})
	// Upstream: a signed body with "[" appended fails to parse as JSON.
	// Here the body is never parsed: its signature verifies, and JSON
	// checking is the caller's.
	t.Run("InvalidJSONIsTheCallersConcern", func(t *testing.T) {
		body := append(append([]byte{}, goPayload...), '[')
		wantOK(t, v, body, header(now, "v1", sigHex(now, body, testSecret)), 0)
	})
	// An empty header is ErrNotSigned.
	t.Run("EmptyHeader", func(t *testing.T) {
		wantErr(t, v, goPayload, "", stripesig.ErrNotSigned)
	})
	// An item without '=' is ErrInvalidHeader.
	t.Run("ItemWithoutEquals", func(t *testing.T) {
		wantErr(t, v, goPayload, "v1,t=1", stripesig.ErrInvalidHeader)
	})
	// An empty t is ErrInvalidHeader.
	t.Run("EmptyTimestamp", func(t *testing.T) {
		wantErr(t, v, goPayload, "t=", stripesig.ErrInvalidHeader)
	})
	// An unreadable extra v1 is ignored when another v1 matches.
	t.Run("UnreadableExtraSignature", func(t *testing.T) {
		wantOK(t, v, goPayload, valid+",v1=bad_signature", 0)
	})
	// A correct signature under the v0 scheme does not count.
	t.Run("SchemeV0", func(t *testing.T) {
		wantErr(t, v, goPayload, header(now, "v0", sigHex(now, goPayload, testSecret)), stripesig.ErrNoValidSignature)
	})
	// A fake signature (upstream: the bytes "deadbeef", hex-encoded) is
	// ErrNoValidSignature, and so is a wrong one of the right length.
	t.Run("FakeSignature", func(t *testing.T) {
		wantErr(t, v, goPayload, header(now, "v1", "6465616462656566"), stripesig.ErrNoValidSignature)
		wantErr(t, v, goPayload, header(now, "v1", sigHex(now, goPayload, "whsec_other")), stripesig.ErrNoValidSignature)
	})
	// A header carrying the signatures of the old and the rolled secret
	// verifies with either secret alone, and with both.
	t.Run("RolledSecret", func(t *testing.T) {
		rolled := testSecret + "_rolled_key"
		if sigHex(now, goPayload, testSecret) == sigHex(now, goPayload, rolled) {
			t.Fatal("two secrets gave the same signature")
		}
		h := valid + ",v1=" + sigHex(now, goPayload, rolled)
		wantOK(t, v, goPayload, h, 0)
		wantOK(t, mustVerifier(t, []string{rolled}, stripesig.Options{}), goPayload, h, 0)
		wantOK(t, mustVerifier(t, []string{rolled, testSecret}, stripesig.Options{}), goPayload, h, 0)
	})
	// A signature 15 s old is too old for a 10 s tolerance, fine for 20 s.
	t.Run("Tolerance", func(t *testing.T) {
		then := now.Add(-15 * time.Second)
		h := header(then, "v1", sigHex(then, goPayload, testSecret))
		wantErr(t, mustVerifier(t, []string{testSecret}, stripesig.Options{Tolerance: 10 * time.Second}), goPayload, h, stripesig.ErrTooOld)
		wantOK(t, mustVerifier(t, []string{testSecret}, stripesig.Options{Tolerance: 20 * time.Second}), goPayload, h, 0)
	})
	// t=12345 verifies when the tolerance is ignored.
	t.Run("IgnoringTolerance", func(t *testing.T) {
		then := time.Unix(12345, 0)
		h := header(then, "v1", sigHex(then, goPayload, testSecret))
		wantOK(t, mustVerifier(t, []string{testSecret}, stripesig.Options{IgnoreTolerance: true}), goPayload, h, 0)
	})
}

// TestStripeGo_ConstructEventWithOptions_UsesDefaultToleranceWhenNoneProvided
// ensures a zero tolerance means 300 s: 1 s inside it verifies, 1 ms beyond
// it is ErrTooOld. The clock is injected, with a fraction of a second, so
// the test is not flaky and exercises the truncation of t to seconds.
func TestStripeGo_ConstructEventWithOptions_UsesDefaultToleranceWhenNoneProvided(t *testing.T) {
	now := time.Unix(1700000000, 500_000_000)
	v := mustVerifier(t, []string{testSecret}, stripesig.Options{NowFunc: clock(now)})

	inside := now.Add(-stripesig.DefaultTolerance).Add(time.Second)
	wantOK(t, v, goPayload, header(inside, "v1", sigHex(inside, goPayload, testSecret)), 0)

	beyond := now.Add(-stripesig.DefaultTolerance).Add(-time.Millisecond)
	wantErr(t, v, goPayload, header(beyond, "v1", sigHex(beyond, goPayload, testSecret)), stripesig.ErrTooOld)
}

// pyVerifier is stripe-python's verify_header(..., tolerance) with the
// real clock; tolerance 0 stands for Python's None (no check).
func pyVerifier(t *testing.T, tolerance time.Duration) *stripesig.Verifier {
	return mustVerifier(t, []string{testSecret}, stripesig.Options{Tolerance: tolerance, IgnoreTolerance: tolerance == 0})
}

// pyHeader is stripe-python's generate_header with its defaults (now, v1,
// the dummy payload and secret).
func pyHeader() string {
	now := time.Now()
	return header(now, "v1", sigHex(now, pythonPayload, testSecret))
}

// TestStripePython_ConstructEvent ensures a header made like Stripe's
// verifies with the default tolerance.
func TestStripePython_ConstructEvent(t *testing.T) {
	wantOK(t, mustVerifier(t, []string{testSecret}, stripesig.Options{}), pythonPayload, pyHeader(), 0)
}

// TestStripePython_RaiseOnJSONError ensures, where upstream expects a JSON
// error, that a signed body that is not JSON verifies: checking the JSON
// is the caller's, after verification.
func TestStripePython_RaiseOnJSONError(t *testing.T) {
	body := []byte("this is not valid JSON")
	now := time.Now()
	wantOK(t, mustVerifier(t, []string{testSecret}, stripesig.Options{}), body, header(now, "v1", sigHex(now, body, testSecret)), 0)
}

// TestStripePython_RaiseOnInvalidHeader ensures "bad_header" is rejected
// as malformed.
func TestStripePython_RaiseOnInvalidHeader(t *testing.T) {
	wantErr(t, mustVerifier(t, []string{testSecret}, stripesig.Options{}), pythonPayload, "bad_header", stripesig.ErrInvalidHeader)
}

// TestStripePython_ConstructEventFromBytes ensures the payload is taken as
// bytes, whatever slice holds them (upstream: str, bytes and bytearray).
func TestStripePython_ConstructEventFromBytes(t *testing.T) {
	v := mustVerifier(t, []string{testSecret}, stripesig.Options{})
	h := pyHeader()
	copied := make([]byte, len(pythonPayload), len(pythonPayload)+100)
	copy(copied, pythonPayload)
	wantOK(t, v, []byte(string(pythonPayload)), h, 0)
	wantOK(t, v, copied, h, 0)
}

// TestStripePython_RaiseOnMalformedHeader ensures a header that is not a
// signature header at all is rejected as malformed.
func TestStripePython_RaiseOnMalformedHeader(t *testing.T) {
	wantErr(t, pyVerifier(t, 0), pythonPayload, "i'm not even a real signature header", stripesig.ErrInvalidHeader)
}

// TestStripePython_RaiseOnNoSignaturesWithExpectedScheme ensures a header
// with only a v0 signature is rejected.
func TestStripePython_RaiseOnNoSignaturesWithExpectedScheme(t *testing.T) {
	now := time.Now()
	wantErr(t, pyVerifier(t, 0), pythonPayload, header(now, "v0", sigHex(now, pythonPayload, testSecret)), stripesig.ErrNoValidSignature)
}

// TestStripePython_RaiseOnNoValidSignaturesForPayload ensures a v1 that
// does not match is rejected.
func TestStripePython_RaiseOnNoValidSignaturesForPayload(t *testing.T) {
	wantErr(t, pyVerifier(t, 0), pythonPayload, header(time.Now(), "v1", "bad_signature"), stripesig.ErrNoValidSignature)
}

// TestStripePython_RaiseOnTimestampOutsideTolerance ensures a genuine
// signature 15 s old is too old for a 10 s tolerance.
func TestStripePython_RaiseOnTimestampOutsideTolerance(t *testing.T) {
	then := time.Now().Add(-15 * time.Second)
	wantErr(t, pyVerifier(t, 10*time.Second), pythonPayload, header(then, "v1", sigHex(then, pythonPayload, testSecret)), stripesig.ErrTooOld)
}

// TestStripePython_ValidHeaderAndSignature ensures a fresh genuine
// signature verifies with a 10 s tolerance.
func TestStripePython_ValidHeaderAndSignature(t *testing.T) {
	wantOK(t, pyVerifier(t, 10*time.Second), pythonPayload, pyHeader(), 0)
}

// TestStripePython_HeaderContainsValidSignature ensures an extra bad v1
// does not spoil a good one.
func TestStripePython_HeaderContainsValidSignature(t *testing.T) {
	wantOK(t, pyVerifier(t, 10*time.Second), pythonPayload, pyHeader()+",v1=bad_signature", 0)
}

// TestStripePython_TimestampOffButNoTolerance ensures t=12345 verifies when
// the timestamp check is disabled (upstream: tolerance None).
func TestStripePython_TimestampOffButNoTolerance(t *testing.T) {
	then := time.Unix(12345, 0)
	wantOK(t, pyVerifier(t, 0), pythonPayload, header(then, "v1", sigHex(then, pythonPayload, testSecret)), 0)
}
