package deliver_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/stripe/stripe-go/v85/webhook"
)

// TestHTTP_Forward ensures a forwarded event is the exact stored body, POSTed
// with Content-Type application/json, a Stripe-Signature that stripe-go's
// ValidatePayload accepts with the destination's secret, Idempotency-Key set
// to the event id, Hookbox-Attempt incrementing across retries, a
// hookbox User-Agent, and a fresh signature timestamp on every attempt.
func TestHTTP_Forward(t *testing.T) {
	s := mustOpenStore(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 3 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
		}
	})
	// A clock a minute further at each signature, so timestamps differ.
	var (
		mu  sync.Mutex
		sig = time.Now().Add(-time.Hour)
	)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		sig = sig.Add(time.Minute)
		return sig
	}
	d := mustHTTP(t, "app", rc.URL+"/hooks", deliver.HTTPOptions{NowFunc: clock})
	ev := newEvent("evt_forward", "payment_intent.succeeded", false)
	mustInsert(t, s, ev)
	w := startWorker(t, &deliver.Worker{Queue: s, Destinations: []deliver.Destination{d}, Retry: fastRetry(5)})
	w.Wake()
	waitState(t, s, ev.ID, hookbox.StateDelivered)

	reqs := rc.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(reqs))
	}
	seen := map[string]bool{}
	for i, r := range reqs {
		if !bytes.Equal(r.Body, ev.Body) {
			t.Errorf("request %d: body differs from the stored body", i+1)
		}
		sigHeader := r.Header.Get("Stripe-Signature")
		if err := webhook.ValidatePayloadIgnoringTolerance(r.Body, sigHeader, secret); err != nil {
			t.Errorf("request %d: stripe-go rejects the signature: %v", i+1, err)
		}
		ts := strings.SplitN(strings.TrimPrefix(sigHeader, "t="), ",", 2)[0]
		if seen[ts] {
			t.Errorf("request %d: signature timestamp %s reused", i+1, ts)
		}
		seen[ts] = true
		for k, want := range map[string]string{
			"Content-Type":    "application/json",
			"Idempotency-Key": ev.ID,
			"Hookbox-Attempt": strconv.Itoa(i + 1),
		} {
			if got := r.Header.Get(k); got != want {
				t.Errorf("request %d: %s = %q, want %q", i+1, k, got, want)
			}
		}
		if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "hookbox/") {
			t.Errorf("request %d: User-Agent %q", i+1, ua)
		}
	}
	// With the real clock the signature is current: the default 300 s
	// tolerance of every Stripe library accepts it.
	rc2 := newReceiver(t, nil)
	d2 := mustHTTP(t, "app2", rc2.URL, deliver.HTTPOptions{})
	if a := d2.Deliver(context.Background(), ev, 7); !a.OK {
		t.Fatalf("deliver: %+v", a)
	}
	r := rc2.requests()[0]
	if err := webhook.ValidatePayload(r.Body, r.Header.Get("Stripe-Signature"), secret); err != nil {
		t.Errorf("ValidatePayload with tolerance: %v", err)
	}
	if got := r.Header.Get("Hookbox-Attempt"); got != "7" {
		t.Errorf("Hookbox-Attempt = %q, want 7", got)
	}
}

// TestHTTP_Statuses ensures only a 2xx counts as delivered, a 3xx is a
// failure that is not followed, and every attempt keeps the status and the
// first MaxResponseSnippet bytes of the response, byte for byte.
func TestHTTP_Statuses(t *testing.T) {
	followed := newReceiver(t, nil)
	long := strings.Repeat("é", 2000) // 4000 bytes; the limit cuts a character in two
	tests := []struct {
		status int
		body   string
		ok     bool
		errHas string
	}{
		{200, "ok", true, ""},
		{201, "", true, ""},
		{204, "", true, ""},
		{299, "", true, ""},
		{302, "moved", false, "redirects are not followed"},
		{307, "", false, "redirects are not followed"},
		{400, "bad", false, "400"},
		{500, long, false, "500"},
	}
	for _, tt := range tests {
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if tt.status >= 300 && tt.status < 400 {
				w.Header().Set("Location", followed.URL)
			}
			w.WriteHeader(tt.status)
			w.Write([]byte(tt.body))
		})
		d := mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{})
		a := d.Deliver(context.Background(), newEvent("evt_status", "charge.succeeded", false), 1)
		if a.OK != tt.ok || a.StatusCode != tt.status {
			t.Errorf("status %d: OK %t code %d, want %t %d", tt.status, a.OK, a.StatusCode, tt.ok, tt.status)
		}
		if !strings.Contains(a.Error, tt.errHas) || (tt.ok && a.Error != "") {
			t.Errorf("status %d: error %q, want it to contain %q", tt.status, a.Error, tt.errHas)
		}
		want := tt.body
		if len(want) > hookbox.MaxResponseSnippet {
			want = want[:hookbox.MaxResponseSnippet]
		}
		if a.Response != want {
			t.Errorf("status %d: response of %d bytes, want the first %d", tt.status, len(a.Response), len(want))
		}
		if a.Duration <= 0 || a.StartedAt.IsZero() {
			t.Errorf("status %d: no timing: %+v", tt.status, a)
		}
	}
	if n := followed.count(); n != 0 {
		t.Errorf("redirect target received %d requests, want 0", n)
	}
}

// TestHTTP_Timeout ensures a destination slower than the timeout is a
// failed attempt that says so, and that the attempt returns at the timeout.
func TestHTTP_Timeout(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	d := mustHTTP(t, "slow", rc.URL, deliver.HTTPOptions{Timeout: 50 * time.Millisecond})
	start := time.Now()
	a := d.Deliver(context.Background(), newEvent("evt_slow", "charge.succeeded", false), 1)
	if a.OK || a.StatusCode != 0 || !strings.Contains(a.Error, "timeout") {
		t.Errorf("attempt %+v, want a failed timeout", a)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("attempt took %v", el)
	}
}

// TestHTTP_ConnectionError ensures a refused connection is a failed attempt
// whose error does not repeat the URL.
func TestHTTP_ConnectionError(t *testing.T) {
	rc := newReceiver(t, nil)
	url := rc.URL
	rc.Close()
	d := mustHTTP(t, "gone", url, deliver.HTTPOptions{})
	a := d.Deliver(context.Background(), newEvent("evt_gone", "charge.succeeded", false), 1)
	if a.OK || a.Error == "" || a.StatusCode != 0 {
		t.Errorf("attempt %+v, want a connection failure", a)
	}
	if strings.Contains(a.Error, url) {
		t.Errorf("error %q repeats the URL", a.Error)
	}
}

// TestNewHTTP_Err ensures invalid destinations are refused at construction
// with EINVALID, and that errors never show the secret or a URL password.
func TestNewHTTP_Err(t *testing.T) {
	tests := []struct{ name, url, secret string }{
		{"app", "ftp://example.com/x", secret},
		{"app", "example.com/hooks", secret},
		{"app", "http:///hooks", secret},
		{"app", "http://:8080/hooks", secret},
		{"app", "http://user:hunter2@exa mple.com/", secret},
		{"app", "https://example.com/hooks", ""},
		{"", "https://example.com/hooks", secret},
		{"my app", "https://example.com/hooks", secret},
	}
	for _, tt := range tests {
		_, err := deliver.NewHTTP(tt.name, tt.url, tt.secret, deliver.HTTPOptions{})
		if err == nil {
			t.Errorf("NewHTTP(%q, %q): no error", tt.name, tt.url)
			continue
		}
		if hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Errorf("NewHTTP(%q, %q): code %q", tt.name, tt.url, hookbox.ErrorCode(err))
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewHTTP(%q): error %q leaks a secret", tt.url, err)
		}
	}
	if _, err := deliver.NewHTTP("app", "https://example.com", secret, deliver.HTTPOptions{Livemode: "prod"}); err == nil {
		t.Errorf("NewHTTP with livemode prod: no error")
	}
	d, err := deliver.NewHTTP("app", "https://user:hunter2@example.com/hooks", secret, deliver.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(d.String(), "hunter2") || strings.Contains(d.URL(), "hunter2") {
		t.Errorf("String %q / URL %q show the password", d.String(), d.URL())
	}
	if d.AttemptTimeout() != deliver.DefaultTimeout {
		t.Errorf("default timeout %v", d.AttemptTimeout())
	}
}

// TestWorker_NoSecretInLogs ensures neither the signing secret nor a URL
// password reaches the logs or the recorded attempts, even for failures.
func TestWorker_NoSecretInLogs(t *testing.T) {
	s := mustOpenStore(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusInternalServerError)
	})
	url := strings.Replace(rc.URL, "http://", "http://user:hunter2@", 1)
	d := mustHTTP(t, "app", url, deliver.HTTPOptions{})
	var logs syncBuffer
	ev := newEvent("evt_secret", "charge.succeeded", false)
	mustInsert(t, s, ev)
	w := startWorker(t, &deliver.Worker{
		Queue: s, Destinations: []deliver.Destination{d}, Retry: fastRetry(2),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	w.Wake()
	waitState(t, s, ev.ID, hookbox.StateDead)
	out := logs.String()
	for _, a := range mustAttempts(t, s, ev.ID) {
		out += a.Error + a.Response
	}
	for _, d := range mustDeliveries(t, s, ev.ID) {
		out += d.LastError
	}
	if !strings.Contains(out, "delivery attempt failed") {
		t.Fatalf("expected failure logs, got %q", out)
	}
	if strings.Contains(out, secret) || strings.Contains(out, "hunter2") {
		t.Errorf("a secret leaked:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
