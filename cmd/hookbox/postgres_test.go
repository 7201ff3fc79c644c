package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/stripesig"
)

// TestMain_EndToEndPostgres ensures the same contract on PostgreSQL: the
// real Main verifies, stores, deduplicates and forwards, "migrate" applies
// the schema, and the CLI lists, shows and replays from the same database.
func TestMain_EndToEndPostgres(t *testing.T) {
	dsn := pgtest.SchemaDSN(t)
	env, out, _ := testEnv(map[string]string{"HOOKBOX_DB": dsn})
	if err := run(context.Background(), env, []string{"migrate"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "password") {
		t.Fatal(out.String())
	}
	a := newApp(t, 1)
	vars, _ := deliverVars(t, a.srv.URL)
	vars["HOOKBOX_DB"] = dsn
	m, _ := mustRunMain(t, vars)
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"
	for i := 0; i < 20; i++ {
		body := e2eEvent(fmt.Sprintf("evt_pg_%02d", i), "invoice.paid")
		for j := 0; j < 2; j++ { // each sent twice: the second is a duplicate
			status, resp := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1))
			if status != 200 || (j == 1) != strings.Contains(resp, "duplicate") {
				t.Fatalf("%d %s", status, resp)
			}
		}
	}
	waitFor(t, "deliveries", 15*time.Second, func() bool {
		counts, _, err := m.Store().CountEvents(context.Background())
		return err == nil && counts[hookbox.StateDelivered] == 20
	})
	a.check(t)
	env, out, _ = testEnv(map[string]string{"HOOKBOX_DB": dsn})
	if err := run(context.Background(), env, []string{"events", "list", "--json"}); err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out.String()), &list); err != nil || len(list) != 20 {
		t.Fatalf("list: %v %d", err, len(list))
	}
	env, out, _ = testEnv(map[string]string{"HOOKBOX_DB": dsn})
	if err := run(context.Background(), env, []string{"events", "show", "evt_pg_07", "--raw"}); err != nil || out.String() != string(e2eEvent("evt_pg_07", "invoice.paid")) {
		t.Fatalf("show --raw: %v %q", err, out.String())
	}
}
