package edge_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/edge"
	"github.com/hookbox/hookbox/ingest"
	"github.com/hookbox/hookbox/stripesig"
)

func mustLimiter(tb testing.TB, max int, window time.Duration, opts edge.LimiterOptions) *edge.FailureLimiter {
	tb.Helper()
	l, err := edge.NewFailureLimiter(max, window, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// TestFailureLimiter ensures a client under the limit passes, the failure
// that reaches the limit turns its requests into 429 with Retry-After for
// one window, other clients are untouched, and the count starts over once
// the penalty ends.
func TestFailureLimiter(t *testing.T) {
	clk := newClock()
	var limited []string
	l := mustLimiter(t, 3, time.Minute, edge.LimiterOptions{
		NowFunc: clk.Now, OnLimited: func(c string) { limited = append(limited, c) },
	})
	next := &counting{}
	h := l.Middleware(next)
	const bad, good = "203.0.113.7", "198.51.100.1"
	status := func(client string) *httptest.ResponseRecorder { return serve(h, request(client+":1234")) }

	l.Failed(bad)
	l.Failed(bad)
	if w := status(bad); w.Code != http.StatusOK {
		t.Fatalf("after 2 of 3 failures: %d, want 200", w.Code)
	}
	clk.Advance(30 * time.Second)
	l.Failed(bad) // the third within the window
	w := status(bad)
	if w.Code != http.StatusTooManyRequests || w.Body.String() != `{"error":"too many failed requests"}`+"\n" ||
		w.Header().Get("Retry-After") != "60" || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("after 3 failures: %d %q Retry-After %q", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	if w := status(good); w.Code != http.StatusOK {
		t.Errorf("another client: %d", w.Code)
	}
	clk.Advance(59*time.Second + 500*time.Millisecond)
	if w := status(bad); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Errorf("0.5s before the end: %d Retry-After %q, want 429 and 1 (rounded up)", w.Code, w.Header().Get("Retry-After"))
	}
	l.Failed(bad) // in flight when the penalty began: not counted
	clk.Advance(500 * time.Millisecond)
	if w := status(bad); w.Code != http.StatusOK {
		t.Errorf("after the penalty: %d, want 200", w.Code)
	}
	l.Failed(bad)
	l.Failed(bad)
	if w := status(bad); w.Code != http.StatusOK {
		t.Errorf("2 failures after the penalty: %d, want 200 (count restarted)", w.Code)
	}
	if want := []string{bad, bad}; fmt.Sprint(limited) != fmt.Sprint(want) {
		t.Errorf("OnLimited calls %q, want %q", limited, want)
	}
	if next.calls() != 4 {
		t.Errorf("handler called %d times, want 4", next.calls())
	}
}

// TestFailureLimiterWindow ensures failures spread wider than the window
// never add up to the limit.
func TestFailureLimiterWindow(t *testing.T) {
	clk := newClock()
	l := mustLimiter(t, 3, time.Minute, edge.LimiterOptions{NowFunc: clk.Now})
	for range 10 {
		l.Failed("203.0.113.7")
		clk.Advance(31 * time.Second)
		l.Failed("203.0.113.7")
		clk.Advance(30 * time.Second)
		if _, limited := l.Limited("203.0.113.7"); limited {
			t.Fatal("limited by failures in different windows")
		}
	}
}

// TestFailureLimiterKeys ensures clients are counted as the limiter's
// documented keys: IPv4 by address, IPv6 by /64, one spelling per address.
func TestFailureLimiterKeys(t *testing.T) {
	l := mustLimiter(t, 2, time.Minute, edge.LimiterOptions{NowFunc: newClock().Now})
	l.Failed("2001:db8:1:2::1")
	l.Failed("2001:db8:1:2:ffff::9")
	if _, limited := l.Limited("2001:db8:1:2::abcd"); !limited {
		t.Error("two addresses of one /64 are not one client")
	}
	if _, limited := l.Limited("2001:db8:1:3::1"); limited {
		t.Error("another /64 limited")
	}
	l.Failed("::ffff:192.0.2.1")
	l.Failed("192.0.2.1")
	if _, limited := l.Limited("192.0.2.1"); !limited {
		t.Error("an IPv4-mapped spelling counted apart")
	}
	if _, limited := l.Limited("192.0.2.2"); limited {
		t.Error("a neighbouring IPv4 address limited")
	}
}

// TestFailureLimiterBounded ensures memory stays under MaxClients however
// many addresses fail, evicting the least recently active, and that a
// client being refused stays remembered through a flood of new addresses.
func TestFailureLimiterBounded(t *testing.T) {
	clk := newClock()
	l := mustLimiter(t, 1, time.Minute, edge.LimiterOptions{MaxClients: 100, NowFunc: clk.Now})
	l.Failed("203.0.113.7")
	for i := range 10000 {
		l.Failed(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255))
		if i%50 == 0 {
			if _, limited := l.Limited("203.0.113.7"); !limited {
				t.Fatalf("the refused client was evicted after %d others", i)
			}
		}
	}
	if n := l.Tracked(); n > 100 {
		t.Errorf("%d clients tracked, cap 100", n)
	}
	if _, limited := l.Limited("10.0.0.0"); limited {
		t.Error("the oldest client was not evicted")
	}
	clk.Advance(2 * time.Minute)
	for i := range 10 {
		l.Limited(fmt.Sprintf("10.0.39.%d", i+6)) // expired entries are dropped on lookup
	}
	if n := l.Tracked(); n != 90 {
		t.Errorf("%d clients tracked after expiry, want 90", n)
	}
}

// TestFailureLimiterExempt ensures exempt clients (Stripe's addresses)
// are neither counted nor refused.
func TestFailureLimiterExempt(t *testing.T) {
	a, err := edge.NewAllowlist(edge.ModeOff, edge.AllowlistOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := mustLimiter(t, 1, time.Minute, edge.LimiterOptions{ExemptFunc: a.Allows, NowFunc: newClock().Now})
	for range 5 {
		l.Failed("3.18.12.63")
	}
	if w := serve(l.Middleware(&counting{}), request("3.18.12.63:443")); w.Code != http.StatusOK {
		t.Errorf("Stripe's address: %d", w.Code)
	}
	if l.Tracked() != 0 {
		t.Errorf("%d clients tracked", l.Tracked())
	}
}

// TestNewFailureLimiterErrors ensures bad settings are refused.
func TestNewFailureLimiterErrors(t *testing.T) {
	for _, tc := range []struct {
		max    int
		window time.Duration
		opts   edge.LimiterOptions
	}{
		{0, time.Minute, edge.LimiterOptions{}},
		{10, 0, edge.LimiterOptions{}},
		{10, time.Minute, edge.LimiterOptions{IPv6PrefixLen: 129}},
	} {
		if _, err := edge.NewFailureLimiter(tc.max, tc.window, tc.opts); err == nil {
			t.Errorf("NewFailureLimiter(%d, %v, %+v): no error", tc.max, tc.window, tc.opts)
		}
	}
}

// spyBody counts the bytes read from a request body.
type spyBody struct {
	r    io.Reader
	read *atomic.Int64
}

func (b spyBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b spyBody) Close() error { return nil }

// TestFailureLimiterIngest wires the limiter to the real ingest handler as
// serve.go should (same client function, Failed from OnResult when the
// result CountsAsFailure), behind a trusted proxy: forged requests are answered 400
// until the limit, then 429 without a byte of the body read and without
// reaching the handler; a correctly signed event from another client is
// accepted meanwhile, and Stripe's address is never refused.
func TestFailureLimiterIngest(t *testing.T) {
	const secret = "whsec_edge_test"
	proxies := mustProxies(t, "10.0.0.0/8")
	logger, _ := newLogger()
	allow, err := edge.NewAllowlist(edge.ModeLog, edge.AllowlistOptions{ClientAddrFunc: proxies.ClientAddr, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	lim := mustLimiter(t, 5, time.Minute, edge.LimiterOptions{
		ClientAddrFunc: proxies.ClientAddr, ExemptFunc: allow.Allows, NowFunc: clk.Now,
	})
	verifier, err := stripesig.NewVerifier([]string{secret}, stripesig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var handled, submitted atomic.Int64
	h := &ingest.Handler{
		Endpoint: "stripe",
		Verifier: verifier,
		Logger:   logger,
		Submit: func(ctx context.Context, ev *hookbox.Event) (hookbox.InsertResult, error) {
			submitted.Add(1)
			return hookbox.InsertResult{}, nil
		},
		ClientAddrFunc: proxies.ClientAddr,
		OnResult: func(r ingest.Result) {
			handled.Add(1)
			if r.CountsAsFailure() {
				lim.Failed(r.Client)
			}
		},
	}
	chain := allow.Middleware(lim.Middleware(h))

	body := `{"id":"evt_1","object":"event","type":"ping","created":1}`
	send := func(client, sig string) (int, int64) {
		var read atomic.Int64
		r := request("10.0.0.2:80", "X-Forwarded-For", client, "Stripe-Signature", sig)
		r.Body = spyBody{strings.NewReader(body), &read}
		r.ContentLength = int64(len(body))
		return serve(chain, r).Code, read.Load()
	}
	forged := stripesig.Sign([]byte(body), time.Now(), "whsec_guess")
	for i := range 5 {
		if code, _ := send("203.0.113.7", forged); code != http.StatusBadRequest {
			t.Fatalf("forged request %d: %d, want 400", i+1, code)
		}
	}
	handledBefore := handled.Load()
	for i := range 100 {
		code, read := send("203.0.113.7", forged)
		if code != http.StatusTooManyRequests || read != 0 {
			t.Fatalf("flood request %d: %d with %d body bytes read, want 429 and none", i+1, code, read)
		}
	}
	if n := handled.Load() - handledBefore; n != 0 {
		t.Errorf("the handler saw %d requests of the flood", n)
	}
	if code, _ := send("198.51.100.1", stripesig.Sign([]byte(body), time.Now(), secret)); code != http.StatusOK {
		t.Errorf("a valid event from another client: %d", code)
	}
	// Stripe's address failing (another account's endpoint pointed here,
	// or a wrong secret) is never locked out.
	for range 20 {
		send("3.18.12.63", forged)
	}
	if code, _ := send("3.18.12.63", stripesig.Sign([]byte(body), time.Now(), secret)); code != http.StatusOK {
		t.Errorf("Stripe after failures: %d", code)
	}
	if submitted.Load() != 2 {
		t.Errorf("%d events reached the store, want 2", submitted.Load())
	}
}

// TestFailureLimiterIngest_BadMethod ensures a flood of GETs on the webhook
// path counts toward the failure limit, as serve.go wires it, and gets 429
// once over it; and that the flood writes a few log lines, not one each.
func TestFailureLimiterIngest_BadMethod(t *testing.T) {
	logger, logs := newLogger()
	lim := mustLimiter(t, 5, time.Minute, edge.LimiterOptions{NowFunc: newClock().Now})
	h := &ingest.Handler{
		Endpoint: "stripe",
		Logger:   logger,
		OnResult: func(r ingest.Result) {
			if r.CountsAsFailure() {
				lim.Failed(r.Client)
			}
		},
	}
	chain := lim.Middleware(h)
	codes := map[int]int{}
	for range 10000 {
		r := request("203.0.113.7:1234")
		r.Method = http.MethodGet
		codes[serve(chain, r).Code]++
	}
	if codes[http.StatusMethodNotAllowed] != 5 || codes[http.StatusTooManyRequests] != 9995 {
		t.Errorf("statuses %v, want 5 405s then 429s", codes)
	}
	if n := len(lines(logs.String())); n > edge.DefaultLogBurst {
		t.Errorf("%d log lines for 10,000 GETs, want at most %d", n, edge.DefaultLogBurst)
	}
}
