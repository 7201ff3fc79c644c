package main

import (
	"fmt"

	"github.com/hookbox/hookbox/deliver"
)

// orderFlags registers --order and its options for --forward-to.
func (c *serveConfig) orderFlags(ef *envFlags) func() error {
	order := ef.str("order", "HOOKBOX_ORDER", "none", "none, or object: deliver the events of each Stripe object (data.object.id) in creation order, one at a time")
	window := ef.duration("order-window", "HOOKBOX_ORDER_WINDOW", 0, "with --order object: how long a new event waits before its first attempt, so that events Stripe sends out of order within it are put right (0: 1s)")
	late := ef.str("late", "HOOKBOX_LATE", "", "with --order object: deliver (default; with a Hookbox-Late header) or skip an event that arrives after a newer one of its object was delivered")
	onDead := ef.str("on-dead", "HOOKBOX_ON_DEAD", "", "with --order object: block (default: the object's later events wait until the dead one is replayed or skipped) or skip")
	return func() (err error) {
		if c.forward.order, err = deliver.ParseOrdering(*order, *window, *late, *onDead); err != nil {
			return fmt.Errorf("--order: %w", err)
		}
		return nil
	}
}
