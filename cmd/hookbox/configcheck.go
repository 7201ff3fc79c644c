package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/hookbox/hookbox/receiver"
	"strings"
	"text/tabwriter"
)

const configUsage = `Usage: hookbox config check FILE

Validates a --config file as "hookbox serve --config FILE" would (serve's
other settings taken from their HOOKBOX_* variables), prints its warnings
on stderr and what serve would run on stdout: each endpoint's path,
secrets (where they come from, never their values), tolerance and
destinations with their effective filters. Exits 1 when the file is not
valid.
`

// runConfig is "hookbox config check FILE": validate a config file as
// serve would (the same parsing and the same rules, with serve's flags
// taken from their HOOKBOX_* variables) and print what serve would run.
// Secret values are never printed.
func runConfig(ctx context.Context, env *environ, args []string) error {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" || a == "help" {
			fmt.Fprint(env.Stdout, configUsage)
			return nil
		}
	}
	if len(args) != 2 || args[0] != "check" {
		return errors.New("usage: hookbox config check FILE")
	}
	cfg, err := parseServeConfig(env, []string{"--config", args[1]})
	if err != nil {
		return err
	}
	for _, w := range cfg.warnings {
		fmt.Fprintln(env.Stderr, "warning:", w)
	}
	opts, err := cfg.receiverOptions(nil, nil)
	if err != nil {
		return err
	}
	for _, w := range opts.Warnings() {
		fmt.Fprintln(env.Stderr, "warning:", w)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s: OK, %d endpoint(s)\n", args[1], len(cfg.endpoints))
	for _, e := range cfg.endpoints {
		fmt.Fprintf(tw, "\nendpoint %s\tPOST %s\n", e.Name, e.Path())
		fmt.Fprintf(tw, "  secrets\t%d (%s)\n", len(e.Secrets), e.sources)
		fmt.Fprintf(tw, "  tolerance\t%s\n", e.Tolerance)
		fmt.Fprintf(tw, "  livemode\t%s\n", e.Livemode)
		if e.Dedupe == receiver.DedupeEndpoint {
			fmt.Fprintf(tw, "  dedupe\tper endpoint: stored as EVENT_ID@%s, beside another endpoint's copy\n", e.Name)
		}
		fmt.Fprintf(tw, "  stripe posts to\t%s\n", orText(e.stripeURL(cfg.stripe.publicURL), "unknown (no --public-url nor public_url)"))
		if len(e.dests) == 0 {
			fmt.Fprintf(tw, "  destinations\tnone: events are stored and stay pending\n")
		}
		for _, d := range e.dests {
			h, err := d.destination(nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(tw, "  destination %s\t%s  timeout %s\n", h.Name(), h.URL(), h.AttemptTimeout())
			fmt.Fprintf(tw, "    receives\t%s\n", e.filterText(d))
			fmt.Fprintf(tw, "    api version\t%s\n", d.apiVersion)
			if d.order != nil {
				fmt.Fprintf(tw, "    order\t%s\n", d.order)
			}
			limits, breaker := controlsCheckText(d.controls)
			fmt.Fprintf(tw, "    limits\t%s\n", limits)
			fmt.Fprintf(tw, "    breaker\t%s\n", breaker)
		}
	}
	return tw.Flush()
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func secretSources(refs []secretRef) string {
	var s []string
	for i, r := range refs {
		switch {
		case r.Env != "":
			s = append(s, fmt.Sprintf("#%d env %s", i, r.Env))
		case r.File != "":
			s = append(s, fmt.Sprintf("#%d file %s", i, r.File))
		default:
			s = append(s, fmt.Sprintf("#%d inline", i))
		}
	}
	return strings.Join(s, ", ")
}
