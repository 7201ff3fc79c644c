package prom_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/edge"
	"github.com/hookbox/hookbox/ingest"
	"github.com/hookbox/hookbox/prom"
)

var timeBase = time.Date(2026, 11, 27, 5, 20, 0, 0, time.UTC)

// mustServe serves m's handler on a test server and returns its URL.
func mustServe(tb testing.TB, m *prom.Metrics) string {
	tb.Helper()
	srv := httptest.NewServer(m.Handler())
	tb.Cleanup(srv.Close)
	return srv.URL
}

// scrape GETs url as Prometheus does and parses the text exposition.
func scrape(tb testing.TB, url string) map[string]*dto.MetricFamily {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("scrape: %s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		tb.Fatalf("parse scrape: %v", err)
	}
	return mfs
}

func accepted(endpoint string, secret int, d time.Duration, dup bool) ingest.Result {
	o := ingest.OutcomeAccepted
	if dup {
		o = ingest.OutcomeDuplicate
	}
	return ingest.Result{Endpoint: endpoint, Outcome: o, Duration: d,
		Event: &hookbox.Event{ID: "evt_1", SecretIndex: secret}}
}

func rejected(endpoint, reason string) ingest.Result {
	return ingest.Result{Endpoint: endpoint, Outcome: ingest.OutcomeRejected, Reason: reason, Duration: time.Millisecond}
}

// Ensures a known mix of hook calls shows up in the scraped exposition
// counter by counter, with label values from fixed sets, series of the
// configured endpoints and destinations present at zero, and the ingest
// histogram observing only requests that reached the store.
func TestMetrics_Scrape(t *testing.T) {
	m := prom.New(prom.Options{
		Version:      "v1.2.3",
		Endpoints:    []prom.Endpoint{{Name: "stripe", Secrets: 2}},
		Destinations: []string{"app"},
	})

	// Ingest: through the hook's own signature.
	var onResult func(ingest.Result) = m.IngestResult
	// Durations are binary fractions of a second, so that the histogram's
	// sum is exact.
	onResult(accepted("stripe", 0, 3906250*time.Nanosecond, false)) // 2^-8 s
	onResult(accepted("stripe", 0, 3906250*time.Nanosecond, false))
	onResult(accepted("stripe", 1, 1953125*time.Nanosecond, true)) // 2^-9 s
	onResult(rejected("stripe", "no_valid_signature"))
	onResult(rejected("stripe", "no_valid_signature"))
	onResult(rejected("stripe", "too_old"))
	onResult(rejected("stripe", "a reason nobody knows"))
	onResult(ingest.Result{Endpoint: "stripe", Outcome: ingest.OutcomeTooLarge})
	onResult(ingest.Result{Endpoint: "stripe", Outcome: ingest.OutcomeUnavailable, Reason: "unavailable",
		Duration: 1250 * time.Millisecond, Event: &hookbox.Event{ID: "evt_2", SecretIndex: 0}})
	onResult(ingest.Result{Endpoint: "stripe", Outcome: "mystery"})
	onResult(ingest.Result{Endpoint: "connect", Outcome: ingest.OutcomeInvalid, Reason: "invalid_payload"})

	// Group commit: through OnBatchFunc's signature.
	var onBatch func(int, time.Duration, error) = m.Batch
	onBatch(3, 4*time.Millisecond, nil)
	onBatch(1, 2*time.Millisecond, errors.New("disk I/O error"))
	m.StoreError("claim")
	m.StoreError("claim")
	m.StoreError("Disk I/O error: /var/lib/hookbox.db") // not a name: other

	m.Attempt(hookbox.Attempt{Destination: "app", OK: true, StatusCode: 200, Duration: 20 * time.Millisecond})
	m.Attempt(hookbox.Attempt{Destination: "app", StatusCode: 500, Duration: 2 * time.Second})
	m.Attempt(hookbox.Attempt{Destination: "billing", OK: true, Duration: 3 * time.Millisecond})

	m.ReconcileRun(true, 2, timeBase)
	m.ReconcileRun(false, 1, timeBase.Add(time.Hour)) // a failed run keeps its last success

	want := `
# HELP hookbox_webhook_requests_total Webhook requests handled, by endpoint and outcome (accepted, duplicate, rejected, invalid, too_large, unavailable, bad_method, read_error, not_delivered).
# TYPE hookbox_webhook_requests_total counter
hookbox_webhook_requests_total{endpoint="connect",outcome="invalid"} 1
hookbox_webhook_requests_total{endpoint="stripe",outcome="accepted"} 2
hookbox_webhook_requests_total{endpoint="stripe",outcome="bad_method"} 0
hookbox_webhook_requests_total{endpoint="stripe",outcome="duplicate"} 1
hookbox_webhook_requests_total{endpoint="stripe",outcome="invalid"} 0
hookbox_webhook_requests_total{endpoint="stripe",outcome="not_delivered"} 0
hookbox_webhook_requests_total{endpoint="stripe",outcome="other"} 1
hookbox_webhook_requests_total{endpoint="stripe",outcome="read_error"} 0
hookbox_webhook_requests_total{endpoint="stripe",outcome="rejected"} 4
hookbox_webhook_requests_total{endpoint="stripe",outcome="too_large"} 1
hookbox_webhook_requests_total{endpoint="stripe",outcome="unavailable"} 1
# HELP hookbox_signature_failures_total Requests whose Stripe-Signature failed verification, by endpoint and reason (not_signed, invalid_header, no_valid_signature, too_old, too_new, other).
# TYPE hookbox_signature_failures_total counter
hookbox_signature_failures_total{endpoint="stripe",reason="invalid_header"} 0
hookbox_signature_failures_total{endpoint="stripe",reason="no_valid_signature"} 2
hookbox_signature_failures_total{endpoint="stripe",reason="not_signed"} 0
hookbox_signature_failures_total{endpoint="stripe",reason="other"} 1
hookbox_signature_failures_total{endpoint="stripe",reason="too_new"} 0
hookbox_signature_failures_total{endpoint="stripe",reason="too_old"} 1
# HELP hookbox_secret_matches_total Verified requests by endpoint and position of the secret that matched (0 is the first listed, by convention the newest).
# TYPE hookbox_secret_matches_total counter
hookbox_secret_matches_total{endpoint="stripe",secret="0"} 3
hookbox_secret_matches_total{endpoint="stripe",secret="1"} 1
# HELP hookbox_ingest_duration_seconds Time to answer a verified webhook request that reached the store (accepted, duplicate, unavailable; not_delivered in sync mode, delivery included), by endpoint.
# TYPE hookbox_ingest_duration_seconds histogram
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="0.0005"} 0
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="0.001"} 0
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="0.0025"} 1
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="0.005"} 3
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="0.01"} 3
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="0.025"} 3
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="0.05"} 3
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="0.1"} 3
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="0.25"} 3
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="0.5"} 3
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="1"} 3
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="2.5"} 4
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="5"} 4
hookbox_ingest_duration_seconds_bucket{endpoint="stripe",le="+Inf"} 4
hookbox_ingest_duration_seconds_sum{endpoint="stripe"} 1.259765625
hookbox_ingest_duration_seconds_count{endpoint="stripe"} 4
# HELP hookbox_store_errors_total Store operations that failed, by operation (insert: a group-commit batch; count: the scrape-time queue count; others named by their caller).
# TYPE hookbox_store_errors_total counter
hookbox_store_errors_total{op="claim"} 2
hookbox_store_errors_total{op="count"} 0
hookbox_store_errors_total{op="insert"} 1
hookbox_store_errors_total{op="other"} 1
# HELP hookbox_commit_batch_size Events per group-commit insert.
# TYPE hookbox_commit_batch_size histogram
hookbox_commit_batch_size_bucket{le="1"} 1
hookbox_commit_batch_size_bucket{le="2"} 1
hookbox_commit_batch_size_bucket{le="4"} 2
hookbox_commit_batch_size_bucket{le="8"} 2
hookbox_commit_batch_size_bucket{le="16"} 2
hookbox_commit_batch_size_bucket{le="32"} 2
hookbox_commit_batch_size_bucket{le="64"} 2
hookbox_commit_batch_size_bucket{le="128"} 2
hookbox_commit_batch_size_bucket{le="256"} 2
hookbox_commit_batch_size_bucket{le="512"} 2
hookbox_commit_batch_size_bucket{le="+Inf"} 2
hookbox_commit_batch_size_sum 4
hookbox_commit_batch_size_count 2
# HELP hookbox_delivery_attempts_total Delivery attempts by destination and outcome (delivered, failed).
# TYPE hookbox_delivery_attempts_total counter
hookbox_delivery_attempts_total{destination="app",outcome="delivered"} 1
hookbox_delivery_attempts_total{destination="app",outcome="failed"} 1
hookbox_delivery_attempts_total{destination="billing",outcome="delivered"} 1
# HELP hookbox_reconcile_runs_total Reconcile runs by outcome (success, failure).
# TYPE hookbox_reconcile_runs_total counter
hookbox_reconcile_runs_total{outcome="failure"} 1
hookbox_reconcile_runs_total{outcome="success"} 1
# HELP hookbox_reconcile_recovered_events_total Events found by reconcile in Stripe's events API that had not been received: each is a delivery Stripe failed.
# TYPE hookbox_reconcile_recovered_events_total counter
hookbox_reconcile_recovered_events_total 3
# HELP hookbox_reconcile_last_success_timestamp_seconds Unix time of the last successful reconcile run; absent until one succeeds.
# TYPE hookbox_reconcile_last_success_timestamp_seconds gauge
hookbox_reconcile_last_success_timestamp_seconds ` + fmt.Sprint(timeBase.Unix()) + `
# HELP hookbox_build_info Always 1; the labels name the running build.
# TYPE hookbox_build_info gauge
hookbox_build_info{goversion="` + runtime.Version() + `",version="v1.2.3"} 1
`
	url := mustServe(t, m)
	if err := testutil.ScrapeAndCompare(url, strings.NewReader(want),
		"hookbox_webhook_requests_total",
		"hookbox_signature_failures_total",
		"hookbox_secret_matches_total",
		"hookbox_ingest_duration_seconds",
		"hookbox_store_errors_total",
		"hookbox_commit_batch_size",
		"hookbox_delivery_attempts_total",
		"hookbox_reconcile_runs_total",
		"hookbox_reconcile_recovered_events_total",
		"hookbox_reconcile_last_success_timestamp_seconds",
		"hookbox_build_info",
	); err != nil {
		t.Error(err)
	}

	// The histograms not compared bucket by bucket: their counts.
	mfs := scrape(t, url)
	counts := map[string]uint64{
		`hookbox_commit_duration_seconds`:                          2,
		`hookbox_delivery_duration_seconds{destination="app"}`:     2,
		`hookbox_delivery_duration_seconds{destination="billing"}`: 1,
	}
	for _, mf := range []string{"hookbox_commit_duration_seconds", "hookbox_delivery_duration_seconds"} {
		for _, mm := range mfs[mf].GetMetric() {
			key := mf
			for _, l := range mm.GetLabel() {
				key += fmt.Sprintf(`{%s="%s"}`, l.GetName(), l.GetValue())
			}
			if got, want := mm.GetHistogram().GetSampleCount(), counts[key]; got != want {
				t.Errorf("%s count = %d, want %d", key, got, want)
			}
			delete(counts, key)
		}
	}
	for key := range counts {
		t.Errorf("%s missing", key)
	}

	// The runtime and process collectors are on the registry too.
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if mfs[name] == nil {
			t.Errorf("%s missing from the scrape", name)
		}
	}
}

// Ensures the last success time stays absent until a reconcile run
// succeeds, so that "time() - last success" never reads 1970 where
// reconcile is off.
func TestMetrics_ReconcileLastSuccessAbsent(t *testing.T) {
	m := prom.New(prom.Options{})
	url := mustServe(t, m)
	m.ReconcileRun(false, 0, timeBase)
	mfs := scrape(t, url)
	if mfs["hookbox_reconcile_last_success_timestamp_seconds"] != nil {
		t.Error("last success exposed before any success")
	}
	if mfs["hookbox_reconcile_runs_total"] == nil {
		t.Error("runs_total missing")
	}
	m.ReconcileRun(true, 0, timeBase)
	m.ReconcileRun(true, 0, timeBase.Add(time.Minute)) // registers once
	mfs = scrape(t, url)
	if got := mfs["hookbox_reconcile_last_success_timestamp_seconds"].GetMetric()[0].GetGauge().GetValue(); got != float64(timeBase.Unix()+60) {
		t.Errorf("last success = %v, want %v", got, timeBase.Unix()+60)
	}
}

// Ensures New touches no global registry: a library user's
// prometheus.DefaultRegisterer holds none of hookbox's metrics, and two
// Metrics live side by side (a global registry would panic on the second).
func TestNew_NoGlobalRegistry(t *testing.T) {
	a := prom.New(prom.Options{Endpoints: []prom.Endpoint{{Name: "stripe", Secrets: 1}}})
	b := prom.New(prom.Options{Endpoints: []prom.Endpoint{{Name: "stripe", Secrets: 1}}})
	a.IngestResult(accepted("stripe", 0, time.Millisecond, false))
	a.ReconcileRun(true, 1, timeBase)
	b.Batch(1, time.Millisecond, nil)

	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "hookbox_") {
			t.Errorf("%s is on the default registry", mf.GetName())
		}
	}
	if got := scrape(t, mustServe(t, b))["hookbox_webhook_requests_total"]; got == nil {
		t.Fatal("b has no requests_total")
	} else {
		for _, mm := range got.GetMetric() {
			if v := mm.GetCounter().GetValue(); v != 0 {
				t.Errorf("b counts a's request: %v", mm)
			}
		}
	}
}

// Ensures connections refused by the connection limit are counted by the
// bound they were over, both series present from the start.
func TestMetrics_ConnRefused(t *testing.T) {
	m := prom.New(prom.Options{})
	var onRefused func(peer, reason string) = m.ConnRefused
	onRefused("203.0.113.7", edge.RefusedPerClient)
	onRefused("203.0.113.7", edge.RefusedPerClient)
	url := mustServe(t, m)
	want := `
# HELP hookbox_connections_refused_total Connections to the public listener closed at accept, by the bound they were over (per_client, total).
# TYPE hookbox_connections_refused_total counter
hookbox_connections_refused_total{bound="per_client"} 2
hookbox_connections_refused_total{bound="total"} 0
`
	if err := testutil.ScrapeAndCompare(url, strings.NewReader(want), "hookbox_connections_refused_total"); err != nil {
		t.Error(err)
	}
}

// Ensures hookbox_ip_allowlist_entries reports the built-in list from
// construction, before any refresh (one may never come), and then follows
// the entries each refresh reports.
func TestMetrics_AllowlistEntriesFromStart(t *testing.T) {
	m := prom.New(prom.Options{})
	url := mustServe(t, m)
	builtIn := len(edge.StripeWebhookIPs())
	a, err := edge.NewAllowlist(edge.ModeLog, edge.AllowlistOptions{OnRefresh: m.AllowlistRefresh})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(a.Entries()); n != builtIn || n == 0 {
		t.Fatalf("allowlist holds %d entries, built-in list %d", n, builtIn)
	}
	entries := func() float64 {
		t.Helper()
		mf := scrape(t, url)["hookbox_ip_allowlist_entries"]
		if mf == nil || len(mf.Metric) != 1 {
			t.Fatalf("hookbox_ip_allowlist_entries: %v", mf)
		}
		return mf.Metric[0].GetGauge().GetValue()
	}
	if got := entries(); got != float64(builtIn) {
		t.Fatalf("before any refresh: %v entries, want %d", got, builtIn)
	}
	m.AllowlistRefresh(3, nil)
	if got := entries(); got != 3 {
		t.Fatalf("after a refresh to 3 entries: %v", got)
	}
}
