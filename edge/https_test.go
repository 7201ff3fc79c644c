package edge_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox/edge"
)

// TestHSTS ensures Strict-Transport-Security is on HTTPS responses only,
// HTTPS as a trusted proxy vouches for it too, and the max-age is in
// seconds.
func TestHSTS(t *testing.T) {
	p := mustProxies(t, "10.0.0.0/8")
	h := edge.HSTS(&counting{}, 48*time.Hour, p)
	for _, tc := range []struct {
		name string
		r    func() *http.Request
		want string
	}{
		{"TLS", func() *http.Request {
			r := request("203.0.113.7:1")
			r.TLS = &tls.ConnectionState{}
			return r
		}, "max-age=172800"},
		{"Plain", func() *http.Request { return request("203.0.113.7:1") }, ""},
		{"TrustedProxyHTTPS", func() *http.Request {
			return request("10.0.0.2:1", "X-Forwarded-Proto", "https")
		}, "max-age=172800"},
		{"UntrustedProxyHTTPS", func() *http.Request {
			return request("203.0.113.7:1", "X-Forwarded-Proto", "https")
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, tc.r())
			if got := w.Header().Get("Strict-Transport-Security"); got != tc.want {
				t.Errorf("Strict-Transport-Security = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("DefaultMaxAge", func(t *testing.T) {
		r := request("203.0.113.7:1")
		r.TLS = &tls.ConnectionState{}
		w := serve(edge.HSTS(&counting{}, 0, nil), r)
		if got := w.Header().Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Errorf("Strict-Transport-Security = %q, want one year", got)
		}
	})
}

// TestRequireHTTPS ensures plain-HTTP requests get 403 with the generic
// JSON body and never reach the handler, and HTTPS ones (direct or via a
// trusted proxy) pass.
func TestRequireHTTPS(t *testing.T) {
	p := mustProxies(t, "10.0.0.0/8")
	next := &counting{}
	h := edge.RequireHTTPS(next, p)

	t.Run("Refused", func(t *testing.T) {
		for _, r := range []*http.Request{
			request("203.0.113.7:1"),
			request("203.0.113.7:1", "X-Forwarded-Proto", "https"),
			request("10.0.0.2:1", "X-Forwarded-Proto", "http"),
			request("10.0.0.2:1"),
		} {
			w := serve(h, r)
			if w.Code != http.StatusForbidden || w.Body.String() != `{"error":"https required"}`+"\n" ||
				w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%s %v: %d %q, want 403 https required", r.RemoteAddr, r.Header, w.Code, w.Body)
			}
		}
		if next.calls() != 0 {
			t.Errorf("handler called %d times", next.calls())
		}
	})
	t.Run("OK", func(t *testing.T) {
		r := request("203.0.113.7:1")
		r.TLS = &tls.ConnectionState{}
		if w := serve(h, r); w.Code != http.StatusOK {
			t.Errorf("TLS: %d", w.Code)
		}
		if w := serve(h, request("10.0.0.2:1", "X-Forwarded-Proto", "https")); w.Code != http.StatusOK {
			t.Errorf("trusted proxy https: %d", w.Code)
		}
	})
}

// TestRedirectHTTPS ensures the plain-HTTP listener answers 308 to the same
// host, path and query on HTTPS, drops :443, brackets IPv6, refuses a bad
// Host, and logs a webhook POST.
func TestRedirectHTTPS(t *testing.T) {
	logger, logs := newLogger()
	h443, err := edge.RedirectHTTPS("[::]:443", logger)
	if err != nil {
		t.Fatal(err)
	}
	h8443, err := edge.RedirectHTTPS("0.0.0.0:8443", logger)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		h      http.Handler
		method string
		host   string
		target string
		want   string
	}{
		{"Default443", h443, "GET", "hooks.example.com", "/webhooks/stripe?x=1", "https://hooks.example.com/webhooks/stripe?x=1"},
		{"DropsHTTPPort", h443, "GET", "hooks.example.com:80", "/a%20b", "https://hooks.example.com/a%20b"},
		{"OtherPort", h8443, "POST", "hooks.example.com:8080", "/webhooks/stripe", "https://hooks.example.com:8443/webhooks/stripe"},
		{"IPv4", h443, "GET", "192.0.2.1:80", "/", "https://192.0.2.1/"},
		{"IPv6", h443, "GET", "[2001:db8::1]:80", "/", "https://[2001:db8::1]/"},
		{"IPv6NoPort", h8443, "GET", "[2001:db8::1]", "/", "https://[2001:db8::1]:8443/"},
		{"AbsoluteForm", h443, "GET", "", "http://hooks.example.com/p?q", "https://hooks.example.com/p?q"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader("{}"))
			if tc.host != "" {
				r.Host = tc.host
			}
			w := serve(tc.h, r)
			if w.Code != http.StatusPermanentRedirect || w.Header().Get("Location") != tc.want {
				t.Errorf("%d Location %q, want 308 %q", w.Code, w.Header().Get("Location"), tc.want)
			}
		})
	}
	t.Run("BadHost", func(t *testing.T) {
		for _, host := range []string{"", "evil.com/x", "a@b", "ex ample.com", "[fe80::1%25eth0]"} {
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = host
			if w := serve(h443, r); w.Code != http.StatusBadRequest {
				t.Errorf("Host %q: %d %q, want 400", host, w.Code, w.Header().Get("Location"))
			}
		}
	})
	t.Run("LogsPOSTOnce", func(t *testing.T) {
		if n := strings.Count(logs.String(), "POST on the plain-HTTP listener"); n != 1 {
			t.Errorf("%d warnings about POST, want 1 (rate limited):\n%s", n, logs)
		}
	})
	t.Run("BadAddr", func(t *testing.T) {
		for _, addr := range []string{"", ":0", "localhost", ":https", ":70000"} {
			if _, err := edge.RedirectHTTPS(addr, nil); err == nil {
				t.Errorf("RedirectHTTPS(%q): no error", addr)
			}
		}
	})
}

// TestRedirectHTTPSServer ensures a real client POSTing to the plain-HTTP
// listener, as Stripe would if given the http:// URL, gets the 308 and no
// event is accepted: the client must not follow it to count as delivered.
func TestRedirectHTTPSServer(t *testing.T) {
	logger, _ := newLogger()
	h, err := edge.RedirectHTTPS("127.0.0.1:8443", logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Post(srv.URL+"/webhooks/stripe", "application/json", strings.NewReader(`{"id":"evt_1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://127.0.0.1:8443/webhooks/stripe" {
		t.Errorf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
