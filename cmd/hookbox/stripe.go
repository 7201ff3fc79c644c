package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	stripe "github.com/stripe/stripe-go/v85"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/stripeapi"
)

const stripeUsage = `Usage: hookbox stripe endpoints COMMAND [flags]

Manages the webhook endpoints Stripe posts to (/v1/webhook_endpoints), with
the key of STRIPE_API_KEY or STRIPE_API_KEY_FILE (a restricted key needs
write access to Webhook Endpoints; read access for list and check).

Commands:
  list [--json]                       the account's endpoints
  create --url URL --events TYPES --api-version VERSION [--description D] [--secret-file PATH]
                                      create an endpoint pinned to VERSION; its
                                      signing secret goes to PATH (created 0600)
                                      or, once, to stdout
  update ID [--url URL] [--events TYPES] [--enabled | --disabled] [--description D]
  delete ID                           Stripe stops posting to it at once
  check [serve's flags] [--json]      compare Stripe's endpoints with hookbox's

Run "hookbox stripe endpoints COMMAND -h" for a command's flags.
`

// runStripe is "hookbox stripe endpoints ...".
func runStripe(ctx context.Context, env *environ, args []string) error {
	if len(args) > 0 && isHelp(args[0]) || len(args) > 1 && args[0] == "endpoints" && isHelp(args[1]) {
		fmt.Fprint(env.Stdout, stripeUsage)
		return nil
	}
	if len(args) < 2 || args[0] != "endpoints" {
		fmt.Fprint(env.Stderr, stripeUsage)
		return errors.New("usage: hookbox stripe endpoints list|create|update|delete|check")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "list":
		return runStripeList(ctx, env, rest)
	case "create":
		return runStripeCreate(ctx, env, rest)
	case "update":
		return runStripeUpdate(ctx, env, rest)
	case "delete":
		return runStripeDelete(ctx, env, rest)
	case "check":
		return runStripeCheck(ctx, env, rest)
	}
	fmt.Fprint(env.Stderr, stripeUsage)
	return fmt.Errorf("unknown command %q of hookbox stripe endpoints", cmd)
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }

// stripeFlagSet returns a flag set of "hookbox stripe endpoints NAME" with
// --stripe-api-base registered.
func stripeFlagSet(env *environ, name, usage string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("hookbox stripe endpoints "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hookbox stripe endpoints %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	ef := &envFlags{fs: fs, getenv: env.Getenv}
	return fs, ef.str("stripe-api-base", "HOOKBOX_STRIPE_API_BASE", "", "Stripe API base URL (default https://api.stripe.com; for stripe-mock and tests)")
}

// parseWithID parses args that hold one endpoint id, before or after the
// flags ("update we_1 --enabled" and "update --enabled we_1").
func parseWithID(fs *flag.FlagSet, args []string) (string, error) {
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
		fs.Parse(fs.Args()[1:]) // flags after the id
	}
	if id == "" || fs.NArg() > 0 {
		return "", fmt.Errorf("%s: want exactly one endpoint id (we_...)", fs.Name())
	}
	return id, nil
}

func runStripeList(ctx context.Context, env *environ, args []string) error {
	fs, apiBase := stripeFlagSet(env, "list", "list [--json]")
	asJSON := fs.Bool("json", false, "print the endpoints as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("stripe endpoints list: unexpected argument %q", fs.Arg(0))
	}
	client, err := newReconcileClient(env.Getenv, *apiBase)
	if err != nil {
		return err
	}
	eps, err := stripeapi.List(ctx, client)
	if err != nil {
		return err
	}
	if *asJSON {
		if eps == nil {
			eps = []stripeapi.Endpoint{}
		}
		return writeJSON(env.Stdout, eps)
	}
	return writeEndpointsText(env.Stdout, eps)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeEndpointsText(w io.Writer, eps []stripeapi.Endpoint) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tAPI VERSION\tURL\tEVENTS\tDESCRIPTION")
	for _, e := range eps {
		v := e.APIVersion
		if v == "" {
			v = "(account default)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Status, v, e.URL, strings.Join(e.EnabledEvents, ","), e.Description)
	}
	return tw.Flush()
}

const createUsage = "create --url URL --events TYPES --api-version VERSION [--description D] [--secret-file PATH]"

// runStripeCreate is "hookbox stripe endpoints create". The secret file is
// created (0600, never over an existing file) before Stripe is asked, so
// that a secret is never returned with nowhere to go; the secret itself is
// only ever written to that file or stdout.
func runStripeCreate(ctx context.Context, env *environ, args []string) error {
	fs, apiBase := stripeFlagSet(env, "create", createUsage)
	u := fs.String("url", "", "the URL Stripe posts to: hookbox's public URL and endpoint path, e.g. https://hooks.example.com/webhooks/stripe (required)")
	events := fs.String("events", "", "event types Stripe sends, comma-separated, or * for all (required)")
	version := fs.String("api-version", "", "the exact API version events are rendered in, e.g. 2026-07-29.dahlia (required)")
	desc := fs.String("description", "", "a description shown in Stripe's dashboard")
	secretFile := fs.String("secret-file", "", "write the signing secret to this new file (mode 0600; an existing file is refused) instead of stdout")
	asJSON := fs.Bool("json", false, "print the endpoint as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("stripe endpoints create: unexpected argument %q", fs.Arg(0))
	}
	v, err := hookbox.ParseAPIVersion(*version)
	if err != nil {
		return fmt.Errorf("--api-version: %s", hookbox.ErrorMessage(err))
	}
	p := stripeapi.CreateParams{URL: *u, Events: splitList(*events), APIVersion: v, Description: *desc}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("stripe endpoints create: %w", err)
	}
	client, err := newReconcileClient(env.Getenv, *apiBase)
	if err != nil {
		return err
	}
	return createEndpoint(ctx, env, client, p, *secretFile, *asJSON)
}

func createEndpoint(ctx context.Context, env *environ, client *stripe.Client, p stripeapi.CreateParams, path string, asJSON bool) error {
	var f *os.File
	if path != "" {
		var err error
		if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return fmt.Errorf("--secret-file: %w (the file must not exist: a secret is never overwritten)", err)
		}
		defer f.Close()
	}
	ep, secret, err := stripeapi.Create(ctx, client, p)
	if err == nil && secret == "" {
		err = fmt.Errorf("endpoint %s created, but Stripe returned no signing secret: reveal it in Stripe's dashboard", ep.ID)
	}
	if err != nil {
		if f != nil {
			f.Close()
			os.Remove(path)
		}
		return err
	}
	if f != nil {
		return writeSecretFile(env, f, ep, secret, asJSON)
	}
	return printSecret(env, ep, secret, asJSON)
}

// writeSecretFile writes secret to f and describes the endpoint.
func writeSecretFile(env *environ, f *os.File, ep stripeapi.Endpoint, secret string, asJSON bool) error {
	if _, err := io.WriteString(f, secret+"\n"); err != nil {
		return fmt.Errorf("endpoint %s created, but its secret could not be written: %w; delete the endpoint (hookbox stripe endpoints delete %s) and create it again", ep.ID, err, ep.ID)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("endpoint %s created, but its secret file: %w; delete the endpoint and create it again", ep.ID, err)
	}
	if asJSON {
		return writeJSON(env.Stdout, map[string]any{"endpoint": ep, "secret_file": f.Name()})
	}
	describeCreated(env.Stdout, ep)
	fmt.Fprintf(env.Stdout, "signing secret written to %s (mode 0600): give it to hookbox (STRIPE_WEBHOOK_SECRET_FILE, or a {file: ...} secret in --config)\n", f.Name())
	return nil
}

// printSecret prints the secret once on stdout, with a warning on stderr.
func printSecret(env *environ, ep stripeapi.Endpoint, secret string, asJSON bool) error {
	fmt.Fprintln(env.Stderr, "warning: the endpoint's signing secret is printed on stdout, once: Stripe's API never returns it again. Store it now (a file readable only by hookbox); --secret-file PATH keeps it off the terminal.")
	if asJSON {
		return writeJSON(env.Stdout, map[string]any{"endpoint": ep, "secret": secret})
	}
	describeCreated(env.Stdout, ep)
	fmt.Fprintln(env.Stdout, secret)
	return nil
}

func describeCreated(w io.Writer, ep stripeapi.Endpoint) {
	fmt.Fprintf(w, "created %s: %s, api_version %s, events %s, %s\n", ep.ID, ep.URL, ep.APIVersion, strings.Join(ep.EnabledEvents, ","), ep.Status)
}

const updateUsage = "update ID [--url URL] [--events TYPES] [--enabled | --disabled] [--description D]"

func runStripeUpdate(ctx context.Context, env *environ, args []string) error {
	fs, apiBase := stripeFlagSet(env, "update", updateUsage)
	u := fs.String("url", "", "the new URL Stripe posts to")
	events := fs.String("events", "", "the new event types, comma-separated, or * for all (replaces the list)")
	enable := fs.Bool("enabled", false, "enable the endpoint (after Stripe disabled it, or you did)")
	disable := fs.Bool("disabled", false, "disable the endpoint: Stripe sends it nothing until enabled")
	desc := fs.String("description", "", "a new description")
	asJSON := fs.Bool("json", false, "print the endpoint as JSON")
	id, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	p := stripeapi.UpdateParams{URL: *u, Events: splitList(*events)}
	if *enable && *disable {
		return errors.New("stripe endpoints update: --enabled or --disabled, not both")
	}
	if *enable || *disable {
		p.Disabled = disable
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "description" {
			p.Description = desc
		}
	})
	if p.URL == "" && len(p.Events) == 0 && p.Disabled == nil && p.Description == nil {
		return errors.New("stripe endpoints update: nothing to change: give --url, --events, --enabled, --disabled or --description")
	}
	client, err := newReconcileClient(env.Getenv, *apiBase)
	if err != nil {
		return err
	}
	ep, err := stripeapi.Update(ctx, client, id, p)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.Stdout, ep)
	}
	return writeEndpointsText(env.Stdout, []stripeapi.Endpoint{ep})
}

func runStripeDelete(ctx context.Context, env *environ, args []string) error {
	fs, apiBase := stripeFlagSet(env, "delete", "delete ID")
	id, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	client, err := newReconcileClient(env.Getenv, *apiBase)
	if err != nil {
		return err
	}
	if err := stripeapi.Delete(ctx, client, id); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "deleted %s: Stripe no longer posts to it\n", id)
	return nil
}
