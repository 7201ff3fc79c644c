package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/stripesig"
)

// storedIDs returns the ids in the events table that dsn's search_path
// reaches.
func storedIDs(t *testing.T, dsn string) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT id FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set
}

// readyz returns the status of GET /readyz on an admin address, 0 when it
// does not answer.
func readyz(admin string) int {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + admin + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServe_PostgresOutage ensures the real binary rides out a PostgreSQL
// crash under load, on a throwaway cluster of its own: while the database
// is down every webhook is answered 503 (never 200) and /readyz is 503;
// when it is back, /readyz and ingest return to 200 by themselves, without
// a restart of hookbox; and every event answered 200 is stored and
// delivered at least once (a delivery whose completion the crash cut off
// is repeated after its lease).
func TestServe_PostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster and the real binary")
	}
	c := pgtest.StartCluster(t)
	bin := mustBuild(t)
	a := newApp(t, 0)
	p := startServe(t, bin, []string{
		"HOOKBOX_DB=" + c.DSN(), "STRIPE_WEBHOOK_SECRET=" + testSecret1,
		"HOOKBOX_FORWARD_TO=" + a.srv.URL, "HOOKBOX_FORWARD_SECRET=" + forwardSecret,
		"HOOKBOX_FORWARD_TIMEOUT=1s", "HOOKBOX_DELIVERY_LEASE=3s", "HOOKBOX_RETRY_BASE=50ms",
	})
	url := "http://" + p.public + "/webhooks/stripe"

	type result struct {
		id         string
		status     int // 0: no answer
		start, end time.Time
	}
	var (
		mu      sync.Mutex
		results []result
		acked   atomic.Int64
		stop    atomic.Bool
		wg      sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for g := range 4 {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				id := fmt.Sprintf("evt_outage_%d_%06d", g, n)
				body := e2eEvent(id, "invoice.paid")
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), testSecret1))
				r := result{id: id, start: time.Now()}
				if resp, err := client.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					r.status = resp.StatusCode
				}
				r.end = time.Now()
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				if r.status == 200 {
					acked.Add(1)
				} else {
					time.Sleep(10 * time.Millisecond) // as Stripe's retries would, slower
				}
			}
		})
	}
	stopSenders := func() { stop.Store(true); wg.Wait() }
	defer stopSenders()
	// count returns how many results started and ended within [from, to)
	// and how many of those have the status.
	count := func(from, to time.Time, status int) (all, with int) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range results {
			if !r.start.Before(from) && r.end.Before(to) {
				all++
				if r.status == status {
					with++
				}
			}
		}
		return all, with
	}
	began := time.Now()
	waitFor(t, "300 events answered 200 before the crash", 15*time.Second, func() bool { return acked.Load() >= 300 })

	c.Crash(t)
	down := time.Now()
	waitFor(t, "/readyz 503 while the database is down", 5*time.Second, func() bool { return readyz(p.admin) == 503 })
	t.Logf("/readyz 503 %v after the crash", time.Since(down))
	// An outage of 2 s at least: idle connections age past pgxpool's ping
	// threshold and the delivery worker backs off; /readyz stays 503.
	waitFor(t, "2 s and 100 webhooks answered while the database is down", 15*time.Second, func() bool {
		if st := readyz(p.admin); st != 503 {
			t.Fatalf("/readyz while down: %d, want 503", st)
		}
		all, _ := count(down, time.Now(), 0)
		return all >= 100 && time.Since(down) >= 2*time.Second
	})
	ackedDown := acked.Load()

	up := time.Now()
	c.Start(t)
	restarted := time.Now()
	all, with503 := count(down, up, 503)
	if with503 != all {
		t.Fatalf("%d of %d webhooks sent while the database was down were not answered 503", all-with503, all)
	}
	t.Logf("database down for %v: %d webhooks answered 503", up.Sub(down), all)
	waitFor(t, "/readyz 200 after the restart", 20*time.Second, func() bool { return readyz(p.admin) == 200 })
	t.Logf("/readyz 200 %v after pg_ctl start returned", time.Since(restarted))
	waitFor(t, "ingest 200 again after the restart", 20*time.Second, func() bool {
		_, ok := count(restarted, time.Now().Add(time.Hour), 200)
		return ok > 0
	})
	t.Logf("ingest 200 %v after pg_ctl start returned", time.Since(restarted))
	waitFor(t, "200 more events answered 200", 15*time.Second, func() bool { return acked.Load() >= ackedDown+200 })
	stopSenders()

	select {
	case <-p.exited:
		t.Fatalf("hookbox exited:\n%s", p.stderr.String())
	default:
	}
	var ackedIDs []string
	statuses := map[int]int{}
	for _, r := range results {
		statuses[r.status]++
		if r.status == 200 {
			ackedIDs = append(ackedIDs, r.id)
		}
	}
	for st := range statuses {
		if st != 200 && st != 503 {
			t.Errorf("answers by status: %v; want only 200 and 503", statuses)
			break
		}
	}
	stored := storedIDs(t, c.DSN())
	lost := 0
	for _, id := range ackedIDs {
		if !stored[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d events answered 200 are not stored", lost, len(ackedIDs))
	}
	waitFor(t, "every event answered 200 delivered", 30*time.Second, func() bool {
		for _, id := range ackedIDs {
			if _, d := a.counts(id); d == 0 {
				return false
			}
		}
		return true
	})
	redelivered := 0
	a.mu.Lock()
	for _, n := range a.delivered {
		redelivered += n - 1
	}
	for _, b := range a.bad {
		// A delivery repeated after its completion was lost restarts
		// Hookbox-Attempt; anything else is wrong.
		if !strings.Contains(b, "Hookbox-Attempt") {
			t.Errorf("destination saw a bad request: %s", b)
		}
	}
	a.mu.Unlock()
	t.Logf("answers %v; %d events answered 200, all stored (%d rows) and delivered (%d redelivered); %v in all",
		statuses, len(ackedIDs), len(stored), redelivered, time.Since(began))
}
