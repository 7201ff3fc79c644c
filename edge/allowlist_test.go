package edge_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox/edge"
)

// outsiders records OnOutside calls.
type outsiders struct {
	mu    sync.Mutex
	calls []string
}

func (o *outsiders) hook(client string, enforced bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if enforced {
		client += " refused"
	}
	o.calls = append(o.calls, client)
}

func (o *outsiders) get() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.calls)
}

// TestBuiltinStripeIPs ensures the built-in list parses, holds Stripe's
// published addresses and nothing else, and is what a new Allowlist holds.
func TestBuiltinStripeIPs(t *testing.T) {
	ips := edge.StripeWebhookIPs()
	if len(ips) != 15 {
		t.Errorf("%d built-in addresses, want 15", len(ips))
	}
	for _, p := range ips {
		if !p.IsSingleIP() || !p.Addr().Is4() {
			t.Errorf("%s: want a single IPv4 address", p)
		}
	}
	if _, err := time.Parse(time.DateOnly, edge.StripeWebhookIPsDate); err != nil {
		t.Errorf("StripeWebhookIPsDate: %v", err)
	}
	a, err := edge.NewAllowlist(edge.ModeEnforce, edge.AllowlistOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Entries(), ips) {
		t.Errorf("Entries() = %v, want the built-in list", a.Entries())
	}
	for _, s := range []string{"3.18.12.63", "54.187.216.72", "::ffff:3.18.12.63", "3.18.12.63:443"} {
		if !a.Allows(s) {
			t.Errorf("Allows(%q) = false", s)
		}
	}
	for _, s := range []string{"3.18.12.64", "127.0.0.1", "", "pipe", "3.18.12.63/32"} {
		if a.Allows(s) {
			t.Errorf("Allows(%q) = true", s)
		}
	}
}

// TestAllowlistModes ensures each mode's behaviour: off passes everything
// untouched; log logs, counts and serves outsiders; enforce logs, counts
// and refuses them with 403 before the handler; Stripe's addresses pass in
// every mode; the client address comes from the proxies.
func TestAllowlistModes(t *testing.T) {
	proxies := mustProxies(t, "10.0.0.0/8")
	const stripeIP, stranger = "3.18.12.63", "203.0.113.7"
	for _, tc := range []struct {
		mode         edge.Mode
		wantStranger int // status for the stranger
		wantCalls    []string
	}{
		{edge.ModeOff, http.StatusOK, nil},
		{edge.ModeLog, http.StatusOK, []string{stranger, stranger}},
		{edge.ModeEnforce, http.StatusForbidden, []string{stranger + " refused", stranger + " refused"}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			logger, logs := newLogger()
			o := &outsiders{}
			a, err := edge.NewAllowlist(tc.mode, edge.AllowlistOptions{
				ClientAddrFunc: proxies.ClientAddr, OnOutside: o.hook, Logger: logger,
			})
			if err != nil {
				t.Fatal(err)
			}
			next := &counting{}
			h := a.Middleware(next)
			if tc.mode == edge.ModeOff && h != http.Handler(next) {
				t.Error("off mode wrapped the handler")
			}
			for _, r := range []*http.Request{
				request(stripeIP + ":443"),
				request("10.0.0.2:80", "X-Forwarded-For", stripeIP),
				request("10.0.0.2:80", "X-Forwarded-For", stripeIP+", 10.0.0.9"),
			} {
				if w := serve(h, r); w.Code != http.StatusOK {
					t.Errorf("Stripe via %s %v: %d", r.RemoteAddr, r.Header, w.Code)
				}
			}
			for _, r := range []*http.Request{
				request(stranger + ":443"),
				// A stranger behind the trusted proxy, forging Stripe's address.
				request("10.0.0.2:80", "X-Forwarded-For", stripeIP+", "+stranger),
			} {
				w := serve(h, r)
				if w.Code != tc.wantStranger {
					t.Errorf("stranger via %s %v: %d, want %d", r.RemoteAddr, r.Header, w.Code, tc.wantStranger)
				}
				if w.Code == http.StatusForbidden && w.Body.String() != `{"error":"forbidden"}`+"\n" {
					t.Errorf("body %q", w.Body)
				}
			}
			// A stranger forging X-Forwarded-For without a trusted proxy.
			w := serve(h, request(stranger+":443", "X-Forwarded-For", stripeIP))
			if w.Code != tc.wantStranger {
				t.Errorf("forged XFF from an untrusted peer: %d, want %d", w.Code, tc.wantStranger)
			}
			if tc.wantCalls != nil {
				tc.wantCalls = append(tc.wantCalls, tc.wantCalls[0])
			}
			if got := o.get(); !slices.Equal(got, tc.wantCalls) {
				t.Errorf("OnOutside calls %q, want %q", got, tc.wantCalls)
			}
			wantHandled := 3 + 3
			if tc.mode == edge.ModeEnforce {
				wantHandled = 3
			}
			if next.calls() != wantHandled {
				t.Errorf("handler called %d times, want %d", next.calls(), wantHandled)
			}
			wantLogs := len(tc.wantCalls)
			if got := strings.Count(logs.String(), "client="+stranger); got != wantLogs {
				t.Errorf("%d log lines name the stranger, want %d:\n%s", got, wantLogs, logs)
			}
		})
	}
}

// TestParseMode ensures the flag values.
func TestParseMode(t *testing.T) {
	for _, s := range []string{"off", "log", "enforce"} {
		if m, err := edge.ParseMode(s); err != nil || string(m) != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "on", "Enforce"} {
		if _, err := edge.ParseMode(s); err == nil {
			t.Errorf("ParseMode(%q): no error", s)
		}
	}
	if _, err := edge.NewAllowlist("strict", edge.AllowlistOptions{}); err == nil {
		t.Error("NewAllowlist accepted mode strict")
	}
}

// listSource is an httptest server whose body the test sets.
type listSource struct {
	mu     sync.Mutex
	status int
	body   string
	hits   atomic.Int64
}

func (s *listSource) set(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func (s *listSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	w.WriteHeader(s.status)
	w.Write([]byte(s.body))
}

// TestAllowlistRefreshURL ensures Refresh reads Stripe's JSON and plain
// text from a URL, replaces the list, reports through OnRefresh, and keeps
// the list in force when the source fails or holds an empty or malformed
// list.
func TestAllowlistRefreshURL(t *testing.T) {
	src := &listSource{}
	srv := httptest.NewServer(src)
	defer srv.Close()
	clk := newClock()
	type refresh struct {
		n   int
		err error
	}
	var refreshes []refresh
	logger, logs := newLogger()
	a, err := edge.NewAllowlist(edge.ModeEnforce, edge.AllowlistOptions{
		Source: srv.URL + "/ips_webhooks.json", HTTPClient: srv.Client(), Logger: logger, NowFunc: clk.Now,
		OnRefresh: func(n int, err error) { refreshes = append(refreshes, refresh{n, err}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("JSON", func(t *testing.T) {
		src.set(200, `{"WEBHOOKS": ["3.18.12.63", "198.51.100.7", "2001:db8::/48"]}`)
		if err := a.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		checkAllows(t, a, map[string]bool{
			"198.51.100.7": true, "3.18.12.63": true, "2001:db8:0:1::5": true, "54.187.216.72": false,
		})
		if !a.UpdatedAt().Equal(clk.Now()) {
			t.Errorf("UpdatedAt = %v", a.UpdatedAt())
		}
		if !strings.Contains(logs.String(), "ip allowlist changed") || !strings.Contains(logs.String(), "198.51.100.7") {
			t.Errorf("change not logged:\n%s", logs)
		}
	})
	t.Run("Text", func(t *testing.T) {
		src.set(200, "# Stripe webhooks\n3.18.12.63\r\n\n54.88.130.119 # us-east\n")
		if err := a.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		checkAllows(t, a, map[string]bool{"3.18.12.63": true, "54.88.130.119": true, "198.51.100.7": false})
	})
	before := a.Entries()
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"ServerError", "3.18.12.63", 500, "500"},
		{"EmptyJSON", `{"WEBHOOKS": []}`, 200, "empty list"},
		{"EmptyText", "\n# nothing\n", 200, "empty list"},
		{"NoKey", `{"API": ["3.18.12.63"]}`, 200, `no "WEBHOOKS" key`},
		{"NotStrings", `{"WEBHOOKS": [1, 2]}`, 200, "list of strings"},
		{"BadJSON", `{"WEBHOOKS": [`, 200, "parse JSON"},
		{"OneBadEntry", `{"WEBHOOKS": ["3.18.12.63", "3.18.12.300"]}`, 200, "entry 2"},
		{"HTML", "<html>maintenance</html>", 200, "entry 1"},
		{"CatchAll", "3.18.12.63\n0.0.0.0/0\n", 200, "every address"},
		{"TooLarge", strings.Repeat("3.18.12.63\n", edge.MaxAllowlistBytes/11+1), 200, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src.set(tc.status, tc.body)
			err := a.Refresh(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Refresh() = %v, want %q", err, tc.want)
			}
			if !slices.Equal(a.Entries(), before) {
				t.Errorf("the list changed to %v", a.Entries())
			}
		})
	}
	if len(refreshes) != 12 || refreshes[0] != (refresh{3, nil}) || refreshes[1] != (refresh{2, nil}) ||
		refreshes[2].n != 2 || refreshes[2].err == nil {
		t.Errorf("OnRefresh calls %v", refreshes)
	}
}

// TestAllowlistRefreshFile ensures a file source, and that a missing file
// keeps the list.
func TestAllowlistRefreshFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ips.txt")
	logger, _ := newLogger()
	a, err := edge.NewAllowlist(edge.ModeLog, edge.AllowlistOptions{Source: path, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Refresh(context.Background()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Refresh() of a missing file = %v", err)
	}
	checkAllows(t, a, map[string]bool{"3.18.12.63": true})
	writeFile(t, path, []byte(`{"WEBHOOKS":["192.0.2.10","192.0.2.11"]}`))
	if err := a.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkAllows(t, a, map[string]bool{"192.0.2.10": true, "192.0.2.11": true, "3.18.12.63": false})
}

// TestAllowlistStart ensures the periodic refresher picks up a new list,
// survives a failing source, and stops.
func TestAllowlistStart(t *testing.T) {
	src := &listSource{}
	src.set(500, "")
	srv := httptest.NewServer(src)
	defer srv.Close()
	logger, logs := newLogger()
	a, err := edge.NewAllowlist(edge.ModeEnforce, edge.AllowlistOptions{Source: srv.URL, Logger: logger})
	if err == nil && !strings.Contains(logs.String(), "source is plain HTTP") {
		t.Errorf("plain-HTTP source not warned about:\n%s", logs)
	}
	if err != nil {
		t.Fatal(err)
	}
	stop := a.Start(context.Background(), 5*time.Millisecond)
	waitFor(t, func() bool { return src.hits.Load() >= 2 })
	checkAllows(t, a, map[string]bool{"3.18.12.63": true})
	if !strings.Contains(logs.String(), "ip allowlist refresh failed; keeping the current list") {
		t.Errorf("failure not logged:\n%s", logs)
	}
	src.set(200, "192.0.2.99\n")
	waitFor(t, func() bool { return a.Allows("192.0.2.99") })
	stop() // returns once the refresher's goroutine has ended

	noSource, _ := edge.NewAllowlist(edge.ModeEnforce, edge.AllowlistOptions{})
	noSource.Start(context.Background(), time.Millisecond)()
	if err := noSource.Refresh(context.Background()); !errors.Is(err, edge.ErrNoSource) {
		t.Errorf("Refresh() without a source = %v", err)
	}
}

// TestAllowlistOptions ensures bad options are refused at construction.
func TestAllowlistOptions(t *testing.T) {
	for _, opts := range []edge.AllowlistOptions{
		{Source: "http://"},
		{Initial: []netip.Prefix{}},
		{Initial: []netip.Prefix{{}}},
	} {
		if _, err := edge.NewAllowlist(edge.ModeLog, opts); err == nil {
			t.Errorf("NewAllowlist(%+v): no error", opts)
		}
	}
	initial := []netip.Prefix{netip.MustParsePrefix("192.0.2.77/24")}
	a, err := edge.NewAllowlist(edge.ModeLog, edge.AllowlistOptions{Initial: initial})
	if err != nil {
		t.Fatal(err)
	}
	if initial[0].String() != "192.0.2.77/24" {
		t.Error("NewAllowlist modified the caller's slice")
	}
	checkAllows(t, a, map[string]bool{"192.0.2.1": true, "3.18.12.63": false})
}

func checkAllows(t *testing.T, a *edge.Allowlist, want map[string]bool) {
	t.Helper()
	for ip, ok := range want {
		if got := a.Allows(ip); got != ok {
			t.Errorf("Allows(%s) = %v, want %v (list %v)", ip, got, ok, a.Entries())
		}
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
