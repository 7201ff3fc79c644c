package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/stripesig"
)

// runConfig is "hookbox config check FILE": validate a config file and
// print what serve would run with it. Secret values are never printed.
func runConfig(ctx context.Context, env *Env, args []string) error {
	if len(args) != 2 || args[0] != "check" {
		return errors.New("usage: hookbox config check FILE")
	}
	fc, warnings, err := LoadFileConfig(args[1], env.Getenv)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(env.Stderr, "warning:", w)
	}
	// What the file leaves unset, serve takes from its flags; their
	// environment forms are what a check can see.
	defTol, err := envDuration(env.Getenv, "HOOKBOX_TOLERANCE", stripesig.DefaultTolerance)
	if err != nil {
		return err
	}
	defTimeout, err := envDuration(env.Getenv, "HOOKBOX_FORWARD_TIMEOUT", deliver.DefaultTimeout)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s: OK, %d endpoint(s)\n", args[1], len(fc.Endpoints))
	for _, e := range fc.Endpoints {
		tol := time.Duration(e.Tolerance)
		if tol == 0 {
			tol = defTol
		}
		fmt.Fprintf(tw, "\nendpoint %s\tPOST /webhooks/%s\n", e.Name, e.Name)
		fmt.Fprintf(tw, "  secrets\t%d (%s)\n", len(e.Secrets), secretSources(e.Secrets))
		fmt.Fprintf(tw, "  tolerance\t%s\n", tol)
		fmt.Fprintf(tw, "  livemode\t%s\n", e.Livemode)
		if len(e.Destinations) == 0 {
			fmt.Fprintf(tw, "  destinations\tnone: events are stored and stay pending\n")
		}
		for _, d := range e.Destinations {
			h, err := d.destination(e.Name, defTimeout)
			if err != nil {
				return err
			}
			events := strings.Join(d.Events, ",")
			if events == "" {
				events = "*"
			}
			fmt.Fprintf(tw, "  destination %s\t%s  events %s  livemode %s  timeout %s\n", h.Name(), h.URL(), events, d.Livemode, h.AttemptTimeout())
		}
	}
	return tw.Flush()
}

// envDuration reads a duration from the environment variable name, def
// when unset.
func envDuration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 30s", name, v)
	}
	return d, nil
}

func secretSources(refs []SecretRef) string {
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
