package console_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
	"github.com/hookbox/hookbox/sqlite"
)

const testToken = "test-admin-token-0123456789abcdef"

// mustOpenStore opens a fresh SQLite store in a temporary directory, closed
// when the test ends.
func mustOpenStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "hookbox.db"))
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// newEvent returns an event shaped like Stripe's, received at at, whose
// data.object.id is objID; extra is spliced into data.object.
func newEvent(id, typ, objID string, at time.Time, state hookbox.State, extra string) *hookbox.Event {
	if extra != "" {
		extra = "," + extra
	}
	body := fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2024-06-20","created":%d,`+
		`"data":{"object":{"id":%q,"object":"payment_intent","amount":2000,"currency":"usd"%s}},`+
		`"livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":%q}`,
		id, at.Unix(), objID, extra, typ)
	return &hookbox.Event{
		ID: id, Type: typ, Object: "event", Created: at.Unix(), APIVersion: "2024-06-20",
		Body:       []byte(body),
		Headers:    map[string]string{"Stripe-Signature": "t=1,v1=abc", "Content-Type": "application/json"},
		ReceivedAt: at.UTC(), Source: hookbox.SourceWebhook, State: state, ClientAddr: "192.0.2.1",
	}
}

// mustInsert stores events and fails the test on any error.
func mustInsert(tb testing.TB, s hookbox.Store, evs ...*hookbox.Event) {
	tb.Helper()
	res, err := s.InsertEvents(context.Background(), evs)
	if err != nil {
		tb.Fatalf("insert events: %v", err)
	}
	for i, r := range res {
		if r.Err != nil || r.Duplicate {
			tb.Fatalf("insert event %s: %+v", evs[i].ID, r)
		}
	}
}

// newConsole serves a console on the store over httptest.
func newConsole(tb testing.TB, o console.Options) *httptest.Server {
	tb.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := console.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	tb.Cleanup(ts.Close)
	return ts
}

// client returns an HTTP client with a cookie jar that does not follow
// redirects.
func client(tb testing.TB) *http.Client {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// do sends a request and returns the response with its body read.
func do(tb testing.TB, c *http.Client, method, url, body string, header map[string]string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// login logs c in with the token.
func login(tb testing.TB, c *http.Client, base string) {
	tb.Helper()
	res, _ := do(tb, c, "POST", base+"/login", "token="+testToken+"&next=/events", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/events" {
		tb.Fatalf("login: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

// waitFor polls cond until it holds or d has passed.
func waitFor(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
