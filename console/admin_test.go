package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
)

// fakeMetrics stands for the Prometheus handler.
var fakeMetrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "hookbox_up 1\n")
})

// mustAdmin returns the admin handler for o, with a store and a quiet
// logger when o has none.
func mustAdmin(tb testing.TB, o console.Options) *console.Server {
	tb.Helper()
	if o.Store == nil {
		o.Store = mustOpenStore(tb)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := console.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	return srv
}

// adminReq is one request to the admin handler, from a client address.
type adminReq struct {
	method, path string
	remote       string // "127.0.0.1:40000" when empty
	host         string // "127.0.0.1:8081" when empty
	header       map[string]string
	form         url.Values
	cookies      []*http.Cookie
}

// serveAdmin serves q on h in process, so that the client address can be
// chosen.
func serveAdmin(tb testing.TB, h http.Handler, q adminReq) *httptest.ResponseRecorder {
	tb.Helper()
	var body io.Reader
	if q.form != nil {
		body = strings.NewReader(q.form.Encode())
	}
	r := httptest.NewRequest(q.method, "http://127.0.0.1:8081"+q.path, body)
	r.RemoteAddr, r.Host = q.remote, q.host
	if r.RemoteAddr == "" {
		r.RemoteAddr = "127.0.0.1:40000"
	}
	if r.Host == "" {
		r.Host = "127.0.0.1:8081"
	}
	if q.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	for _, c := range q.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// errorDoc decodes an admin error document, failing unless it is exactly
// {"code", "message"}.
func errorDoc(tb testing.TB, w *httptest.ResponseRecorder) (code, message string) {
	tb.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("error with Content-Type %q: %s", ct, w.Body)
	}
	var doc map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || len(doc) != 2 || doc["code"] == "" || doc["message"] == "" {
		tb.Fatalf("error document %q: %v", w.Body, err)
	}
	return doc["code"], doc["message"]
}

// TestAdmin_TokenSpellings ensures /metrics, the API and /debug/pprof/
// take the token the same way, the scheme in any letter case and the
// token after one or more spaces (RFC 7235), and refuse the same spellings
// with the same 401 document and challenge.
func TestAdmin_TokenSpellings(t *testing.T) {
	srv := mustAdmin(t, console.Options{Token: testToken, Metrics: fakeMetrics, Pprof: true})
	paths := []string{"/metrics", "/api/events", "/debug/pprof/"}
	for _, auth := range []string{"Bearer " + testToken, "bearer " + testToken, "BEARER " + testToken, "bEaReR " + testToken, "Bearer   " + testToken} {
		for _, p := range paths {
			if w := serveAdmin(t, srv, adminReq{method: "GET", path: p, header: map[string]string{"Authorization": auth}}); w.Code != 200 {
				t.Errorf("GET %s with %q: %d %s", p, strings.Replace(auth, testToken, "<token>", 1), w.Code, w.Body)
			}
		}
	}
	var first string
	for i, auth := range []string{"", "Bearer", "Bearer ", "Basic " + testToken, "Bearer" + testToken, "Bearer " + testToken + " x", "Bearer " + testToken[:10], "Token " + testToken} {
		for _, p := range paths {
			// One client per refusal: the failures would reach the limit.
			w := serveAdmin(t, srv, adminReq{method: "GET", path: p, remote: "192.0.2." + strconv.Itoa(i) + ":1", header: map[string]string{"Authorization": auth}})
			if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != `Bearer realm="hookbox"` {
				t.Fatalf("GET %s with %q: %d, WWW-Authenticate %q", p, auth, w.Code, w.Header().Get("WWW-Authenticate"))
			}
			if code, _ := errorDoc(t, w); code != hookbox.EUNAUTHORIZED {
				t.Fatalf("GET %s with %q: code %q", p, auth, code)
			}
			if first == "" {
				first = w.Body.String()
			} else if w.Body.String() != first {
				t.Fatalf("GET %s with %q answers\n%s\nnot the same 401 document as the others:\n%s", p, auth, w.Body, first)
			}
		}
	}
}

// TestAdmin_HostGuard ensures that with a token, as without one, a
// loopback admin listener answers only requests naming a loopback host
// (or an allowed one), so that a DNS-rebinding page can neither read it
// nor spend the failure limit; a listener on another address answers any
// Host unless AllowedHosts names them; the health checks answer any Host.
func TestAdmin_HostGuard(t *testing.T) {
	bearer := map[string]string{"Authorization": "Bearer " + testToken}
	paths := []string{"/", "/login", "/api/events", "/metrics", "/debug/pprof/"}
	for _, tc := range []struct {
		name  string
		o     console.Options
		hosts map[string]bool // Host -> answered
	}{
		{"Open", console.Options{}, map[string]bool{
			"attacker.example:8081": false, "127.0.0.1:8081": true, "localhost:8081": true, "[::1]:8081": true}},
		{"TokenLoopback", console.Options{Token: testToken}, map[string]bool{
			"attacker.example:8081": false, "attacker.example": false, "10.0.0.5:8081": false, "127.0.0.1:8081": true, "LOCALHOST": true}},
		{"TokenLoopbackListen", console.Options{Token: testToken, ListenAddr: "127.0.0.1:8081"}, map[string]bool{
			"attacker.example:8081": false, "127.0.0.1:8081": true}},
		{"TokenLoopbackAllowed", console.Options{Token: testToken, ListenAddr: "127.0.0.1:8081", AllowedHosts: []string{"Admin.Example.com"}}, map[string]bool{
			"attacker.example:8081": false, "admin.example.com:443": true, "ADMIN.EXAMPLE.COM.": true, "127.0.0.1:8081": true}},
		{"TokenAnyAddress", console.Options{Token: testToken, ListenAddr: "0.0.0.0:8081"}, map[string]bool{
			"attacker.example:8081": true, "10.0.0.5:8081": true, "127.0.0.1:8081": true}},
		{"TokenAnyAddressAllowed", console.Options{Token: testToken, ListenAddr: ":8081", AllowedHosts: []string{"admin.example.com", "10.0.0.5"}}, map[string]bool{
			"attacker.example:8081": false, "admin.example.com": true, "10.0.0.5:8081": true, "localhost:8081": true}},
		{"TokenStar", console.Options{Token: testToken, AllowedHosts: []string{"*"}}, map[string]bool{
			"attacker.example:8081": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Metrics, tc.o.Pprof = fakeMetrics, true
			srv := mustAdmin(t, tc.o)
			for host, answered := range tc.hosts {
				for _, p := range paths {
					w := serveAdmin(t, srv, adminReq{method: "GET", path: p, host: host, header: bearer})
					if !answered {
						if w.Code != http.StatusMisdirectedRequest {
							t.Fatalf("GET %s with Host %q: %d, want 421", p, host, w.Code)
						}
						if code, _ := errorDoc(t, w); code != hookbox.EMISDIRECTED {
							t.Fatalf("GET %s with Host %q: code %q", p, host, code)
						}
						continue
					}
					if w.Code != 200 && w.Code != http.StatusSeeOther {
						t.Fatalf("GET %s with Host %q: %d %s", p, host, w.Code, w.Body)
					}
				}
				for _, p := range []string{"/healthz", "/readyz"} {
					if w := serveAdmin(t, srv, adminReq{method: "GET", path: p, host: host}); w.Code != 200 {
						t.Fatalf("GET %s with Host %q: %d", p, host, w.Code)
					}
				}
			}
		})
	}
	t.Run("RebindingSpendsNoFailures", func(t *testing.T) {
		srv := mustAdmin(t, console.Options{Token: testToken, Metrics: fakeMetrics})
		for range 3 * console.MaxAuthFailures {
			serveAdmin(t, srv, adminReq{method: "GET", path: "/metrics", host: "attacker.example:8081", header: map[string]string{"Authorization": "Bearer wrong"}})
		}
		if w := serveAdmin(t, srv, adminReq{method: "GET", path: "/metrics", header: map[string]string{"Authorization": "Bearer wrong"}}); w.Code != http.StatusUnauthorized {
			t.Fatalf("a wrong token after a rebinding page's: %d, want 401 (not counted)", w.Code)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		store := mustOpenStore(t)
		for _, o := range []console.Options{
			{Store: store, ListenAddr: "0.0.0.0:8081"},
			{Store: store, AllowedHosts: []string{"*"}},
			{Store: store, Token: testToken, AllowedHosts: []string{""}},
		} {
			if _, err := console.New(o); err == nil {
				t.Errorf("New(ListenAddr %q, token %t, AllowedHosts %q) accepted", o.ListenAddr, o.Token != "", o.AllowedHosts)
			}
		}
		if _, err := console.New(console.Options{Store: store, ListenAddr: "0.0.0.0:8081"}); !errors.Is(err, console.ErrTokenRequired) {
			t.Errorf("non-loopback without a token: %v, want ErrTokenRequired", err)
		}
	})
}

// syncBuffer is a log sink safe for concurrent writes.
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

// TestAdmin_FailureLimit ensures a client that keeps presenting wrong
// admin tokens (bearer tokens on the API and /metrics, failed logins) is
// refused with 429 and Retry-After for a window, that requests presenting
// no token are not counted, and that the limit never locks out the right
// token or a live session, from that address or another: a rebinding page
// or a script guessing from the operator's address must not lock the
// operator, Prometheus or the logged-in console out. The health checks
// and the login form still answer; failures are logged with the client
// and never with what was presented.
func TestAdmin_FailureLimit(t *testing.T) {
	const wrong = "guess-0123456789abcdefghij"
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var logs syncBuffer
	var hooked int
	srv := mustAdmin(t, console.Options{
		Token: testToken, Metrics: fakeMetrics, NowFunc: clock,
		Logger:        slog.New(slog.NewJSONHandler(&logs, nil)),
		OnAuthFailure: func(*http.Request) { hooked++ },
	})
	const attacker, other = "127.0.0.1:50000", "192.0.2.7:50000"
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	origin := map[string]string{"Origin": "http://127.0.0.1:8081"}

	// A session from before the failures.
	w := serveAdmin(t, srv, adminReq{method: "POST", path: "/login", remote: attacker, header: origin, form: url.Values{"token": {testToken}}})
	if w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 1 {
		t.Fatalf("login: %d", w.Code)
	}
	session := w.Result().Cookies()

	// Requests that present no token guess nothing and are not counted.
	for i := range 2 * console.MaxAuthFailures {
		p := []string{"/api/events", "/metrics"}[i%2]
		if w := serveAdmin(t, srv, adminReq{method: "GET", path: p, remote: attacker}); w.Code != http.StatusUnauthorized {
			t.Fatalf("GET %s without a token: %d, want 401", p, w.Code)
		}
	}
	// MaxAuthFailures wrong tokens of three kinds: the last one starts the
	// penalty.
	for i := range console.MaxAuthFailures {
		var w *httptest.ResponseRecorder
		switch i % 3 {
		case 0:
			w = serveAdmin(t, srv, adminReq{method: "POST", path: "/login", remote: attacker, header: origin, form: url.Values{"token": {wrong}}})
		case 1:
			w = serveAdmin(t, srv, adminReq{method: "GET", path: "/api/events", remote: attacker, header: bearer(wrong)})
		default:
			w = serveAdmin(t, srv, adminReq{method: "GET", path: "/metrics", remote: attacker, header: bearer(wrong)})
		}
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, w.Code)
		}
	}
	if hooked != console.MaxAuthFailures {
		t.Errorf("OnAuthFailure called %d times, want %d", hooked, console.MaxAuthFailures)
	}
	// The client is refused wherever it fails a credential check.
	for _, q := range []adminReq{
		{method: "GET", path: "/metrics", header: bearer(wrong)},
		{method: "GET", path: "/api/events", header: bearer(wrong)},
		{method: "GET", path: "/api/events"},
		{method: "GET", path: "/events"},
		{method: "POST", path: "/login", header: origin, form: url.Values{"token": {wrong}}},
	} {
		q.remote = attacker
		w := serveAdmin(t, srv, q)
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("%s %s during the penalty: %d, want 429", q.method, q.path, w.Code)
		}
		if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Fatalf("%s %s: Retry-After %q", q.method, q.path, w.Header().Get("Retry-After"))
		}
		if code, _ := errorDoc(t, w); code != hookbox.ERATELIMITED {
			t.Fatalf("%s %s: code %q", q.method, q.path, code)
		}
	}
	// From the limited address even the right token gets 429: its tokens
	// are not compared, so the answers cannot tell a guesser it hit.
	for _, q := range []adminReq{
		{method: "GET", path: "/metrics", header: bearer(testToken)},
		{method: "GET", path: "/api/events", header: map[string]string{"Authorization": "bearer " + testToken}},
		{method: "POST", path: "/login", header: origin, form: url.Values{"token": {testToken}}},
	} {
		q.remote = attacker
		if w := serveAdmin(t, srv, q); w.Code != http.StatusTooManyRequests {
			t.Fatalf("%s %s with the right token from the limited address: %d, want 429", q.method, q.path, w.Code)
		}
	}
	// A live session passes from the limited address (a logged-in console
	// is never locked out), and so do the health checks and the login
	// form; from another address the right token passes too.
	for _, remote := range []string{attacker, other} {
		qs := []adminReq{
			{method: "GET", path: "/events", cookies: session},
			{method: "GET", path: "/healthz"},
			{method: "GET", path: "/readyz"},
			{method: "GET", path: "/login"},
		}
		if remote == other {
			qs = append(qs, adminReq{method: "GET", path: "/metrics", header: bearer(testToken)},
				adminReq{method: "GET", path: "/api/events", header: map[string]string{"Authorization": "bearer " + testToken}})
		}
		for _, q := range qs {
			q.remote = remote
			if w := serveAdmin(t, srv, q); w.Code != 200 {
				t.Fatalf("%s %s from %s during the penalty: %d, want 200", q.method, q.path, remote, w.Code)
			}
		}
	}
	w = serveAdmin(t, srv, adminReq{method: "POST", path: "/login", remote: other, header: origin, form: url.Values{"token": {testToken}}})
	if w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 1 {
		t.Fatalf("login with the right token from another address during the penalty: %d", w.Code)
	}
	// Another client's wrong token is its own: 401.
	if w := serveAdmin(t, srv, adminReq{method: "GET", path: "/metrics", remote: other, header: bearer(wrong)}); w.Code != http.StatusUnauthorized {
		t.Fatalf("another client's wrong token: %d, want 401", w.Code)
	}
	// After the window the client may fail again.
	mu.Lock()
	now = now.Add(console.AuthFailureWindow)
	mu.Unlock()
	if w := serveAdmin(t, srv, adminReq{method: "GET", path: "/metrics", remote: attacker, header: bearer(wrong)}); w.Code != http.StatusUnauthorized {
		t.Fatalf("a wrong token after the penalty: %d, want 401", w.Code)
	}

	out := logs.String()
	if n := strings.Count(out, `"msg":"console: wrong admin token"`); n != console.MaxAuthFailures+2 {
		t.Errorf("%d warnings of a wrong token, want %d (none during the penalty):\n%s", n, console.MaxAuthFailures+2, out)
	}
	for _, want := range []string{`"path":"/api/events"`, `"path":"/metrics"`, `"path":"/login"`, `"client":"127.0.0.1:50000"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, wrong) || strings.Contains(out, testToken) {
		t.Errorf("logs hold a presented or configured token:\n%s", out)
	}
}

// TestAdmin_Health ensures /healthz and /readyz answer load balancers
// with the exact documents they always had: ready when ReadyFunc is nil or
// returns nil, 503 with the user-safe message of its error otherwise, and
// no detail of an internal error.
func TestAdmin_Health(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ready func(context.Context) error
		code  int
		body  string
	}{
		{"NoFunc", nil, 200, `{"status":"ready"}` + "\n"},
		{"Ready", func(context.Context) error { return nil }, 200, `{"status":"ready"}` + "\n"},
		{"Stalled", func(context.Context) error { return hookbox.Errorf(hookbox.EUNAVAILABLE, "store stalled") }, 503, `{"status":"store stalled"}` + "\n"},
		{"ShuttingDown", func(context.Context) error { return hookbox.Errorf(hookbox.EUNAVAILABLE, "shutting down") }, 503, `{"status":"shutting down"}` + "\n"},
		{"Unavailable", func(context.Context) error {
			return &hookbox.Error{Code: hookbox.EUNAVAILABLE, Message: "store unavailable", Err: errors.New("dial tcp 10.0.0.9:5432: refused")}
		}, 503, `{"status":"store unavailable"}` + "\n"},
		{"Internal", func(context.Context) error { return errors.New("secret detail") }, 503, `{"status":"not ready"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mustAdmin(t, console.Options{Token: testToken, ReadyFunc: tc.ready})
			w := serveAdmin(t, srv, adminReq{method: "GET", path: "/readyz"})
			if w.Code != tc.code || w.Body.String() != tc.body || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("/readyz: %d %q %q, want %d %q", w.Code, w.Body, w.Header().Get("Content-Type"), tc.code, tc.body)
			}
			w = serveAdmin(t, srv, adminReq{method: "GET", path: "/healthz"})
			if w.Code != 200 || w.Body.String() != `{"status":"ok"}`+"\n" {
				t.Fatalf("/healthz: %d %q", w.Code, w.Body)
			}
		})
	}
}

// TestAdmin_ErrorShape ensures every refusal on the admin listener outside
// the console's pages is the one JSON document {"code", "message"} with
// the status of hookbox.HTTPStatus.
func TestAdmin_ErrorShape(t *testing.T) {
	srv := mustAdmin(t, console.Options{Token: testToken, Metrics: fakeMetrics, Pprof: true})
	for _, tc := range []struct {
		q    adminReq
		code string
	}{
		{adminReq{method: "GET", path: "/metrics"}, hookbox.EUNAUTHORIZED},
		{adminReq{method: "GET", path: "/debug/pprof/"}, hookbox.EUNAUTHORIZED},
		{adminReq{method: "GET", path: "/api/events"}, hookbox.EUNAUTHORIZED},
		{adminReq{method: "GET", path: "/api/nope", header: map[string]string{"Authorization": "Bearer " + testToken}}, hookbox.ENOTFOUND},
		{adminReq{method: "GET", path: "/metrics", host: "attacker.example"}, hookbox.EMISDIRECTED},
		{adminReq{method: "POST", path: "/api/replay", header: map[string]string{"Authorization": "Bearer " + testToken, "Sec-Fetch-Site": "cross-site"}}, hookbox.EFORBIDDEN},
	} {
		w := serveAdmin(t, srv, tc.q)
		if code, _ := errorDoc(t, w); code != tc.code || w.Code != hookbox.HTTPStatus(code) {
			t.Errorf("%s %s: %d %s, want code %s", tc.q.method, tc.q.path, w.Code, w.Body, tc.code)
		}
	}
}
