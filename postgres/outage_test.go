package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/postgres"
	"github.com/hookbox/hookbox/storetest"
	"github.com/jackc/pgx/v5"
)

// Ensures the store rides out a database crash under load: while
// PostgreSQL is down every insert fails quickly with EUNAVAILABLE (never a
// nil error without a commit) and Ping fails; when it is back the store
// reconnects by itself, without reopening, Listen reconnects and wakes;
// and every insert that returned success is in the database.
func TestOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	c := pgtest.StartCluster(t)
	s := mustOpenOn(t, c.DSN(), postgres.Options{Schema: "hookbox", ConnectTimeout: 2 * time.Second})
	l := startListen(t, s)
	l.mustWake(t, "the wake after LISTEN")

	var (
		mu     sync.Mutex
		acked  []string
		ok     atomic.Int64 // batches committed
		failed atomic.Int64 // batches refused with EUNAVAILABLE
		wrong  = make(chan error, 100)
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				batch := make([]*hookbox.Event, 4)
				for i := range batch {
					batch[i] = storetest.NewEvent(fmt.Sprintf("evt_w%d_%06d_%d", w, n, i), "charge.succeeded", time.Now())
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				res, err := s.InsertEvents(ctx, batch)
				cancel()
				if err != nil {
					if hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
						wrong <- err
						return
					}
					failed.Add(1)
					time.Sleep(10 * time.Millisecond) // throttle the retry loop, as Stripe's retries would
					continue
				}
				mu.Lock()
				for i, r := range res {
					if r.Err != nil || r.Duplicate {
						wrong <- fmt.Errorf("result %d: %+v", i, r)
					}
					acked = append(acked, batch[i].ID)
				}
				mu.Unlock()
				ok.Add(1)
			}
		})
	}
	stopWriters := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	defer stopWriters()

	waitFor := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("after %v: %s", d, what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("50 batches committed before the crash", 15*time.Second, func() bool { return ok.Load() >= 50 })

	c.Crash(t)
	down := time.Now()
	waitFor("an insert refused after the crash", 10*time.Second, func() bool { return failed.Load() > 0 })
	t.Logf("first refusal %v after the crash", time.Since(down))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	start := time.Now()
	err := s.Ping(ctx)
	cancel()
	if hookbox.ErrorCode(err) != hookbox.EUNAVAILABLE {
		t.Fatalf("Ping while down: %v, want EUNAVAILABLE", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Ping took %v to fail", d)
	}
	okDown := ok.Load()
	failedDown := failed.Load()
	waitFor("more refusals while down", 10*time.Second, func() bool { return failed.Load() >= failedDown+20 })

	l.drain()
	c.Start(t)
	up := time.Now()
	waitFor("inserts commit again after the restart", 15*time.Second, func() bool { return ok.Load() >= okDown+50 })
	t.Logf("inserts recovered %v after the restart; %d batches refused while down", time.Since(up), failed.Load())
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping after the restart: %v", err)
	}
	l.mustWake(t, "the wake after Listen reconnected")
	stopWriters()
	close(wrong)
	for err := range wrong {
		t.Error(err)
	}

	conn, err := pgx.Connect(context.Background(), c.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT id FROM hookbox.events`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	stored := make(map[string]bool, len(ids))
	for _, id := range ids {
		stored[id] = true
	}
	var lost int
	for _, id := range acked {
		if !stored[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged events lost", lost, len(acked))
	}
	t.Logf("%d acknowledged events, all stored (%d rows)", len(acked), len(ids))
}
