package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookbox/hookbox/receiver"
	"github.com/hookbox/hookbox/stripeapi"
)

const stripeCheckUsage = `Usage: hookbox stripe endpoints check [serve's flags] [--json]

Compares each endpoint of the serve configuration (the same flags,
HOOKBOX_* variables and --config as "hookbox serve") with the Stripe
webhook endpoints whose URL points at it: that one exists, is enabled,
sends every event type the endpoint's destinations filter on, and is
pinned to an API version the destinations read (api_version:,
--forward-api-version). One line per finding; exits 1 on a problem.

The URL Stripe posts to is the endpoint's public_url in --config, else
--public-url (HOOKBOX_PUBLIC_URL) followed by the endpoint's path
(/webhooks/NAME), else, for this command only, http://LISTEN/webhooks/NAME.
The key is read from STRIPE_API_KEY or STRIPE_API_KEY_FILE.

Flags:
`

// stripeSettings are serve's settings of the Stripe API.
type stripeSettings struct {
	publicURL string // --public-url, without a trailing slash: the base URL Stripe reaches the public listener at
	apiBase   string // --stripe-api-base
}

// stripeFlags registers serve's flags of the Stripe endpoint check and
// --stripe-api-base, shared with reconcile. Call apply after the endpoints
// are read: it sets Options.StripeCheck, or leaves the check off with a
// warning logged at start when a key is set but no public URL is known.
func (c *serveConfig) stripeFlags(ef *envFlags) (apiBase *string, apply func() error) {
	apiBase = ef.str("stripe-api-base", "HOOKBOX_STRIPE_API_BASE", "", "Stripe API base URL (default https://api.stripe.com; for stripe-mock and tests)")
	publicURL := ef.str("public-url", "HOOKBOX_PUBLIC_URL", "", "the base URL Stripe reaches the public listener at (e.g. https://hooks.example.com): each endpoint's URL is it plus /webhooks/NAME, unless its public_url in --config says otherwise; needed by the Stripe endpoint check")
	every := ef.duration("stripe-check-every", "HOOKBOX_STRIPE_CHECK_EVERY", stripeapi.DefaultCheckEvery, "with STRIPE_API_KEY set, check this often that the Stripe endpoints posting to hookbox are enabled (hookbox_stripe_endpoint_enabled; 0: off)")
	return apiBase, func() error {
		if *publicURL != "" {
			if err := checkPublicURL(*publicURL); err != nil {
				return fmt.Errorf("--public-url: %w", err)
			}
		}
		c.stripe = stripeSettings{publicURL: strings.TrimSuffix(*publicURL, "/"), apiBase: *apiBase}
		if *every < 0 {
			return errors.New("--stripe-check-every must not be negative (0: off)")
		}
		if *every == 0 || firstSet(ef.getenv, "STRIPE_API_KEY", "STRIPE_API_KEY_FILE") == "" {
			return nil
		}
		return c.enableStripeCheck(ef.getenv, *every)
	}
}

// enableStripeCheck sets Options.StripeCheck for the endpoints whose public
// URL is known; the others (or all) are named in a warning.
func (c *serveConfig) enableStripeCheck(getenv func(string) string, every time.Duration) error {
	key, err := readAPIKey(getenv)
	if err != nil {
		c.warnings = append(c.warnings, "the Stripe endpoint check is off: "+err.Error())
		return nil
	}
	targets, unknown := c.stripeTargets(false)
	if len(unknown) > 0 {
		c.warnings = append(c.warnings, fmt.Sprintf("the Stripe endpoint check is off for endpoint(s) %s: the URL Stripe posts to is unknown; set --public-url (HOOKBOX_PUBLIC_URL) to the https base URL Stripe reaches hookbox at, or public_url per endpoint in --config", strings.Join(unknown, ", ")))
	}
	if len(targets) > 0 {
		c.opts.StripeCheck = &receiver.StripeCheckOptions{Key: key, APIBase: c.stripe.apiBase, Every: every, Targets: targets}
	}
	return nil
}

// checkPublicURL accepts an absolute http(s) URL without credentials,
// query or fragment.
func checkPublicURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want an absolute https URL such as https://hooks.example.com", s)
	}
	return nil
}

// stripeURL is the URL Stripe posts to for endpoint e: its public_url,
// else base plus its path; "" if neither is known.
func (e endpointSpec) stripeURL(base string) string {
	switch {
	case e.publicURL != "":
		return e.publicURL
	case base != "":
		return base + e.Path()
	}
	return ""
}

// stripeTargets returns what the check compares for each endpoint; with
// listenDefault, an endpoint without a public URL gets
// http://LISTEN/webhooks/NAME, else it is returned in unknown.
func (c *serveConfig) stripeTargets(listenDefault bool) (targets []stripeapi.Target, unknown []string) {
	for _, e := range c.endpoints {
		u := e.stripeURL(c.stripe.publicURL)
		if u == "" && listenDefault {
			u = "http://" + c.opts.Listen + e.Path()
		}
		if u == "" {
			unknown = append(unknown, e.Name)
			continue
		}
		t := stripeapi.Target{Endpoint: e.Name, URL: u}
		for _, d := range e.dests {
			t.Destinations = append(t.Destinations, stripeapi.Destination{Name: d.name, Events: splitList(d.types.String()), APIVersion: d.apiVersion})
		}
		targets = append(targets, t)
	}
	return targets, unknown
}

// runStripeCheck is "hookbox stripe endpoints check".
func runStripeCheck(ctx context.Context, env *environ, args []string) error {
	var asJSON *bool
	cfg, err := parseServeFlags(env, args, "hookbox stripe endpoints check", stripeCheckUsage, func(ef *envFlags) {
		asJSON = ef.fs.Bool("json", false, "print the findings as JSON")
	})
	if err != nil {
		return err
	}
	targets, _ := cfg.stripeTargets(true)
	if _, unknown := cfg.stripeTargets(false); len(unknown) > 0 {
		fmt.Fprintf(env.Stderr, "note: no --public-url nor public_url for %s: looked for at http://%s/webhooks/NAME\n", strings.Join(unknown, ", "), cfg.opts.Listen)
	}
	client, err := newReconcileClient(env.Getenv, cfg.stripe.apiBase)
	if err != nil {
		return err
	}
	eps, err := stripeapi.List(ctx, client)
	if err != nil {
		return err
	}
	rep := stripeapi.Check(targets, eps)
	if *asJSON {
		err = writeCheckJSON(env.Stdout, targets, rep)
	} else {
		err = writeCheckText(env.Stdout, rep)
	}
	if err != nil {
		return err
	}
	if n := rep.Problems(); n > 0 {
		return fmt.Errorf("stripe endpoints check: %d problem(s)", n)
	}
	return nil
}

func writeCheckText(w io.Writer, rep stripeapi.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tENDPOINT\tSTRIPE\tASPECT\tFINDING")
	for _, f := range rep.Findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Severity, orDash(f.Endpoint), orDash(f.StripeID), f.Aspect, f.Message)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type checkJSON struct {
	Endpoints []checkEndpointJSON `json:"endpoints"`
	Findings  []stripeapi.Finding `json:"findings"`
	Problems  int                 `json:"problems"`
}

type checkEndpointJSON struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	Enabled bool   `json:"enabled"`
}

func writeCheckJSON(w io.Writer, targets []stripeapi.Target, rep stripeapi.Report) error {
	out := checkJSON{Endpoints: []checkEndpointJSON{}, Findings: rep.Findings, Problems: rep.Problems()}
	for _, t := range targets {
		out.Endpoints = append(out.Endpoints, checkEndpointJSON{Name: t.Endpoint, URL: t.URL, Enabled: rep.Enabled[t.Endpoint]})
	}
	if out.Findings == nil {
		out.Findings = []stripeapi.Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
