package main

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/stripesig"
)

// TestServe_StalledStore ensures a store that blocks rather than fails (a
// lock held by another process) turns /readyz to 503 while the event writer
// is stuck, that the webhook waiting behind it is answered 503 at
// --commit-timeout (Stripe retries) instead of hanging, and that both
// recover when the lock goes. On PostgreSQL, Ping answers on another pooled
// connection all along: only the writer tells.
func TestServe_StalledStore(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		vars, db := e2eVars(t)
		testStalledStore(t, vars, func(t *testing.T) func() {
			other, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(db, "sqlite:")+"?_txlock=immediate&_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			lock, err := other.Begin() // SQLite's write lock
			if err != nil {
				t.Fatal(err)
			}
			return func() { lock.Rollback() }
		})
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		vars, _ := e2eVars(t)
		dsn := pgtest.SchemaDSN(t)
		vars["HOOKBOX_DB"] = dsn
		testStalledStore(t, vars, func(t *testing.T) func() {
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close(ctx) })
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "LOCK TABLE events IN SHARE MODE"); err != nil {
				t.Fatal(err)
			}
			return func() { tx.Rollback(ctx) }
		})
	})
}

func testStalledStore(t *testing.T, vars map[string]string, lock func(*testing.T) (unlock func())) {
	m, _ := mustRunMain(t, vars, "--commit-timeout", "6s")
	unlock := lock(t)
	defer unlock()
	url := "http://" + m.PublicAddr() + "/webhooks/stripe"
	body := e2eEvent("evt_stalled", "invoice.paid")
	status := make(chan int, 1)
	go func() {
		s, _ := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1))
		status <- s
	}()
	deadline := time.Now().Add(5 * time.Second)
	for readyz(m.AdminAddr()) != 503 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz stayed 200 while the writer was stuck")
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case s := <-status:
		if s != 503 {
			t.Fatalf("webhook behind a stuck writer: %d, want 503", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("webhook behind a stuck writer not answered")
	}
	unlock()
	// The failed commit keeps /readyz at 503 for a few seconds (a store
	// that fails every commit must leave the load balancer's rotation);
	// then it is ready again.
	deadline = time.Now().Add(10 * time.Second)
	for readyz(m.AdminAddr()) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz stayed 503 after the lock")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s, _ := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1)); s != 200 {
		t.Fatalf("webhook after the lock: %d", s)
	}
}
