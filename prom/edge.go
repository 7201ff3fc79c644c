package prom

import (
	"time"

	"github.com/hookbox/hookbox/edge"
	"github.com/prometheus/client_golang/prometheus"
)

// edgeMetrics count what the public listener's protections (package edge)
// refuse or notice. Client addresses are never labels: they are unbounded.
type edgeMetrics struct {
	outside   *prometheus.CounterVec // action: logged, refused
	refreshes *prometheus.CounterVec // outcome: success, failure
	entries   prometheus.Gauge
	limited   prometheus.Counter
	connsOut  *prometheus.CounterVec // reason: per_client, total
	certEnd   prometheus.Gauge
}

func newEdgeMetrics(reg *prometheus.Registry) *edgeMetrics {
	e := &edgeMetrics{
		outside: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbox_ip_allowlist_outside_total",
			Help: "Webhook requests from addresses outside the IP allowlist, by action (logged in log mode, refused in enforce mode).",
		}, []string{"action"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbox_ip_allowlist_refreshes_total",
			Help: "Refreshes of the IP allowlist from its source, by outcome.",
		}, []string{"outcome"}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookbox_ip_allowlist_entries",
			Help: "Addresses and ranges in the IP allowlist in force.",
		}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookbox_failed_verification_refusals_total",
			Help: "Requests refused with 429 because their client failed signature verification too often.",
		}),
		connsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookbox_connections_refused_total",
			Help: "Connections to the public listener closed at accept, by the bound they were over (per_client, total).",
		}, []string{"bound"}),
		certEnd: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookbox_tls_certificate_expiry_timestamp_seconds",
			Help: "Unix time at which the public listener's TLS certificate expires (0 without TLS).",
		}),
	}
	for _, a := range []string{"logged", "refused"} {
		e.outside.WithLabelValues(a)
	}
	for _, o := range []string{"success", "failure"} {
		e.refreshes.WithLabelValues(o)
	}
	for _, b := range []string{"per_client", "total"} {
		e.connsOut.WithLabelValues(b)
	}
	// An allowlist holds the built-in list from construction until its
	// first successful refresh (edge.NewAllowlist without Initial, as the
	// receiver builds it), and a refresh may never come (no source, or the
	// allowlist off with no failure limit): report that list from the
	// start rather than 0, which reads as "every request is outside".
	e.entries.Set(float64(len(edge.StripeWebhookIPs())))
	reg.MustRegister(e.outside, e.refreshes, e.entries, e.limited, e.connsOut, e.certEnd)
	return e
}

// AllowlistOutside counts a request from outside the IP allowlist
// (edge.AllowlistOptions.OnOutside).
func (m *Metrics) AllowlistOutside(client string, enforced bool) {
	if enforced {
		m.edge.outside.WithLabelValues("refused").Inc()
	} else {
		m.edge.outside.WithLabelValues("logged").Inc()
	}
}

// AllowlistRefresh records a refresh of the allowlist
// (edge.AllowlistOptions.OnRefresh) and sets hookbox_ip_allowlist_entries
// to the entries in force; before the first call it holds the size of the
// built-in list.
func (m *Metrics) AllowlistRefresh(entries int, err error) {
	if err != nil {
		m.edge.refreshes.WithLabelValues("failure").Inc()
	} else {
		m.edge.refreshes.WithLabelValues("success").Inc()
	}
	m.edge.entries.Set(float64(entries))
}

// FailureLimited counts a request refused by the failed-verification limit
// (edge.LimiterOptions.OnLimited).
func (m *Metrics) FailureLimited(client string) { m.edge.limited.Inc() }

// ConnRefused counts a connection refused by the connection limit
// (edge.ConnLimitOptions.OnRefused).
func (m *Metrics) ConnRefused(peer, reason string) {
	if reason == edge.RefusedPerClient {
		m.edge.connsOut.WithLabelValues("per_client").Inc()
	} else {
		m.edge.connsOut.WithLabelValues("total").Inc()
	}
}

// CertificateExpiry sets the TLS certificate's expiry time.
func (m *Metrics) CertificateExpiry(t time.Time) {
	if !t.IsZero() {
		m.edge.certEnd.Set(float64(t.Unix()))
	}
}
