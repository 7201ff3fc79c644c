package deliver_test

import (
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/stripesig"
)

// TestTemplate ensures templates expand each field and refuse unknown
// fields and unbalanced braces.
func TestTemplate(t *testing.T) {
	ev := &hookbox.Event{ID: "evt_1", Type: "invoice.paid", Account: "acct_9", Livemode: true, Endpoint: "connect", Object: "event"}
	platform := &hookbox.Event{ID: "evt_2", Type: "charge.succeeded"}
	for _, tc := range []struct{ tmpl, want, wantPlatform string }{
		{"stripe.{type}", "stripe.invoice.paid", "stripe.charge.succeeded"},
		{"{livemode}.{account}.{type}", "live.acct_9.invoice.paid", "test.none.charge.succeeded"},
		{"hookbox", "hookbox", "hookbox"},
		{"{endpoint}/{object}", "connect/event", "none/"},
	} {
		tm, err := deliver.ParseTemplate(tc.tmpl)
		if err != nil {
			t.Fatalf("%q: %v", tc.tmpl, err)
		}
		if got := tm.Expand(ev); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.tmpl, got, tc.want)
		}
		if got := tm.Expand(platform); got != tc.wantPlatform {
			t.Errorf("%q (platform): %q, want %q", tc.tmpl, got, tc.wantPlatform)
		}
		if tm.String() != tc.tmpl {
			t.Errorf("String %q", tm.String())
		}
	}
	for _, bad := range []string{"", "{nope}", "a{type", "a}b", "{}"} {
		if _, err := deliver.ParseTemplate(bad); hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Errorf("%q: %v, want EINVALID", bad, err)
		}
	}
}

// TestMessageHeaders ensures a broker message carries the event id, type,
// attempt and a Stripe-Signature that verifies over the exact body with
// the destination's secret.
func TestMessageHeaders(t *testing.T) {
	const secret = "whsec_broker_0123456789abcdef0123456789"
	ev := &hookbox.Event{ID: "evt_h", Type: "invoice.paid", Body: []byte(`{"id":"evt_h"}`)}
	h := deliver.MessageHeaders(ev, 3, secret, time.Now())
	if h[deliver.HeaderEventID] != "evt_h" || h[deliver.HeaderEventType] != "invoice.paid" || h[deliver.HeaderAttempt] != "3" || h[deliver.HeaderIdempotencyKey] != "evt_h" {
		t.Fatalf("headers %v", h)
	}
	v, _ := stripesig.NewVerifier([]string{secret}, stripesig.Options{})
	if _, err := v.Verify(ev.Body, h[stripesig.HeaderName]); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if len(deliver.HeaderNames) != len(h) {
		t.Fatalf("HeaderNames %v, headers %v", deliver.HeaderNames, h)
	}
	for _, k := range deliver.HeaderNames {
		if _, ok := h[k]; !ok {
			t.Fatalf("HeaderNames has %q, headers do not", k)
		}
	}
}
