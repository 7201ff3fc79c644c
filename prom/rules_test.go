package prom_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/prom"
)

// rulesDir holds the shipped alert rules and their promtool tests.
const rulesDir = "../deploy/prometheus"

// mustPromtool returns the path of promtool. Without it the test is skipped,
// loudly, outside CI (CI unset) and fails under CI, where .ci/run installs
// it (Debian's prometheus package provides it).
func mustPromtool(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	const msg = "promtool not on PATH: the alert rules and dashboard queries are NOT checked " +
		"(Debian: apt-get install --no-install-recommends prometheus)"
	if os.Getenv("CI") != "" {
		tb.Fatal(msg + "; CI is set, so this is a failure")
	}
	promtoolBanner.Do(func() {
		fmt.Fprintf(os.Stderr, "\n"+
			"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"+
			"!!! SKIPPING the promtool tests of deploy/prometheus and deploy/grafana:\n"+
			"!!!   %s\n"+
			"!!! Under CI this is a failure.\n"+
			"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n", msg)
	})
	tb.Skip("SKIPPED: " + msg)
	return ""
}

var promtoolBanner sync.Once

// ruleFiles returns the rule files and their promtool test files.
func ruleFiles(tb testing.TB) (rules, tests []string) {
	tb.Helper()
	all, err := filepath.Glob(filepath.Join(rulesDir, "*.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range all {
		if strings.HasSuffix(f, "_test.yml") {
			tests = append(tests, filepath.Base(f))
		} else {
			rules = append(rules, filepath.Base(f))
		}
	}
	if len(rules) < 2 || len(tests) != len(rules) {
		tb.Fatalf("want each rule file with its _test.yml, got rules %v, tests %v", rules, tests)
	}
	return rules, tests
}

// execCommand runs name with args and returns its combined output.
func execCommand(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

func runPromtool(tb testing.TB, promtool string, args ...string) {
	tb.Helper()
	cmd := exec.Command(promtool, args...)
	cmd.Dir = rulesDir // test files name their rule files relative to it
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	tb.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}

// Ensures every shipped rule file is valid (promtool check rules) and that
// each alert fires on the series meant to fire it and on no other
// (promtool test rules, deploy/prometheus/*_test.yml).
func TestRules_Promtool(t *testing.T) {
	promtool := mustPromtool(t)
	rules, tests := ruleFiles(t)
	runPromtool(t, promtool, append([]string{"check", "rules"}, rules...)...)
	runPromtool(t, promtool, append([]string{"test", "rules"}, tests...)...)
}

// Ensures every alert of the rule files has a promtool test, a severity,
// and summary, description and runbook_url annotations.
func TestRules_EveryAlertTested(t *testing.T) {
	rules, _ := ruleFiles(t)
	alertRe := regexp.MustCompile(`(?m)^\s*- alert: (\w+)\s*$`)
	for _, f := range rules {
		text := mustRead(t, filepath.Join(rulesDir, f))
		test := mustRead(t, filepath.Join(rulesDir, strings.TrimSuffix(f, ".yml")+"_test.yml"))
		alerts := alertRe.FindAllStringSubmatch(text, -1)
		if len(alerts) == 0 {
			t.Errorf("%s: no alert", f)
		}
		for _, a := range alerts {
			if !strings.Contains(test, "alertname: "+a[1]+"\n") {
				t.Errorf("%s: alert %s has no promtool test", f, a[1])
			}
		}
		for _, key := range []string{"severity:", "summary:", "description:", "runbook_url:"} {
			if n := strings.Count(text, key+" "); n != len(alerts) {
				t.Errorf("%s: %d alerts but %d %s", f, len(alerts), n, key)
			}
		}
	}
}

// metricNameRe finds hookbox metric names in rules and queries.
var metricNameRe = regexp.MustCompile(`\bhookbox_[a-z_]+\b`)

// Ensures every hookbox metric named by the rule files (expressions and
// annotations) is one this package exposes, so that a renamed metric cannot
// silently blind an alert.
func TestRules_MetricNamesExist(t *testing.T) {
	exposed := exposedNames(t)
	rules, _ := ruleFiles(t)
	for _, f := range rules {
		names := metricNameRe.FindAllString(mustRead(t, filepath.Join(rulesDir, f)), -1)
		if len(names) == 0 {
			t.Errorf("%s names no hookbox metric", f)
		}
		for _, n := range names {
			if !exposed[n] {
				t.Errorf("%s names %s, which prom does not expose", f, n)
			}
		}
	}
}

// exposedNames returns the names of every series a fully fed Metrics
// exposes, with the _bucket, _sum and _count names of histograms.
func exposedNames(tb testing.TB) map[string]bool {
	tb.Helper()
	m := prom.New(prom.Options{
		Endpoints:           []prom.Endpoint{{Name: "stripe", Secrets: 2}},
		Destinations:        []string{"app"},
		OrderedDestinations: []string{"app"},
	})
	m.RegisterBlocked(func(context.Context) (map[string]int, error) { return map[string]int{}, nil })
	m.RegisterHeld(func(context.Context) (map[string]int, error) { return map[string]int{}, nil }, []string{"app"})
	m.RegisterQueue(func(context.Context) (map[hookbox.State]int, time.Time, error) {
		return map[hookbox.State]int{}, time.Time{}, nil
	})
	m.RegisterDestinationStates(func(context.Context) (map[string]hookbox.DestinationState, error) {
		return map[string]hookbox.DestinationState{}, nil
	})
	m.RegisterInFlight(func() map[string]int { return nil })
	m.ReconcileRun(true, 1, timeBase)
	m.StripeEndpointEnabled("stripe", true)
	m.RegisterThin([]string{"thin"}, func(context.Context) (map[hookbox.FetchState]int, error) {
		return map[hookbox.FetchState]int{}, nil
	})
	names := map[string]bool{}
	for name, mf := range scrape(tb, mustServe(tb, m)) {
		names[name] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		}
	}
	return names
}

func mustRead(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
