package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/stripeapi"
	"github.com/hookbox/hookbox/stripeapi/stripeapitest"
)

const stripeKey = "sk_test_endpointskey0123456789"

// runStripeCmd runs "hookbox stripe endpoints ARGS..." against the API at
// base and returns stdout, stderr and the exit code.
func runStripeCmd(t *testing.T, base string, vars map[string]string, args ...string) (string, string, int) {
	t.Helper()
	all := map[string]string{"STRIPE_API_KEY": stripeKey, "HOOKBOX_STRIPE_API_BASE": base}
	for k, v := range vars {
		all[k] = v
	}
	env, out, errb := testEnv(all)
	err := run(context.Background(), env, append([]string{"stripe", "endpoints"}, args...))
	code := exitCode(err)
	if err != nil {
		errb.Write([]byte("hookbox: " + err.Error() + "\n")) // as main prints it
	}
	return out.String(), errb.String(), code
}

// Ensures list (table and JSON), create, update and delete speak the
// webhook endpoints API as stripe-mock models it. stripe-mock returns no
// secret on create: the command fails saying so, and leaves no secret file.
func TestStripeEndpoints_StripeMock(t *testing.T) {
	base := stripeapitest.StartStripeMock(t)
	out, errs, code := runStripeCmd(t, base, nil, "list")
	if code != 0 || !strings.Contains(out, "ID ") || !strings.Contains(out, "we_") || !strings.Contains(out, "(account default)") {
		t.Fatalf("list: %d\n%s%s", code, out, errs)
	}
	out, _, code = runStripeCmd(t, base, nil, "list", "--json")
	var eps []stripeapi.Endpoint
	if code != 0 || json.Unmarshal([]byte(out), &eps) != nil || len(eps) == 0 || eps[0].Status != "enabled" {
		t.Fatalf("list --json: %d %s", code, out)
	}
	file := filepath.Join(t.TempDir(), "secret")
	_, errs, code = runStripeCmd(t, base, nil, "create", "--url", "https://h.example.com/webhooks/stripe",
		"--events", "invoice.paid", "--api-version", "2026-07-29.dahlia", "--secret-file", file)
	if code != 1 || !strings.Contains(errs, "no signing secret") {
		t.Fatalf("create on stripe-mock: %d %s", code, errs)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("an empty secret file stays behind: %v", err)
	}
	if out, errs, code = runStripeCmd(t, base, nil, "update", "we_123", "--disabled", "--events", "*"); code != 0 || !strings.Contains(out, "we_123") {
		t.Fatalf("update: %d %s%s", code, out, errs)
	}
	if out, errs, code = runStripeCmd(t, base, nil, "delete", "we_123"); code != 0 || !strings.Contains(out, "deleted we_123") {
		t.Fatalf("delete: %d %s%s", code, out, errs)
	}
}

// Ensures create pins the version and writes the secret to a new 0600
// file, never to stdout, stderr or an existing file (refused before Stripe
// is called); without --secret-file the secret is printed once on stdout
// with a warning on stderr, which never holds it.
func TestStripeEndpoints_CreateSecret(t *testing.T) {
	f := stripeapitest.New(t, stripeKey)
	file := filepath.Join(t.TempDir(), "whsec")
	args := []string{"create", "--url", "https://h.example.com/webhooks/stripe", "--events", "invoice.paid,charge.failed", "--api-version", "2026-07-29.dahlia"}
	out, errs, code := runStripeCmd(t, f.URL, nil, append(args, "--secret-file", file)...)
	if code != 0 {
		t.Fatalf("create: %d %s%s", code, out, errs)
	}
	b, err := os.ReadFile(file)
	secret := strings.TrimSpace(string(b))
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret file: %q %v", b, err)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", st.Mode().Perm())
	}
	if strings.Contains(out+errs, secret) {
		t.Fatalf("the secret reached stdout or stderr:\n%s%s", out, errs)
	}
	eps := f.Endpoints()
	if len(eps) != 1 || eps[0].APIVersion == nil || *eps[0].APIVersion != "2026-07-29.dahlia" || strings.Join(eps[0].EnabledEvents, ",") != "invoice.paid,charge.failed" {
		t.Fatalf("created: %+v", eps)
	}

	_, errs, code = runStripeCmd(t, f.URL, nil, append(args, "--secret-file", file)...)
	if code != 1 || !strings.Contains(errs, "never overwritten") || len(f.Endpoints()) != 1 {
		t.Fatalf("existing secret file: %d %s, %d endpoints", code, errs, len(f.Endpoints()))
	}
	if b2, _ := os.ReadFile(file); string(b2) != string(b) {
		t.Fatal("the existing secret file was changed")
	}

	out, errs, code = runStripeCmd(t, f.URL, nil, args...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	printed := lines[len(lines)-1]
	if code != 0 || !strings.HasPrefix(printed, "whsec_") || strings.Count(out, printed) != 1 || !strings.Contains(errs, "warning") || strings.Contains(errs, printed) {
		t.Fatalf("create without --secret-file: %d\nstdout %s\nstderr %s", code, out, errs)
	}
}

// Ensures update enables and disables, changes URL and events, and that
// delete removes the endpoint; bad ids and contradictory flags are refused.
func TestStripeEndpoints_UpdateDelete(t *testing.T) {
	f := stripeapitest.New(t, stripeKey)
	id := f.Add(stripeapitest.Endpoint{URL: "https://h/webhooks/a", EnabledEvents: []string{"*"}})
	if out, errs, code := runStripeCmd(t, f.URL, nil, "update", id, "--disabled", "--url", "https://h/webhooks/b", "--json"); code != 0 || !strings.Contains(out, `"disabled"`) {
		t.Fatalf("update --disabled: %d %s%s", code, out, errs)
	}
	if e := f.Endpoints()[0]; e.Status != "disabled" || e.URL != "https://h/webhooks/b" {
		t.Fatalf("after update: %+v", e)
	}
	if _, errs, code := runStripeCmd(t, f.URL, nil, "update", "--enabled", "--events", "invoice.paid", id); code != 0 {
		t.Fatalf("update --enabled: %d %s", code, errs)
	}
	if e := f.Endpoints()[0]; e.Status != "enabled" || strings.Join(e.EnabledEvents, ",") != "invoice.paid" {
		t.Fatalf("after update: %+v", e)
	}
	for _, args := range [][]string{{"update", id}, {"update", id, "--enabled", "--disabled"}, {"update", "../x", "--enabled"}, {"delete"}, {"update", id, "--events", "invoice.*"}} {
		if _, _, code := runStripeCmd(t, f.URL, nil, args...); code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
	}
	if _, errs, code := runStripeCmd(t, f.URL, nil, "delete", id); code != 0 || len(f.Endpoints()) != 0 {
		t.Fatalf("delete: %d %s", code, errs)
	}
	if _, errs, code := runStripeCmd(t, f.URL, nil, "delete", id); code != 1 || !strings.Contains(errs, "404") {
		t.Fatalf("delete again: %d %s", code, errs)
	}
}

// writeCheckConfig writes a --config file with endpoint "shop" (public_url
// url) and one destination filtering on events, reading version.
func writeCheckConfig(t *testing.T, url, events, version string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hookbox.yaml")
	cfg := "endpoints:\n  - name: shop\n    public_url: " + url + "\n    secrets: [{env: SHOP_SECRET}]\n" +
		"    destinations:\n      - name: app\n        url: http://127.0.0.1:9/hook\n        secret: {env: APP_SECRET}\n" +
		"        events: [\"" + events + "\"]\n"
	if version != "" {
		cfg += "        api_version: " + version + "\n"
	}
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var checkVars = map[string]string{"SHOP_SECRET": testSecret1, "APP_SECRET": testSecret2, "HOOKBOX_DB": "sqlite:unused.db"}

// Ensures check against stripe-mock's fixture endpoint: the events it
// sends cover a destination's filter (exit 0, an unpinned version is only
// a warning), and an event it does not send is a problem (exit 1).
func TestStripeEndpoints_CheckStripeMock(t *testing.T) {
	base := stripeapitest.StartStripeMock(t)
	const fixtureURL = "https://example.com/my/webhook/endpoint"
	out, errs, code := runStripeCmd(t, base, checkVars, "check", "--config", writeCheckConfig(t, fixtureURL, "charge.failed", ""))
	if words := strings.Join(strings.Fields(out), " "); code != 0 || !strings.Contains(words, "ok shop") || !strings.Contains(words, "warning shop we_") {
		t.Fatalf("covered: %d\n%s%s", code, out, errs)
	}
	out, errs, code = runStripeCmd(t, base, checkVars, "check", "--config", writeCheckConfig(t, fixtureURL, "invoice.paid", ""))
	if code != 1 || !strings.Contains(out, "destination shop/app filters on invoice.paid") || !strings.Contains(errs, "1 problem") {
		t.Fatalf("not covered: %d\n%s%s", code, out, errs)
	}
}

// Ensures check finds, on a stateful fake, a disabled endpoint and a
// version of another release train (exit 1, JSON with enabled false), a
// missing endpoint, and passes once fixed; --public-url and the default
// endpoint with --forward-api-version work as --config does.
func TestStripeEndpoints_CheckFake(t *testing.T) {
	f := stripeapitest.New(t, stripeKey)
	clover := "2026-03-25.clover"
	id := f.Add(stripeapitest.Endpoint{URL: "https://hooks.example.com/webhooks/shop", EnabledEvents: []string{"*"}, APIVersion: &clover, Status: "disabled"})
	cfg := writeCheckConfig(t, "https://hooks.example.com/webhooks/shop", "invoice.*", "dahlia")
	out, _, code := runStripeCmd(t, f.URL, checkVars, "check", "--config", cfg, "--json")
	var rep struct {
		Endpoints []struct {
			Name    string
			Enabled bool
		}
		Findings []stripeapi.Finding
		Problems int
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.Problems != 2 || len(rep.Endpoints) != 1 || rep.Endpoints[0].Enabled {
		t.Fatalf("disabled, other train: %d %v\n%s", code, err, out)
	}
	f.SetStatus(id, "enabled")
	if out, _, code = runStripeCmd(t, f.URL, checkVars, "check", "--config", cfg); code != 1 || !strings.Contains(out, "destination shop/app reads dahlia") {
		t.Fatalf("other train: %d\n%s", code, out)
	}
	vars := map[string]string{"STRIPE_WEBHOOK_SECRET": testSecret1, "HOOKBOX_FORWARD_SECRET": testSecret2, "HOOKBOX_DB": "sqlite:unused.db"}
	args := []string{"check", "--public-url", "https://hooks.example.com/", "--forward-to", "http://127.0.0.1:9/", "--forward-api-version", "clover"}
	if out, errs, code := runStripeCmd(t, f.URL, vars, args...); code != 1 || !strings.Contains(out, "no Stripe endpoint posts to https://hooks.example.com/webhooks/stripe") {
		t.Fatalf("missing: %d\n%s%s", code, out, errs)
	}
	f.Add(stripeapitest.Endpoint{URL: "https://hooks.example.com/webhooks/stripe", EnabledEvents: []string{"*"}, APIVersion: &clover})
	if out, errs, code := runStripeCmd(t, f.URL, vars, args...); code != 0 || strings.Contains(out, "problem") {
		t.Fatalf("fixed: %d\n%s%s", code, out, errs)
	}
}

// Ensures destination versions are validated, carried to the destination
// and printed by config check; --forward-api-version needs --forward-to.
func TestConfig_APIVersion(t *testing.T) {
	env, out, _ := testEnv(checkVars)
	if err := run(context.Background(), env, []string{"config", "check", writeCheckConfig(t, "https://h.example.com/in", "*", "2026-07-29.dahlia")}); err != nil {
		t.Fatal(err)
	}
	words := strings.Join(strings.Fields(out.String()), " ")
	if !strings.Contains(words, "api version 2026-07-29.dahlia") || !strings.Contains(words, "stripe posts to https://h.example.com/in") {
		t.Fatalf("config check:\n%s", out)
	}
	env, _, _ = testEnv(checkVars)
	if err := run(context.Background(), env, []string{"config", "check", writeCheckConfig(t, "https://h/in", "*", "2023-10-16")}); err == nil || !strings.Contains(err.Error(), "api_version") {
		t.Fatalf("a version without a train: %v", err)
	}
	vars := map[string]string{"STRIPE_WEBHOOK_SECRET": testSecret1, "HOOKBOX_FORWARD_SECRET": testSecret2}
	if _, err := parseServeConfig(testEnvOnly(vars), []string{"--forward-api-version", "dahlia"}); err == nil {
		t.Fatal("--forward-api-version without --forward-to: no error")
	}
	cfg, err := parseServeConfig(testEnvOnly(vars), []string{"--forward-to", "http://127.0.0.1:9/", "--forward-api-version", "dahlia"})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cfg.receiverOptions(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := opts.Endpoints[0].Destinations[0].(deliver.Versioned); !ok || v.APIVersion() != "dahlia" {
		t.Fatalf("the destination does not carry its version: %T", opts.Endpoints[0].Destinations[0])
	}
}

func testEnvOnly(vars map[string]string) *environ {
	env, _, _ := testEnv(vars)
	return env
}

// scrapeGauge returns the line of /metrics naming series, "" if none.
func scrapeGauge(t *testing.T, admin, series string) string {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, series+" ") {
			return l
		}
	}
	return ""
}

// Ensures serve checks the Stripe endpoint pointing at it every
// --stripe-check-every: the gauge reads 1 while it is enabled, 0 once Stripe
// disabled it, with a warning logged, and never shows the API key.
func TestServe_StripeCheck(t *testing.T) {
	f := stripeapitest.New(t, stripeKey)
	vars, _ := e2eVars(t)
	vars["STRIPE_API_KEY"], vars["HOOKBOX_STRIPE_API_BASE"] = stripeKey, f.URL
	id := f.Add(stripeapitest.Endpoint{URL: "https://hooks.example.com/webhooks/stripe", EnabledEvents: []string{"*"}})
	m, logs := mustRunMain(t, vars, "--public-url", "https://hooks.example.com", "--stripe-check-every", "20ms")
	const series = `hookbox_stripe_endpoint_enabled{endpoint="stripe"}`
	waitFor(t, "gauge 1", 10*time.Second, func() bool { return scrapeGauge(t, m.AdminAddr(), series) == series+" 1" })
	f.SetStatus(id, "disabled")
	waitFor(t, "gauge 0", 10*time.Second, func() bool { return scrapeGauge(t, m.AdminAddr(), series) == series+" 0" })
	waitFor(t, "warning logged", 10*time.Second, func() bool { return strings.Contains(logs.String(), "disabled: Stripe sends nothing") })
	if strings.Contains(logs.String(), stripeKey) {
		t.Fatal("API key in logs")
	}
}

// Ensures serve with a key but no public URL logs once that the check is
// off and why, and exports no gauge; --stripe-check-every 0 is silent.
func TestServe_StripeCheckOff(t *testing.T) {
	f := stripeapitest.New(t, stripeKey)
	vars, _ := e2eVars(t)
	vars["STRIPE_API_KEY"], vars["HOOKBOX_STRIPE_API_BASE"] = stripeKey, f.URL
	m, logs := mustRunMain(t, vars)
	if n := strings.Count(logs.String(), "the Stripe endpoint check is off"); n != 1 || !strings.Contains(logs.String(), "--public-url") {
		t.Fatalf("%d off lines:\n%s", n, logs)
	}
	if g := scrapeGauge(t, m.AdminAddr(), `hookbox_stripe_endpoint_enabled{endpoint="stripe"}`); g != "" || f.Lists() != 0 {
		t.Fatalf("check off, yet gauge %q and %d list calls", g, f.Lists())
	}
	_, logs = mustRunMain(t, vars, "--stripe-check-every", "0")
	if strings.Contains(logs.String(), "Stripe endpoint check") {
		t.Fatalf("--stripe-check-every 0 logs about the check:\n%s", logs)
	}
}
