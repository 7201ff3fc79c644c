package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox/ingest"
	"github.com/hookbox/hookbox/stripesig"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hookbox test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return certFile, keyFile
}

// TestServe_TLS ensures the public listener speaks TLS 1.2+ with the given
// certificate, sends Strict-Transport-Security, refuses TLS 1.1, and that
// the plain-HTTP listener answers a redirect to HTTPS.
func TestServe_TLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir)
	vars, _ := e2eVars(t)
	m, _ := mustRunMain(t, vars, "--tls-cert", certFile, "--tls-key", keyFile, "--http-redirect-listen", "127.0.0.1:0")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	body := e2eEvent("evt_tls_1", "invoice.paid")
	req, _ := http.NewRequest("POST", "https://"+m.PublicAddr()+"/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), testSecret1))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("status %d hsts %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get("https://" + m.PublicAddr() + "/webhooks/stripe"); err == nil {
		t.Fatal("TLS 1.1 handshake accepted")
	}
	resp, err = noRedirects.Post("http://"+m.RedirectAddr()+"/webhooks/stripe", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect || !strings.HasPrefix(resp.Header.Get("Location"), "https://") {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestServe_AllowlistAndLimits ensures the IP allowlist in enforce mode
// refuses a client outside the list (from a local file source) and lets a
// listed one through, log mode lets everyone through, and a client that
// keeps failing verification gets 429 before its body is read.
func TestServe_AllowlistAndLimits(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "ips.txt")
	os.WriteFile(src, []byte("# test list\n203.0.113.7\n"), 0o600)
	vars, _ := e2eVars(t)
	m, logs := mustRunMain(t, vars, "--ip-allowlist", "enforce", "--ip-allowlist-source", src)
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"
	body := e2eEvent("evt_allow_1", "invoice.paid")
	if status, resp := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1)); status != 403 || strings.Contains(resp, "127.0.0.1") {
		t.Fatalf("outside the list: %d %s", status, resp)
	}
	os.WriteFile(src, []byte("203.0.113.7\n127.0.0.1\n"), 0o600)
	if err := m.Allowlist().Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if status, _ := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1)); status != 200 {
		t.Fatalf("listed: %d", status)
	}
	m.Close()
	if !strings.Contains(logs.String(), "127.0.0.1") {
		t.Fatal("refusal not logged with the client address")
	}

	// Addresses on the list are exempt from the failure limit (they are
	// Stripe's, shared by every account): the limit test uses a list
	// without 127.0.0.1, in log mode, which lets the requests through.
	os.WriteFile(src, []byte("203.0.113.7\n"), 0o600)
	vars, _ = e2eVars(t)
	m, _ = mustRunMain(t, vars, "--ip-allowlist", "log", "--ip-allowlist-source", src, "--max-failed-verifications", "3")
	url = "http://" + m.PublicAddr() + "/webhooks/stripe"
	for i := 0; i < 2; i++ {
		if status, _ := postEvent(t, url, body, stripesig.Sign(body, time.Now(), "whsec_forged")); status != 400 {
			t.Fatalf("forged %d: %d", i, status)
		}
	}
	// A body over the limit counts as a failure too.
	huge := make([]byte, ingest.DefaultMaxBody+1)
	if status, _ := postEvent(t, url, huge, stripesig.Sign(huge, time.Now(), testSecret1)); status != 413 {
		t.Fatalf("too large: %d", status)
	}
	status, resp := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1))
	if status != 429 {
		t.Fatalf("after 3 failures: %d %s", status, resp)
	}
	mresp, err := http.Get("http://" + m.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(metrics), "hookbox_failed_verification_refusals_total 1") {
		t.Fatalf("refusal not counted")
	}
}

// TestServe_TrustedProxy ensures the client address comes from
// X-Forwarded-For only when the direct peer is a trusted proxy, and that
// --require-https refuses plain requests unless the trusted proxy says
// they arrived over HTTPS.
func TestServe_TrustedProxy(t *testing.T) {
	vars, _ := e2eVars(t)
	m, logs := mustRunMain(t, vars, "--trusted-proxies", "127.0.0.1/32", "--require-https")
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"
	body := e2eEvent("evt_proxy_1", "invoice.paid")
	if s := postForwarded(t, url, body, testSecret1, ""); s != 403 {
		t.Fatalf("plain HTTP with --require-https: %d", s)
	}
	if s := postForwarded(t, url, body, testSecret1, "https"); s != 200 {
		t.Fatalf("via trusted proxy over https: %d", s)
	}
	m.Close()
	if !strings.Contains(logs.String(), `"client":"198.51.100.9"`) {
		t.Fatalf("client address not taken from the trusted proxy:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "outside --trusted-proxies") {
		t.Fatalf("warned about a trusted proxy:\n%s", logs.String())
	}
}

// postForwarded posts body signed with secret as a proxy would forward it,
// for the client 198.51.100.9 (and X-Forwarded-Proto proto unless empty),
// and returns the status.
func postForwarded(t *testing.T, url string, body []byte, secret, proto string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), secret))
	req.Header.Set("X-Forwarded-For", "198.51.100.9")
	if proto != "" {
		req.Header.Set("X-Forwarded-Proto", proto)
	}
	return statusOf(t, http.DefaultClient, req)
}

// TestServe_UntrustedForward ensures that X-Forwarded-For from a peer that
// is not a trusted proxy is ignored (the client is the peer) and draws one
// warning per process, however many requests carry it, and that 20 forged
// requests in a row all get 400 under the default failure limit.
func TestServe_UntrustedForward(t *testing.T) {
	vars, _ := e2eVars(t)
	m, logs := mustRunMain(t, vars)
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"
	body := e2eEvent("evt_fwd_1", "invoice.paid")
	post := func(secret string) int { return postForwarded(t, url, body, secret, "") }
	for i := range 20 {
		if s := post("whsec_forged"); s != 400 {
			t.Fatalf("forged request %d: %d, want 400", i+1, s)
		}
	}
	if s := post(testSecret1); s != 200 {
		t.Fatalf("genuine request after 20 forged ones: %d", s)
	}
	m.Close()
	out := logs.String()
	if n := strings.Count(out, "outside --trusted-proxies"); n != 1 || !strings.Contains(out, `"peer":"127.0.0.1"`) {
		t.Fatalf("%d warnings about X-Forwarded-For from an untrusted peer, want 1:\n%s", n, out)
	}
	if strings.Contains(out, `"client":"198.51.100.9"`) {
		t.Fatalf("X-Forwarded-For believed from an untrusted peer:\n%s", out)
	}
}

// TestServe_AdminToken ensures that with HOOKBOX_ADMIN_TOKEN set the admin
// API and /metrics want it as a bearer token while the health checks stay
// open, and that a non-loopback admin listener without a token is refused.
func TestServe_AdminToken(t *testing.T) {
	const token = "admin-token-0123456789abcdef"
	vars, _ := e2eVars(t)
	vars["HOOKBOX_ADMIN_TOKEN"] = token
	m, _ := mustRunMain(t, vars)
	get := func(path, auth string) int {
		req, _ := http.NewRequest("GET", "http://"+m.AdminAddr()+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return statusOf(t, http.DefaultClient, req)
	}
	for _, p := range []string{"/metrics", "/api/events"} {
		if s := get(p, ""); s != 401 {
			t.Errorf("%s without token: %d", p, s)
		}
		if s := get(p, "Bearer wrong-token-0123456789"); s != 401 {
			t.Errorf("%s with a wrong token: %d", p, s)
		}
		if s := get(p, "Bearer "+token); s != 200 {
			t.Errorf("%s with the token: %d", p, s)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if s := get(p, ""); s != 200 {
			t.Errorf("%s: %d", p, s)
		}
	}
	delete(vars, "HOOKBOX_ADMIN_TOKEN")
	env, _, _ := testEnv(vars)
	if _, err := parseServeConfig(env, []string{"--admin-listen", "0.0.0.0:0"}); err == nil || !strings.Contains(err.Error(), "HOOKBOX_ADMIN_TOKEN") {
		t.Fatalf("non-loopback admin without token: %v", err)
	}
}

// TestServe_AdminTokenFailureLimit ensures a client that keeps presenting
// a wrong admin token (failed logins, wrong bearer tokens on the API and
// /metrics) is refused with 429 for a while, but never with the right
// token (its address is often the operator's own), that requests
// presenting no token are not counted, that the health checks still
// answer it, and that the failures are logged with the client but never
// with what was presented.
func TestServe_AdminTokenFailureLimit(t *testing.T) {
	const (
		token = "admin-token-0123456789abcdef"
		wrong = "guess-0123456789abcdefghij"
	)
	vars, _ := e2eVars(t)
	vars["HOOKBOX_ADMIN_TOKEN"] = token
	m, logs := mustRunMain(t, vars)
	base := "http://" + m.AdminAddr()
	do := func(method, path, auth string, form url.Values) *http.Response {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, base+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		client := noRedirects
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	// The right token passes before any failure.
	if resp := do("GET", "/metrics", "Bearer "+token, nil); resp.StatusCode != 200 {
		t.Fatalf("/metrics with the token: %d", resp.StatusCode)
	}
	// Requests that present no token guess nothing and are not counted:
	// any web page can make a browser send them to a loopback console.
	for i := range 20 {
		var resp *http.Response
		switch i % 3 {
		case 0:
			resp = do("POST", "/login", "", url.Values{"token": {""}, "next": {"/"}})
		case 1:
			resp = do("GET", "/api/events", "", nil)
		default:
			resp = do("GET", "/metrics", "", nil)
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("request %d without a token: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	if resp := do("GET", "/metrics", "Bearer "+token, nil); resp.StatusCode != 200 {
		t.Fatalf("/metrics with the token after 20 requests without one: %d", resp.StatusCode)
	}
	// 10 wrong tokens of three kinds: the last one starts the penalty.
	for i := range 10 {
		var resp *http.Response
		switch i % 3 {
		case 0:
			resp = do("POST", "/login", "", url.Values{"token": {wrong}, "next": {"/"}})
		case 1:
			resp = do("GET", "/api/events", "Bearer "+wrong, nil)
		default:
			resp = do("GET", "/metrics", "Bearer "+wrong, nil)
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	for _, p := range []string{"/metrics", "/api/events"} {
		resp := do("GET", p, "Bearer "+wrong, nil)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%s with a wrong token after 10 failures: %d, want 429", p, resp.StatusCode)
		}
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Fatalf("%s: Retry-After %q", p, resp.Header.Get("Retry-After"))
		}
		// The same address's tokens are not compared during the penalty.
		if resp := do("GET", p, "Bearer "+token, nil); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%s with the right token from the limited address: %d, want 429", p, resp.StatusCode)
		}
	}
	if resp := do("POST", "/login", "", url.Values{"token": {wrong}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("login with a wrong token during the penalty: %d, want 429", resp.StatusCode)
	}
	if resp := do("POST", "/login", "", url.Values{"token": {token}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("login with the right token from the limited address: %d, want 429", resp.StatusCode)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp := do("GET", p, "", nil); resp.StatusCode != 200 {
			t.Fatalf("%s during the penalty: %d", p, resp.StatusCode)
		}
	}
	out := logs.String()
	if n := strings.Count(out, `"msg":"console: wrong admin token"`); n != 10 {
		t.Errorf("%d warnings, want 10 (4 logins, 3 API requests, 3 /metrics; none during the penalty):\n%s", n, out)
	}
	for _, want := range []string{`"path":"/metrics"`, `"path":"/api/events"`, `"path":"/login"`, `"client":"127.0.0.1`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, wrong) || strings.Contains(out, token) {
		t.Errorf("logs hold a presented or configured token:\n%s", out)
	}
}

// TestServe_UncleanPaths ensures a webhook path that is not in clean form
// is answered 404, as an unknown path is, and not redirected (ServeMux's
// 307 made a client that follows redirects store the event, and Stripe
// counts a 3xx as a failed delivery).
func TestServe_UncleanPaths(t *testing.T) {
	vars, _ := e2eVars(t)
	m, _ := mustRunMain(t, vars)
	c := noRedirects
	body := e2eEvent("evt_unclean", "invoice.paid")
	for _, p := range []string{"//webhooks/stripe", "/webhooks//stripe", "/webhooks/./stripe", "/x/../webhooks/stripe", "/webhooks/stripe/"} {
		req, _ := http.NewRequest("POST", "http://"+m.PublicAddr()+p, strings.NewReader(string(body)))
		req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), testSecret1))
		if s := statusOf(t, c, req); s != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", p, s)
		}
	}
	if _, err := m.Store().FindEventByID(t.Context(), "evt_unclean"); err == nil {
		t.Error("an event posted to an unclean path was stored")
	}
}

// TestServe_AllowlistOffStillRefreshed ensures that with the allowlist off
// the list that exempts Stripe's addresses from the failure limit is still
// refreshed in the background: an address added to the source stops
// counting failures once the refresh has run.
func TestServe_AllowlistOffStillRefreshed(t *testing.T) {
	src := filepath.Join(t.TempDir(), "ips.txt")
	os.WriteFile(src, []byte("203.0.113.7\n127.0.0.1\n"), 0o600) // read only by a refresh
	vars, _ := e2eVars(t)
	m, _ := mustRunMain(t, vars, "--ip-allowlist-source", src, "--ip-allowlist-refresh", "50ms", "--max-failed-verifications", "2")
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"
	body := e2eEvent("evt_off_refresh", "invoice.paid")
	waitFor(t, "the refresh", 5*time.Second, func() bool { return m.Allowlist().Allows("127.0.0.1") })
	for i := range 4 {
		if status, _ := postEvent(t, url, body, stripesig.Sign(body, time.Now(), "whsec_forged")); status != 400 {
			t.Fatalf("forged %d from a refreshed Stripe address: %d, want 400 (exempt from the limit)", i, status)
		}
	}
}

// TestServe_AdminRebinding ensures that without an admin token, /metrics
// and /debug/pprof (like the console) answer only requests naming a
// loopback host: a DNS-rebinding page reaches the loopback listener
// through the operator's browser with its own name in Host. Health checks
// stay open.
func TestServe_AdminRebinding(t *testing.T) {
	vars, _ := e2eVars(t)
	m, _ := mustRunMain(t, vars, "--pprof")
	_, port, _ := net.SplitHostPort(m.AdminAddr())
	for _, p := range []string{"/metrics", "/debug/pprof/goroutine?debug=2", "/", "/api/events", "/healthz"} {
		for host, want := range map[string]int{"attacker.example:" + port: 421, "localhost:" + port: 200, m.AdminAddr(): 200} {
			if p == "/healthz" {
				want = 200
			}
			req, _ := http.NewRequest("GET", "http://"+m.AdminAddr()+p, nil)
			req.Host = host
			if s := statusOf(t, noRedirects, req); s != want {
				t.Errorf("GET %s with Host %s: %d, want %d", p, host, s, want)
			}
		}
	}
}

// TestServe_ConsoleCookieOverHTTPS ensures a console login that reached
// hookbox over HTTPS through a trusted proxy gets a Secure, __Host- session
// cookie that then works, and a plain-HTTP login a plain one.
func TestServe_ConsoleCookieOverHTTPS(t *testing.T) {
	vars, _ := e2eVars(t)
	token := "a-long-admin-token-for-tests-0123456789"
	vars["HOOKBOX_ADMIN_TOKEN"] = token
	m, _ := mustRunMain(t, vars, "--trusted-proxies", "127.0.0.1/32")
	c := noRedirects
	login := func(proto string) *http.Cookie {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+m.AdminAddr()+"/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
			t.Fatalf("login over %q: %d, cookies %v", proto, resp.StatusCode, resp.Cookies())
		}
		return resp.Cookies()[0]
	}
	if ck := login("https"); !ck.Secure || ck.Name != "__Host-hookbox_session" {
		t.Errorf("cookie over HTTPS: %s Secure=%v, want __Host-hookbox_session, Secure", ck.Name, ck.Secure)
	} else {
		req, _ := http.NewRequest("GET", "http://"+m.AdminAddr()+"/events", nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		req.AddCookie(ck)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("page with the secure session: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
		}
	}
	if ck := login(""); ck.Secure || ck.Name != "hookbox_session" {
		t.Errorf("cookie over plain HTTP: %s Secure=%v", ck.Name, ck.Secure)
	}
}

// noRedirects is a client that returns redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// statusOf sends req with c and returns the response status.
func statusOf(t *testing.T, c *http.Client, req *http.Request) int {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServe_AdminHosts ensures that with an admin token the loopback admin
// listener still answers only loopback names (a DNS-rebinding page cannot
// spend the failure limit), plus the names given to --admin-hosts.
func TestServe_AdminHosts(t *testing.T) {
	const token = "admin-token-0123456789abcdef"
	vars, _ := e2eVars(t)
	vars["HOOKBOX_ADMIN_TOKEN"] = token
	m, _ := mustRunMain(t, vars, "--admin-hosts", "admin.example.com")
	_, port, _ := net.SplitHostPort(m.AdminAddr())
	for host, want := range map[string]int{"attacker.example:" + port: 421, "admin.example.com:" + port: 200, "localhost:" + port: 200, m.AdminAddr(): 200} {
		req, _ := http.NewRequest("GET", "http://"+m.AdminAddr()+"/metrics", nil)
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+token)
		if s := statusOf(t, noRedirects, req); s != want {
			t.Errorf("GET /metrics with Host %s and the token: %d, want %d", host, s, want)
		}
	}
}
