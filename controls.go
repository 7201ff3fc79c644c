package hookbox

import (
	"context"
	"math"
	"strings"
	"time"
)

// HoldBreaker is the HoldReason of a delivery parked because its
// destination's circuit breaker is open: due at HeldUntil, no attempt
// made, its retry budget untouched, until the breaker closes
// (ReleasePaused) or the delivery is chosen as the breaker's probe
// (ProbeBreaker).
const HoldBreaker = "breaker"

// HoldProbe is the HoldReason of the parked delivery that ProbeBreaker
// made due: the one attempt an open breaker lets through.
const HoldProbe = "probe"

// The reasons of a released delivery (HoldReleased) parked for its
// destination: the park keeps the person's release, so that once its
// destination lets it through (a resume, the breaker closing, its probe)
// it is sent whatever its API version, not held for it again. Park
// chooses the reason, ParkedAs reads it.
const (
	HoldPausedReleased  = HoldPaused + releasedSuffix
	HoldBreakerReleased = HoldBreaker + releasedSuffix
	HoldProbeReleased   = HoldProbe + releasedSuffix
)

const releasedSuffix = "+" + HoldReleased

// Parked reports whether a hold reason is one of those that park a
// delivery for its destination rather than for its event (a pause, an
// open breaker, a probe, released or not): they are not "held" in the
// API-version sense.
func Parked(reason string) bool {
	p, _ := ParkedAs(reason)
	return p != ""
}

// ParkedAs returns what a delivery with hold reason reason is parked for
// (HoldPaused, HoldBreaker or HoldProbe; "" when it is not parked) and
// whether it was released before it was parked.
func ParkedAs(reason string) (park string, released bool) {
	base, released := strings.CutSuffix(reason, releasedSuffix)
	switch base {
	case HoldPaused, HoldBreaker, HoldProbe:
		return base, released
	}
	return "", false
}

// Park returns the hold reason of a delivery whose hold reason was prev
// once parked for park (HoldPaused, HoldBreaker or HoldProbe): park,
// or park's released form when prev says the delivery was released.
func Park(prev, park string) string {
	if Released(prev) {
		return park + releasedSuffix
	}
	return park
}

// Released reports whether a delivery with hold reason reason was released
// by hand or by a replay (HoldReleased, parked or not): it is sent
// whatever its API version.
func Released(reason string) bool {
	_, parkedReleased := ParkedAs(reason)
	return reason == HoldReleased || parkedReleased
}

// DestinationState is what the store keeps of a destination's controls,
// shared by every replica.
type DestinationState struct {
	PausedAt      time.Time // zero: not paused
	BreakerOpenAt time.Time // zero: the circuit breaker is closed
	ProbeAt       time.Time // open breaker: when the next probe may go
}

// RateLimit is a destination's rate limit: Rate sends per second on
// average, with at most Burst sent at once after a quiet time. It is kept
// as a GCRA (a token bucket in one timestamp) in the store, so that every
// replica draws from one limit: in any second a destination is sent at
// most Rate+Burst events.
type RateLimit struct {
	Rate  float64 // sends per second; > 0
	Burst int     // < 1 means 1
}

// RateState is the stored state of a RateLimit.
type RateState struct {
	// TAT is the GCRA's theoretical arrival time: the next send conforms
	// when TAT - (Burst-1)*interval <= its time.
	TAT time.Time
	// Next is the time handed to the last refused send: refused sends are
	// told to come back one interval apart, in the order they were
	// refused, instead of all at once.
	Next time.Time
}

// RateJitter is the delay of a send (between its grant and its arrival at
// the destination) that a RateLimit absorbs: sends are spaced so that in
// any window of one second plus RateJitter at most Rate+Burst are
// granted, so that a send held up by up to RateJitter (a busy machine, a
// new connection) still does not show the destination more than
// Rate+Burst in one second. Up to 10 per second the spacing at the rate
// already allows for it; above, the pace is up to 9% below Rate.
const RateJitter = 100 * time.Millisecond

// Interval is the time between two sends at the limit's pace: 1/Rate, or
// a little more above 10 per second (RateJitter).
func (l RateLimit) Interval() time.Duration {
	if l.Rate <= 0 || math.IsNaN(l.Rate) {
		return 0
	}
	iv := time.Duration(float64(time.Second) / l.Rate)
	// floor((1s+RateJitter)/iv) <= Rate holds when iv exceeds
	// (1s+RateJitter)/(Rate+1).
	paced := time.Duration(float64(time.Second+RateJitter)/(math.Floor(l.Rate)+1)) + time.Microsecond
	return max(iv, paced, time.Nanosecond)
}

func (l RateLimit) burst() int { return max(l.Burst, 1) }

// Take takes one send at now from a limit in state st. A send that
// conforms within wait of now is granted (ok) at the time at, now <= at
// <= now+wait, and the state advances; otherwise at is the time to try
// again (after now+wait), spaced one interval behind the refusals before
// it, and only Next advances.
func (l RateLimit) Take(st RateState, now time.Time, wait time.Duration) (at time.Time, ok bool, next RateState) {
	iv := l.Interval()
	if iv == 0 {
		return now, true, st
	}
	tat := st.TAT
	if tat.Before(now) {
		tat = now
	}
	tolerance := time.Duration(l.burst()-1) * iv
	at = tat.Add(-tolerance)
	if at.Before(now) {
		at = now
	}
	if !at.After(now.Add(wait)) {
		st.TAT = tat.Add(iv)
		return at, true, st
	}
	again := at
	if !st.Next.Before(again) {
		again = st.Next.Add(iv)
	}
	st.Next = again
	return again, false, st
}

// DestinationControls is the store side of per-destination delivery
// controls beyond pause: the circuit breaker and the shared rate limit
// (part of Queue).
type DestinationControls interface {
	// DestinationStates returns the stored state of every destination
	// that has one (paused, breaker open or rate-limited once).
	DestinationStates(ctx context.Context) (map[string]DestinationState, error)

	// SetBreaker opens (open) the breaker of destination name at now,
	// with its first probe at probeAt, or closes it. changed is false when
	// it already was so (another replica got there first).
	SetBreaker(ctx context.Context, name string, open bool, probeAt, now time.Time) (changed bool, err error)

	// ProbeBreaker lets one probe through the open breaker of destination
	// name when its probe time has come (ProbeAt <= now): the parked
	// delivery (HoldBreaker or HoldBreakerReleased) parked longest (a
	// failed probe, parked again, goes behind the rest), then with the
	// fewest attempts, then of the oldest event, becomes due at now with
	// HoldReason HoldProbe (HoldProbeReleased when it was released), and the next
	// probe is set to next. Returns the event id, or "" when the breaker is
	// not open, the probe time has not come, or nothing is parked (then the
	// probe time is left as it is). Replicas racing get one probe.
	ProbeBreaker(ctx context.Context, name string, next, now time.Time) (eventID string, err error)

	// CountParked returns the number of pending deliveries parked for
	// their destination (Parked), per destination and what parks them
	// (ParkedAs: HoldPaused, HoldBreaker, HoldProbe, the released forms
	// counted with theirs); destinations with none are absent.
	CountParked(ctx context.Context) (map[string]map[string]int, error)

	// TakeRate takes one send from the rate limit of destination name
	// (RateLimit.Take on the stored state, atomically): ok with the send
	// time at, within wait of now, or the time to try again.
	TakeRate(ctx context.Context, name string, lim RateLimit, wait time.Duration, now time.Time) (at time.Time, ok bool, err error)
}
