package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/hookbox/hookbox"
)

// runEventsReplay puts events back in the delivery queue with a fresh retry
// budget: one by id ("hookbox events replay evt_1 [evt_2 ...]"), or every
// event matching a filter ("--state dead [--type T] [--since 24h]"). A
// running "hookbox serve" picks them up at its next poll.
func runEventsReplay(ctx context.Context, env *environ, args []string) error {
	fset := flag.NewFlagSet("hookbox events replay", flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	ef := &envFlags{fs: fset, getenv: env.Getenv}
	db := dbFlag(ef)
	state := fset.String("state", "", "replay every event in this state (dead, pending, delivered)")
	typ := fset.String("type", "", "with --state: only this type (exact, or a prefix like invoice.*)")
	var since longDuration
	fset.Var(&since, "since", "with --state: only events received within this duration (e.g. 24h, 7d)")
	ids, err := parseIDs(ef, args)
	if err != nil {
		return err
	}
	f := hookbox.ReplayFilter{IDs: ids, State: hookbox.State(*state), Type: *typ}
	switch {
	case len(ids) > 0 && (*state != "" || *typ != "" || since != 0):
		return errors.New("events replay: give event ids or --state [--type] [--since], not both")
	case len(ids) == 0 && *state == "":
		return errors.New("events replay: want event ids, or --state dead (with optional --type and --since)")
	case *state != "" && !f.State.Valid():
		return fmt.Errorf("--state %q: want one of %s", *state, statesList())
	case f.State == hookbox.StateDelivering:
		return errors.New("--state delivering: those events are held by a worker; their leases expire by themselves")
	}
	now := time.Now()
	if since > 0 {
		f.Since = now.Add(-time.Duration(since))
	}
	s, err := openStoreForCLI(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	if len(ids) > 0 {
		for _, id := range ids {
			ev, err := s.FindEventByID(ctx, id)
			switch {
			case hookbox.ErrorCode(err) == hookbox.ENOTFOUND:
				return fmt.Errorf("event %s not found", id)
			case err != nil:
				return fmt.Errorf("find event: %w", err)
			case len(ev.Body) == 0:
				return fmt.Errorf("event %s cannot be replayed: retention emptied its body (--retention), so there is nothing to send", id)
			}
		}
	}
	n, err := s.ReplayEvents(ctx, f, now)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	fmt.Fprintf(env.Stdout, "replayed %d event(s)\n", n)
	if len(ids) > n {
		fmt.Fprintf(env.Stderr, "%d event(s) were being delivered right now and were left alone\n", len(ids)-n)
	}
	return nil
}
