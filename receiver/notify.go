package receiver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/ingest"
	"github.com/hookbox/hookbox/notify"
)

// NotifyOptions configure notifications to people (package notify): the
// channels, and the conditions' thresholds. A zero threshold means the
// notify package's default; a negative one turns the condition off.
type NotifyOptions struct {
	Channels    []notify.Channel // required
	ConsoleURL  string           // the console as people reach it; messages link to it
	Every       time.Duration    // 0: notify.DefaultEvery
	MinInterval time.Duration    // 0: notify.DefaultMinInterval
	// DeadEvents off: no message when events go dead.
	DeadEventsOff bool
	// FailingAfter: a destination whose attempts all failed for this long.
	FailingAfter time.Duration
	// SignatureFailures in SignatureWindow on one endpoint.
	SignatureFailures int
	SignatureWindow   time.Duration
	// OldSecretAfter: a non-first secret still matching this long after
	// its first match.
	OldSecretAfter time.Duration
	// BreakerOpenOff: no message when a destination's circuit breaker
	// opens (and closes).
	BreakerOpenOff bool
	// PausedAfter: a destination paused for longer than this.
	PausedAfter time.Duration
	// Silence: endpoints that must receive an event at least this often.
	Silence map[string]time.Duration
	// Conditions are more conditions to evaluate.
	Conditions []notify.ConditionFunc
}

func (o *NotifyOptions) validate(endpoints []Endpoint) error {
	if len(o.Channels) == 0 {
		return errors.New("notify: no channel")
	}
	if o.Every < 0 || o.MinInterval < 0 || o.SignatureWindow < 0 {
		return errors.New("notify: every, min_interval and the signature window must be positive")
	}
	for name, d := range o.Silence {
		found := false
		for _, ep := range endpoints {
			found = found || ep.Name == name
		}
		if !found {
			return fmt.Errorf("notify: silence: no endpoint %q", name)
		}
		if d <= 0 {
			return fmt.Errorf("notify: silence of %q must be positive", name)
		}
	}
	return nil
}

// newNotifier builds the Notifier of Options.Notify and the Tracker that
// ingest and delivery feed.
func (r *Receiver) newNotifier() *notify.Notifier {
	o := r.opts.Notify
	r.tracker = notify.NewTracker(r.opts.NowFunc())
	var conds []notify.ConditionFunc
	if !o.DeadEventsOff {
		dead := notify.DeadEvents(r.store)
		// Its baseline is the dead count now, before any delivery runs:
		// an event that dies right after the start is news. (Should the
		// store not answer, the first evaluation takes it.)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		dead(ctx, r.opts.NowFunc())
		cancel()
		conds = append(conds, dead)
	}
	if o.FailingAfter >= 0 {
		conds = append(conds, notify.DestinationFailing(r.tracker, orDefault(o.FailingAfter, notify.DefaultFailingAfter)))
	}
	if o.SignatureFailures >= 0 {
		n := o.SignatureFailures
		if n == 0 {
			n = notify.DefaultSignatureFailures
		}
		conds = append(conds, notify.SignatureFailures(r.tracker, n, orDefault(o.SignatureWindow, notify.DefaultSignatureWindow)))
	}
	if o.OldSecretAfter >= 0 {
		conds = append(conds, notify.OldSecret(r.tracker, orDefault(o.OldSecretAfter, notify.DefaultOldSecretAfter)))
	}
	if !o.BreakerOpenOff {
		conds = append(conds, notify.BreakerOpen(r.store))
	}
	if o.PausedAfter >= 0 {
		conds = append(conds, notify.DestinationPaused(r.store, orDefault(o.PausedAfter, notify.DefaultPausedAfter)))
	}
	if len(o.Silence) > 0 {
		conds = append(conds, notify.EndpointSilent(r.tracker, o.Silence))
	}
	n := &notify.Notifier{
		Channels: o.Channels, Conditions: append(conds, o.Conditions...), ConsoleURL: o.ConsoleURL,
		Every: o.Every, MinInterval: o.MinInterval, NowFunc: r.opts.NowFunc, Logger: r.logger,
	}
	if l, ok := r.store.(hookbox.Locker); ok {
		n.Locker = l
	}
	return n
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// trackIngest feeds one ingest result to the notifications' Tracker.
func (r *Receiver) trackIngest(res ingest.Result) {
	if r.tracker == nil {
		return
	}
	idx := -1
	if res.Event != nil {
		idx = res.Event.SecretIndex
	}
	r.tracker.Ingest(res.Endpoint, r.opts.NowFunc(), res.Outcome == ingest.OutcomeRejected, idx, res.Outcome == ingest.OutcomeAccepted)
}

// startNotify starts the notifications, when configured.
func (r *Receiver) startNotify() error {
	if r.notifier == nil {
		return nil
	}
	if err := r.notifier.Start(context.Background()); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	r.stops = append(r.stops, r.notifier.Stop)
	return nil
}
