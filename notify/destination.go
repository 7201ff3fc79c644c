package notify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
)

// Conditions kept in the store of every replica: a destination's circuit
// breaker open, a destination paused for too long.
const (
	ConditionBreakerOpen       = "breaker_open"
	ConditionDestinationPaused = "destination_paused"
)

// DefaultPausedAfter is how long a destination may stay paused before
// DestinationPaused tells someone.
const DefaultPausedAfter = time.Hour

// DestinationStater is what the destination conditions read: the store's
// hookbox.DestinationControls.
type DestinationStater interface {
	DestinationStates(ctx context.Context) (map[string]hookbox.DestinationState, error)
}

// BreakerOpen holds for each destination whose circuit breaker is open,
// as the store keeps it (so every replica sees the same): it starts when
// the breaker opens and resolves when a successful probe closes it.
func BreakerOpen(q DestinationStater) ConditionFunc {
	return func(ctx context.Context, now time.Time) ([]Finding, error) {
		states, err := q.DestinationStates(ctx)
		if err != nil {
			return nil, fmt.Errorf("destination states: %w", err)
		}
		var fs []Finding
		for name, st := range states {
			if st.BreakerOpenAt.IsZero() {
				continue
			}
			fs = append(fs, Finding{
				Condition: ConditionBreakerOpen, Subject: name,
				Title: fmt.Sprintf("destination %s: circuit breaker open", name),
				Text: fmt.Sprintf("Its attempts kept failing: the breaker opened at %s. Its events wait, parked, their retry budget "+
					"untouched (none goes dead for it), and one probe goes at a time; a successful probe closes it and sends what waited.",
					st.BreakerOpenAt.UTC().Format(time.RFC3339)),
				Path: "/destinations",
			})
		}
		return sorted(fs), nil
	}
}

// DestinationPaused holds for each destination paused (by hand: hookbox
// destinations pause, the console, the API) for longer than after, as the
// store keeps it; it resolves when the destination is resumed.
func DestinationPaused(q DestinationStater, after time.Duration) ConditionFunc {
	return func(ctx context.Context, now time.Time) ([]Finding, error) {
		states, err := q.DestinationStates(ctx)
		if err != nil {
			return nil, fmt.Errorf("destination states: %w", err)
		}
		var fs []Finding
		for name, st := range states {
			if st.PausedAt.IsZero() || now.Sub(st.PausedAt) <= after {
				continue
			}
			fs = append(fs, Finding{
				Condition: ConditionDestinationPaused, Subject: name,
				Title: fmt.Sprintf("destination %s paused for more than %s", name, shortDuration(after)),
				Text: fmt.Sprintf("It has been paused since %s: its events wait, pending, and nothing is sent to it. "+
					"Resume it when it can take them (hookbox destinations resume %s, or the console).",
					st.PausedAt.UTC().Format(time.RFC3339), name),
				Path: "/destinations",
			})
		}
		return sorted(fs), nil
	}
}

// shortDuration is d without its zero tail: 1h, 1h30m, 90s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
