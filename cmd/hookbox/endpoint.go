package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/receiver"
	"github.com/hookbox/hookbox/thin"
)

// endpointSpec is one webhook endpoint as configured (the default one from
// flags and environment, or one of --config), with its destinations not
// built yet: they take the receiver's clock.
type endpointSpec struct {
	receiver.Endpoint // without Destinations
	dests             []destSpec
	sources           string   // where the secrets come from, for config check
	envRefs           []string // environment variables the file takes secrets from
	publicURL         string   // the URL Stripe posts to; "": unknown
	// dedupe: the thin twins of stored snapshot events are skipped by every
	// destination (dedupe_snapshot), waiting up to dedupeWait for the twin.
	dedupe     bool
	dedupeWait time.Duration
}

// destSpec is one HTTP destination as configured.
type destSpec struct {
	name, url, secret string // secret: never logged
	types             deliver.Types
	livemode          deliver.Livemode
	timeout           time.Duration
	order             *deliver.Ordering  // nil: not ordered
	apiVersion        hookbox.APIVersion // "": any
	fullEvent         bool               // deliver: event (a thin endpoint's fetched event)
	controls          deliver.Controls   // zero: no caps, the default breaker
}

// forwardFlags are the default endpoint's destination (--forward-to).
type forwardFlags struct {
	to         string
	timeout    time.Duration // also the default of --config destinations
	types      deliver.Types
	livemode   deliver.Livemode
	apiVersion hookbox.APIVersion
	order      *deliver.Ordering
	controls   deliver.Controls
}

// destination builds the destination its URL's scheme names (http(s),
// or a broker of brokerKinds) on the clock now (nil: time.Now). Nothing
// connects yet: brokers connect on the first attempt.
func (d destSpec) destination(now func() time.Time) (urlDestination, error) {
	scheme, _, _ := strings.Cut(d.url, "://")
	switch scheme = strings.ToLower(scheme); scheme {
	case "http", "https":
		h, err := deliver.NewHTTP(d.name, d.url, d.secret, deliver.HTTPOptions{Types: d.types, Livemode: d.livemode, Timeout: d.timeout, APIVersion: d.apiVersion, NowFunc: now})
		if err != nil {
			return nil, err
		}
		return h, nil
	}
	if mk, ok := brokerKinds[scheme]; ok {
		return mk(d.name, d.url, d.secret, deliver.BrokerOptions{Types: d.types, Livemode: d.livemode, Timeout: d.timeout, APIVersion: d.apiVersion, NowFunc: now})
	}
	return nil, fmt.Errorf("destination URL: unknown scheme %q (want http, https%s)", scheme, brokerSchemes())
}

// urlDestination is a destination with a URL (its password redacted) and a
// timeout, as every kind serve builds has.
type urlDestination interface {
	deliver.Destination
	URL() string
	AttemptTimeout() time.Duration
}

// brokerKinds builds broker destinations by URL scheme.
var brokerKinds = map[string]func(name, url, secret string, o deliver.BrokerOptions) (urlDestination, error){}

func brokerSchemes() string {
	var s []string
	for k := range brokerKinds {
		s = append(s, k)
	}
	sort.Strings(s)
	if len(s) == 0 {
		return ""
	}
	return ", " + strings.Join(s, ", ")
}

// endpoint returns the receiver's endpoint with its destinations built;
// those that deliver the fetched event read it from store (nil when only
// checking the configuration).
func (e endpointSpec) endpoint(now func() time.Time, store thin.EventStore) (receiver.Endpoint, error) {
	ep := e.Endpoint
	ep.Destinations = nil
	for _, d := range e.dests {
		h, err := d.destination(now)
		if err != nil {
			return ep, fmt.Errorf("endpoint %s: destination %s: %w", e.Name, d.name, err)
		}
		var dest deliver.Destination = h
		if d.fullEvent {
			dest = thin.DeliverEvent(dest, store)
		}
		if e.dedupe {
			dest = thin.SkipSnapshotTwins(dest, thin.TwinOptions{Store: store, Wait: e.dedupeWait, NowFunc: now})
		}
		if d.order != nil {
			dest = deliver.Ordered(dest, *d.order)
		}
		if d.controls != (deliver.Controls{}) {
			dest = deliver.Controlled(dest, d.controls)
		}
		ep.Destinations = append(ep.Destinations, dest)
	}
	return ep, nil
}

// effectiveLivemode is the livemode filter a destination of an endpoint
// applies in effect: the endpoint's and its own, both (receiver.Route). ok
// is false when they exclude each other (live and test): the destination
// never receives an event.
func effectiveLivemode(endpoint, dest deliver.Livemode) (l deliver.Livemode, ok bool) {
	switch {
	case endpoint == "" || endpoint == deliver.LivemodeAny:
		if dest == "" {
			return deliver.LivemodeAny, true
		}
		return dest, true
	case dest == "" || dest == deliver.LivemodeAny || dest == endpoint:
		return endpoint, true
	default:
		return "", false
	}
}

// filterText describes what destination d of endpoint e receives, its
// filters and its endpoint's combined.
func (e endpointSpec) filterText(d destSpec) string {
	live, ok := effectiveLivemode(e.Livemode, d.livemode)
	if !ok {
		return fmt.Sprintf("nothing, ever: the endpoint takes only %s events, the destination only %s ones", e.Livemode, d.livemode)
	}
	return fmt.Sprintf("events %s, livemode %s (endpoint %s, destination %s)", d.types, live, orAny(e.Livemode), orAny(d.livemode))
}

func orAny(l deliver.Livemode) deliver.Livemode {
	if l == "" {
		return deliver.LivemodeAny
	}
	return l
}

// ignoredWithConfig returns warnings for the variables that --config makes
// serve ignore: STRIPE_WEBHOOK_SECRET (the file's endpoints name their own
// secrets, and are served at their own paths) and HOOKBOX_FORWARD_SECRET.
func ignoredWithConfig(getenv func(string) string, eps []endpointSpec) []string {
	var ws []string
	used := map[string]bool{}
	for _, ep := range eps {
		for _, v := range ep.envRefs {
			used[v] = true
		}
	}
	// A variable the file names ({env: STRIPE_WEBHOOK_SECRET}) is used.
	if v := firstSet(getenv, "STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET_FILE"); v != "" && !used[v] {
		var paths []string
		notServed := " (" + receiver.DefaultPath + " is not served)"
		for _, ep := range eps {
			paths = append(paths, ep.Path())
			if ep.Path() == receiver.DefaultPath {
				notServed = ""
			}
		}
		ws = append(ws, fmt.Sprintf("%s is set but --config declares the endpoints: it is not used; each endpoint verifies with the secrets the file names, at its own path: %s%s; point Stripe (or stripe listen --forward-to) there",
			v, strings.Join(paths, ", "), notServed))
	}
	if v := firstSet(getenv, "HOOKBOX_FORWARD_SECRET", "HOOKBOX_FORWARD_SECRET_FILE"); v != "" && !used[v] {
		ws = append(ws, v+" is set but --config declares the destinations: it is not used; each destination signs with the secret the file names")
	}
	return ws
}

// firstSet returns the first of names that getenv finds set, "" if none.
func firstSet(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if getenv(n) != "" {
			return n
		}
	}
	return ""
}

// readEndpoints configures the endpoints: those of --config, or the single
// default endpoint from the environment (secrets) and --forward-to.
func (c *serveConfig) readEndpoints(getenv func(string) string) error {
	if c.configFile != "" {
		if c.forward.to != "" || c.forward.apiVersion != "" {
			return errors.New("--config and --forward-to (or --forward-api-version): declare destinations in the config file")
		}
		eps, notify, warnings, err := loadEndpoints(c.configFile, getenv, c.tolerance, c.forward.timeout)
		if err != nil {
			return err
		}
		c.opts.Notify = notify
		c.endpoints, c.warnings = eps, append(warnings, ignoredWithConfig(getenv, eps)...)
		return nil
	}
	secrets, err := readSecrets(getenv, "STRIPE_WEBHOOK_SECRET")
	if err != nil {
		return err
	}
	if len(secrets) == 0 {
		return errors.New("no webhook secret: set STRIPE_WEBHOOK_SECRET (whsec_..., comma-separated to rotate) or STRIPE_WEBHOOK_SECRET_FILE, or declare endpoints in --config; hookbox will not accept unverified webhooks")
	}
	ep := endpointSpec{Endpoint: receiver.Endpoint{Name: receiver.DefaultEndpoint, Secrets: secrets, Tolerance: c.tolerance, Livemode: deliver.LivemodeAny, Payload: c.payload}}
	if c.forward.to == "" && c.forward.apiVersion != "" {
		return errors.New("--forward-api-version without --forward-to: it states the version the --forward-to app reads")
	}
	if c.forward.to != "" {
		fs, err := readSecrets(getenv, "HOOKBOX_FORWARD_SECRET")
		if err != nil {
			return err
		}
		if len(fs) != 1 {
			return errors.New("--forward-to needs exactly one HOOKBOX_FORWARD_SECRET (or HOOKBOX_FORWARD_SECRET_FILE): the secret your app verifies hookbox's signature with")
		}
		d := destSpec{name: "forward", url: c.forward.to, secret: fs[0], types: c.forward.types, livemode: c.forward.livemode, timeout: c.forward.timeout, order: c.forward.order, apiVersion: c.forward.apiVersion, controls: c.forward.controls}
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
