package receiver

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// DefaultEndpoint is the name of the single endpoint of a receiver
// configured without a config file; it is served at DefaultPath.
const DefaultEndpoint = "stripe"

// PathPrefix is where endpoints are served: PathPrefix + name.
const PathPrefix = "/webhooks/"

// DefaultPath is the default endpoint's path, the URL path to give Stripe.
const DefaultPath = PathPrefix + DefaultEndpoint

// Endpoint is one webhook endpoint: where Stripe posts, the secrets it signs
// with, and where its events go.
type Endpoint struct {
	// Name is the endpoint's name, served at PathPrefix+Name and recorded
	// with each event it receives: lowercase letters, digits, - and _.
	Name string
	// Secrets are the endpoint's whsec_ secrets; several during a
	// rotation. Never logged.
	Secrets []string
	// Tolerance of the signature timestamp; 0: stripesig.DefaultTolerance.
	Tolerance time.Duration
	// Livemode restricts delivery to live or test events ("": any).
	Livemode deliver.Livemode
	// Payload is the family of events Stripe sends here: PayloadSnapshot
	// ("", the default: classic webhook endpoints) or PayloadThin (an
	// event destination of thin events, API v2).
	Payload Payload
	// Dedupe is what makes an event a duplicate here: DedupeID ("", the
	// default: an event id is stored once, whichever endpoint it arrives
	// on) or DedupeEndpoint (an event id is stored once per endpoint: the
	// copy Stripe sends to this endpoint is stored, and delivered to this
	// endpoint's destinations, even when another endpoint already has the
	// same event, as during an API version upgrade with two endpoints).
	Dedupe Dedupe
	// Destinations receive the events of this endpoint (see Routes).
	Destinations []deliver.Destination
}

// Payload is the family of events an endpoint receives.
type Payload string

const (
	// PayloadSnapshot: classic events (object "event") holding a
	// snapshot of their object.
	PayloadSnapshot Payload = "snapshot"
	// PayloadThin: thin notifications (object "v2.core.event"); their
	// full events are fetched from Stripe's API when a key is given.
	PayloadThin Payload = "thin"
)

// Dedupe is how an endpoint recognises a duplicate (Endpoint.Dedupe).
type Dedupe string

const (
	// DedupeID: one event id is stored once.
	DedupeID Dedupe = "id"
	// DedupeEndpoint: one event id is stored once per endpoint: the
	// endpoint's events are stored under the id "<event id>@<endpoint>"
	// (hookbox.Event.ID, also the Idempotency-Key of their deliveries;
	// the body keeps Stripe's id), so a Stripe retry to the same endpoint
	// is still a duplicate, and another endpoint's copy is not.
	DedupeEndpoint Dedupe = "endpoint"
)

// ParseDedupe parses "id" (or "") and "endpoint".
func ParseDedupe(s string) (Dedupe, error) {
	switch d := Dedupe(s); d {
	case "", DedupeID:
		return DedupeID, nil
	case DedupeEndpoint:
		return d, nil
	}
	return "", hookbox.Errorf(hookbox.EINVALID, "dedupe %q: want id or endpoint", s)
}

// ParsePayload parses "snapshot" (or "") and "thin".
func ParsePayload(s string) (Payload, error) {
	switch p := Payload(s); p {
	case "", PayloadSnapshot:
		return PayloadSnapshot, nil
	case PayloadThin:
		return p, nil
	}
	return "", hookbox.Errorf(hookbox.EINVALID, "payload %q: want snapshot or thin", s)
}

// Path is where Stripe posts to this endpoint.
func (e Endpoint) Path() string { return PathPrefix + e.Name }

var endpointName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidName reports whether name can name an endpoint or a destination.
func ValidName(name string) bool { return endpointName.MatchString(name) }

func validateEndpoints(eps []Endpoint) error {
	if len(eps) == 0 {
		return errors.New("no endpoint: set STRIPE_WEBHOOK_SECRET or declare endpoints in --config")
	}
	seen := map[string]bool{}
	dests := map[string]bool{}
	for _, ep := range eps {
		if !ValidName(ep.Name) {
			return fmt.Errorf("endpoint name %q: want lowercase letters, digits, - and _ (it becomes %sNAME)", ep.Name, PathPrefix)
		}
		if seen[ep.Name] {
			return fmt.Errorf("endpoint %q declared twice", ep.Name)
		}
		seen[ep.Name] = true
		if len(ep.Secrets) == 0 {
			return fmt.Errorf("endpoint %s: no secrets; hookbox will not accept unverified webhooks", ep.Name)
		}
		if ep.Tolerance < 0 {
			return fmt.Errorf("endpoint %s: --tolerance must be positive (a zero tolerance would accept replays forever)", ep.Name)
		}
		if _, err := ParsePayload(string(ep.Payload)); err != nil {
			return fmt.Errorf("endpoint %s: %w", ep.Name, err)
		}
		if _, err := deliver.ParseLivemode(string(ep.Livemode)); ep.Livemode != "" && err != nil {
			return fmt.Errorf("endpoint %s: livemode: %w", ep.Name, err)
		}
		for _, d := range ep.Destinations {
			if d == nil {
				return fmt.Errorf("endpoint %s: a nil destination", ep.Name)
			}
			if dests[d.Name()] {
				return fmt.Errorf("destination name %q used twice: each destination keeps its delivery state under its name", d.Name())
			}
			dests[d.Name()] = true
		}
	}
	return nil
}

func destinationCount(eps []Endpoint) int {
	n := 0
	for _, e := range eps {
		n += len(e.Destinations)
	}
	return n
}

// routedDestinations returns every endpoint's destinations, each restricted
// to the events that are its endpoint's (see Routes).
func routedDestinations(eps []Endpoint) []deliver.Destination {
	var out []deliver.Destination
	for i, ep := range eps {
		for _, d := range ep.Destinations {
			out = append(out, Route(d, ep, i == 0))
		}
	}
	return out
}

// Route restricts d to the events received by endpoint ep and to ep's
// livemode filter. Events with no endpoint (older rows, reconciled events)
// belong to the default endpoint (isDefault: the first).
func Route(d deliver.Destination, ep Endpoint, isDefault bool) deliver.Destination {
	live := ep.Livemode
	if live == "" {
		live = deliver.LivemodeAny
	}
	return routed{Destination: d, endpoint: ep.Name, isDefault: isDefault, live: live}
}

type routed struct {
	deliver.Destination
	endpoint  string
	isDefault bool
	live      deliver.Livemode
}

func (d routed) Accepts(ev *hookbox.Event) bool {
	if ev.Endpoint != d.endpoint && !(d.isDefault && ev.Endpoint == "") {
		return false
	}
	return d.live.Match(ev.Livemode) && d.Destination.Accepts(ev)
}

// Unwrap returns the routed destination (deliver.OrderingOf looks through).
func (d routed) Unwrap() deliver.Destination { return d.Destination }

// AttemptTimeout passes the wrapped destination's timeout on to the worker,
// which sizes its leases from it.
func (d routed) AttemptTimeout() time.Duration {
	if t, ok := d.Destination.(deliver.Timeouter); ok {
		return t.AttemptTimeout()
	}
	return deliver.DefaultTimeout
}
