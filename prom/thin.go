package prom

import (
	"context"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookbox/hookbox"
)

// HealthPrefix starts the types of Stripe's health events, which report
// problems on Stripe's side (event generation failing, for example).
const HealthPrefix = "v2.core.health."

// The fetch outcomes of hookbox_thin_fetches_total (thin.Outcome's values).
var fetchOutcomes = []string{"fetched", "error", "rate_limited", "failed"}

// thinMetrics are the thin-event collectors, registered on first use.
type thinMetrics struct {
	once    sync.Once
	fetches *prometheus.CounterVec // outcome
	health  *prometheus.CounterVec // endpoint, type
}

func (m *Metrics) thinInit() *thinMetrics {
	t := &m.thin
	t.once.Do(func() {
		t.fetches = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbox_thin_fetches_total",
			Help: "Fetches of thin events' full form from GET /v2/core/events/{id}, by outcome (fetched, error: retried, rate_limited: a 429, retried, failed: given up).",
		}, []string{"outcome"})
		t.health = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbox_stripe_health_events_total",
			Help: "Stripe health events (v2.core.health.*) received, by endpoint and type: Stripe reports a problem on its side.",
		}, []string{"endpoint", "type"})
		m.reg.MustRegister(t.fetches, t.health)
		for _, o := range fetchOutcomes {
			t.fetches.WithLabelValues(o)
		}
	})
	return t
}

// RegisterThin creates the thin-event series at zero (a receiver with a
// thin endpoint calls it at start, so that rate() sees the first health
// event) and, when count is set, reports the fetches by state at scrape
// time as hookbox_thin_fetches{state}.
func (m *Metrics) RegisterThin(endpoints []string, count func(context.Context) (map[hookbox.FetchState]int, error)) {
	t := m.thinInit()
	for _, ep := range endpoints {
		t.health.WithLabelValues(ep, HealthPrefix+"event_generation_failure.resolved")
	}
	if count != nil {
		m.reg.MustRegister(fetchCollector{m: m, count: count})
	}
}

// ThinFetch counts one fetch attempt by its outcome.
func (m *Metrics) ThinFetch(outcome string) { m.thinInit().fetches.WithLabelValues(outcome).Inc() }

// HealthEvent counts ev when it is a Stripe health event.
func (m *Metrics) HealthEvent(endpoint string, ev *hookbox.Event) {
	if ev != nil && strings.HasPrefix(ev.Type, HealthPrefix) {
		m.thinInit().health.WithLabelValues(endpoint, ev.Type).Inc()
	}
}

var fetchStateDesc = prometheus.NewDesc("hookbox_thin_fetches",
	"Thin events by the state of their full form's fetch (pending, fetched, failed).", []string{"state"}, nil)

type fetchCollector struct {
	m     *Metrics
	count func(context.Context) (map[hookbox.FetchState]int, error)
}

func (c fetchCollector) Describe(ch chan<- *prometheus.Desc) { ch <- fetchStateDesc }

func (c fetchCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.m.queueTimeout)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(fetchStateDesc, err)
		return
	}
	for _, st := range hookbox.FetchStates {
		ch <- prometheus.MustNewConstMetric(fetchStateDesc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
}
