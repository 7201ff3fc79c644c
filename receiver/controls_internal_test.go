package receiver

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/sqlite"
)

// Ensures the destination states the metrics report are the store's,
// except the breaker of a destination whose breaker is off
// (breaker_failures: off), which reads closed whatever an earlier
// configuration left open in the store.
func TestDestinationStates_BreakerOff(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "hookbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mk := func(name string, c deliver.Controls) deliver.Destination {
		h, err := deliver.NewHTTP(name, "http://127.0.0.1:9/", "whsec_0123456789abcdef0123456789abcdef", deliver.HTTPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return deliver.Controlled(h, c)
	}
	now := time.Now()
	for _, name := range []string{"on", "off"} {
		if _, err := s.SetBreaker(ctx, name, true, now.Add(time.Second), now); err != nil {
			t.Fatal(err)
		}
	}
	r := &Receiver{store: s, dests: routedDestinations([]Endpoint{{Name: "stripe", Destinations: []deliver.Destination{
		mk("on", deliver.Controls{}), mk("off", deliver.Controls{BreakerFailures: -1})}}})}
	st, err := r.destinationStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st["on"].BreakerOpenAt.IsZero() || !st["off"].BreakerOpenAt.IsZero() {
		t.Fatalf("states %+v: want on open, off closed", st)
	}
}
