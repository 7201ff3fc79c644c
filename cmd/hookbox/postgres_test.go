package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/stripesig"
)

// pgSchemaDSN creates a fresh schema on the test server and returns a DSN
// whose search_path is that schema. Skipped (loudly) only when no server
// answers and CI is unset.
func pgSchemaDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv("HOOKBOX_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no PostgreSQL under CI: %v", err)
		}
		t.Skipf("SKIPPED: no PostgreSQL at the test server (%v)", err)
	}
	defer conn.Close(context.Background())
	schema := fmt.Sprintf("hookbox_cmd_%d", rand.Int64())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestMain_EndToEndPostgres ensures the same contract on PostgreSQL: the
// real Main verifies, stores, deduplicates and forwards, "migrate" applies
// the schema, and the CLI lists, shows and replays from the same database.
func TestMain_EndToEndPostgres(t *testing.T) {
	dsn := pgSchemaDSN(t)
	env, out, _ := testEnv(map[string]string{"HOOKBOX_DB": dsn})
	if err := Run(context.Background(), env, []string{"migrate"}); err != nil {
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
		counts, _, err := m.Store.CountEvents(context.Background())
		return err == nil && counts[hookbox.StateDelivered] == 20
	})
	a.check(t)
	env, out, _ = testEnv(map[string]string{"HOOKBOX_DB": dsn})
	if err := Run(context.Background(), env, []string{"events", "list", "--json"}); err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out.String()), &list); err != nil || len(list) != 20 {
		t.Fatalf("list: %v %d", err, len(list))
	}
	env, out, _ = testEnv(map[string]string{"HOOKBOX_DB": dsn})
	if err := Run(context.Background(), env, []string{"events", "show", "evt_pg_07", "--raw"}); err != nil || out.String() != string(e2eEvent("evt_pg_07", "invoice.paid")) {
		t.Fatalf("show --raw: %v %q", err, out.String())
	}
}
