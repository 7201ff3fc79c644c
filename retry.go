package hookbox

import (
	"math/rand/v2"
	"time"
)

// Retry defaults: Stripe's own window is 3 days.
const (
	DefaultRetryBase   = 10 * time.Second
	DefaultRetryCap    = time.Hour
	DefaultMaxAttempts = 25
	DefaultRetryWindow = 72 * time.Hour
)

// RetryPolicy decides when a failed delivery is tried again, or that it is
// dead. The zero value uses the defaults.
type RetryPolicy struct {
	Base        time.Duration // first backoff
	Cap         time.Duration // largest backoff
	MaxAttempts int           // attempts before dead
	Window      time.Duration // time since the event was received before dead
	// RandFunc returns a float in [0,1) for jitter; nil: math/rand/v2.
	RandFunc func() float64
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Base <= 0 {
		p.Base = DefaultRetryBase
	}
	if p.Cap <= 0 {
		p.Cap = DefaultRetryCap
	}
	if p.Cap < p.Base {
		p.Cap = p.Base
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.Window <= 0 {
		p.Window = DefaultRetryWindow
	}
	if p.RandFunc == nil {
		p.RandFunc = rand.Float64
	}
	return p
}

// Backoff returns the delay before the attempt following attempt number n
// (1-based): an exponential Base*2^(n-1), capped at Cap, with "equal jitter"
// (half fixed, half random) so that retries of many events spread out but
// never collapse to zero.
func (p RetryPolicy) Backoff(n int) time.Duration {
	p = p.withDefaults()
	d := p.Cap
	if n < 1 {
		n = 1
	}
	if n <= 40 {
		if b := p.Base << (n - 1); b > 0 && b < p.Cap {
			d = b
		}
	}
	half := d / 2
	return half + time.Duration(p.RandFunc()*float64(d-half))
}

// Next decides after a failed attempt number n (1-based, counted since the
// last replay): the time of the next attempt, or dead when the attempt
// budget or the retry window is spent. The window runs from windowStart:
// the event's receive time, or its last replay (Event.WindowStart).
func (p RetryPolicy) Next(n int, windowStart, now time.Time) (next time.Time, dead bool) {
	p = p.withDefaults()
	if n >= p.MaxAttempts {
		return time.Time{}, true
	}
	next = now.Add(p.Backoff(n))
	if !windowStart.IsZero() && next.Sub(windowStart) > p.Window {
		return time.Time{}, true
	}
	return next, false
}
