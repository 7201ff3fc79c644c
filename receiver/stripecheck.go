package receiver

import (
	"errors"
	"log/slog"
	"time"

	"github.com/hookbox/hookbox/reconcile"
	"github.com/hookbox/hookbox/stripeapi"
)

// StripeCheckOptions configure the periodic check of the Stripe webhook
// endpoints that point at the receiver's endpoints (stripeapi.Monitor).
// Each replica checks on its own: one list call per interval is cheap.
type StripeCheckOptions struct {
	Key     string        // Stripe API key (rk_/sk_); never logged
	APIBase string        // "": https://api.stripe.com
	Every   time.Duration // required
	// Targets are the endpoints to check, with the public URLs Stripe
	// posts to; endpoints without a known URL are left out.
	Targets []stripeapi.Target
}

func (o *StripeCheckOptions) validate() error {
	switch {
	case o.Key == "":
		return errors.New("the Stripe endpoint check needs STRIPE_API_KEY or STRIPE_API_KEY_FILE")
	case o.Every <= 0:
		return errors.New("--stripe-check-every must be positive (or 0: off)")
	case len(o.Targets) == 0:
		return errors.New("the Stripe endpoint check needs the public URL of an endpoint (--public-url)")
	}
	return nil
}

// newStripeMonitor returns the Stripe endpoint check, not started. Each
// report sets hookbox_stripe_endpoint_enabled per endpoint; a failed list
// call leaves the gauges as they were.
func (r *Receiver) newStripeMonitor() (*stripeapi.Monitor, error) {
	c := r.opts.StripeCheck
	client, err := reconcile.NewClient(c.Key, reconcile.ClientConfig{APIBase: c.APIBase})
	if err != nil {
		return nil, err
	}
	return &stripeapi.Monitor{
		Client: client, Targets: c.Targets, Every: c.Every,
		Logger: r.logger.With(slog.String("component", "stripe_check")),
		OnCheck: func(rep stripeapi.Report, err error) {
			if err != nil {
				return
			}
			for name, ok := range rep.Enabled {
				r.metrics.StripeEndpointEnabled(name, ok)
			}
		},
	}, nil
}
