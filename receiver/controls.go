package receiver

import (
	"context"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// destinationStates returns the store's destination states as the metrics
// report them: the breaker of a destination whose breaker is off
// (breaker_failures: off) reads closed, whatever the store kept from an
// earlier configuration (the worker ignores it too).
func (r *Receiver) destinationStates(ctx context.Context) (map[string]hookbox.DestinationState, error) {
	st, err := r.store.DestinationStates(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range r.dests {
		if s, ok := st[d.Name()]; ok && deliver.ControlsOf(d).BreakerFailures < 0 {
			s.BreakerOpenAt, s.ProbeAt = time.Time{}, time.Time{}
			st[d.Name()] = s
		}
	}
	return st, nil
}

// inFlight returns the attempts under way per destination in this
// replica's worker.
func (r *Receiver) inFlight() map[string]int {
	out := map[string]int{}
	for name, s := range r.worker.Status() {
		out[name] = s.InFlight
	}
	return out
}

// breakerOpened counts the circuit breakers this replica opens.
func (r *Receiver) breakerOpened(dest string, open bool) {
	if open {
		r.metrics.BreakerOpened(dest)
	}
}
