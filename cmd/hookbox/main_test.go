package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/hookbox/hookbox/receiver"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/hookbox/hookbox/stripesig"
)

const (
	testSecret1 = "whsec_e2e_first_secret_0123456789"
	testSecret2 = "whsec_e2e_second_secret_abcdefghij"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testEnv returns an Env reading variables from vars and capturing output.
func testEnv(vars map[string]string) (*environ, *lockedBuffer, *lockedBuffer) {
	out, errb := &lockedBuffer{}, &lockedBuffer{}
	return &environ{
		Stdin:  strings.NewReader(""),
		Stdout: out,
		Stderr: errb,
		Getenv: func(k string) string { return vars[k] },
	}, out, errb
}

// mustRunMain starts the real Main on free ports with a temp SQLite store.
func mustRunMain(t *testing.T, vars map[string]string, args ...string) (*receiver.Receiver, *lockedBuffer) {
	t.Helper()
	env, _, logs := testEnv(vars)
	cfg, err := parseServeConfig(env, args)
	if err != nil {
		t.Fatal(err)
	}
	m, err := openReceiver(context.Background(), cfg, logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, logs
}

func e2eVars(t *testing.T) (map[string]string, string) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "e2e.db")
	return map[string]string{
		"HOOKBOX_LISTEN":        "127.0.0.1:0",
		"HOOKBOX_ADMIN_LISTEN":  "127.0.0.1:0",
		"HOOKBOX_DB":            db,
		"STRIPE_WEBHOOK_SECRET": testSecret1 + "," + testSecret2,
	}, db
}

func postEvent(t *testing.T, url string, body []byte, sig string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func e2eEvent(id, typ string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2025-10-29.clover","created":1764201234,"livemode":true,"account":"acct_123","type":%q,"data":{"object":{"id":"in_1","object":"invoice","description":"caf\u00e9 <b>"}}}`, id, typ))
}

// TestMain_EndToEnd ensures the real Main verifies, stores and deduplicates
// events signed the way Stripe signs them (stripe-go's own test signer), that
// health endpoints answer, and that the CLI lists and shows what was stored,
// byte for byte.
func TestMain_EndToEnd(t *testing.T) {
	vars, db := e2eVars(t)
	m, _ := mustRunMain(t, vars)
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"

	body := e2eEvent("evt_e2e_1", "invoice.paid")
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: testSecret2, Timestamp: time.Now()})
	if status, resp := postEvent(t, url, body, sp.Header); status != 200 || resp != `{"received":true}` {
		t.Fatalf("new: %d %s", status, resp)
	}
	if status, resp := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1)); status != 200 || resp != `{"received":true,"duplicate":true}` {
		t.Fatalf("duplicate: %d %s", status, resp)
	}
	if status, _ := postEvent(t, url, body, stripesig.Sign(body, time.Now(), "whsec_forged")); status != 400 {
		t.Fatalf("forged: %d", status)
	}
	body2 := e2eEvent("evt_e2e_2", "customer.subscription.updated")
	if status, _ := postEvent(t, url, body2, stripesig.Sign(body2, time.Now(), testSecret1)); status != 200 {
		t.Fatalf("second: %d", status)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + m.AdminAddr() + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}

	// Metrics on the admin listener count exactly what happened.
	resp, err := http.Get("http://" + m.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`hookbox_webhook_requests_total{endpoint="stripe",outcome="accepted"} 2`,
		`hookbox_webhook_requests_total{endpoint="stripe",outcome="duplicate"} 1`,
		`hookbox_webhook_requests_total{endpoint="stripe",outcome="rejected"} 1`,
		`hookbox_signature_failures_total{endpoint="stripe",reason="no_valid_signature"} 1`,
		`hookbox_secret_matches_total{endpoint="stripe",secret="0"} 2`,
		`hookbox_secret_matches_total{endpoint="stripe",secret="1"} 1`,
		`hookbox_events{state="pending"} 2`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(metrics), testSecret1) || strings.Contains(string(metrics), testSecret2) {
		t.Fatal("a secret in /metrics")
	}

	// The CLI reads the same store while the server runs.
	env, out, _ := testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, []string{"events", "list", "--json"}); err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out.String()), &list); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out.String())
	}
	if len(list) != 2 || list[0]["id"] != "evt_e2e_2" || list[1]["id"] != "evt_e2e_1" {
		t.Fatalf("list: %v", list)
	}
	for _, k := range []string{"id", "type", "state", "created", "livemode", "received_at"} {
		if _, ok := list[1][k]; !ok {
			t.Fatalf("list item lacks %q: %v", k, list[1])
		}
	}
	if list[1]["state"] != "pending" || list[1]["livemode"] != true || list[1]["created"] != float64(1764201234) {
		t.Fatalf("list item: %v", list[1])
	}

	env, out, _ = testEnv(map[string]string{})
	if err := run(context.Background(), env, []string{"events", "list", "--db", db, "--type", "invoice.*", "--json"}); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out.String()), &list); err != nil || len(list) != 1 || list[0]["id"] != "evt_e2e_1" {
		t.Fatalf("list --type: %v %s", err, out.String())
	}

	env, out, _ = testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, []string{"events", "show", "evt_e2e_1", "--raw"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != string(body) {
		t.Fatalf("show --raw:\n%q\nwant\n%q", out.String(), body)
	}
	env, out, _ = testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, []string{"events", "show", "--json", "evt_e2e_1"}); err != nil {
		t.Fatal(err)
	}
	var shown map[string]any
	if err := json.Unmarshal([]byte(out.String()), &shown); err != nil || shown["account"] != "acct_123" || shown["secret_index"] != float64(1) {
		t.Fatalf("show --json: %v %s", err, out.String())
	}
	env, _, _ = testEnv(map[string]string{"HOOKBOX_DB": db})
	if err := run(context.Background(), env, []string{"events", "show", "evt_missing"}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("show missing: %v", err)
	}

	// Shutdown is clean and readiness turns off.
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// TestServe_Config ensures serve refuses to start without a secret or with
// bad settings, with a clear message, and that flags override HOOKBOX_*.
func TestServe_Config(t *testing.T) {
	vars, _ := e2eVars(t)
	delete(vars, "STRIPE_WEBHOOK_SECRET")
	env, _, _ := testEnv(vars)
	if _, err := parseServeConfig(env, nil); err == nil || !strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET") {
		t.Fatalf("no secret: %v", err)
	}
	vars["STRIPE_WEBHOOK_SECRET"] = "whsec_x"
	for _, bad := range [][]string{{"--tolerance", "0s"}, {"--db", "mysql://root:hunter2@db/x"}, {"--log-format", "xml"}, {"--max-body", "-1"}, {"extra"}, {"--shutdown-grace", "0s"}, {"--shutdown-grace", "-5s"}, {"--commit-timeout", "0s"}} {
		env, _, _ := testEnv(vars)
		_, err := parseServeConfig(env, bad)
		if err == nil {
			t.Fatalf("%v: accepted", bad)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("error echoes a password: %v", err)
		}
	}
	vars["HOOKBOX_TOLERANCE"] = "bogus"
	env, _, _ = testEnv(vars)
	if _, err := parseServeConfig(env, nil); err == nil || !strings.Contains(err.Error(), "HOOKBOX_TOLERANCE") {
		t.Fatalf("bad env: %v", err)
	}
	vars["HOOKBOX_TOLERANCE"] = "60s"
	vars["HOOKBOX_MAX_BODY"] = "512KiB"
	env, _, _ = testEnv(vars)
	cfg, err := parseServeConfig(env, []string{"--tolerance", "2m"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.tolerance != 2*time.Minute || cfg.opts.MaxBody != 512<<10 {
		t.Fatalf("cfg: %+v", cfg)
	}
	// A delivery lease that leaves a destination less than its timeout
	// (deliveries are cut lease/4 before its end) would cut every slow
	// attempt: refused, whichever way the destination got its timeout.
	vars["HOOKBOX_FORWARD_SECRET"] = "a-forward-secret-for-the-app-0123456789"
	env, _, _ = testEnv(vars)
	_, err = parseServeConfig(env, []string{"--forward-to", "http://127.0.0.1:9/", "--forward-timeout", "8s", "--delivery-lease", "9s"})
	if err == nil || !strings.Contains(err.Error(), "--delivery-lease") {
		t.Fatalf("lease shorter than a destination's timeout: %v", err)
	}
}

// TestSecretsNeverLeak ensures that no log line and no response body, over
// every path (accepted, duplicate, each rejection, bad method, unknown path,
// admin endpoints), ever contains a configured secret, even with
// --debug-errors, and that secrets are not accepted as flags.
func TestSecretsNeverLeak(t *testing.T) {
	vars, _ := e2eVars(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := writeFile(file, testSecret1+"\n"+testSecret2+"\n"); err != nil {
		t.Fatal(err)
	}
	delete(vars, "STRIPE_WEBHOOK_SECRET")
	vars["STRIPE_WEBHOOK_SECRET_FILE"] = file
	vars["HOOKBOX_LOG_LEVEL"] = "debug"
	m, logs := mustRunMain(t, vars, "--debug-errors")
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"

	var responses []string
	record := func(status int, resp string) { responses = append(responses, fmt.Sprintf("%d %s", status, resp)) }
	body := e2eEvent("evt_leak_1", "invoice.paid")
	now := time.Now()
	record(postEvent(t, url, body, stripesig.Sign(body, now, testSecret1)))
	record(postEvent(t, url, body, stripesig.Sign(body, now, testSecret2)))
	record(postEvent(t, url, body, stripesig.Sign(body, now, "whsec_wrong")))
	record(postEvent(t, url, body, stripesig.Sign(body, now.Add(-time.Hour), testSecret1)))
	record(postEvent(t, url, body, stripesig.Sign(body, now.Add(time.Hour), testSecret1)))
	record(postEvent(t, url, body, "t=abc,v1=zz"))
	record(postEvent(t, url, body, ""))
	record(postEvent(t, url, []byte("[1]"), stripesig.Sign([]byte("[1]"), now, testSecret1)))
	record(postEvent(t, "http://"+m.PublicAddr()+"/nope", body, ""))
	for _, p := range []string{"/healthz", "/readyz", "/x"} {
		resp, err := http.Get("http://" + m.AdminAddr() + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		record(resp.StatusCode, string(b))
	}
	m.Close()
	all := logs.String() + strings.Join(responses, "\n")
	for _, s := range []string{testSecret1, testSecret2, testSecret1[6:], testSecret2[6:]} {
		if strings.Contains(all, s) {
			t.Fatalf("a secret leaked into logs or responses:\n%s", all)
		}
	}
	if !strings.Contains(logs.String(), "too_old") || !strings.Contains(responses[0], "200") {
		t.Fatalf("test did not exercise the paths it claims:\n%s", all)
	}

	// There is no flag that takes a secret.
	env, _, _ := testEnv(vars)
	if _, err := parseServeConfig(env, []string{"--secret", testSecret1}); err == nil {
		t.Fatal("a --secret flag was accepted")
	}
}
