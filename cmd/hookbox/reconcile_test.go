package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"github.com/hookbox/hookbox/receiver"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/envelope"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/storetest"
	"github.com/hookbox/hookbox/stripefixture"
)

const reconcileKey = "rk_test_51CmdReconcileKeyNeverPrinted42"

// eventsAPI serves GET /v1/events from raws (newest first), paging with
// limit and starting_after and filtering on created[gte], for the key
// reconcileKey; a wrong key gets a 401 that quotes the Authorization
// header, as stripe-mock's does.
func eventsAPI(t *testing.T, raws [][]byte) string {
	t.Helper()
	type item struct {
		id      string
		created int64
		raw     []byte
	}
	var items []item
	for _, raw := range raws {
		f, err := envelope.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, item{f.ID, f.Created, raw})
	}
	slices.SortFunc(items, func(a, b item) int { return int(b.created - a.created) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if auth := r.Header.Get("Authorization"); auth != "Bearer "+reconcileKey {
			w.WriteHeader(401)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
				"type": "invalid_request_error", "message": "Invalid API Key provided. Authorization was '" + auth + "'."}})
			return
		}
		q := r.URL.Query()
		gte, _ := strconv.ParseInt(q.Get("created[gte]"), 10, 64)
		limit, _ := strconv.Atoi(q.Get("limit"))
		var page []item
		after := q.Get("starting_after")
		more := false
		for _, it := range items {
			if after != "" {
				if it.id == after {
					after = ""
				}
				continue
			}
			if it.created < gte {
				continue
			}
			if len(page) == limit {
				more = true
				break
			}
			page = append(page, it)
		}
		var b bytes.Buffer
		b.WriteString(`{"object": "list", "url": "/v1/events", "has_more": ` + strconv.FormatBool(more) + `, "data": [`)
		for i, it := range page {
			if i > 0 {
				b.WriteString(",\n")
			}
			b.Write(it.raw)
		}
		b.WriteString("]}")
		w.Write(b.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// reconcileSetup returns a database holding one of 130 recent events (as a
// webhook), an API serving them, and the variables to reach both.
func reconcileSetup(t *testing.T) (vars map[string]string, path string, raws [][]byte) {
	t.Helper()
	g := stripefixture.New(7)
	g.Start = time.Now().Add(-2 * time.Hour)
	g.ConnectFraction = 0.5
	for i := range 130 {
		raws = append(raws, g.Event(stripefixture.Types()[i%len(stripefixture.Types())], i%2 == 0))
	}
	path = filepath.Join(t.TempDir(), "hookbox.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := envelope.Parse(raws[0])
	res, err := s.InsertEvents(context.Background(), []*hookbox.Event{{
		ID: f.ID, Type: f.Type, Object: f.Object, Created: f.Created, Livemode: f.Livemode, Account: f.Account,
		Body: raws[0], ReceivedAt: time.Now(), Source: hookbox.SourceWebhook,
	}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	s.Close()
	return map[string]string{
		"HOOKBOX_DB":              "sqlite:" + path,
		"HOOKBOX_STRIPE_API_BASE": eventsAPI(t, raws),
		"STRIPE_API_KEY":          reconcileKey,
	}, path, raws
}

func storedSources(t *testing.T, path string) map[hookbox.Source]int {
	t.Helper()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.FindEvents(context.Background(), hookbox.EventFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[hookbox.Source]int{}
	for _, e := range evs {
		out[e.Source]++
	}
	return out
}

// Ensures "hookbox reconcile" stores the missing events with source
// reconcile, prints a progress line on stderr and the summary on stdout,
// and that a second run recovers nothing.
func TestReconcile_OK(t *testing.T) {
	vars, path, _ := reconcileSetup(t)
	env, out, errb := testEnv(vars)
	if err := runReconcile(context.Background(), env, []string{"--since", "1d"}); err != nil {
		t.Fatalf("reconcile: %v\n%s", err, errb)
	}
	if !strings.Contains(out.String(), "pages 2, events seen 130, already stored 1, recovered 129") {
		t.Fatalf("stdout:\n%s", out)
	}
	if !strings.Contains(errb.String(), "\rreconcile: page 2, 130 events seen") {
		t.Fatalf("stderr:\n%q", errb)
	}
	if got := storedSources(t, path); got[hookbox.SourceReconcile] != 129 || got[hookbox.SourceWebhook] != 1 {
		t.Fatalf("stored: %v", got)
	}

	env, out, _ = testEnv(vars)
	if err := runReconcile(context.Background(), env, []string{"--json", "--quiet"}); err != nil {
		t.Fatal(err)
	}
	var sum reconcileJSON
	if err := json.Unmarshal([]byte(out.String()), &sum); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if sum.Seen != 130 || sum.AlreadyStored != 130 || sum.Recovered != 0 || len(sum.Events) != 0 {
		t.Fatalf("second run: %+v", sum)
	}
}

// Ensures --dry-run --json lists the missing events and stores nothing,
// and that the key may come from STRIPE_API_KEY_FILE.
func TestReconcile_DryRun(t *testing.T) {
	vars, path, raws := reconcileSetup(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := writeFile(keyFile, reconcileKey+"\n"); err != nil {
		t.Fatal(err)
	}
	delete(vars, "STRIPE_API_KEY")
	vars["STRIPE_API_KEY_FILE"] = keyFile
	env, out, errb := testEnv(vars)
	if err := runReconcile(context.Background(), env, []string{"--dry-run", "--json"}); err != nil {
		t.Fatalf("%v\n%s", err, errb)
	}
	var sum reconcileJSON
	if err := json.Unmarshal([]byte(out.String()), &sum); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if !sum.DryRun || sum.Missing != 129 || sum.Recovered != 0 || len(sum.Events) != 129 || sum.Events[0].Outcome != "missing" {
		t.Fatalf("dry run: %+v", sum)
	}
	f, _ := envelope.Parse(raws[1])
	if !slices.ContainsFunc(sum.Events, func(e reconcileEventJSON) bool { return e.ID == f.ID && e.Account == f.Account }) {
		t.Fatalf("%s not listed as missing", f.ID)
	}
	if got := storedSources(t, path); got[hookbox.SourceReconcile] != 0 {
		t.Fatalf("dry run stored: %v", got)
	}
}

// Ensures bad input stops with a clear message before anything is stored,
// and that the API key appears in no output and no error, even when the
// API quotes it back.
func TestReconcile_Errors(t *testing.T) {
	vars, path, _ := reconcileSetup(t)
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for k, v := range vars {
			m[k] = v
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	const wrongKey = "rk_live_51WrongKeyForTheCmdTest000999"
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"NoKey", with("STRIPE_API_KEY", ""), nil, "no Stripe API key: set STRIPE_API_KEY"},
		{"PublishableKey", with("STRIPE_API_KEY", "pk_live_123"), nil, "publishable key"},
		{"SeveralKeys", with("STRIPE_API_KEY", "rk_live_a,rk_live_b"), nil, "exactly one"},
		{"SinceOver30Days", vars, []string{"--since", "31d"}, "Stripe keeps events for 30 days"},
		{"SinceNegative", vars, []string{"--since", "-1h"}, "must be positive"},
		{"TypesWildcardAmongSeveral", vars, []string{"--types", "invoice.*,charge.succeeded"}, "wildcard"},
		{"BadAPIBase", vars, []string{"--stripe-api-base", "ftp://x"}, "http or https"},
		{"NoDatabase", with("HOOKBOX_DB", "sqlite:"+filepath.Join(t.TempDir(), "typo.db")), nil, "no database at"},
		{"WrongKey", with("STRIPE_API_KEY", wrongKey), nil, "stripe refused the API key (401): check STRIPE_API_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, out, errb := testEnv(tc.vars)
			err := runReconcile(context.Background(), env, tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			for _, k := range []string{reconcileKey, wrongKey, "51WrongKey"} {
				if strings.Contains(err.Error()+out.String()+errb.String(), k) {
					t.Fatalf("key printed:\nerr: %v\nstdout: %s\nstderr: %s", err, out, errb)
				}
			}
		})
	}
	if got := storedSources(t, path); got[hookbox.SourceReconcile] != 0 {
		t.Fatalf("stored: %v", got)
	}
}

// Ensures serve's reconcile flags are off by default, need a key when on,
// refuse a window past Stripe's 30 days, and carry key, window and API base.
func TestReconcileServe(t *testing.T) {
	vars, path, _ := reconcileSetup(t)
	parse := func(vars map[string]string, args ...string) (*receiver.ReconcileOptions, error) {
		env, _, _ := testEnv(vars)
		fs := flag.NewFlagSet("hookbox serve", flag.ContinueOnError)
		fs.SetOutput(env.Stderr)
		ef := &envFlags{fs: fs, getenv: env.Getenv}
		finish := addReconcileServeFlags(ef, ef.str("stripe-api-base", "HOOKBOX_STRIPE_API_BASE", "", "Stripe API base URL"))
		if err := ef.parse(args); err != nil {
			return nil, err
		}
		c, err := finish()
		return c, err
	}
	if c, err := parse(map[string]string{}); err != nil || c != nil {
		t.Fatalf("default: %+v, %v", c, err)
	}
	if _, err := parse(map[string]string{}, "--reconcile-every", "15m"); err == nil || !strings.Contains(err.Error(), "STRIPE_API_KEY") {
		t.Fatalf("on without a key: %v", err)
	}
	if _, err := parse(vars, "--reconcile-every", "15m", "--reconcile-since", "40d"); err == nil || !strings.Contains(err.Error(), "30 days") {
		t.Fatalf("since 40d: %v", err)
	}
	c, err := parse(vars, "--reconcile-every", "1h", "--reconcile-since", "1d")
	if err != nil || c.Key != reconcileKey || c.Since != 24*time.Hour || c.APIBase != vars["HOOKBOX_STRIPE_API_BASE"] {
		t.Fatalf("config: %+v, %v", c, err)
	}

	// The periodic run itself, through serve: TestServe_PeriodicReconcile.
	_ = path
}

// TestFirstReconcileSince ensures the first periodic reconcile after a
// start reaches back to an hour before the last event the store received
// when that is older than --reconcile-since (hookbox was down longer than
// Stripe retries), up to Stripe's 30 days, and keeps --reconcile-since
// otherwise.
func TestFirstReconcileSince(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "hookbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	logger := slog.New(slog.DiscardHandler)
	if got := receiver.FirstReconcileSince(72*time.Hour, s, time.Now(), logger); got != 72*time.Hour {
		t.Fatalf("empty store: %v", got)
	}
	insert := func(id string, at time.Time) {
		ev := storetest.NewEvent(id, "invoice.paid", at)
		ev.ReceivedAt = at
		if _, err := s.InsertEvents(context.Background(), []*hookbox.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	insert("evt_5_days_ago", time.Now().Add(-5*24*time.Hour))
	if got := receiver.FirstReconcileSince(72*time.Hour, s, time.Now(), logger); got < 5*24*time.Hour+time.Hour-time.Minute || got > 5*24*time.Hour+time.Hour+time.Minute {
		t.Fatalf("last event 5 days ago: %v, want about 5d1h", got)
	}
	insert("evt_just_now", time.Now())
	if got := receiver.FirstReconcileSince(72*time.Hour, s, time.Now(), logger); got != 72*time.Hour {
		t.Fatalf("last event just now: %v", got)
	}
}
