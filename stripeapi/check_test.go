package stripeapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/stripeapi"
	"github.com/hookbox/hookbox/stripeapi/stripeapitest"
)

const hookURL = "https://hooks.example.com/webhooks/stripe"

func target(dests ...stripeapi.Destination) []stripeapi.Target {
	return []stripeapi.Target{{Endpoint: "stripe", URL: hookURL, Destinations: dests}}
}

func endpoint(status, version string, events ...string) stripeapi.Endpoint {
	return stripeapi.Endpoint{ID: "we_1", URL: hookURL, Status: status, APIVersion: version, EnabledEvents: events}
}

// findings renders a report as "severity aspect" lines, for comparison.
func findings(r stripeapi.Report) string {
	var s []string
	for _, f := range r.Findings {
		s = append(s, string(f.Severity)+" "+f.Aspect)
	}
	return strings.Join(s, "; ")
}

// Ensures each aspect of Check: a missing endpoint, status, event
// coverage (exact, prefix, *), pinned version against the destinations'
// versions, and Enabled per endpoint.
func TestCheck(t *testing.T) {
	app := stripeapi.Destination{Name: "app", Events: []string{"invoice.paid"}, APIVersion: "dahlia"}
	tests := []struct {
		name     string
		targets  []stripeapi.Target
		eps      []stripeapi.Endpoint
		want     string
		problems int
		enabled  bool
	}{
		{"all good", target(app), []stripeapi.Endpoint{endpoint("enabled", "2026-07-29.dahlia", "invoice.paid")},
			"ok url; ok status; ok events; ok api_version", 0, true},
		{"missing", target(app), []stripeapi.Endpoint{{ID: "we_2", URL: "https://other.example.com/x", Status: "enabled"}},
			"problem url", 1, false},
		{"disabled", target(app), []stripeapi.Endpoint{endpoint("disabled", "2026-07-29.dahlia", "*")},
			"ok url; problem status; ok events; ok api_version", 1, false},
		{"event not sent", target(app), []stripeapi.Endpoint{endpoint("enabled", "2026-07-29.dahlia", "charge.failed")},
			"ok url; ok status; problem events; ok api_version", 1, true},
		{"prefix partly", target(stripeapi.Destination{Name: "a", Events: []string{"invoice.*"}}), []stripeapi.Endpoint{endpoint("enabled", "2026-07-29.dahlia", "invoice.paid")},
			"ok url; ok status; warning events; ok api_version", 0, true},
		{"prefix none", target(stripeapi.Destination{Name: "a", Events: []string{"invoice.*"}}), []stripeapi.Endpoint{endpoint("enabled", "2026-07-29.dahlia", "invoiceitem.created")},
			"ok url; ok status; problem events; ok api_version", 1, true},
		{"other train", target(app), []stripeapi.Endpoint{endpoint("enabled", "2026-03-25.clover", "*")},
			"ok url; ok status; ok events; problem api_version", 1, true},
		{"not pinned, version stated", target(app), []stripeapi.Endpoint{endpoint("enabled", "", "*")},
			"ok url; ok status; ok events; problem api_version", 1, true},
		{"not pinned, nothing stated", target(stripeapi.Destination{Name: "a"}), []stripeapi.Endpoint{endpoint("enabled", "", "*")},
			"ok url; ok status; ok events; warning api_version", 0, true},
		{"upgrade: two endpoints, one on the old train", target(app), []stripeapi.Endpoint{
			endpoint("enabled", "2026-07-29.dahlia", "*"),
			{ID: "we_old", URL: hookURL + "/", Status: "enabled", APIVersion: "2026-03-25.clover", EnabledEvents: []string{"*"}}},
			"ok url; ok status; ok events; ok api_version; ok url; ok status; ok events; problem api_version", 1, true},
		{"stray on our host", target(), []stripeapi.Endpoint{endpoint("enabled", "2026-07-29.dahlia", "*"),
			{ID: "we_stray", URL: "https://HOOKS.example.com:443/webhooks/old", Status: "enabled"}},
			"ok url; ok status; ok events; ok api_version; warning url", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := stripeapi.Check(tt.targets, tt.eps)
			if got := findings(r); got != tt.want {
				t.Errorf("findings:\n got %s\nwant %s", got, tt.want)
			}
			if r.Problems() != tt.problems || r.Enabled["stripe"] != tt.enabled {
				t.Errorf("problems %d enabled %v, want %d %v: %+v", r.Problems(), r.Enabled["stripe"], tt.problems, tt.enabled, r.Findings)
			}
		})
	}
}

// Ensures APIVersion.Compatible decides as stripe-go's ConstructEvent,
// which rejects an event of another release train: for stripe-go's own
// pinned version, each event version is compatible exactly when
// ConstructEvent accepts the event.
func TestCompatible_AsStripeGo(t *testing.T) {
	sdk := hookbox.APIVersion(stripe.APIVersion)
	train := sdk.Train()
	for _, ev := range []string{stripe.APIVersion, "2099-01-01." + train, "2024-09-30.acacia", "2025-03-31.basil", "2022-11-15"} {
		payload := fmt.Appendf(nil, `{"id":"evt_1","object":"event","api_version":%q}`, ev)
		sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: "whsec_test_secret", Timestamp: time.Now()})
		_, err := webhook.ConstructEvent(payload, sp.Header, "whsec_test_secret")
		for _, v := range []hookbox.APIVersion{sdk, hookbox.APIVersion(train)} {
			if got := v.Compatible(ev); got != (err == nil) {
				t.Errorf("%s.Compatible(%s) = %v, but ConstructEvent: %v", v, ev, got, err)
			}
		}
	}
}

// Ensures the Monitor reports each check, Enabled following Stripe's
// status, and keeps reporting through a failing API.
func TestMonitor_RunOnce(t *testing.T) {
	t.Parallel()
	f := stripeapitest.New(t, "sk_test_m")
	id := f.Add(stripeapitest.Endpoint{URL: hookURL, EnabledEvents: []string{"*"}})
	var got []bool
	m := &stripeapi.Monitor{Client: mustClient(t, f.URL, "sk_test_m"), Targets: target(), Every: time.Hour,
		OnCheck: func(r stripeapi.Report, err error) { got = append(got, err == nil && r.Enabled["stripe"]) }}
	ctx := context.Background()
	m.RunOnce(ctx)
	f.SetStatus(id, "disabled")
	m.RunOnce(ctx)
	f.FailWith(500)
	if _, err := m.RunOnce(ctx); err == nil {
		t.Error("a failing API: no error")
	}
	if fmt.Sprint(got) != "[true false false]" {
		t.Errorf("reports %v, want [true false false]", got)
	}
}
