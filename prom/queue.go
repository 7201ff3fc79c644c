package prom

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookbox/hookbox"
)

// CountFunc counts the stored events by state and returns the receive time
// of the oldest pending one (zero if none); hookbox.Queue.CountEvents
// satisfies it.
type CountFunc func(ctx context.Context) (map[hookbox.State]int, time.Time, error)

var (
	eventsDesc = prometheus.NewDesc("hookbox_events",
		"Stored events by state (pending, delivering, delivered, dead), counted at scrape time.",
		[]string{"state"}, nil)
	deadDesc = prometheus.NewDesc("hookbox_dead_events",
		"Events whose delivery gave up, waiting for a replay; counted at scrape time.",
		nil, nil)
	oldestDesc = prometheus.NewDesc("hookbox_oldest_pending_seconds",
		"Age of the oldest event not delivered yet, pending or being delivered (by receive time, retries included); 0 when there is none.",
		nil, nil)
)

// RegisterQueue makes every scrape call count, under Options.QueueTimeout,
// and expose hookbox_events{state}, hookbox_dead_events and
// hookbox_oldest_pending_seconds. The gauges describe the whole database:
// replicas sharing one report the same values.
//
// When count fails or times out, the scrape counts one
// hookbox_store_errors_total{op="count"} (seen by the next scrape at the
// latest) and exposes none of the three, never a stale value. A later call
// replaces count; nil removes it.
func (m *Metrics) RegisterQueue(count CountFunc) {
	if count == nil {
		m.queue.Store(nil)
		return
	}
	m.queue.Store(&count)
}

// queueCollector runs the registered CountFunc at scrape time. It is
// unchecked (Describe sends nothing) because its metrics come and go with
// the count's success.
type queueCollector struct{ m *Metrics }

func (queueCollector) Describe(chan<- *prometheus.Desc) {}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	count := c.m.queue.Load()
	if count == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.m.queueTimeout)
	defer cancel()
	states, oldest, err := (*count)(ctx)
	if err != nil {
		c.m.storeErrors.WithLabelValues(OpCount).Inc()
		return
	}
	for _, s := range hookbox.States {
		ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.GaugeValue, float64(states[s]), string(s))
	}
	ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, float64(states[hookbox.StateDead]))
	age := 0.0
	if !oldest.IsZero() {
		age = max(c.m.now().Sub(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
}
