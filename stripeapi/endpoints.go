// Package stripeapi manages the Stripe side of hookbox's endpoints: the
// webhook endpoints Stripe posts to (GET, POST and DELETE
// /v1/webhook_endpoints), and a check that each hookbox endpoint has an
// enabled Stripe endpoint pointing at it, sending the event types its
// destinations filter on, pinned to an API version they read (Check, and
// Monitor to run it periodically).
//
// It works on a stripe-go client built by reconcile.NewClient, which
// silences stripe-go's logger, turns its retries off and scrubs the key
// from errors. The signing secret Stripe returns when an endpoint is
// created is handed to the caller only: it is never part of an Endpoint,
// an error or a log line.
package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	stripe "github.com/stripe/stripe-go/v85"

	"github.com/hookbox/hookbox"
)

// Statuses of a Stripe webhook endpoint.
const (
	StatusEnabled  = "enabled"
	StatusDisabled = "disabled"
)

// AllEvents is the enabled_events item that subscribes to every type.
const AllEvents = "*"

// maxEndpoints bounds a listing: Stripe allows 16 webhook endpoints per
// account (and mode), so more pages than this means a broken server.
const maxEndpoints = 1000

// Endpoint is a Stripe webhook endpoint, without its secret.
type Endpoint struct {
	ID            string    `json:"id"`
	URL           string    `json:"url"`
	Status        string    `json:"status"`      // StatusEnabled or StatusDisabled
	APIVersion    string    `json:"api_version"` // "": not pinned (the account's default)
	EnabledEvents []string  `json:"enabled_events"`
	Description   string    `json:"description"`
	Livemode      bool      `json:"livemode"`
	Created       time.Time `json:"created"`
}

func fromStripe(w *stripe.WebhookEndpoint) Endpoint {
	e := Endpoint{ID: w.ID, URL: w.URL, Status: w.Status, APIVersion: w.APIVersion,
		EnabledEvents: w.EnabledEvents, Description: w.Description, Livemode: w.Livemode}
	if w.Created != 0 {
		e.Created = time.Unix(w.Created, 0).UTC()
	}
	if e.EnabledEvents == nil {
		e.EnabledEvents = []string{}
	}
	return e
}

// List returns the account's webhook endpoints (of the key's mode).
func List(ctx context.Context, c *stripe.Client) ([]Endpoint, error) {
	params := &stripe.WebhookEndpointListParams{}
	params.Limit = stripe.Int64(100)
	var out []Endpoint
	for w, err := range c.V1WebhookEndpoints.List(ctx, params).All(ctx) {
		if err != nil {
			return nil, apiError("list webhook endpoints", err)
		}
		if len(out) >= maxEndpoints {
			return nil, fmt.Errorf("list webhook endpoints: more than %d: the API keeps answering has_more", maxEndpoints)
		}
		out = append(out, fromStripe(w))
	}
	return out, nil
}

// CreateParams are a new endpoint's settings.
type CreateParams struct {
	URL         string             // required: where Stripe posts
	Events      []string           // required: event types, or AllEvents
	APIVersion  hookbox.APIVersion // required, exact: the version events are rendered in
	Description string
}

// Validate checks the parameters before anything is sent.
func (p CreateParams) Validate() error {
	switch {
	case p.URL == "":
		return errors.New("a URL is required")
	case len(p.Events) == 0:
		return errors.New("event types are required (or * for every type)")
	case p.APIVersion == "":
		return errors.New("an API version is required: events are rendered in it")
	case !p.APIVersion.Exact():
		return fmt.Errorf("api version %q: Stripe pins an exact version (e.g. 2026-07-29.%s), not a release train", p.APIVersion, p.APIVersion)
	}
	return checkEvents(p.Events)
}

// checkEvents refuses patterns Stripe does not take: enabled_events are
// exact types or "*", never a prefix such as invoice.*.
func checkEvents(events []string) error {
	for _, e := range events {
		if e != AllEvents && (e == "" || strings.Contains(e, "*")) {
			return fmt.Errorf("event type %q: Stripe takes exact types or * alone, no prefix patterns", e)
		}
	}
	return nil
}

// Create creates a webhook endpoint pinned to p.APIVersion and returns it
// with its signing secret (whsec_...). Stripe shows the secret only in this
// answer. secret is "" when the API returned none (stripe-mock).
func Create(ctx context.Context, c *stripe.Client, p CreateParams) (ep Endpoint, secret string, err error) {
	if err := p.Validate(); err != nil {
		return Endpoint{}, "", err
	}
	params := &stripe.WebhookEndpointCreateParams{
		URL:           stripe.String(p.URL),
		EnabledEvents: stripe.StringSlice(p.Events),
		APIVersion:    stripe.String(string(p.APIVersion)),
	}
	if p.Description != "" {
		params.Description = stripe.String(p.Description)
	}
	w, err := c.V1WebhookEndpoints.Create(ctx, params)
	if err != nil {
		return Endpoint{}, "", apiError("create webhook endpoint", err)
	}
	return fromStripe(w), w.Secret, nil
}

// UpdateParams change an endpoint; nil and empty fields stay as they are.
type UpdateParams struct {
	URL         string
	Events      []string
	Description *string
	Disabled    *bool // true disables, false enables
}

// Update changes endpoint id.
func Update(ctx context.Context, c *stripe.Client, id string, p UpdateParams) (Endpoint, error) {
	if err := checkID(id); err != nil {
		return Endpoint{}, err
	}
	if err := checkEvents(p.Events); err != nil {
		return Endpoint{}, err
	}
	params := &stripe.WebhookEndpointUpdateParams{Description: p.Description, Disabled: p.Disabled}
	if p.URL != "" {
		params.URL = stripe.String(p.URL)
	}
	if len(p.Events) > 0 {
		params.EnabledEvents = stripe.StringSlice(p.Events)
	}
	w, err := c.V1WebhookEndpoints.Update(ctx, id, params)
	if err != nil {
		return Endpoint{}, apiError("update webhook endpoint "+id, err)
	}
	return fromStripe(w), nil
}

// Delete deletes endpoint id: Stripe stops posting to it at once.
func Delete(ctx context.Context, c *stripe.Client, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if _, err := c.V1WebhookEndpoints.Delete(ctx, id, nil); err != nil {
		return apiError("delete webhook endpoint "+id, err)
	}
	return nil
}

// checkID refuses what cannot be an endpoint id before it becomes part of
// a request path.
func checkID(id string) error {
	if !strings.HasPrefix(id, "we_") || strings.ContainsAny(id, "/?#% \t\r\n") {
		return fmt.Errorf("endpoint id %q: want we_...", id)
	}
	return nil
}

// apiError describes an error of the API for op: status, Stripe's type,
// code and message, and the request id. The client already scrubbed the
// key from it; a secret is never part of a request that fails.
func apiError(op string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("%s: stripe api: %w", op, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: stripe api: %d", op, se.HTTPStatusCode)
	if se.Type != "" {
		b.WriteString(" " + string(se.Type))
	}
	if se.Code != "" {
		b.WriteString(" [" + string(se.Code) + "]")
	}
	if se.Msg != "" {
		b.WriteString(": " + se.Msg)
	}
	switch se.HTTPStatusCode {
	case http.StatusUnauthorized:
		b.WriteString(" (check STRIPE_API_KEY or STRIPE_API_KEY_FILE)")
	case http.StatusForbidden:
		b.WriteString(" (a restricted key needs write access to Webhook Endpoints, or read access to list and check)")
	}
	if se.RequestID != "" {
		b.WriteString(" (request " + se.RequestID + ")")
	}
	return &Error{Status: se.HTTPStatusCode, msg: b.String()}
}

// Error is an error answer of the Stripe API.
type Error struct {
	Status int // HTTP status
	msg    string
}

func (e *Error) Error() string { return e.msg }
