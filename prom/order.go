package prom

import (
	"context"

	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// BlockedFunc counts, per destination, the ordered keys held by a dead
// event; hookbox.Queue.CountBlocked satisfies it.
type BlockedFunc func(ctx context.Context) (map[string]int, error)

var blockedDesc = prometheus.NewDesc("hookbox_ordered_keys_blocked",
	"Stripe objects whose events an ordered destination holds behind a dead event (--on-dead block), until it is replayed or skipped; counted at scrape time.",
	[]string{"destination"}, nil)

// orderMetrics are the metrics of delivery in object order.
type orderMetrics struct {
	late    *prometheus.CounterVec // destination
	blocked atomic.Pointer[BlockedFunc]
	ordered []string // destinations reported at 0 when nothing is blocked
}

func newOrderMetrics(reg *prometheus.Registry, m *Metrics, ordered []string) *orderMetrics {
	o := &orderMetrics{
		late: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbox_late_events_total",
			Help: "Events an ordered destination was given after a newer event of the same Stripe object had been delivered to it (delivered with Hookbox-Late, or skipped under --late skip).",
		}, []string{"destination"}),
		ordered: ordered,
	}
	for _, d := range ordered {
		o.late.WithLabelValues(d)
	}
	reg.MustRegister(o.late, blockedCollector{m}, heldCollector{m})
	return o
}

// Late counts a late event given to destination.
func (m *Metrics) Late(destination string) { m.order.late.WithLabelValues(destination).Inc() }

// RegisterBlocked makes every scrape call count, under Options.QueueTimeout,
// and expose hookbox_ordered_keys_blocked{destination}, 0 for each ordered
// destination with nothing blocked. When count fails the gauge is absent
// and hookbox_store_errors_total{op="count"} counts it. nil removes it.
func (m *Metrics) RegisterBlocked(count BlockedFunc) {
	if count == nil {
		m.order.blocked.Store(nil)
		return
	}
	m.order.blocked.Store(&count)
}

type blockedCollector struct{ m *Metrics }

func (blockedCollector) Describe(chan<- *prometheus.Desc) {}

func (c blockedCollector) Collect(ch chan<- prometheus.Metric) {
	count := c.m.order.blocked.Load()
	if count == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.m.queueTimeout)
	defer cancel()
	blocked, err := (*count)(ctx)
	if err != nil {
		c.m.storeErrors.WithLabelValues(OpCount).Inc()
		return
	}
	for _, d := range c.m.order.ordered {
		if _, ok := blocked[d]; !ok {
			blocked[d] = 0
		}
	}
	for d, n := range blocked {
		ch <- prometheus.MustNewConstMetric(blockedDesc, prometheus.GaugeValue, float64(n), d)
	}
}

// HeldFunc counts the held deliveries per destination;
// hookbox.Queue.CountHeld satisfies it.
type HeldFunc func(ctx context.Context) (map[string]int, error)

var heldDesc = prometheus.NewDesc("hookbox_deliveries_held",
	"Deliveries held because the event's Stripe API version is not one the destination reads (its api_version), waiting for hookbox events release; counted at scrape time.",
	[]string{"destination"}, nil)

// RegisterHeld makes every scrape call count, under Options.QueueTimeout,
// and expose hookbox_deliveries_held{destination}, 0 for each destination
// of versioned with nothing held. When count fails the gauge is absent and
// hookbox_store_errors_total{op="count"} counts it. nil removes it.
func (m *Metrics) RegisterHeld(count HeldFunc, versioned []string) {
	if count == nil {
		m.held.Store(nil)
		return
	}
	m.held.Store(&heldSource{count: count, dests: versioned})
}

type heldSource struct {
	count HeldFunc
	dests []string
}

type heldCollector struct{ m *Metrics }

func (heldCollector) Describe(chan<- *prometheus.Desc) {}

func (c heldCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.held.Load()
	if src == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.m.queueTimeout)
	defer cancel()
	held, err := src.count(ctx)
	if err != nil {
		c.m.storeErrors.WithLabelValues(OpCount).Inc()
		return
	}
	for _, d := range src.dests {
		if _, ok := held[d]; !ok {
			held[d] = 0
		}
	}
	for d, n := range held {
		ch <- prometheus.MustNewConstMetric(heldDesc, prometheus.GaugeValue, float64(n), d)
	}
}
