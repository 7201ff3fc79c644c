package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"
	"go.yaml.in/yaml/v3"

	"github.com/hookbox/hookbox/stripefixture"
)

// Helpers here start with "sendTest" so they cannot collide with the other
// test files of package main.

const (
	sendTestSecret  = "whsec_send_test_0123456789abcdef"
	sendTestSecret2 = "whsec_send_test_rolled_fedcba9876"
)

// sendTestReceiver is an httptest Stripe endpoint that checks every request
// the way stripe-go's users do and records the event ids in arrival order.
type sendTestReceiver struct {
	*httptest.Server
	secrets []string // each must verify the request on its own
	status  int      // answered to valid requests (200 unless set)

	mu       sync.Mutex
	ids      []string
	seen     map[string]int
	repeats  int
	invalid  []string
	headerOK int // requests carrying Stripe's headers
	// objects[i] and created[i] are the data.object.id and created of
	// ids[i].
	objects []string
	created []int64
}

func sendTestServer(t testing.TB, secrets ...string) *sendTestReceiver {
	t.Helper()
	r := &sendTestReceiver{secrets: secrets, status: http.StatusOK, seen: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.handle))
	t.Cleanup(r.Close)
	return r
}

func (r *sendTestReceiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	header := req.Header.Get("Stripe-Signature")
	for _, s := range r.secrets {
		if err := webhook.ValidatePayload(body, header, s); err != nil {
			r.mu.Lock()
			r.invalid = append(r.invalid, err.Error())
			r.mu.Unlock()
			http.Error(w, "invalid signature", http.StatusBadRequest)
			return
		}
	}
	var ev stripe.Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.ids = append(r.ids, ev.ID)
	object, _ := ev.Data.Object["id"].(string)
	r.objects, r.created = append(r.objects, object), append(r.created, ev.Created)
	r.seen[ev.ID]++
	dup := r.seen[ev.ID] > 1
	if dup {
		r.repeats++
	}
	if req.Method == http.MethodPost && req.Header.Get("User-Agent") == "Stripe/1.0 (+https://stripe.com/docs/webhooks)" &&
		strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		r.headerOK++
	}
	status := r.status
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// Spaces on purpose: the client must not depend on compact JSON.
	if dup {
		io.WriteString(w, `{"received": true, "duplicate": true}`)
	} else {
		io.WriteString(w, `{"received":true}`)
	}
}

// requests returns how many requests were accepted and refused so far.
func (r *sendTestReceiver) requests() (accepted, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids), len(r.invalid)
}

// sendTestRun runs "hookbox send" with the given environment and returns
// stdout, stderr and the error.
func sendTestRun(t testing.TB, vars map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &environ{
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string { return vars[k] },
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, env, append([]string{"send"}, args...))
	return out.String(), errb.String(), err
}

func sendTestVars() map[string]string {
	return map[string]string{"STRIPE_WEBHOOK_SECRET": sendTestSecret}
}

func sendTestSummary(t testing.TB, stdout string) sendSummary {
	t.Helper()
	var s sendSummary
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("summary is not the JSON object expected: %v\n%s", err, stdout)
	}
	return s
}

// TestSendEveryRequestValid ensures --count requests arrive, each signed so
// that stripe-go's ValidatePayload accepts it, with Stripe's headers, each
// a distinct event, and that the JSON summary reports them.
func TestSendEveryRequestValid(t *testing.T) {
	srv := sendTestServer(t, sendTestSecret)
	stdout, stderr, err := sendTestRun(t, sendTestVars(), "--count", "300", "--concurrency", "8", "--json", "--quiet", srv.URL)
	if err != nil {
		t.Fatalf("send: %v\n%s", err, stderr)
	}
	if stderr != "" {
		t.Errorf("--quiet wrote to stderr: %q", stderr)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.invalid) > 0 {
		t.Fatalf("%d invalid signatures, first: %s", len(srv.invalid), srv.invalid[0])
	}
	if len(srv.ids) != 300 || len(srv.seen) != 300 || srv.headerOK != 300 {
		t.Fatalf("received %d requests, %d distinct ids, %d with Stripe's headers; want 300 each", len(srv.ids), len(srv.seen), srv.headerOK)
	}
	s := sendTestSummary(t, stdout)
	if s.Count != 300 || s.Requested != 300 || s.Statuses["200"] != 300 || len(s.Statuses) != 1 || s.Errors != 0 ||
		s.NewReported != 300 || s.DuplicatesReported != 0 || s.UniqueEvents != 300 || s.DuplicatesSent != 0 {
		t.Fatalf("summary %+v", s)
	}
	if s.Seconds <= 0 || s.RPS <= 0 || s.OKRPS != s.RPS || s.P50 <= 0 || s.P50 > s.P90 || s.P90 > s.P99 || s.P99 > s.Max {
		t.Fatalf("timings %+v", s)
	}
}

// TestSendDuplicates ensures --duplicates re-sends that fraction of
// requests with ids sent before (each freshly signed and valid), counts
// them, and reads the receiver's "duplicate": true answers.
func TestSendDuplicates(t *testing.T) {
	srv := sendTestServer(t, sendTestSecret)
	stdout, stderr, err := sendTestRun(t, sendTestVars(), "--count", "1000", "--concurrency", "8", "--duplicates", "0.3", "--json", "--quiet", srv.URL)
	if err != nil {
		t.Fatalf("send: %v\n%s", err, stderr)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.invalid) > 0 {
		t.Fatalf("%d invalid signatures, first: %s", len(srv.invalid), srv.invalid[0])
	}
	// round(0.3 * 1000) re-sends: 700 distinct events, 300 repeats.
	if len(srv.ids) != 1000 || len(srv.seen) != 700 || srv.repeats != 300 {
		t.Fatalf("received %d requests, %d distinct ids, %d repeats; want 1000, 700, 300", len(srv.ids), len(srv.seen), srv.repeats)
	}
	s := sendTestSummary(t, stdout)
	if s.DuplicatesSent != 300 || s.UniqueEvents != 700 || s.DuplicatesReported != 300 || s.NewReported != 700 {
		t.Fatalf("summary %+v", s)
	}
	// Re-sends are spread over the run, not bunched at the end: in the
	// first half of arrivals there are some.
	first := map[string]bool{}
	early := 0
	for _, id := range srv.ids[:500] {
		if first[id] {
			early++
		}
		first[id] = true
	}
	if early < 50 {
		t.Fatalf("only %d repeats among the first 500 arrivals", early)
	}
}

// TestSendRotationSignsWithEverySecret ensures several secrets (here from
// STRIPE_WEBHOOK_SECRET_FILE, with a trailing newline) give a header that
// each secret alone verifies, as Stripe does while a secret is rolled.
func TestSendRotationSignsWithEverySecret(t *testing.T) {
	srv := sendTestServer(t, sendTestSecret, sendTestSecret2)
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(sendTestSecret+", "+sendTestSecret2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := sendTestRun(t, map[string]string{"STRIPE_WEBHOOK_SECRET_FILE": file}, "--count", "20", "--quiet", srv.URL)
	if err != nil {
		t.Fatalf("send: %v\n%s", err, stderr)
	}
	if ok, bad := srv.requests(); ok != 20 || bad != 0 {
		t.Fatalf("%d accepted, %d refused", ok, bad)
	}
}

// TestSendURLAndFlagOrder ensures a positional URL wins over --url and that
// flags may follow the URL.
func TestSendURLAndFlagOrder(t *testing.T) {
	srv := sendTestServer(t, sendTestSecret)
	_, stderr, err := sendTestRun(t, sendTestVars(), "--url", "http://127.0.0.1:1/nowhere", srv.URL, "--count", "7", "--quiet")
	if err != nil {
		t.Fatalf("send: %v\n%s", err, stderr)
	}
	if ok, _ := srv.requests(); ok != 7 {
		t.Fatalf("received %d, want 7", ok)
	}
	// --url alone is used when there is no positional URL.
	_, stderr, err = sendTestRun(t, sendTestVars(), "--url", srv.URL, "--count", "3", "--quiet", "--types", "customer.created, invoice.paid")
	if ok, _ := srv.requests(); err != nil || ok != 10 {
		t.Fatalf("send --url: %v, received %d\n%s", err, ok, stderr)
	}
}

// TestSendFailuresExitNonZero ensures non-2xx answers and transport errors
// make send return an error after printing the summary, and that
// --allow-errors keeps the summary but returns nil.
func TestSendFailuresExitNonZero(t *testing.T) {
	srv := sendTestServer(t, sendTestSecret)
	srv.status = http.StatusServiceUnavailable
	stdout, _, err := sendTestRun(t, sendTestVars(), "--count", "10", "--json", "--quiet", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "10 of 10 requests failed") {
		t.Fatalf("err = %v", err)
	}
	if s := sendTestSummary(t, stdout); s.Statuses["503"] != 10 || s.NewReported != 0 || s.RPS <= 0 || s.OKRPS != 0 {
		t.Fatalf("summary %+v", s)
	}
	stdout, _, err = sendTestRun(t, sendTestVars(), "--count", "10", "--quiet", "--allow-errors", srv.URL)
	if err != nil || !strings.Contains(stdout, "503: 10") || !strings.Contains(stdout, "of which 0/s answered 2xx") {
		t.Fatalf("--allow-errors: err %v, stdout:\n%s", err, stdout)
	}

	// Nothing listens on a closed server's address: transport errors.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	stdout, stderr, err := sendTestRun(t, sendTestVars(), "--count", "5", "--json", "--quiet", "--timeout", "2s", dead.URL)
	if err == nil || !strings.Contains(err.Error(), "5 transport errors") {
		t.Fatalf("err = %v", err)
	}
	if s := sendTestSummary(t, stdout); s.Errors != 5 || s.Count != 5 || len(s.Statuses) != 0 {
		t.Fatalf("summary %+v", s)
	}
	if !strings.Contains(stderr, "first transport error") {
		t.Fatalf("stderr does not show a sample error: %q", stderr)
	}
}

// TestSendTextSummaryAndProgress ensures the human summary names every
// figure and that progress ends on a final line on stderr.
func TestSendTextSummaryAndProgress(t *testing.T) {
	srv := sendTestServer(t, sendTestSecret)
	stdout, stderr, err := sendTestRun(t, sendTestVars(), "--count", "50", "--duplicates", "0.2", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"requests  50 (40 distinct events, 10 re-sent)", "req/s", "p50 ", "p90 ", "p99 ", "max ", "200: 50", "error: 0", "duplicate: 10  new: 40"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "generating 50 events") || !strings.Contains(stderr, "\rsent 50/50 ") {
		t.Errorf("progress: %q", stderr)
	}
}

// TestSendRate ensures --rate paces requests: 20 at 100/s take at least
// the 190 ms that schedule implies.
func TestSendRate(t *testing.T) {
	srv := sendTestServer(t, sendTestSecret)
	stdout, _, err := sendTestRun(t, sendTestVars(), "--count", "20", "--rate", "100", "--json", "--quiet", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if s := sendTestSummary(t, stdout); s.Seconds < 0.19 {
		t.Fatalf("20 requests at 100/s took %.3fs", s.Seconds)
	}
}

// TestSendBadFlags ensures every invalid command line is refused with a
// message naming the problem, before anything is sent.
func TestSendBadFlags(t *testing.T) {
	srv := sendTestServer(t, sendTestSecret)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--count", "0"}, "--count must be > 0"},
		{[]string{"--count", "-3"}, "--count must be > 0"},
		{[]string{"--count", "many"}, "invalid value"},
		{[]string{"--concurrency", "0"}, "--concurrency must be > 0"},
		{[]string{"--duplicates", "1.5"}, "--duplicates must be a fraction"},
		{[]string{"--duplicates", "-0.1"}, "--duplicates must be a fraction"},
		{[]string{"--duplicates", "NaN"}, "--duplicates must be a fraction"},
		{[]string{"--connect-fraction", "2"}, "--connect-fraction must be a fraction"},
		{[]string{"--rate", "-1"}, "--rate must be >= 0"},
		{[]string{"--rate", "+Inf"}, "--rate must be >= 0"},
		{[]string{"--timeout", "0s"}, "--timeout must be > 0"},
		{[]string{"--types", "payment_intent.succeeded,nope.nope"}, `unsupported event type "nope.nope"`},
		{[]string{"--types", " , "}, "--types lists no event type"},
		{[]string{"--no-such-flag"}, "flag provided but not defined"},
		{[]string{"--url", "ftp://example.com/x"}, "URL must be http(s)"},
		{[]string{"http://127.0.0.1:1/a", "http://127.0.0.1:1/b"}, "one URL expected"},
		{[]string{"not a url"}, "URL must be http(s)"},
	} {
		args := tc.args
		if !strings.Contains(strings.Join(args, " "), "://") && !strings.Contains(strings.Join(args, " "), "not a url") {
			args = append(args, srv.URL)
		}
		_, _, err := sendTestRun(t, sendTestVars(), append([]string{"--quiet"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
	if ok, bad := srv.requests(); ok+bad != 0 {
		t.Fatalf("bad command lines sent %d requests", ok+bad)
	}
}

// TestSendSecretRequiredAndNeverShown ensures send refuses to run without a
// secret (naming both variables), refuses both variables at once, and never
// writes a secret anywhere, even when every request fails.
func TestSendSecretRequiredAndNeverShown(t *testing.T) {
	srv := sendTestServer(t, sendTestSecret)
	for _, vars := range []map[string]string{{}, {"STRIPE_WEBHOOK_SECRET": " , "}} {
		_, _, err := sendTestRun(t, vars, "--quiet", srv.URL)
		if err == nil || !strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET") || !strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET_FILE") {
			t.Fatalf("vars %v: err = %v", vars, err)
		}
	}
	_, _, err := sendTestRun(t, map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_x", "STRIPE_WEBHOOK_SECRET_FILE": "/nonexistent"}, "--quiet", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "use one") {
		t.Fatalf("both set: err = %v", err)
	}
	_, _, err = sendTestRun(t, map[string]string{"STRIPE_WEBHOOK_SECRET_FILE": filepath.Join(t.TempDir(), "missing")}, "--quiet", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET_FILE") {
		t.Fatalf("missing file: err = %v", err)
	}
	if ok, bad := srv.requests(); ok+bad != 0 {
		t.Fatal("requests were sent without a secret")
	}

	// A wrong secret: every request is refused with 400.
	const wrong = "whsec_THIS_MUST_NEVER_BE_PRINTED_42"
	for _, extra := range [][]string{{"--json"}, {}} {
		args := append([]string{"--count", "5", srv.URL}, extra...)
		stdout, stderr, err := sendTestRun(t, map[string]string{"STRIPE_WEBHOOK_SECRET": wrong}, args...)
		if err == nil {
			t.Fatal("requests refused with 400, yet send succeeded")
		}
		for name, s := range map[string]string{"stdout": stdout, "stderr": stderr, "error": err.Error()} {
			if strings.Contains(s, wrong) || strings.Contains(s, "THIS_MUST_NEVER") {
				t.Fatalf("the secret appears in %s: %q", name, s)
			}
		}
	}
}

// TestSendSaysDuplicate ensures the response scan reads the flag whatever
// the whitespace and ignores look-alikes.
func TestSendSaysDuplicate(t *testing.T) {
	for body, want := range map[string]bool{
		`{"received":true,"duplicate":true}`:      true,
		`{"duplicate" :  true}`:                   true,
		"{\n  \"duplicate\":\n true\n}":           true,
		`{"received":true,"duplicate":false}`:     false,
		`{"received":true}`:                       false,
		`{"note":"duplicate","x":true}`:           false,
		`{"duplicate_of":"evt_1","x":true}`:       false,
		`{"received":true,"duplicate":"true"}`:    false,
		`{"duplicate":}`:                          false,
		``:                                        false,
		`{"received":true,"duplicate":tr`:         false,
		`{"received":true,"duplicate":null}`:      false,
		`{"received":true,   "duplicate":  true}`: true,
	} {
		if got := sendSaysDuplicate([]byte(body)); got != want {
			t.Errorf("%q: got %v, want %v", body, got, want)
		}
	}
}

// TestSendPercentile ensures nearest-rank percentiles on exact samples.
func TestSendPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.9: 90 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond} {
		if got := sendPercentile(d, p); got != want {
			t.Errorf("p%v = %v, want %v", p*100, got, want)
		}
	}
	if sendPercentile(nil, 0.5) != 0 || sendPercentile(d[:1], 0.99) != time.Millisecond {
		t.Error("edge cases")
	}
}

// TestSendTypesPatterns ensures --types takes prefix.* patterns and * with
// the matching of destinations' events filters, without repeating a type,
// and refuses a pattern that matches no supported type.
func TestSendTypesPatterns(t *testing.T) {
	var invoices []string
	for _, typ := range stripefixture.Types() {
		if strings.HasPrefix(typ, "invoice.") {
			invoices = append(invoices, typ)
		}
	}
	for _, tc := range []struct {
		list string
		want []string
	}{
		{"*", stripefixture.Types()},
		{"invoice.*", invoices},
		{"invoice.paid, invoice.*", invoices}, // invoice.paid once, where first listed
		{"payout.paid,payout.paid", []string{"payout.paid"}},
	} {
		got, err := sendTypes(tc.list)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("sendTypes(%q) = %v, %v; want %v", tc.list, got, err, tc.want)
		}
	}
	if len(invoices) < 6 {
		t.Fatalf("invoice types: %v", invoices)
	}
	for list, want := range map[string]string{
		"nope.*":        `no supported event type matches "nope.*"`,
		"invoice.*.x":   `unsupported event type "invoice.*.x"`,
		"invoice.paid*": `unsupported event type "invoice.paid*"`,
	} {
		if _, err := sendTypes(list); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("sendTypes(%q): err = %v, want %q", list, err, want)
		}
	}
}

// TestSendCoversExampleConfig ensures every events filter of the shipped
// example config (docs/hookbox.example.yaml and the README's --config
// example) matches some type send can produce, and that send accepts the
// filter as --types as written: a new user can try every destination.
func TestSendCoversExampleConfig(t *testing.T) {
	docs := map[string][]byte{}
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "hookbox.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs["docs/hookbox.example.yaml"] = b
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for i, block := range strings.Split(string(readme), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if strings.Contains(block, "endpoints:") {
			docs[fmt.Sprintf("README.md yaml block %d", i+1)] = []byte(block)
		}
	}
	filters := 0
	for name, doc := range docs {
		var fc fileConfig
		dec := yaml.NewDecoder(bytes.NewReader(doc))
		dec.KnownFields(true)
		if err := dec.Decode(&fc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, ep := range fc.Endpoints {
			for _, d := range ep.Destinations {
				for _, pattern := range d.Events {
					filters++
					if _, err := sendTypes(pattern); err != nil {
						t.Errorf("%s: endpoint %s, destination %s: events %q: %v", name, ep.Name, d.Name, pattern, err)
					}
				}
				if len(d.Events) > 0 {
					if _, err := sendTypes(strings.Join(d.Events, ",")); err != nil {
						t.Errorf("%s: destination %s: --types %q: %v", name, d.Name, strings.Join(d.Events, ","), err)
					}
				}
			}
		}
	}
	if filters == 0 {
		t.Fatal("no events filter found in the example configs")
	}
}

// TestSendAPIVersion ensures --api-version writes that api_version into
// every event, so that an app whose stripe-go ConstructEvent refuses other
// versions accepts all of them (with the default version it refuses all),
// and that an empty or malformed version is refused.
func TestSendAPIVersion(t *testing.T) {
	var ok, refused atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := webhook.ConstructEvent(body, r.Header.Get("Stripe-Signature"), sendTestSecret); err != nil {
			refused.Add(1)
			w.WriteHeader(400)
			return
		}
		ok.Add(1)
	}))
	defer srv.Close()
	if _, stderr, err := sendTestRun(t, sendTestVars(), "--count", "20", "--quiet", "--api-version", stripe.APIVersion, srv.URL); err != nil {
		t.Fatalf("send: %v\n%s", err, stderr)
	}
	if ok.Load() != 20 || refused.Load() != 0 {
		t.Fatalf("stripe-go accepted %d, refused %d of 20 in its own version", ok.Load(), refused.Load())
	}
	sendTestRun(t, sendTestVars(), "--count", "5", "--quiet", "--allow-errors", srv.URL)
	if refused.Load() != 5 {
		t.Fatalf("stripe-go refused %d of 5 in the default version, want 5", refused.Load())
	}
	for _, bad := range []string{"", `2026"x`} {
		if _, _, err := sendTestRun(t, sendTestVars(), "--api-version", bad, srv.URL); err == nil || !strings.Contains(err.Error(), "--api-version") {
			t.Errorf("--api-version %q: %v", bad, err)
		}
	}
}

// TestSendShuffle ensures --shuffle sends --objects x --events-per-object
// distinct events, each once, about that many objects, in an order where
// some object's later event (by created) arrives before an earlier one;
// that the summary counts those events exactly (with --concurrency 1 the
// arrival order is the dispatch order); and that --seed fixes the order.
func TestSendShuffle(t *testing.T) {
	run := func() (*sendTestReceiver, sendSummary) {
		srv := sendTestServer(t, sendTestSecret)
		stdout, stderr, err := sendTestRun(t, sendTestVars(), "--shuffle", "--objects", "30", "--events-per-object", "4",
			"--seed", "5", "--concurrency", "1", "--json", "--quiet", srv.URL)
		if err != nil {
			t.Fatalf("send: %v\n%s", err, stderr)
		}
		return srv, sendTestSummary(t, stdout)
	}
	srv, s := run()
	if len(srv.invalid) > 0 || len(srv.ids) != 120 || len(srv.seen) != 120 {
		t.Fatalf("received %d requests, %d distinct ids, %d invalid; want 120, 120, 0", len(srv.ids), len(srv.seen), len(srv.invalid))
	}
	perObject := map[string]int{}
	latest := map[string]int64{} // the latest created arrived so far, per object
	early, earlyObjects := 0, map[string]bool{}
	for i, o := range srv.objects {
		perObject[o]++
		if srv.created[i] < latest[o] {
			early++
			earlyObjects[o] = true
		}
		latest[o] = max(latest[o], srv.created[i])
	}
	if len(perObject) != 30 || slices.ContainsFunc(slices.Collect(maps.Values(perObject)), func(n int) bool { return n != 4 }) {
		t.Fatalf("events per object: %v", perObject)
	}
	if early == 0 || len(earlyObjects) < 10 {
		t.Fatalf("%d events arrived before an earlier one of their object, in %d objects", early, len(earlyObjects))
	}
	// Counted from the end, as send does: an event sent before a step
	// of its object created earlier.
	out, outObjects := 0, map[string]bool{}
	earliest := map[string]int64{}
	for i := len(srv.ids) - 1; i >= 0; i-- {
		o := srv.objects[i]
		if e, ok := earliest[o]; ok && e < srv.created[i] {
			out++
			outObjects[o] = true
		}
		if e, ok := earliest[o]; !ok || srv.created[i] < e {
			earliest[o] = srv.created[i]
		}
	}
	if s.Objects != 30 || s.OutOfOrder != out || s.ObjectsOutOfOrder != len(outObjects) || s.UniqueEvents != 120 || s.DuplicatesSent != 0 {
		t.Fatalf("summary %+v; the receiver saw %d events out of order in %d objects", s, out, len(outObjects))
	}
	again, _ := run()
	if !slices.Equal(srv.ids, again.ids) {
		t.Fatal("the same --seed sent another order")
	}
}

// TestSendShuffleDuplicatesConcurrency ensures --shuffle with --duplicates
// and --concurrency sends every event at least once and --duplicates'
// share of re-sends on top, and that the flags it decides are refused.
func TestSendShuffleDuplicatesConcurrency(t *testing.T) {
	srv := sendTestServer(t, sendTestSecret)
	stdout, stderr, err := sendTestRun(t, sendTestVars(), "--shuffle", "--objects", "50", "--events-per-object", "3",
		"--duplicates", "0.25", "--concurrency", "4", "--json", "--quiet", srv.URL)
	if err != nil {
		t.Fatalf("send: %v\n%s", err, stderr)
	}
	// 150 events are 75% of 200 requests.
	if len(srv.invalid) > 0 || len(srv.ids) != 200 || len(srv.seen) != 150 || srv.repeats != 50 {
		t.Fatalf("received %d requests, %d distinct, %d repeats, %d invalid", len(srv.ids), len(srv.seen), srv.repeats, len(srv.invalid))
	}
	if s := sendTestSummary(t, stdout); s.Objects != 50 || s.UniqueEvents != 150 || s.DuplicatesSent != 50 || s.OutOfOrder == 0 {
		t.Fatalf("summary %+v", s)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--shuffle", "--count", "10"}, "drop --count and --types"},
		{[]string{"--shuffle", "--types", "invoice.*"}, "drop --count and --types"},
		{[]string{"--shuffle", "--objects", "0"}, "--objects must be in"},
		{[]string{"--shuffle", "--events-per-object", "0"}, "--events-per-object must be in"},
		{[]string{"--shuffle", "--duplicates", "1"}, "--duplicates must be a fraction in [0,1)"},
		{[]string{"--objects", "3"}, "go with --shuffle"},
	} {
		_, _, err := sendTestRun(t, sendTestVars(), append(append([]string{"--quiet"}, tc.args...), srv.URL)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}
