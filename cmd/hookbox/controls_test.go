package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox/deliver"
)

// writeControlsConfig writes a --config file whose one destination has the
// YAML lines keys.
func writeControlsConfig(t *testing.T, keys ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hookbox.yaml")
	cfg := "endpoints:\n  - name: shop\n    secrets: [{env: SHOP_SECRET}]\n" +
		"    destinations:\n      - name: app\n        url: http://127.0.0.1:9/hook\n        secret: {env: APP_SECRET}\n"
	for _, k := range keys {
		cfg += "        " + k + "\n"
	}
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfig_Controls ensures the delivery controls of a --config
// destination (max_in_flight, rate, burst, breaker_failures, breaker_probe)
// and of --forward-to (the --forward-* flags and their HOOKBOX_ variables)
// reach the destination (deliver.ControlsOf), that config check prints
// them, and that invalid values are refused with the key named.
func TestConfig_Controls(t *testing.T) {
	p := writeControlsConfig(t, "max_in_flight: 2", "rate: 5.5", "burst: 3", "breaker_failures: 4", "breaker_probe: 2s")
	env, out, _ := testEnv(checkVars)
	if err := run(context.Background(), env, []string{"config", "check", p}); err != nil {
		t.Fatal(err)
	}
	words := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{"limits at most 2 attempts at once (per replica); 5.5/s, burst 3 (shared by every replica)",
		"breaker opens after 4 consecutive failed attempts; then one probe every 2s"} {
		if !strings.Contains(words, want) {
			t.Fatalf("config check lacks %q:\n%s", want, out)
		}
	}
	cfg, err := parseServeConfig(testEnvOnly(checkVars), []string{"--config", p})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cfg.receiverOptions(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := deliver.Controls{MaxInFlight: 2, Rate: 5.5, Burst: 3, BreakerFailures: 4, BreakerProbe: 2 * time.Second}
	if got := deliver.ControlsOf(opts.Endpoints[0].Destinations[0]); got != want {
		t.Fatalf("controls %+v, want %+v", got, want)
	}

	// Defaults (breaker_failures 0 is the default too): the breaker on
	// (10 failures, a probe every 10 s), no caps; breaker_failures: off
	// turns it off.
	env, out, _ = testEnv(checkVars)
	if err := run(context.Background(), env, []string{"config", "check", writeControlsConfig(t, "breaker_failures: 0")}); err != nil {
		t.Fatal(err)
	}
	if words := strings.Join(strings.Fields(out.String()), " "); !strings.Contains(words, "limits none") || !strings.Contains(words, "breaker opens after 10 consecutive failed attempts; then one probe every 10s") {
		t.Fatalf("config check of the defaults:\n%s", out)
	}
	env, out, _ = testEnv(checkVars)
	if err := run(context.Background(), env, []string{"config", "check", writeControlsConfig(t, "rate: 0.5")}); err != nil || !strings.Contains(out.String(), "0.5/s, burst 1 (shared by every replica)") {
		t.Fatalf("rate without a burst: %v\n%s", err, out)
	}
	env, out, _ = testEnv(checkVars)
	if err := run(context.Background(), env, []string{"config", "check", writeControlsConfig(t, "breaker_failures: off")}); err != nil || !strings.Contains(strings.Join(strings.Fields(out.String()), " "), "breaker off") {
		t.Fatalf("breaker_failures: off: %v\n%s", err, out)
	}

	for _, c := range []struct{ key, want string }{
		{"rate: -1", "rate -1"},
		{"burst: 2", "burst 2 without a rate"},
		{"max_in_flight: -1", "max in flight -1 is negative"},
		{"breaker_failures: -1", "or off"},
		{"breaker_failures: lots", "or off"},
		{"breaker_probe: 0s", "positive duration"},
		{"rate: fast", "want a number"},
		{"rate: 0.0001", "below one event in 1000 s"},
	} {
		env, _, _ := testEnv(checkVars)
		err := run(context.Background(), env, []string{"config", "check", writeControlsConfig(t, c.key)})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.key, err, c.want)
		}
	}
}

// TestConfig_ForwardControls ensures the --forward-* control flags and
// their HOOKBOX_ variables configure --forward-to, and are refused with
// --config, without --forward-to, and with invalid values.
func TestConfig_ForwardControls(t *testing.T) {
	vars := map[string]string{"STRIPE_WEBHOOK_SECRET": testSecret1, "HOOKBOX_FORWARD_SECRET": testSecret2,
		"HOOKBOX_FORWARD_RATE": "2.5", "HOOKBOX_FORWARD_BREAKER_FAILURES": "off"}
	cfg, err := parseServeConfig(testEnvOnly(vars), []string{"--forward-to", "http://127.0.0.1:9/", "--forward-max-in-flight", "3",
		"--forward-burst", "4", "--forward-breaker-probe", "3s"})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cfg.receiverOptions(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := deliver.Controls{MaxInFlight: 3, Rate: 2.5, Burst: 4, BreakerFailures: -1, BreakerProbe: 3 * time.Second}
	if got := deliver.ControlsOf(opts.Endpoints[0].Destinations[0]); got != want {
		t.Fatalf("controls %+v, want %+v", got, want)
	}
	base := map[string]string{"STRIPE_WEBHOOK_SECRET": testSecret1, "HOOKBOX_FORWARD_SECRET": testSecret2}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--forward-rate", "5"}, "apply to --forward-to, which is not set"},
		{[]string{"--forward-to", "http://127.0.0.1:9/", "--forward-rate", "-2"}, "rate -2"},
		{[]string{"--forward-to", "http://127.0.0.1:9/", "--forward-burst", "2"}, "burst 2 without a rate"},
		{[]string{"--forward-to", "http://127.0.0.1:9/", "--forward-breaker-failures", "-1"}, "or off"},
		{[]string{"--forward-to", "http://127.0.0.1:9/", "--forward-breaker-probe", "0s"}, "--forward-breaker-probe must be positive"},
		{[]string{"--config", writeControlsConfig(t), "--forward-max-in-flight", "2"}, "declare them per destination in the config file"},
	} {
		v := base
		if c.args[0] == "--config" {
			v = checkVars
		}
		if _, err := parseServeConfig(testEnvOnly(v), c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
