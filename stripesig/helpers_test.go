package stripesig_test

import (
	"encoding/hex"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/hookbox/hookbox/stripesig"
)

// testSecret is the secret of the upstream stripe-go and stripe-python tests.
const testSecret = "whsec_test_secret"

// goPayload is stripe-go's test payload (its api_version pinned to the
// version stripe-go v85 expects; the value does not matter to signatures).
var goPayload = []byte(`{
  "id": "evt_test_webhook",
  "object": "event",
  "api_version": "2026-03-25.dahlia"
}`)

// pythonPayload is stripe-python's DUMMY_WEBHOOK_PAYLOAD.
var pythonPayload = []byte(`{
  "id": "evt_test_webhook",
  "object": "event",
  "data": { "object": { "id": "rdr_123", "object": "terminal.reader" } }
}`)

// fixedNow is the clock of the tests that do not need the real one.
var fixedNow = time.Unix(1700000000, 0)

// clock returns a NowFunc always answering t.
func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

// mustVerifier returns a verifier or fails the test.
func mustVerifier(tb testing.TB, secrets []string, opts stripesig.Options) *stripesig.Verifier {
	tb.Helper()
	v, err := stripesig.NewVerifier(secrets, opts)
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// sigHex is the lowercase hex v1 signature of payload at t with secret.
func sigHex(t time.Time, payload []byte, secret string) string {
	return hex.EncodeToString(stripesig.ComputeSignature(t, payload, secret))
}

// header builds "t=<t>,<scheme>=<sig>" like the upstream generateHeader
// helpers, so that a test can choose the scheme and signature.
func header(t time.Time, scheme, sig string) string {
	return "t=" + strconv.FormatInt(t.Unix(), 10) + "," + scheme + "=" + sig
}

// wantOK fails the test unless Verify accepted with secret index want.
func wantOK(tb testing.TB, v *stripesig.Verifier, payload []byte, h string, want int) {
	tb.Helper()
	got, err := v.Verify(payload, h)
	if err != nil || got != want {
		tb.Fatalf("Verify = (%d, %v), want (%d, nil)", got, err, want)
	}
}

// wantErr fails the test unless Verify rejected with an error matching target.
func wantErr(tb testing.TB, v *stripesig.Verifier, payload []byte, h string, target error) {
	tb.Helper()
	got, err := v.Verify(payload, h)
	if !errors.Is(err, target) || got != -1 {
		tb.Fatalf("Verify = (%d, %v), want (-1, %v)", got, err, target)
	}
}
