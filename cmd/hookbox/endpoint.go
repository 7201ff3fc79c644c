package main

import (
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// DefaultEndpoint is the name of the single endpoint configured by flags
// and environment, served at /webhooks/stripe.
const DefaultEndpoint = "stripe"

// EndpointSpec is one webhook endpoint as configured: by flags for the
// single default endpoint, or by a --config file for several.
type EndpointSpec struct {
	Name      string
	Secrets   []string // never logged
	Tolerance time.Duration
	Livemode  deliver.Livemode // deliveries of this endpoint's events only in this mode
	// Dests build the endpoint's destinations at Run (nowFunc: the clock).
	Dests []func(now func() time.Time) (deliver.Destination, error)
}

// Path is where Stripe posts to this endpoint.
func (e EndpointSpec) Path() string { return "/webhooks/" + e.Name }

// endpointDestination restricts a destination to the events received by
// one endpoint (and to its livemode filter). Events with no endpoint (older
// rows, reconciled events) belong to the first, default endpoint.
type endpointDestination struct {
	deliver.Destination
	endpoint  string
	isDefault bool
	live      deliver.Livemode
}

func (d endpointDestination) Accepts(ev *hookbox.Event) bool {
	if ev.Endpoint != d.endpoint && !(d.isDefault && ev.Endpoint == "") {
		return false
	}
	return d.live.Match(ev.Livemode) && d.Destination.Accepts(ev)
}

// AttemptTimeout passes the wrapped destination's timeout on to the worker,
// which sizes its leases from it.
func (d endpointDestination) AttemptTimeout() time.Duration {
	if t, ok := d.Destination.(deliver.Timeouter); ok {
		return t.AttemptTimeout()
	}
	return deliver.DefaultTimeout
}
