// Package prom exposes hookbox's metrics to Prometheus. It is the only
// package of the module that imports the Prometheus client.
//
// The library packages never touch a registry: they emit hooks
// (ingest.Handler.OnResult, groupcommit.Options.OnBatchFunc, the delivery
// worker's attempt hook, the reconcile run hook, hookbox.Queue.CountEvents).
// New builds a Metrics with a registry of its own, and its methods adapt
// those hooks, so a program embedding hookbox never inherits a global
// registry and prometheus.DefaultRegisterer stays untouched.
//
// Label values are bounded: outcomes and reasons come from fixed sets
// (anything else is counted as "other"), a secret is named by its position
// in the endpoint's list of secrets, never its value, and endpoint and
// destination names come from the configuration.
//
// The alert rules in deploy/prometheus are written against these names; a
// test keeps both in step.
package prom

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/ingest"
)

// DefaultQueueTimeout bounds the store query run at each scrape for the
// queue gauges when Options.QueueTimeout is <= 0. It stays well under
// Prometheus' default scrape timeout of 10s.
const DefaultQueueTimeout = 2 * time.Second

// Store operations counted by hookbox_store_errors_total. Callers of
// StoreError may use others; see StoreError.
const (
	OpInsert   = "insert"   // a group-commit batch failed (Batch)
	OpCount    = "count"    // the scrape-time CountEvents failed or timed out
	OpClaim    = "claim"    // a delivery worker could not claim events
	OpComplete = "complete" // a delivery worker could not record a claim's outcome
	OpRelease  = "release"  // a delivery worker could not release claims
	OpPrune    = "prune"    // a retention sweep failed
)

// Outcomes of a delivery attempt (the outcome label of
// hookbox_delivery_attempts_total).
const (
	OutcomeDelivered = "delivered"
	OutcomeFailed    = "failed"
)

// Outcomes of a reconcile run (the outcome label of
// hookbox_reconcile_runs_total).
const (
	RunSuccess = "success"
	RunFailure = "failure"
)

// outcomes are the values of the outcome label of
// hookbox_webhook_requests_total; anything else is "other".
var outcomes = []ingest.Outcome{
	ingest.OutcomeAccepted, ingest.OutcomeDuplicate, ingest.OutcomeRejected,
	ingest.OutcomeInvalid, ingest.OutcomeTooLarge, ingest.OutcomeUnavailable,
	ingest.OutcomeBadMethod, ingest.OutcomeReadError, ingest.OutcomeNotDelivered,
}

// reasons are the values stripesig.Reason returns; anything else is
// "other".
var reasons = []string{"not_signed", "invalid_header", "no_valid_signature", "too_old", "too_new", "other"}

// Ingest latency buckets: a durable commit is a few ms, a slow disk or a
// large batch tens, anything near Stripe's timeout is an incident.
var ingestBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// Delivery latency buckets: destinations are HTTP services, up to a
// generous timeout.
var deliveryBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Endpoint names a configured webhook endpoint and how many secrets it has.
type Endpoint struct {
	Name    string
	Secrets int
}

// Options configure New. The zero value works; naming the endpoints and
// destinations is recommended, see below.
type Options struct {
	// Version is reported by hookbox_build_info; "" takes the main
	// module's version from the build info, or "(devel)".
	Version string

	// Endpoints and Destinations from the configuration: their series are
	// created at zero, so that rate() and increase() see the first
	// rejection or failed attempt (a counter born at 1 shows no increase)
	// and the optional no-events alert sees an endpoint that never
	// received anything.
	Endpoints    []Endpoint
	Destinations []string
	// OrderedDestinations deliver in object order: their late-event
	// counter starts at zero and hookbox_ordered_keys_blocked reports them
	// at 0 when nothing is blocked.
	OrderedDestinations []string

	// QueueTimeout bounds the scrape-time count of the queue;
	// <= 0 means DefaultQueueTimeout.
	QueueTimeout time.Duration

	// NowFunc is the clock for hookbox_oldest_pending_seconds;
	// nil: time.Now.
	NowFunc func() time.Time
}

// Metrics holds hookbox's collectors on a registry of its own. Its methods
// are safe for concurrent use and cheap enough to be called on the request
// path.
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec   // endpoint, outcome
	sigFailures   *prometheus.CounterVec   // endpoint, reason
	secretMatches *prometheus.CounterVec   // endpoint, secret
	ingestSeconds *prometheus.HistogramVec // endpoint
	storeErrors   *prometheus.CounterVec   // op
	batchSize     prometheus.Histogram
	commitSeconds prometheus.Histogram
	attempts      *prometheus.CounterVec   // destination, outcome
	attemptSecs   *prometheus.HistogramVec // destination
	reconRuns     *prometheus.CounterVec   // outcome
	reconMissed   prometheus.Counter
	reconLastOK   prometheus.Gauge // registered at the first success
	reconOnce     sync.Once
	stripeEnabled *prometheus.GaugeVec // endpoint

	edge     *edgeMetrics
	order    *orderMetrics
	controls *controlMetrics
	held     atomic.Pointer[heldSource]
	thin     thinMetrics

	queue        atomic.Pointer[CountFunc]
	queueTimeout time.Duration
	now          func() time.Time
}

// New returns Metrics registered on a new registry, together with the Go
// runtime and process collectors and hookbox_build_info.
func New(opts Options) *Metrics {
	m := &Metrics{
		reg:          prometheus.NewRegistry(),
		queueTimeout: opts.QueueTimeout,
		now:          opts.NowFunc,
	}
	if m.queueTimeout <= 0 {
		m.queueTimeout = DefaultQueueTimeout
	}
	if m.now == nil {
		m.now = time.Now
	}

	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookbox_webhook_requests_total",
		Help: "Webhook requests handled, by endpoint and outcome (accepted, duplicate, rejected, invalid, too_large, unavailable, bad_method, read_error, not_delivered).",
	}, []string{"endpoint", "outcome"})
	m.sigFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookbox_signature_failures_total",
		Help: "Requests whose Stripe-Signature failed verification, by endpoint and reason (not_signed, invalid_header, no_valid_signature, too_old, too_new, other).",
	}, []string{"endpoint", "reason"})
	m.secretMatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookbox_secret_matches_total",
		Help: "Verified requests by endpoint and position of the secret that matched (0 is the first listed, by convention the newest).",
	}, []string{"endpoint", "secret"})
	m.ingestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hookbox_ingest_duration_seconds",
		Help:    "Time to answer a verified webhook request that reached the store (accepted, duplicate, unavailable; not_delivered in sync mode, delivery included), by endpoint.",
		Buckets: ingestBuckets,
	}, []string{"endpoint"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookbox_store_errors_total",
		Help: "Store operations that failed, by operation (insert: a group-commit batch; count: the scrape-time queue count; others named by their caller).",
	}, []string{"op"})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "hookbox_commit_batch_size",
		Help:    "Events per group-commit insert.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 .. 512
	})
	m.commitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "hookbox_commit_duration_seconds",
		Help:    "Time one group-commit insert took, including the durable commit.",
		Buckets: ingestBuckets,
	})
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookbox_delivery_attempts_total",
		Help: "Delivery attempts by destination and outcome (delivered, failed).",
	}, []string{"destination", "outcome"})
	m.attemptSecs = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hookbox_delivery_duration_seconds",
		Help:    "Duration of delivery attempts, whatever their outcome, by destination.",
		Buckets: deliveryBuckets,
	}, []string{"destination"})
	m.reconRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookbox_reconcile_runs_total",
		Help: "Reconcile runs by outcome (success, failure).",
	}, []string{"outcome"})
	m.reconMissed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hookbox_reconcile_recovered_events_total",
		Help: "Events found by reconcile in Stripe's events API that had not been received: each is a delivery Stripe failed.",
	})
	m.reconLastOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hookbox_reconcile_last_success_timestamp_seconds",
		Help: "Unix time of the last successful reconcile run; absent until one succeeds.",
	})
	m.stripeEnabled = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hookbox_stripe_endpoint_enabled",
		Help: "1 when the Stripe webhook endpoints posting to this hookbox endpoint exist and are all enabled, 0 when one is disabled or none points at it; absent until serve's periodic check (--stripe-check-every) has run.",
	}, []string{"endpoint"})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hookbox_build_info",
		Help: "Always 1; the labels name the running build.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version(opts.Version), runtime.Version()).Set(1)

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		m.requests, m.sigFailures, m.secretMatches, m.ingestSeconds,
		m.storeErrors, m.batchSize, m.commitSeconds,
		m.attempts, m.attemptSecs,
		m.reconRuns, m.reconMissed, m.stripeEnabled,
		queueCollector{m},
	)

	m.edge = newEdgeMetrics(m.reg)
	m.order = newOrderMetrics(m.reg, m, opts.OrderedDestinations)
	m.controls = newControlMetrics(m.reg, m, opts.Destinations)

	// Series that exist from the start, at zero.
	for _, ep := range opts.Endpoints {
		for _, o := range outcomes {
			m.requests.WithLabelValues(ep.Name, string(o))
		}
		for _, r := range reasons {
			m.sigFailures.WithLabelValues(ep.Name, r)
		}
		for i := range ep.Secrets {
			m.secretMatches.WithLabelValues(ep.Name, strconv.Itoa(i))
		}
		m.ingestSeconds.WithLabelValues(ep.Name)
	}
	for _, d := range opts.Destinations {
		m.attempts.WithLabelValues(d, OutcomeDelivered)
		m.attempts.WithLabelValues(d, OutcomeFailed)
		m.attemptSecs.WithLabelValues(d)
	}
	m.storeErrors.WithLabelValues(OpInsert)
	m.storeErrors.WithLabelValues(OpCount)
	m.reconRuns.WithLabelValues(RunSuccess)
	m.reconRuns.WithLabelValues(RunFailure)
	return m
}

func version(v string) string {
	if v != "" {
		return v
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Handler serves the registry in the Prometheus exposition formats, for
// /metrics on the admin listener. A collector that fails does not blank the
// others.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg, // counts the handler's own errors
	})
}

// IngestResult records one handled webhook request; its signature is that of
// ingest.Handler.OnResult. It counts the request by outcome, a signature
// failure by reason, the matching secret's position of a verified event,
// and the latency of a request that reached the store.
func (m *Metrics) IngestResult(r ingest.Result) {
	outcome := "other"
	for _, o := range outcomes {
		if r.Outcome == o {
			outcome = string(o)
			break
		}
	}
	m.requests.WithLabelValues(r.Endpoint, outcome).Inc()

	if r.Outcome == ingest.OutcomeRejected {
		reason := "other"
		for _, v := range reasons {
			if r.Reason == v {
				reason = v
				break
			}
		}
		m.sigFailures.WithLabelValues(r.Endpoint, reason).Inc()
	}
	// The event is set once the signature is verified and the body is an
	// event: accepted, duplicate, unavailable, not_delivered.
	if r.Event != nil {
		if r.Event.SecretIndex >= 0 {
			m.secretMatches.WithLabelValues(r.Endpoint, strconv.Itoa(r.Event.SecretIndex)).Inc()
		}
		// Rejections are answered before any I/O: observing them would let a
		// flood of forged requests flatter the latency.
		m.ingestSeconds.WithLabelValues(r.Endpoint).Observe(r.Duration.Seconds())
	}
}

// Batch records one group-commit insert; its signature is that of
// groupcommit.Options.OnBatchFunc. A failed batch counts one store error
// with op="insert" (each of its requests is counted as unavailable by
// IngestResult).
func (m *Metrics) Batch(size int, d time.Duration, err error) {
	m.batchSize.Observe(float64(size))
	m.commitSeconds.Observe(d.Seconds())
	if err != nil {
		m.storeErrors.WithLabelValues(OpInsert).Inc()
	}
}

// StoreError counts one failed store operation. op must be a constant of
// the caller's code (claim, complete, prune, ...): a short lowercase name
// of letters and underscores; anything else is counted as "other", so that
// no error text becomes a label value.
func (m *Metrics) StoreError(op string) {
	if !isName(op) {
		op = "other"
	}
	m.storeErrors.WithLabelValues(op).Inc()
}

func isName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < 'a' || s[i] > 'z') && s[i] != '_' {
			return false
		}
	}
	return true
}

// Attempt records one delivery attempt, as the delivery worker's attempt
// hook reports it: outcome delivered or failed, and its duration, by
// destination.
func (m *Metrics) Attempt(a hookbox.Attempt) {
	outcome := OutcomeFailed
	if a.OK {
		outcome = OutcomeDelivered
	}
	m.attempts.WithLabelValues(a.Destination, outcome).Inc()
	m.attemptSecs.WithLabelValues(a.Destination).Observe(a.Duration.Seconds())
}

// StripeEndpointEnabled records the result of a Stripe endpoint check for
// hookbox endpoint endpoint: whether Stripe posts to it (stripeapi.Report's
// Enabled).
func (m *Metrics) StripeEndpointEnabled(endpoint string, enabled bool) {
	v := 0.0
	if enabled {
		v = 1
	}
	m.stripeEnabled.WithLabelValues(endpoint).Set(v)
}

// ReconcileRun records one reconcile run: whether it succeeded, how many
// events it recovered (counted even when the run failed after recovering
// some), and when it ran; at becomes the last success time when ok.
func (m *Metrics) ReconcileRun(ok bool, recovered int, at time.Time) {
	if ok {
		m.reconRuns.WithLabelValues(RunSuccess).Inc()
		m.reconLastOK.Set(float64(at.UnixNano()) / 1e9)
		m.reconOnce.Do(func() { m.reg.MustRegister(m.reconLastOK) })
	} else {
		m.reconRuns.WithLabelValues(RunFailure).Inc()
	}
	if recovered > 0 {
		m.reconMissed.Add(float64(recovered))
	}
}
