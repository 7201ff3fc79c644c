package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"time"
)

const destinationsUsage = `Usage:
  hookbox destinations list          the destinations the store knows as paused, with since when
  hookbox destinations pause NAME    stop delivering to NAME on every replica: its events wait, pending
  hookbox destinations resume NAME   deliver to NAME again: what waited is sent

NAME is the destination's name as events show names it (forward, or ENDPOINT/NAME with --config).
`

// runDestinations pauses and resumes destinations. The pause is kept in
// the store, so it holds on every replica and across restarts; while a
// destination is paused its deliveries are parked without an attempt
// (their retry budget untouched), and a resume makes them due.
func runDestinations(ctx context.Context, env *environ, args []string) error {
	if len(args) == 0 {
		return errors.New("destinations: want a subcommand: list, pause, resume")
	}
	sub := args[0]
	fset := flag.NewFlagSet("hookbox destinations "+sub, flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	ef := &envFlags{fs: fset, getenv: env.Getenv}
	db := dbFlag(ef)
	names, err := parseIDs(ef, args[1:])
	if err != nil {
		return err
	}
	switch sub {
	case "list":
	case "pause", "resume":
		if len(names) != 1 {
			return fmt.Errorf("destinations %s: want one destination name", sub)
		}
	case "help", "-h", "--help", "-help":
		fmt.Fprint(env.Stdout, destinationsUsage)
		return nil
	default:
		return fmt.Errorf("destinations: unknown subcommand %q (want list, pause or resume)", sub)
	}
	s, err := openStoreForCLI(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	now := time.Now()
	switch sub {
	case "pause":
		if err := s.PauseDestination(ctx, names[0], true, now); err != nil {
			return fmt.Errorf("pause: %w", err)
		}
		fmt.Fprintf(env.Stdout, "paused %s: its events wait, pending, until hookbox destinations resume %s\n", names[0], names[0])
	case "resume":
		if err := s.PauseDestination(ctx, names[0], false, now); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		n, err := s.ReleasePaused(ctx, names[0], now)
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		fmt.Fprintf(env.Stdout, "resumed %s: %d waiting deliveries are due\n", names[0], n)
	default:
		paused, err := s.PausedDestinations(ctx)
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		if len(paused) == 0 {
			fmt.Fprintln(env.Stdout, "no destination is paused")
			return nil
		}
		var list []string
		for n := range paused {
			list = append(list, n)
		}
		sort.Strings(list)
		for _, n := range list {
			fmt.Fprintf(env.Stdout, "%s\tpaused since %s\n", n, paused[n].UTC().Format(time.RFC3339))
		}
	}
	return nil
}
