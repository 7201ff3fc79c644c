package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
)

// runEventsRelease sends the deliveries held at a destination for their
// API version ("hookbox events release --destination NAME [--api-version
// V] [ID...]"): all of them, those of the ids given, or those whose
// events are in a version compatible with V (the version the app now
// reads). A running serve picks them up at its next poll.
func runEventsRelease(ctx context.Context, env *environ, args []string) error {
	fset := flag.NewFlagSet("hookbox events release", flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	ef := &envFlags{fs: fset, getenv: env.Getenv}
	db := dbFlag(ef)
	dest := fset.String("destination", "", "the destination whose held deliveries to send (as events show names it, e.g. forward or stripe/app)")
	version := fset.String("api-version", "", "only events in a version compatible with this one (exact, 2026-07-29.dahlia, or a train, dahlia): the version the app reads now")
	ids, err := parseIDs(ef, args)
	if err != nil {
		return err
	}
	if *dest == "" {
		return errors.New("events release: --destination is required (hookbox events list --state held shows what is held)")
	}
	v, err := hookbox.ParseAPIVersion(*version)
	if err != nil {
		return fmt.Errorf("--api-version: %s", hookbox.ErrorMessage(err))
	}
	s, err := openStoreForCLI(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	if v != "" {
		if ids, err = console.HeldCompatible(ctx, s, *dest, v, ids); err != nil {
			return err
		}
		if len(ids) == 0 {
			fmt.Fprintln(env.Stdout, "released 0 event(s): none held there is in a version compatible with "+v.String())
			return nil
		}
	}
	n, err := s.ReleaseHeld(ctx, *dest, ids, time.Now())
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	fmt.Fprintf(env.Stdout, "released %d event(s) held at %s\n", n, *dest)
	return nil
}
