package stripesig_test

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/hookbox/hookbox/stripesig"
)

// fuzzHeaders seed both fuzz targets (the committed corpus under
// testdata/fuzz adds inputs the fuzzer found interesting).
var fuzzHeaders = []string{
	"",
	"t=1700000000,v1=b7e3a3659cb02c1b999a65df96413735c1c1079b1f3d396760debd6efcddcbea",
	"t=1700000000,v1=B7E3A3659CB02C1B999A65DF96413735C1C1079B1F3D396760DEBD6EFCDDCBEA,v0=00",
	"v1,t=1", "t=", "t=1,t=2,v1=" + strings.Repeat("ab", 32), "t=+1,v1=x", " t=1, v1=00",
	"t=9223372036854775807,v1=" + strings.Repeat("0", 64), "t=9223372036854775808", "=,=", ",",
}

// FuzzParseHeader ensures ParseHeader never panics and agrees exactly with
// referenceParse, a deliberately naive transcription of the documented
// rules, on the error reason, the timestamp and every signature.
func FuzzParseHeader(f *testing.F) {
	for _, h := range fuzzHeaders {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got, err := stripesig.ParseHeader(h)
		wantT, wantSigs, wantErr := referenceParse(h)
		if stripesig.Reason(err) != stripesig.Reason(wantErr) {
			t.Fatalf("ParseHeader(%q) error %v, reference %v", h, err, wantErr)
		}
		if err != nil {
			return
		}
		if got.Timestamp != wantT || len(got.Signatures) != len(wantSigs) {
			t.Fatalf("ParseHeader(%q) = %+v, reference t=%d with %d signatures", h, got, wantT, len(wantSigs))
		}
		for i := range wantSigs {
			if !bytes.Equal(got.Signatures[i], wantSigs[i]) {
				t.Fatalf("ParseHeader(%q) signature %d = %x, reference %x", h, i, got.Signatures[i], wantSigs[i])
			}
		}
	})
}

// referenceParse states the parsing rules of doc.go as plainly as possible.
func referenceParse(h string) (int64, [][]byte, error) {
	if h == "" {
		return 0, nil, stripesig.ErrNotSigned
	}
	var (
		t    int64
		seen bool
		sigs [][]byte
	)
	for _, item := range strings.Split(h, ",") {
		kv := strings.Split(item, "=")
		if len(kv) != 2 {
			return 0, nil, stripesig.ErrInvalidHeader
		}
		switch kv[0] {
		case "t":
			if seen || kv[1] == "" || len(kv[1]) > 19 || strings.Trim(kv[1], "0123456789") != "" {
				return 0, nil, stripesig.ErrInvalidHeader
			}
			n, err := strconv.ParseInt(kv[1], 10, 64)
			if err != nil {
				return 0, nil, stripesig.ErrInvalidHeader
			}
			t, seen = n, true
		case "v1":
			if b, err := hex.DecodeString(kv[1]); err == nil && len(b) == 32 {
				sigs = append(sigs, b)
			}
		}
	}
	if !seen {
		return 0, nil, stripesig.ErrInvalidHeader
	}
	if len(sigs) == 0 {
		return 0, nil, stripesig.ErrNoValidSignature
	}
	return t, sigs, nil
}

// FuzzVerify ensures Verify never panics and that: an accepted header
// carries a v1 equal to the HMAC computed from its own t, within the
// tolerance, and stripe-go accepts it too (we are never laxer, tolerance
// aside); a rejection has index -1 and a known reason; and a header made
// by Sign always verifies, with the right secret index.
func FuzzVerify(f *testing.F) {
	for i, h := range fuzzHeaders {
		f.Add(goPayload, h, testSecret, int64(1700000000+i))
	}
	f.Add([]byte("not json"), "t=0,v1=", "k", int64(-1))
	f.Fuzz(func(t *testing.T, payload []byte, h, secret string, now int64) {
		if secret == "" || secret == "whsec_other" {
			t.Skip()
		}
		clk := time.Unix(now, 0)
		v := mustVerifier(t, []string{secret}, stripesig.Options{NowFunc: clock(clk)})
		idx, err := v.Verify(payload, h)
		if err != nil {
			if idx != -1 || stripesig.Reason(err) == "other" {
				t.Fatalf("Verify(%q) = (%d, %v)", h, idx, err)
			}
		} else {
			p, perr := stripesig.ParseHeader(h)
			if idx != 0 || perr != nil {
				t.Fatalf("Verify(%q) accepted with index %d; ParseHeader says %v", h, idx, perr)
			}
			want := stripesig.ComputeSignature(time.Unix(p.Timestamp, 0), payload, secret)
			found := false
			for _, s := range p.Signatures {
				found = found || bytes.Equal(s, want)
			}
			if !found {
				t.Fatalf("Verify(%q) accepted without a matching v1", h)
			}
			if d := time.Unix(p.Timestamp, 0).Sub(clk); d > stripesig.DefaultTolerance || d < -stripesig.DefaultTolerance {
				t.Fatalf("Verify(%q) accepted t %v away from now", h, d)
			}
			if gerr := webhook.ValidatePayloadIgnoringTolerance(payload, h, secret); gerr != nil {
				t.Fatalf("Verify(%q) accepted what stripe-go rejects: %v", h, gerr)
			}
		}

		// Sign's output verifies, for the second secret of a roll too.
		ts := now
		if ts < 0 {
			ts = ^ts // Sign cannot express a t before 1970 that parses
		}
		at := time.Unix(ts, 0)
		signed := stripesig.Sign(payload, at, "whsec_other", secret)
		rolled := mustVerifier(t, []string{secret, "whsec_other"}, stripesig.Options{NowFunc: clock(at)})
		if idx, err := rolled.Verify(payload, signed); idx != 0 || err != nil {
			t.Fatalf("Verify(Sign(...)) = (%d, %v)", idx, err)
		}
	})
}
