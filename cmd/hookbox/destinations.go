package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

const destinationsUsage = `Usage:
  hookbox destinations list [serve's flags]   each destination: state, parked deliveries, limits
  hookbox destinations pause NAME             stop delivering to NAME on every replica: its events wait, pending
  hookbox destinations resume NAME            deliver to NAME again: what waited is sent

NAME is the destination's name as events show names it (forward, or ENDPOINT/NAME with --config).
`

const destinationsListUsage = `Usage: hookbox destinations list [serve's flags]

Lists the destinations serve runs with the same flags and environment
(--config, --forward-to, ...), and any other the store keeps a state of,
one a line, tab-separated:

  NAME  STATE  parked N (breaker B, probe P, paused Q)  LIMITS

STATE is active, paused since T, or breaker open since T with its next
probe (the store's, as every replica sees it). Parked deliveries wait
without an attempt, their retry budget untouched. LIMITS are the
destination's rate limit, in-flight cap and circuit breaker from the
configuration ("not configured" for a name only the store knows).

Flags:
`

// runDestinations lists, pauses and resumes destinations. The pause is
// kept in the store, so it holds on every replica and across restarts;
// while a destination is paused its deliveries are parked without an
// attempt (their retry budget untouched), and a resume makes them due.
func runDestinations(ctx context.Context, env *environ, args []string) error {
	if len(args) == 0 {
		return errors.New("destinations: want a subcommand: list, pause, resume")
	}
	sub := args[0]
	switch sub {
	case "list":
		return listDestinations(ctx, env, args[1:])
	case "pause", "resume":
	case "help", "-h", "--help", "-help":
		fmt.Fprint(env.Stdout, destinationsUsage)
		return nil
	default:
		return fmt.Errorf("destinations: unknown subcommand %q (want list, pause or resume)", sub)
	}
	fset := flag.NewFlagSet("hookbox destinations "+sub, flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	ef := &envFlags{fs: fset, getenv: env.Getenv}
	db := dbFlag(ef)
	names, err := parseIDs(ef, args[1:])
	if err != nil {
		return err
	}
	if len(names) != 1 {
		return fmt.Errorf("destinations %s: want one destination name", sub)
	}
	s, err := openStoreForCLI(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	now := time.Now()
	if sub == "pause" {
		if err := s.PauseDestination(ctx, names[0], true, now); err != nil {
			return fmt.Errorf("pause: %w", err)
		}
		fmt.Fprintf(env.Stdout, "paused %s: its events wait, pending, until hookbox destinations resume %s\n", names[0], names[0])
		return nil
	}
	if err := s.PauseDestination(ctx, names[0], false, now); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	n, err := s.ReleasePaused(ctx, names[0], now)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	fmt.Fprintf(env.Stdout, "resumed %s: %d waiting deliveries are due\n", names[0], n)
	return nil
}

// listDestinations is "hookbox destinations list": serve's configuration
// says which destinations there are and their limits, the store their
// state.
func listDestinations(ctx context.Context, env *environ, args []string) error {
	cfg, err := parseServeFlags(listEnv(env), args, "hookbox destinations list", destinationsListUsage, nil)
	if err != nil {
		return err
	}
	opts, err := cfg.receiverOptions(nil, nil)
	if err != nil {
		return err
	}
	var names []string
	controls := map[string]deliver.Controls{}
	for _, ep := range opts.Endpoints {
		for _, d := range ep.Destinations {
			if _, dup := controls[d.Name()]; !dup {
				names = append(names, d.Name())
			}
			controls[d.Name()] = deliver.ControlsOf(d)
		}
	}
	s, err := openStore(ctx, cfg.db, true)
	if err != nil {
		return err
	}
	defer s.Close()
	states, err := s.DestinationStates(ctx)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	parked, err := s.CountParked(ctx)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	var others []string
	for n := range states {
		if _, ok := controls[n]; !ok {
			others = append(others, n)
		}
	}
	sort.Strings(others)
	if len(names)+len(others) == 0 {
		fmt.Fprintln(env.Stdout, "no destination is configured (--forward-to, or destinations in --config)")
		return nil
	}
	for _, n := range append(names, others...) {
		c, ok := controls[n]
		writeDestinationLine(env.Stdout, n, states[n], parked[n], c, ok)
	}
	return nil
}

// listEnv is env for destinations list, which reads serve's flags for the
// destinations only: the webhook and forwarding secrets an operator's
// shell rarely has get placeholders, never used to sign or verify.
func listEnv(env *environ) *environ {
	placeholder := map[string]string{}
	for _, k := range []string{"STRIPE_WEBHOOK_SECRET", "HOOKBOX_FORWARD_SECRET"} {
		if env.Getenv(k) == "" && env.Getenv(k+"_FILE") == "" {
			placeholder[k] = "whsec_destinations_list"
		}
	}
	e := *env
	e.Getenv = func(k string) string {
		if v, ok := placeholder[k]; ok {
			return v
		}
		return env.Getenv(k)
	}
	return &e
}

// writeDestinationLine writes one destination of destinations list.
func writeDestinationLine(w io.Writer, name string, st hookbox.DestinationState, parked map[string]int, c deliver.Controls, configured bool) {
	var state []string
	if !st.PausedAt.IsZero() {
		state = append(state, "paused since "+st.PausedAt.UTC().Format(time.RFC3339))
	}
	if !st.BreakerOpenAt.IsZero() {
		s := "breaker open since " + st.BreakerOpenAt.UTC().Format(time.RFC3339)
		if st.PausedAt.IsZero() && !st.ProbeAt.IsZero() {
			s += ", next probe " + st.ProbeAt.UTC().Format(time.RFC3339)
		}
		state = append(state, s)
	}
	if len(state) == 0 {
		state = []string{"active"}
	}
	b, p, q := parked[hookbox.HoldBreaker], parked[hookbox.HoldProbe], parked[hookbox.HoldPaused]
	park := fmt.Sprintf("parked %d (breaker %d, probe %d, paused %d)", b+p+q, b, p, q)
	limits := "not configured"
	if configured {
		limits = controlsText(c)
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, strings.Join(state, "; "), park, limits)
}

// controlsText says a destination's limits in one line.
func controlsText(c deliver.Controls) string {
	rate := "rate unlimited"
	if c.Rate > 0 {
		rate = "rate " + strconv.FormatFloat(c.Rate, 'g', -1, 64) + "/s burst " + strconv.Itoa(max(c.Burst, 1))
	}
	inflight := "in flight uncapped"
	if c.MaxInFlight > 0 {
		inflight = "max in flight " + strconv.Itoa(c.MaxInFlight) + " per process"
	}
	breaker := "breaker off"
	if c.BreakerFailures > 0 {
		breaker = fmt.Sprintf("breaker after %d failures, a probe every %s", c.BreakerFailures, c.BreakerProbe)
	}
	return rate + ", " + inflight + ", " + breaker
}
