package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
)

// runEventsSkip settles events without sending them ("hookbox events skip
// ID... [--reason TEXT]"): a dead event that holds the later events of its
// Stripe object (--order object, --on-dead block) lets them go on, and a
// pending one stops being retried. A replay sends a skipped event after
// all.
func runEventsSkip(ctx context.Context, env *environ, args []string) error {
	fset := flag.NewFlagSet("hookbox events skip", flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	ef := &envFlags{fs: fset, getenv: env.Getenv}
	db := dbFlag(ef)
	reason := fset.String("reason", "skipped by hand", "why, recorded with each skipped delivery")
	ids, err := parseIDs(ef, args)
	if err != nil {
		return err
	}
	switch {
	case len(ids) == 0:
		return errors.New("events skip: want event ids (see hookbox events list --blocked)")
	case strings.TrimSpace(*reason) == "":
		return errors.New("--reason must not be empty")
	}
	s, err := openStoreForCLI(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	n, err := s.SkipEvents(ctx, ids, strings.TrimSpace(*reason), time.Now())
	if err != nil {
		return fmt.Errorf("skip: %w", err)
	}
	fmt.Fprintf(env.Stdout, "skipped %d event(s)\n", n)
	if len(ids) > n {
		fmt.Fprintf(env.Stderr, "%d event(s) were left alone: only dead events, and pending ones already tried, can be skipped (not found, delivered, never tried, or being delivered right now)\n", len(ids)-n)
	}
	if n < len(ids) {
		return hookbox.Errorf(hookbox.ECONFLICT, "%d of %d event(s) skipped", n, len(ids))
	}
	return nil
}

// parseIDs parses args with ef's flags and returns the event ids among
// them: ids may come before or after the flags.
func parseIDs(ef *envFlags, args []string) ([]string, error) {
	var ids []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		ids, args = append(ids, args[0]), args[1:]
	}
	if err := ef.parse(args); err != nil {
		return nil, err
	}
	return append(ids, ef.fs.Args()...), nil
}
