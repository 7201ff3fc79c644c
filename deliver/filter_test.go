package deliver_test

import (
	"strings"
	"testing"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// TestParseTypes ensures exact types, "prefix.*" and "*" match as the
// Stripe CLI spells them, and that a prefix matches only below its dot.
func TestParseTypes(t *testing.T) {
	tests := []struct {
		filter string
		match  []string
		miss   []string
		canon  string
	}{
		{"*", []string{"invoice.paid", "x"}, nil, "*"},
		{"", []string{"invoice.paid"}, nil, "*"},
		{"payment_intent.succeeded", []string{"payment_intent.succeeded"},
			[]string{"payment_intent.succeeded.x", "payment_intent", "payment_intent.failed"}, "payment_intent.succeeded"},
		{"payment_intent.succeeded, invoice.*", []string{"payment_intent.succeeded", "invoice.paid", "invoice.payment_failed"},
			[]string{"invoice", "invoiceitem.created", "payment_intent.created"}, "payment_intent.succeeded,invoice.*"},
		{"customer.subscription.*", []string{"customer.subscription.updated"}, []string{"customer.created", "customer.subscription"}, "customer.subscription.*"},
		{"invoice.*,invoice.*,invoice.paid", []string{"invoice.paid"}, []string{"charge.succeeded"}, "invoice.*,invoice.paid"},
		{"invoice.paid,*", []string{"charge.succeeded"}, nil, "invoice.paid,*"},
		{"v1.billing.meter.error_report_triggered", []string{"v1.billing.meter.error_report_triggered"}, nil, "v1.billing.meter.error_report_triggered"},
	}
	for _, tt := range tests {
		f, err := deliver.ParseTypes(tt.filter)
		if err != nil {
			t.Errorf("ParseTypes(%q): %v", tt.filter, err)
			continue
		}
		for _, typ := range tt.match {
			if !f.Match(typ) {
				t.Errorf("ParseTypes(%q).Match(%q) = false, want true", tt.filter, typ)
			}
		}
		for _, typ := range tt.miss {
			if f.Match(typ) {
				t.Errorf("ParseTypes(%q).Match(%q) = true, want false", tt.filter, typ)
			}
		}
		if got := f.String(); got != tt.canon {
			t.Errorf("ParseTypes(%q).String() = %q, want %q", tt.filter, got, tt.canon)
		}
	}
	var zero deliver.Types
	if !zero.Match("anything.at_all") || zero.String() != "*" {
		t.Errorf("zero Types: want to match every type as \"*\"")
	}
}

// TestParseTypes_Err ensures malformed filters are refused with an EINVALID
// error that names the offending pattern.
func TestParseTypes_Err(t *testing.T) {
	for _, filter := range []string{
		"invoice.paid,",
		",invoice.paid",
		"invoice*",
		"*.succeeded",
		"invoice.*.paid",
		"**",
		"invoice.",
		".paid",
		"invoice..paid",
		"Invoice.paid",
		"invoice. paid",
		"invoice.\x00",
		" , ",
	} {
		_, err := deliver.ParseTypes(filter)
		if err == nil {
			t.Errorf("ParseTypes(%q): no error", filter)
			continue
		}
		if hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Errorf("ParseTypes(%q): code %q, want %q", filter, hookbox.ErrorCode(err), hookbox.EINVALID)
		}
		if !strings.Contains(err.Error(), "pattern") {
			t.Errorf("ParseTypes(%q): error %q does not say which pattern", filter, err)
		}
	}
}

// TestParseLivemode ensures the livemode filter parses any/live/test and
// matches accordingly, and that the zero value accepts both modes.
func TestParseLivemode(t *testing.T) {
	tests := []struct {
		in         string
		live, test bool
	}{
		{"", true, true},
		{"any", true, true},
		{"live", true, false},
		{" LIVE ", true, false},
		{"test", false, true},
	}
	for _, tt := range tests {
		l, err := deliver.ParseLivemode(tt.in)
		if err != nil {
			t.Errorf("ParseLivemode(%q): %v", tt.in, err)
			continue
		}
		if l.Match(true) != tt.live || l.Match(false) != tt.test {
			t.Errorf("ParseLivemode(%q) = %q: live %t test %t, want %t %t", tt.in, l, l.Match(true), l.Match(false), tt.live, tt.test)
		}
	}
	if _, err := deliver.ParseLivemode("production"); hookbox.ErrorCode(err) != hookbox.EINVALID {
		t.Errorf("ParseLivemode(production): err %v, want EINVALID", err)
	}
	var zero deliver.Livemode
	if !zero.Match(true) || !zero.Match(false) {
		t.Errorf("zero Livemode: want both modes")
	}
}
