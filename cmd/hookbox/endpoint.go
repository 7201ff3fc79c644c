package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/receiver"
)

// endpointSpec is one webhook endpoint as configured (the default one from
// flags and environment, or one of --config), with its destinations not
// built yet: they take the receiver's clock.
type endpointSpec struct {
	receiver.Endpoint // without Destinations
	dests             []destSpec
	sources           string // where the secrets come from, for config check
}

// destSpec is one HTTP destination as configured.
type destSpec struct {
	name, url, secret string // secret: never logged
	types             deliver.Types
	livemode          deliver.Livemode
	timeout           time.Duration
}

// destination builds the HTTP destination on the clock now (nil:
// time.Now).
func (d destSpec) destination(now func() time.Time) (*deliver.HTTP, error) {
	return deliver.NewHTTP(d.name, d.url, d.secret, deliver.HTTPOptions{Types: d.types, Livemode: d.livemode, Timeout: d.timeout, NowFunc: now})
}

// endpoint returns the receiver's endpoint with its destinations built.
func (e endpointSpec) endpoint(now func() time.Time) (receiver.Endpoint, error) {
	ep := e.Endpoint
	ep.Destinations = nil
	for _, d := range e.dests {
		h, err := d.destination(now)
		if err != nil {
			return ep, fmt.Errorf("endpoint %s: destination %s: %w", e.Name, d.name, err)
		}
		ep.Destinations = append(ep.Destinations, h)
	}
	return ep, nil
}

// readEndpoints configures the endpoints: those of --config, or the single
// default endpoint from the environment (secrets) and --forward-to.
func (c *serveConfig) readEndpoints(getenv func(string) string) error {
	if c.configFile != "" {
		if c.forward.to != "" {
			return errors.New("--config and --forward-to: declare destinations in the config file")
		}
		eps, warnings, err := loadEndpoints(c.configFile, getenv, c.tolerance, c.forward.timeout)
		c.endpoints, c.warnings = eps, warnings
		return err
	}
	secrets, err := readSecrets(getenv, "STRIPE_WEBHOOK_SECRET")
	if err != nil {
		return err
	}
	if len(secrets) == 0 {
		return errors.New("no webhook secret: set STRIPE_WEBHOOK_SECRET (whsec_..., comma-separated to rotate) or STRIPE_WEBHOOK_SECRET_FILE, or declare endpoints in --config; hookbox will not accept unverified webhooks")
	}
	ep := endpointSpec{Endpoint: receiver.Endpoint{Name: receiver.DefaultEndpoint, Secrets: secrets, Tolerance: c.tolerance, Livemode: deliver.LivemodeAny}}
	if c.forward.to != "" {
		fs, err := readSecrets(getenv, "HOOKBOX_FORWARD_SECRET")
		if err != nil {
			return err
		}
		if len(fs) != 1 {
			return errors.New("--forward-to needs exactly one HOOKBOX_FORWARD_SECRET (or HOOKBOX_FORWARD_SECRET_FILE): the secret your app verifies hookbox's signature with")
		}
		d := destSpec{name: "forward", url: c.forward.to, secret: fs[0], types: c.forward.types, livemode: c.forward.livemode, timeout: c.forward.timeout}
		if _, err := d.destination(nil); err != nil {
			return fmt.Errorf("--forward-to: %w", err)
		}
		if receiver.WeakSecret(d.secret) {
			c.warnings = append(c.warnings, fmt.Sprintf("HOOKBOX_FORWARD_SECRET has fewer than %d characters of key material (Stripe's secrets have %d): use e.g. whsec_$(openssl rand -hex 24)", receiver.MinSecretMaterial, receiver.MinSecretMaterial))
		}
		ep.dests = append(ep.dests, d)
	}
	c.endpoints = []endpointSpec{ep}
	return nil
}
