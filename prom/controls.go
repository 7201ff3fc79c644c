package prom

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookbox/hookbox"
)

// Reasons a delivery is deferred by its destination's limits (the reason
// label of hookbox_destination_deferred_total).
const (
	DeferRate     = "rate"
	DeferInFlight = "in_flight"
)

// Probe results (the result label of
// hookbox_destination_breaker_probes_total).
const (
	ProbeOK     = "ok"
	ProbeFailed = "failed"
)

// StatesFunc returns the stored state of the destinations' controls
// (pause, circuit breaker); hookbox.Queue.DestinationStates satisfies it.
type StatesFunc func(ctx context.Context) (map[string]hookbox.DestinationState, error)

// InFlightFunc returns the attempts under way per destination in this
// process (deliver.Worker.Status).
type InFlightFunc func() map[string]int

var (
	breakerOpenDesc = prometheus.NewDesc("hookbox_destination_breaker_open",
		"1 when the destination's circuit breaker is open (its deliveries wait, one probe at a time), 0 otherwise; read from the store at scrape time, so every replica reports the same.",
		[]string{"destination"}, nil)
	pausedDesc = prometheus.NewDesc("hookbox_destination_paused",
		"1 when the destination is paused (hookbox destinations pause), 0 otherwise; read from the store at scrape time, so every replica reports the same.",
		[]string{"destination"}, nil)
	inFlightDesc = prometheus.NewDesc("hookbox_destination_in_flight",
		"Attempts at the destination under way in this replica.",
		[]string{"destination"}, nil)
)

// controlMetrics are the metrics of the destinations' delivery controls.
type controlMetrics struct {
	opens    *prometheus.CounterVec // destination
	probes   *prometheus.CounterVec // destination, result
	deferred *prometheus.CounterVec // destination, reason
	states   atomic.Pointer[StatesFunc]
	inFlight atomic.Pointer[InFlightFunc]
	dests    []string
}

func newControlMetrics(reg *prometheus.Registry, m *Metrics, dests []string) *controlMetrics {
	c := &controlMetrics{
		opens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbox_destination_breaker_opens_total",
			Help: "Times this replica opened a destination's circuit breaker (after its consecutive failed attempts reached breaker_failures).",
		}, []string{"destination"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbox_destination_breaker_probes_total",
			Help: "Attempts this replica made as an open circuit breaker's probe, by destination and result (ok: the breaker closes, failed: it stays open).",
		}, []string{"destination", "result"}),
		deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbox_destination_deferred_total",
			Help: "Deliveries a destination's limits put off without an attempt (no retry budget spent), by destination and reason (rate: its rate limit, in_flight: its max_in_flight).",
		}, []string{"destination", "reason"}),
		dests: dests,
	}
	for _, d := range dests {
		c.opens.WithLabelValues(d)
		c.probes.WithLabelValues(d, ProbeOK)
		c.probes.WithLabelValues(d, ProbeFailed)
		c.deferred.WithLabelValues(d, DeferRate)
		c.deferred.WithLabelValues(d, DeferInFlight)
	}
	reg.MustRegister(c.opens, c.probes, c.deferred, statesCollector{m}, inFlightCollector{m})
	return c
}

// BreakerOpened counts a circuit breaker this replica opened.
func (m *Metrics) BreakerOpened(destination string) {
	m.controls.opens.WithLabelValues(destination).Inc()
}

// BreakerProbe counts one probe of an open circuit breaker by its result.
func (m *Metrics) BreakerProbe(destination string, ok bool) {
	result := ProbeFailed
	if ok {
		result = ProbeOK
	}
	m.controls.probes.WithLabelValues(destination, result).Inc()
}

// Deferred counts one delivery deferred by a destination's limits; a
// reason other than rate or in_flight is counted as "other".
func (m *Metrics) Deferred(destination, reason string) {
	if reason != DeferRate && reason != DeferInFlight {
		reason = "other"
	}
	m.controls.deferred.WithLabelValues(destination, reason).Inc()
}

// RegisterDestinationStates makes every scrape call states, under
// Options.QueueTimeout, and expose hookbox_destination_breaker_open and
// hookbox_destination_paused for each destination of Options.Destinations
// (0 when the store keeps nothing for it). When states fails both are
// absent and hookbox_store_errors_total{op="count"} counts it. nil removes
// it.
func (m *Metrics) RegisterDestinationStates(states StatesFunc) {
	if states == nil {
		m.controls.states.Store(nil)
		return
	}
	m.controls.states.Store(&states)
}

// RegisterInFlight makes every scrape expose
// hookbox_destination_in_flight from inFlight (each destination of
// Options.Destinations, 0 when absent). nil removes it.
func (m *Metrics) RegisterInFlight(inFlight InFlightFunc) {
	if inFlight == nil {
		m.controls.inFlight.Store(nil)
		return
	}
	m.controls.inFlight.Store(&inFlight)
}

type statesCollector struct{ m *Metrics }

func (statesCollector) Describe(chan<- *prometheus.Desc) {}

func (c statesCollector) Collect(ch chan<- prometheus.Metric) {
	states := c.m.controls.states.Load()
	if states == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.m.queueTimeout)
	defer cancel()
	st, err := (*states)(ctx)
	if err != nil {
		c.m.storeErrors.WithLabelValues(OpCount).Inc()
		return
	}
	for _, d := range c.m.controls.dests {
		s := st[d]
		ch <- prometheus.MustNewConstMetric(breakerOpenDesc, prometheus.GaugeValue, bit(!s.BreakerOpenAt.IsZero()), d)
		ch <- prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, bit(!s.PausedAt.IsZero()), d)
	}
}

type inFlightCollector struct{ m *Metrics }

func (inFlightCollector) Describe(chan<- *prometheus.Desc) {}

func (c inFlightCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.controls.inFlight.Load()
	if f == nil {
		return
	}
	n := (*f)()
	for _, d := range c.m.controls.dests {
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(n[d]), d)
	}
}

func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
