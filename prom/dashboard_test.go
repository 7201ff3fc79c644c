package prom_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dashboardPath is the shipped Grafana dashboard.
const dashboardPath = "../deploy/grafana/hookbox.json"

// dashboardPanel is the part of a Grafana panel the tests read; rows nest
// their panels when collapsed.
type dashboardPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"`
}

// dashboardQueries returns every PromQL query of the dashboard, panel
// targets and template variables, by where it is.
func dashboardQueries(tb testing.TB) map[string]string {
	tb.Helper()
	var d struct {
		Panels     []dashboardPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal([]byte(mustRead(tb, dashboardPath)), &d); err != nil {
		tb.Fatalf("%s: %v", dashboardPath, err)
	}
	q := map[string]string{}
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			for i, t := range p.Targets {
				q[fmt.Sprintf("panel %q target %d", p.Title, i)] = t.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		var obj struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &obj) == nil && strings.Contains(obj.Query, "hookbox_") {
			q["variable "+v.Name] = obj.Query
		}
	}
	if len(q) < 10 {
		tb.Fatalf("%s: only %d queries found", dashboardPath, len(q))
	}
	return q
}

// Ensures every query of the Grafana dashboard names at least one hookbox
// metric and only metrics this package exposes.
func TestDashboard_MetricNamesExist(t *testing.T) {
	exposed := exposedNames(t)
	for where, expr := range dashboardQueries(t) {
		names := metricNameRe.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: %q names no hookbox metric", where, expr)
		}
		for _, n := range names {
			if !exposed[n] {
				t.Errorf("%s: %q names %s, which prom does not expose", where, expr, n)
			}
		}
	}
}

// Ensures every panel query of the dashboard is valid PromQL, by having
// promtool check them as recording rules (Grafana's variables replaced by
// values).
func TestDashboard_QueriesParse(t *testing.T) {
	promtool := mustPromtool(t)
	repl := strings.NewReplacer("$__rate_interval", "5m", "$job", ".*")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for where, expr := range dashboardQueries(t) {
		if strings.HasPrefix(where, "variable ") {
			continue // label_values() is Grafana's, not PromQL
		}
		n++
		e, _ := json.Marshal(repl.Replace(expr)) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      - record: dashboard:query%d\n        expr: %s\n", n, e)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := execCommand(promtool, "check", "rules", path)
	if err != nil {
		t.Fatalf("dashboard queries: promtool check rules: %v\n%s\n%s", err, out, b.String())
	}
}
