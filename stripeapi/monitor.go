package stripeapi

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	stripe "github.com/stripe/stripe-go/v85"
)

// DefaultCheckEvery is how often serve checks the Stripe endpoints. Stripe
// disables an endpoint after days of failures; ten minutes is prompt
// enough, and six list calls an hour are nothing against the rate limit.
const DefaultCheckEvery = 10 * time.Minute

// checkTimeout bounds one check's list call.
const checkTimeout = time.Minute

// Monitor runs Check against Stripe's endpoints every Every, the first
// time at Start. It logs a warning for each problem (a disabled or
// missing Stripe endpoint above all: Stripe then sends nothing, silently)
// and hands each report to OnCheck. A failed list call is logged and
// reported with its error; Enabled is then unknown and OnCheck should keep
// what it had. Replicas each run their own: the list call is cheap.
//
// Configure the fields, then Start; Stop ends it.
type Monitor struct {
	Client  *stripe.Client // from reconcile.NewClient
	Targets []Target
	Every   time.Duration // required
	Logger  *slog.Logger  // nil: discarded
	// OnCheck, if set, is called after each check from the Monitor's
	// goroutine.
	OnCheck func(Report, error)

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Start starts the checks; they run until Stop.
func (m *Monitor) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.cancel != nil:
		return errors.New("stripe check: already started")
	case m.Client == nil || m.Every <= 0:
		return errors.New("stripe check: a client and a positive interval are required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	go m.loop(ctx, m.done)
	return nil
}

// Stop ends the checks and waits for a running one to return.
func (m *Monitor) Stop() {
	m.mu.Lock()
	cancel, done := m.cancel, m.done
	m.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func (m *Monitor) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(m.Every)
	defer t.Stop()
	for {
		m.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce lists Stripe's endpoints, checks them, logs and reports.
func (m *Monitor) RunOnce(ctx context.Context) (Report, error) {
	lctx, cancel := context.WithTimeout(ctx, checkTimeout)
	eps, err := List(lctx, m.Client)
	cancel()
	if ctx.Err() != nil {
		return Report{}, ctx.Err() // stopping: no report
	}
	if err != nil {
		m.logger().Warn("stripe endpoint check failed; the hookbox_stripe_endpoint_enabled gauges keep their last values", "error", err)
		m.report(Report{}, err)
		return Report{}, err
	}
	r := Check(m.Targets, eps)
	for _, f := range r.Findings {
		if f.Severity == SeverityProblem {
			m.logger().Warn("stripe endpoint: "+f.Message, "endpoint", f.Endpoint, "stripe_endpoint", f.StripeID, "aspect", f.Aspect)
		}
	}
	m.report(r, nil)
	return r, nil
}

func (m *Monitor) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

func (m *Monitor) report(r Report, err error) {
	if m.OnCheck != nil {
		m.OnCheck(r, err)
	}
}
