package stripeapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	stripe "github.com/stripe/stripe-go/v85"

	"github.com/hookbox/hookbox/reconcile"
	"github.com/hookbox/hookbox/stripeapi"
	"github.com/hookbox/hookbox/stripeapi/stripeapitest"
)

func mustClient(tb testing.TB, base, key string) *stripe.Client {
	tb.Helper()
	c, err := reconcile.NewClient(key, reconcile.ClientConfig{APIBase: base})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Ensures wire compatibility with the webhook endpoints API as stripe-mock
// models it: list, create (pinned version, events and description sent),
// update and delete are accepted and decoded.
func TestStripeMock_Endpoints(t *testing.T) {
	t.Parallel()
	c := mustClient(t, stripeapitest.StartStripeMock(t), "sk_test_123")
	ctx := context.Background()

	eps, err := stripeapi.List(ctx, c)
	if err != nil || len(eps) == 0 || !strings.HasPrefix(eps[0].ID, "we_") || eps[0].Status != stripeapi.StatusEnabled {
		t.Fatalf("List = %+v, %v", eps, err)
	}
	ep, _, err := stripeapi.Create(ctx, c, stripeapi.CreateParams{URL: "https://h.example.com/webhooks/stripe",
		Events: []string{"invoice.paid", "charge.failed"}, APIVersion: "2026-07-29.dahlia", Description: "hookbox"})
	if err != nil {
		t.Fatal(err)
	}
	if ep.APIVersion != "2026-07-29.dahlia" || ep.URL != "https://h.example.com/webhooks/stripe" ||
		strings.Join(ep.EnabledEvents, ",") != "invoice.paid,charge.failed" || ep.Description != "hookbox" {
		t.Errorf("Create = %+v: stripe-mock echoes the parameters; they were not sent as Stripe wants them", ep)
	}
	disabled := true
	if _, err := stripeapi.Update(ctx, c, "we_123", stripeapi.UpdateParams{URL: "https://h.example.com/x", Events: []string{"*"}, Disabled: &disabled}); err != nil {
		t.Errorf("Update: %v", err)
	}
	if err := stripeapi.Delete(ctx, c, "we_123"); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

// Ensures a create returns the secret, and that a refused key is an error
// without the key.
func TestFake_CreateSecretAndAuth(t *testing.T) {
	t.Parallel()
	f := stripeapitest.New(t, "sk_test_good")
	ep, secret, err := stripeapi.Create(context.Background(), mustClient(t, f.URL, "sk_test_good"),
		stripeapi.CreateParams{URL: "https://h/webhooks/a", Events: []string{"*"}, APIVersion: "2026-07-29.dahlia"})
	if err != nil || !strings.HasPrefix(secret, "whsec_") || ep.APIVersion != "2026-07-29.dahlia" {
		t.Fatalf("Create = %+v, %q, %v", ep, secret, err)
	}
	_, err = stripeapi.List(context.Background(), mustClient(t, f.URL, "sk_test_wrongkey"))
	var ae *stripeapi.Error
	if !errors.As(err, &ae) || ae.Status != 401 || strings.Contains(err.Error(), "sk_test_wrongkey") {
		t.Errorf("List with a wrong key: %v", err)
	}
}

// Ensures parameters Stripe would refuse are refused before a request.
func TestCreateParams_Validate(t *testing.T) {
	ok := stripeapi.CreateParams{URL: "https://h/x", Events: []string{"invoice.paid"}, APIVersion: "2026-07-29.dahlia"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]stripeapi.CreateParams{
		"no url":     {Events: ok.Events, APIVersion: ok.APIVersion},
		"no events":  {URL: ok.URL, APIVersion: ok.APIVersion},
		"no version": {URL: ok.URL, Events: ok.Events},
		"train only": {URL: ok.URL, Events: ok.Events, APIVersion: "dahlia"},
		"prefix":     {URL: ok.URL, Events: []string{"invoice.*"}, APIVersion: ok.APIVersion},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
