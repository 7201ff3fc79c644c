package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/stripesig"
)

const (
	accountSecret = "whsec_account_endpoint_secret_123"
	connectSecret = "whsec_connect_endpoint_secret_456"
)

// TestConfigFile_TwoEndpoints ensures an account endpoint and a Connect
// endpoint side by side, from a config file: each verifies with its own
// secrets only, serves its own path, and its events reach only its own
// destinations, with their filters.
func TestConfigFile_TwoEndpoints(t *testing.T) {
	accountApp, connectApp := newApp(t, 0), newApp(t, 0)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "connect")
	if err := os.WriteFile(secretFile, []byte(connectSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := `endpoints:
  - name: account
    secrets:
      - env: ACCOUNT_SECRET
    destinations:
      - name: app
        url: ` + accountApp.srv.URL + `
        secret: {env: FWD_SECRET}
        events: ["invoice.*"]
  - name: connect
    secrets:
      - file: ` + secretFile + `
    tolerance: 60s
    destinations:
      - name: app
        url: ` + connectApp.srv.URL + `
        secret: {env: FWD_SECRET}
`
	path := filepath.Join(dir, "hookbox.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	vars, _ := e2eVars(t)
	delete(vars, "STRIPE_WEBHOOK_SECRET")
	vars["ACCOUNT_SECRET"] = accountSecret
	vars["FWD_SECRET"] = forwardSecret
	vars["HOOKBOX_RETRY_BASE"] = "10ms"
	m, logs := mustRunMain(t, vars, "--config", path)
	base := "http://" + m.PublicAddr() + "/webhooks/"

	post := func(endpoint, id, typ, secret string) int {
		body := e2eEvent(id, typ)
		status, _ := postEvent(t, base+endpoint, body, stripesig.Sign(body, time.Now(), secret))
		return status
	}
	if post("account", "evt_acc_1", "invoice.paid", accountSecret) != 200 ||
		post("account", "evt_acc_2", "customer.created", accountSecret) != 200 ||
		post("connect", "evt_con_1", "account.updated", connectSecret) != 200 {
		t.Fatal("a genuine event was refused")
	}
	if post("account", "evt_x_1", "invoice.paid", connectSecret) != 400 || post("connect", "evt_x_2", "invoice.paid", accountSecret) != 400 {
		t.Fatal("an endpoint accepted another endpoint's secret")
	}
	if post("stripe", "evt_x_3", "invoice.paid", accountSecret) != 404 {
		t.Fatal("the default endpoint exists with --config")
	}
	waitFor(t, "deliveries", 10*time.Second, func() bool {
		_, a := accountApp.counts("evt_acc_1")
		_, c := connectApp.counts("evt_con_1")
		return a == 1 && c == 1
	})
	waitFor(t, "all settled", 10*time.Second, func() bool {
		counts, _, err := m.Store().CountEvents(context.Background())
		return err == nil && counts[hookbox.StateDelivered] == 3
	})
	if s, _ := accountApp.counts("evt_con_1"); s != 0 {
		t.Fatal("a connect event reached the account endpoint's destination")
	}
	if s, _ := connectApp.counts("evt_acc_1"); s != 0 {
		t.Fatal("an account event reached the connect endpoint's destination")
	}
	if s, _ := accountApp.counts("evt_acc_2"); s != 0 {
		t.Fatal("the type filter let customer.created through")
	}
	ev, err := m.Store().FindEventByID(context.Background(), "evt_con_1")
	if err != nil || ev.Endpoint != "connect" {
		t.Fatalf("stored endpoint: %v %q", err, ev.Endpoint)
	}
	accountApp.check(t)
	connectApp.check(t)
	if strings.Contains(logs.String(), accountSecret) || strings.Contains(logs.String(), connectSecret) {
		t.Fatal("a secret in the logs")
	}
}

// TestConfigFile_Invalid ensures unknown keys and bad values are refused
// with a message that names the problem (an unknown key with its line and
// the keys known there, not a Go type) and never a secret.
func TestConfigFile_Invalid(t *testing.T) {
	getenv := func(k string) string {
		switch k {
		case "S":
			return "whsec_from_env_secret"
		case "TWO":
			return "whsec_from_env_new,whsec_from_env_old" // STRIPE_WEBHOOK_SECRET's rotation form
		}
		return ""
	}
	for _, tc := range []struct{ yaml, want string }{
		{"endpoints: []", "no endpoints"},
		{"endpoint:\n  - name: a", `line 1: unknown key "endpoint" in the top level (known keys: endpoints, notify)`},
		{"endpoints:\n  - name: a\n    secrets: [{env: S}]\n    colour: red", `line 4: unknown key "colour" in an endpoint (known keys: name, secrets, tolerance, livemode, public_url, payload, dedupe, dedupe_snapshot, dedupe_snapshot_wait, destinations)`},
		{"endpoints:\n  - name: a\n    secrets: [{env: S}]\n    destinations:\n      - {name: d, url: http://x, secret: {env: S}, event: [a.b]}", `line 5: unknown key "event" in a destination (known keys: name, url, secret, events, livemode, timeout, api_version, order, order_window, late, on_dead, deliver, max_in_flight, rate, burst, breaker_failures, breaker_probe)`},
		{"endpoints:\n  - name: a\n    secrets: [{envv: S}]", `line 3: unknown key "envv" in a secret`},
		{"endpoints:\n  - name: a\n    secrets: [{env: S}]\n    dedupe_snapshot: true", "dedupe_snapshot: needs payload: thin"},
		{"endpoints:\n  - name: a\n    payload: thin\n    secrets: [{env: S}]\n    dedupe_snapshot_wait: 5s", "set dedupe_snapshot: true too"},
		{"endpoints:\n  - name: a\n    secrets: whsec_inline_secret", "line 3: want a list of secrets ({env: NAME}, {file: PATH} or {value: ...}), not a string"},
		{"endpoints:\n  - name: a\n    secrets: [whsec_inline_secret]", "line 3: want a secret ({env: NAME}, {file: PATH} or {value: ...}), not a string"},
		{"endpoints:\n  - name: a\n    secrets: [{env: S}]\n    destinations: {name: d}", "line 4: want a list of destinations, not a map"},
		{"endpoints: {name: a}", "line 1: want a list of endpoints, not a map"},
		{"endpoints:\n  - name: A\n    secrets: [{env: S}]", "name \"A\""},
		{"endpoints:\n  - name: a", "no secrets"},
		{"endpoints:\n  - name: a\n    secrets: [{env: MISSING}]", "MISSING is empty or unset"},
		{"endpoints:\n  - name: a\n    secrets: [{env: S, value: whsec_inline_secret}]", "exactly one of"},
		{"endpoints:\n  - name: a\n    secrets: [{value: \"  \"}]", "the secret is empty"},
		{"endpoints:\n  - name: a\n    secrets: [{env: TWO}]", "several values"},
		{"endpoints:\n  - name: a\n    secrets: [{env: S}]\n---\nendpoints:\n  - name: b\n    secrets: [{env: S}]", "more than one YAML document"},
		{"endpoints:\n  - name: a\n    secrets: [{env: S}]\n  - name: a\n    secrets: [{env: S}]", "declared twice"},
		{"endpoints:\n  - name: a\n    secrets: [{env: S}]\n    tolerance: soon", "duration"},
		{"endpoints:\n  - name: a\n    secrets: [{env: S}]\n    destinations:\n      - name: d\n        url: ftp://x\n        secret: {env: S}", "destinations[0]"},
		{"endpoints:\n  - name: a\n    secrets: [{env: S}]\n    destinations:\n      - name: d\n        url: http://x\n        secret: {env: S}\n        events: [\"in**\"]", "events"},
	} {
		_, _, err := parseFileConfig([]byte(tc.yaml), getenv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "main.") {
			t.Errorf("error names a Go type: %v", err)
		}
		if err != nil && (strings.Contains(err.Error(), "whsec_from_env") || strings.Contains(err.Error(), "whsec_inline")) {
			t.Errorf("error shows a secret: %v", err)
		}
	}
	if _, _, err := parseFileConfig([]byte("---\nendpoints:\n  - name: a\n    secrets: [{env: S}]\n---\n"), getenv); err != nil {
		t.Fatalf("a trailing empty document: %v", err)
	}
	_, warnings, err := parseFileConfig([]byte("endpoints:\n  - name: a\n    secrets: [{value: whsec_inline_secret}]"), getenv)
	if err != nil || len(warnings) != 1 || strings.Contains(warnings[0], "whsec_inline") {
		t.Fatalf("inline secret: %v %v", err, warnings)
	}
}

// TestConfigCheck ensures "hookbox config check" prints what serve would
// run, the values serve takes from its environment included (tolerance,
// forward timeout), and never a secret value.
func TestConfigCheck(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hookbox.yaml")
	cfg := `endpoints:
  - name: account
    secrets: [{env: ACCOUNT_SECRET}]
    destinations:
      - {name: app, url: "http://127.0.0.1:3000/hooks", secret: {env: FWD_SECRET}}
`
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env, out, _ := testEnv(map[string]string{
		"ACCOUNT_SECRET": "whsec_account_secret_value", "FWD_SECRET": "forward-secret-value-0123456789",
		"HOOKBOX_TOLERANCE": "60s", "HOOKBOX_FORWARD_TIMEOUT": "3s",
	})
	if err := run(context.Background(), env, []string{"config", "check", file}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !regexp.MustCompile(`tolerance +1m0s`).MatchString(s) || !strings.Contains(s, "timeout 3s") || !strings.Contains(s, "env ACCOUNT_SECRET") {
		t.Errorf("config check output:\n%s", s)
	}
	if strings.Contains(s, "secret_value") || strings.Contains(s, "forward-secret") {
		t.Errorf("config check shows a secret:\n%s", s)
	}
}

// TestSecretFile_ErrorNamesPath ensures a secret file that cannot be read
// (missing, or a directory) is reported with its variable and its path,
// for every *_FILE variable and a config file's secret file, and that a
// file that is read but refused never has its content in the error.
func TestSecretFile_ErrorNamesPath(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-secret")
	twoValues := filepath.Join(dir, "two")
	if err := os.WriteFile(twoValues, []byte("whsec_file_content_one_0123456789abcdef\nwhsec_file_content_two_0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(secretFile string) string {
		p := filepath.Join(t.TempDir(), "hookbox.yaml")
		if err := os.WriteFile(p, []byte("endpoints:\n  - name: a\n    secrets: [{file: "+secretFile+"}]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		want []string // in the error
	}{
		{"webhook secret file missing", map[string]string{"STRIPE_WEBHOOK_SECRET_FILE": missing}, nil,
			[]string{"STRIPE_WEBHOOK_SECRET_FILE", missing, "no such file"}},
		{"webhook secret file a directory", map[string]string{"STRIPE_WEBHOOK_SECRET_FILE": dir}, nil,
			[]string{"STRIPE_WEBHOOK_SECRET_FILE", dir, "is a directory"}},
		{"admin token file missing", map[string]string{"HOOKBOX_ADMIN_TOKEN_FILE": missing}, nil,
			[]string{"HOOKBOX_ADMIN_TOKEN_FILE", missing}},
		{"forward secret file missing", map[string]string{"HOOKBOX_FORWARD_SECRET_FILE": missing}, []string{"--forward-to", "http://127.0.0.1:9/"},
			[]string{"HOOKBOX_FORWARD_SECRET_FILE", missing}},
		{"API key file missing", map[string]string{"STRIPE_API_KEY_FILE": missing}, []string{"--reconcile-every", "15m"},
			[]string{"STRIPE_API_KEY_FILE", missing}},
		{"config secret file missing", nil, []string{"--config", config(missing)},
			[]string{"secrets[0]", missing, "no such file"}},
		{"config secret file with two values", nil, []string{"--config", config(twoValues)},
			[]string{"several values"}},
		{"admin token file with two values", map[string]string{"HOOKBOX_ADMIN_TOKEN_FILE": twoValues}, nil,
			[]string{"HOOKBOX_ADMIN_TOKEN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars, _ := e2eVars(t)
			if _, ok := tc.vars["STRIPE_WEBHOOK_SECRET_FILE"]; ok {
				delete(vars, "STRIPE_WEBHOOK_SECRET")
			}
			for k, v := range tc.vars {
				vars[k] = v
			}
			env, _, _ := testEnv(vars)
			_, err := parseServeConfig(env, tc.args)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "file_content") {
				t.Errorf("error shows the file's content: %v", err)
			}
		})
	}
}

// TestEffectiveLivemode ensures an endpoint's livemode filter and its
// destination's combine as receiver.Route applies them, and that live
// against test is reported as never matching.
func TestEffectiveLivemode(t *testing.T) {
	for _, tc := range []struct {
		endpoint, dest, want deliver.Livemode
		ok                   bool
	}{
		{"", "", deliver.LivemodeAny, true},
		{deliver.LivemodeAny, deliver.LivemodeAny, deliver.LivemodeAny, true},
		{deliver.LivemodeAny, deliver.LivemodeTest, deliver.LivemodeTest, true},
		{deliver.LivemodeLive, deliver.LivemodeAny, deliver.LivemodeLive, true},
		{deliver.LivemodeLive, "", deliver.LivemodeLive, true},
		{deliver.LivemodeLive, deliver.LivemodeLive, deliver.LivemodeLive, true},
		{deliver.LivemodeLive, deliver.LivemodeTest, "", false},
		{deliver.LivemodeTest, deliver.LivemodeLive, "", false},
	} {
		got, ok := effectiveLivemode(tc.endpoint, tc.dest)
		if got != tc.want || ok != tc.ok {
			t.Errorf("endpoint %q, destination %q: %q %t, want %q %t", tc.endpoint, tc.dest, got, ok, tc.want, tc.ok)
		}
	}
}

// TestConfigCheck_Livemode ensures config check (and serve, through the
// same warnings) warns about a destination whose livemode filter excludes
// its endpoint's, and prints each destination's effective filter.
func TestConfigCheck_Livemode(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hookbox.yaml")
	cfg := `endpoints:
  - name: live
    livemode: live
    secrets: [{env: S}]
    destinations:
      - {name: never, url: "http://127.0.0.1:3000/a", secret: {env: F}, livemode: test}
      - {name: invoices, url: "http://127.0.0.1:3000/b", secret: {env: F}, events: ["invoice.*"]}
`
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env, out, errb := testEnv(map[string]string{"S": testSecret1, "F": forwardSecret})
	if err := run(context.Background(), env, []string{"config", "check", file}); err != nil {
		t.Fatal(err)
	}
	warn := `warning: config: endpoint "live": destination "never" can never receive an event: the endpoint takes only live events and the destination only test ones`
	if !strings.Contains(errb.String(), warn) || strings.Count(errb.String(), "can never receive") != 1 {
		t.Errorf("config check warnings:\n%s", errb)
	}
	for _, re := range []string{
		`receives +nothing, ever: the endpoint takes only live events, the destination only test ones`,
		`receives +events invoice\.\*, livemode live \(endpoint live, destination any\)`,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("config check output lacks %s:\n%s", re, out)
		}
	}
	vars, _ := e2eVars(t)
	vars["S"], vars["F"] = testSecret1, forwardSecret
	env, _, _ = testEnv(vars)
	c, err := parseServeConfig(env, []string{"--config", file})
	if err != nil || !strings.Contains(strings.Join(c.warnings, "\n"), "can never receive") {
		t.Errorf("serve's warnings: %v %v", c, err)
	}
}

// TestConfig_IgnoredSecretWarning ensures serve (and config check) warn
// when STRIPE_WEBHOOK_SECRET or HOOKBOX_FORWARD_SECRET is set but --config
// declares the endpoints, naming the paths that are served instead, and
// stay quiet when neither is set.
func TestConfig_IgnoredSecretWarning(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hookbox.yaml")
	if err := os.WriteFile(file, []byte("endpoints:\n  - name: account\n    secrets: [{env: S}]\n  - name: connect\n    secrets: [{env: S}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
		want []string
	}{
		{"none", nil, nil},
		{"webhook secret", map[string]string{"STRIPE_WEBHOOK_SECRET": testSecret1},
			[]string{"STRIPE_WEBHOOK_SECRET is set but --config declares the endpoints: it is not used", "/webhooks/account, /webhooks/connect (/webhooks/stripe is not served)"}},
		{"webhook secret file", map[string]string{"STRIPE_WEBHOOK_SECRET_FILE": "/nonexistent"},
			[]string{"STRIPE_WEBHOOK_SECRET_FILE is set"}},
		{"forward secret", map[string]string{"HOOKBOX_FORWARD_SECRET": forwardSecret},
			[]string{"HOOKBOX_FORWARD_SECRET is set but --config declares the destinations"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars, _ := e2eVars(t)
			delete(vars, "STRIPE_WEBHOOK_SECRET")
			vars["S"] = testSecret2
			for k, v := range tc.vars {
				vars[k] = v
			}
			env, _, _ := testEnv(vars)
			c, err := parseServeConfig(env, []string{"--config", file})
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(c.warnings, "\n")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("warnings lack %q:\n%s", w, got)
				}
			}
			if tc.want == nil && got != "" {
				t.Errorf("warnings: %s", got)
			}
			if strings.Contains(got, testSecret1) || strings.Contains(got, forwardSecret) {
				t.Errorf("a warning shows a secret: %s", got)
			}
		})
	}
	// A variable the file itself takes a secret from is used: no warning
	// (the README's example config names both).
	used := filepath.Join(t.TempDir(), "used.yaml")
	if err := os.WriteFile(used, []byte("endpoints:\n  - name: stripe\n    secrets: [{env: STRIPE_WEBHOOK_SECRET}]\n    destinations:\n      - name: app\n        url: http://127.0.0.1:9/\n        secret: {env: HOOKBOX_FORWARD_SECRET}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars, _ := e2eVars(t)
	vars["STRIPE_WEBHOOK_SECRET"] = testSecret1 // one secret: the file takes one a ref
	vars["HOOKBOX_FORWARD_SECRET"] = forwardSecret
	env, _, _ := testEnv(vars)
	c, err := parseServeConfig(env, []string{"--config", used})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.warnings, "\n"); strings.Contains(got, "not used") {
		t.Errorf("a variable the file uses is called unused:\n%s", got)
	}
}
