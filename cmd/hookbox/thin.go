package main

import (
	"fmt"
	"time"

	"github.com/hookbox/hookbox/receiver"
)

// The deliver values of a thin endpoint's destination in --config.
const (
	deliverNotification = "notification" // the notification as received (the default)
	deliverEvent        = "event"        // the full event, fetched from Stripe
)

// checkDeliver checks a destination's deliver key against its endpoint's
// payload.
func checkDeliver(v string, p receiver.Payload) error {
	switch v {
	case "", deliverNotification:
		return nil
	case deliverEvent:
		if p != receiver.PayloadThin {
			return fmt.Errorf("deliver: event needs an endpoint with payload: thin (a snapshot event is already the full event)")
		}
		return nil
	}
	return fmt.Errorf("deliver %q: want notification or event", v)
}

// checkDedupe checks an endpoint's dedupe_snapshot keys against its
// payload.
func checkDedupe(on bool, wait time.Duration, p receiver.Payload) error {
	switch {
	case (on || wait != 0) && p != receiver.PayloadThin:
		return fmt.Errorf("dedupe_snapshot: needs payload: thin (it skips the thin twins of snapshot events)")
	case wait < 0:
		return fmt.Errorf("dedupe_snapshot_wait: must not be negative")
	case wait != 0 && !on:
		return fmt.Errorf("dedupe_snapshot_wait: set dedupe_snapshot: true too")
	}
	return nil
}

// thinFlags registers --payload, the default endpoint's payload family.
func (c *serveConfig) thinFlags(ef *envFlags) func() error {
	payload := ef.str("payload", "HOOKBOX_PAYLOAD", "snapshot", "what Stripe sends to the default endpoint: snapshot (webhook endpoints) or thin (event destinations with thin payloads; their full events are fetched with STRIPE_API_KEY)")
	return func() (err error) {
		if c.payload, err = receiver.ParsePayload(*payload); err != nil {
			return fmt.Errorf("--payload %q: want snapshot or thin", *payload)
		}
		return nil
	}
}

// thinOptions turns on the fetching of thin events' full form when an
// endpoint is thin and an API key is set (STRIPE_API_KEY or _FILE); nil
// otherwise. Without a key, thin notifications are stored and delivered,
// and a destination with deliver: event is refused by the receiver. A key
// that is set but unusable is an error.
func thinOptions(getenv func(string) string, apiBase string, eps []endpointSpec) (*receiver.ThinOptions, error) {
	thin := false
	for _, ep := range eps {
		thin = thin || ep.Payload == receiver.PayloadThin
	}
	if !thin || firstSet(getenv, "STRIPE_API_KEY", "STRIPE_API_KEY_FILE") == "" {
		return nil, nil
	}
	key, err := readAPIKey(getenv)
	if err != nil {
		return nil, fmt.Errorf("thin endpoints: %w", err)
	}
	return &receiver.ThinOptions{Key: key, APIBase: apiBase}, nil
}
