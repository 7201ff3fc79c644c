package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/stripesig"
)

// longReplicas runs the replica tests at the full size.
var longReplicas = flag.Bool("hookbox.long", false, "run the replica tests with 20,000 events (also HOOKBOX_LONG=1)")

// replicaEvents is how many distinct events the replica tests send:
// HOOKBOX_REPLICA_EVENTS when set; else the 20,000 with
// -hookbox.long or HOOKBOX_LONG=1, 4,000 otherwise. At 20,000, with -race
// on a 2-core machine, each test takes 25-35 s (ingest runs at 700-1,100
// requests/s over the three replicas; 50-70 s for the two), more than the
// default run of the package should spend on them; at 4,000, 7-12 s.
func replicaEvents(t *testing.T) int {
	t.Helper()
	s := os.Getenv("HOOKBOX_REPLICA_EVENTS")
	if s == "" {
		if *longReplicas || os.Getenv("HOOKBOX_LONG") == "1" {
			return 20_000
		}
		return 4_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 30 {
		t.Fatalf("HOOKBOX_REPLICA_EVENTS=%q: want a number of at least 30", s)
	}
	return n
}

// replicaSenders is how many webhooks are in flight at once, over all
// replicas.
const replicaSenders = 32

// replicaRun is n events sent to three "hookbox serve" processes on one
// PostgreSQL schema, forwarding to one destination. Event i goes first to
// replica i%3 (round-robin); every fifth event is sent a second time, to
// one of the two other replicas, anywhere from at once (racing the
// original) to 45 events later.
type replicaRun struct {
	n     int
	dsn   string
	app   *app
	procs []*proc
	dead  [3]atomic.Bool

	acks   []atomic.Int32 // 200 answers per event
	firsts []atomic.Int32 // 200 answers that were not "duplicate"
	failed atomic.Int64   // requests not answered 200 (each retried)
	sent   atomic.Int64   // requests answered 200
	stop   atomic.Bool    // senders skip the remaining jobs
}

// startReplicas starts three replicas on a fresh schema with env added to
// each one's environment. The destination takes slow to answer each
// request: a slow app keeps deliveries in flight.
func startReplicas(t *testing.T, n int, slow time.Duration, env ...string) *replicaRun {
	t.Helper()
	if testing.Short() {
		t.Skip("starts three hookbox processes and sends thousands of webhooks")
	}
	r := &replicaRun{n: n, dsn: pgtest.SchemaDSN(t), app: newApp(t, 0),
		acks: make([]atomic.Int32, n), firsts: make([]atomic.Int32, n)}
	dest := r.app.srv
	if slow > 0 {
		dest = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			time.Sleep(slow)
			r.app.serve(w, req)
		}))
		t.Cleanup(dest.Close)
	}
	bin := mustBuild(t)
	env = append([]string{"HOOKBOX_DB=" + r.dsn, "STRIPE_WEBHOOK_SECRET=" + testSecret1,
		"HOOKBOX_FORWARD_TO=" + dest.URL, "HOOKBOX_FORWARD_SECRET=" + forwardSecret}, env...)
	for range 3 {
		r.procs = append(r.procs, startServe(t, bin, env))
	}
	return r
}

func replicaEventID(i int) string { return fmt.Sprintf("evt_replica_%06d", i) }

type replicaJob struct {
	i   int
	dup bool
}

// jobs returns the requests in sending order.
func (r *replicaRun) jobs() []replicaJob {
	dupAfter := make(map[int][]int) // original index -> duplicates to send after it
	for j := 0; j < r.n; j += 5 {
		at := min(j+5*((j/5)%10), r.n-1)
		dupAfter[at] = append(dupAfter[at], j)
	}
	jobs := make([]replicaJob, 0, r.n+r.n/5+1)
	for i := range r.n {
		jobs = append(jobs, replicaJob{i: i})
		for _, j := range dupAfter[i] {
			jobs = append(jobs, replicaJob{i: j, dup: true})
		}
	}
	return jobs
}

// send runs jobs from replicaSenders goroutines and returns when all are
// answered 200. A request that gets no 200 (its replica was killed) is
// retried on another live replica, as Stripe would retry it.
func (r *replicaRun) send(t *testing.T, jobs []replicaJob) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: replicaSenders}}
	defer client.CloseIdleConnections()
	ch := make(chan replicaJob)
	var wg sync.WaitGroup
	for range replicaSenders {
		wg.Go(func() {
			for job := range ch {
				if !r.stop.Load() {
					r.sendOne(t, client, job)
				}
			}
		})
	}
	for _, job := range jobs {
		ch <- job
	}
	close(ch)
	wg.Wait()
}

func (r *replicaRun) sendOne(t *testing.T, client *http.Client, job replicaJob) {
	original := job.i % 3
	target, avoid := original, -1
	if job.dup {
		target, avoid = (original+1+(job.i/5)%2)%3, original
	}
	id := replicaEventID(job.i)
	body := e2eEvent(id, "invoice.paid")
	for attempt := range 10 {
		target = r.live(target, avoid)
		req, _ := http.NewRequest("POST", "http://"+r.procs[target].public+"/webhooks/stripe", bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), testSecret1))
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				r.sent.Add(1)
				r.acks[job.i].Add(1)
				if !strings.Contains(string(b), `"duplicate":true`) {
					r.firsts[job.i].Add(1)
				}
				return
			}
		}
		r.failed.Add(1)
		time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond)
		target = (target + 1) % 3
	}
	t.Errorf("%s: no 200 in 10 attempts", id)
}

// live returns target if that replica is alive, else the next live one
// other than avoid, else any live one.
func (r *replicaRun) live(target, avoid int) int {
	for k := range 3 {
		if c := (target + k) % 3; !r.dead[c].Load() && c != avoid {
			return c
		}
	}
	for k := range 3 {
		if c := (target + k) % 3; !r.dead[c].Load() {
			return c
		}
	}
	return target
}

// kill SIGKILLs replica i while it holds claims, and returns how many:
// it stops the process (SIGSTOP), so that its claims cannot change, and
// counts them; with none, it lets it run a little longer and tries again.
// Senders skip the replica from the first try on.
func (r *replicaRun) kill(t *testing.T, i int) (orphans int) {
	t.Helper()
	r.dead[i].Store(true)
	p := r.procs[i].cmd.Process
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := p.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		orphans = r.orphans(t, p.Pid)
		if orphans > 0 || time.Now().After(deadline) {
			break
		}
		if err := p.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // let its worker claim again
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.procs[i].exited
	if orphans == 0 {
		t.Fatal("the replica held no claim for 10 s: the test cannot exercise lease expiry")
	}
	return orphans
}

// orphans counts the events under a live lease of the process pid (a
// worker's default owner is hostname-pid-random).
func (r *replicaRun) orphans(t *testing.T, pid int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, r.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM events WHERE state = 'delivering' AND lease_until > now() AND lease_owner LIKE $1`,
		fmt.Sprintf("%%-%d-%%", pid)).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkStored asserts every event is stored exactly once and nothing
// else is, then waits until all are marked delivered.
func (r *replicaRun) checkStored(t *testing.T, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within+30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, r.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rows, distinct int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM events`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != r.n || distinct != r.n {
		t.Fatalf("events table: %d rows, %d distinct ids; want %d of each", rows, distinct, r.n)
	}
	var unknown int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM events WHERE id NOT LIKE 'evt\_replica\_%'`).Scan(&unknown); err != nil || unknown != 0 {
		t.Fatalf("events that were never sent: %d (%v)", unknown, err)
	}
	var delivered int
	waitFor(t, "every event marked delivered", within, func() bool {
		err := conn.QueryRow(ctx, `SELECT count(*) FROM events WHERE state = 'delivered'`).Scan(&delivered)
		return err == nil && delivered == r.n
	})
}

// deliveries waits until the destination has every event and returns how
// many it received more than once, failing t on an id it never sent.
func (r *replicaRun) deliveries(t *testing.T, within time.Duration) (redelivered int) {
	t.Helper()
	waitFor(t, "every event at the destination", within, func() bool {
		r.app.mu.Lock()
		defer r.app.mu.Unlock()
		return len(r.app.delivered) >= r.n
	})
	r.app.mu.Lock()
	defer r.app.mu.Unlock()
	for i := range r.n {
		if r.app.delivered[replicaEventID(i)] == 0 {
			t.Fatalf("%s never delivered", replicaEventID(i))
		}
	}
	if len(r.app.delivered) != r.n {
		t.Fatalf("the destination received %d distinct events; %d were sent", len(r.app.delivered), r.n)
	}
	for _, c := range r.app.delivered {
		redelivered += c - 1
	}
	return redelivered
}

// TestReplicas_Postgres ensures three replicas on one database deliver
// exactly once in normal operation: n events (default 20,000) sent
// concurrently, round-robin, with a fifth of them sent again to another
// replica than their original, racing it or after it, are each answered
// 200 once as new and once as a duplicate, stored once, and delivered to
// the destination exactly once, without a failed attempt.
func TestReplicas_Postgres(t *testing.T) {
	r := startReplicas(t, replicaEvents(t), 0)
	jobs := r.jobs()
	began := time.Now()
	r.send(t, jobs)
	ingested := time.Since(began)
	if f := r.failed.Load(); f > 0 {
		t.Fatalf("%d requests not answered 200 with every replica up", f)
	}
	for i := range r.n {
		want := int32(1)
		if i%5 == 0 {
			want = 2
		}
		if a, f := r.acks[i].Load(), r.firsts[i].Load(); a != want || f != 1 {
			t.Fatalf("%s: %d answers 200, %d of them not duplicate; want %d and 1", replicaEventID(i), a, f, want)
		}
	}
	r.checkStored(t, 120*time.Second)
	if re := r.deliveries(t, 10*time.Second); re > 0 {
		t.Fatalf("%d redeliveries with every replica up; want exactly once", re)
	}
	r.app.check(t)
	for i := range r.n {
		if seen, _ := r.app.counts(replicaEventID(i)); seen != 1 {
			t.Fatalf("%s: %d requests at the destination, want 1", replicaEventID(i), seen)
		}
	}
	t.Logf("%d events (%d requests) over 3 replicas: ingested in %v (%.0f/s), all stored once and delivered exactly once %v after the first request",
		r.n, len(jobs), ingested.Round(time.Millisecond), float64(len(jobs))/ingested.Seconds(), time.Since(began).Round(time.Millisecond))
}

// TestReplicas_PostgresKillOne ensures nothing is lost when one of three
// replicas is SIGKILLed mid-run: the senders skip it from then on and
// retry its unanswered requests on the others; every event is stored once
// and delivered at least once, including those the dead replica had
// claimed, which the others take over when their 3 s lease expires.
func TestReplicas_PostgresKillOne(t *testing.T) {
	r := startReplicas(t, replicaEvents(t), 50*time.Millisecond, "HOOKBOX_DELIVERY_LEASE=3s", "HOOKBOX_FORWARD_TIMEOUT=1s")
	jobs := r.jobs()
	began := time.Now()
	sent := make(chan struct{})
	go func() { defer close(sent); r.send(t, jobs) }()
	defer func() { r.stop.Store(true); <-sent }() // on a failure, before t ends
	waitFor(t, "a third of the requests answered", 120*time.Second, func() bool { return r.sent.Load() >= int64(len(jobs)/3) })
	r.app.mu.Lock()
	deliveredAtKill := len(r.app.delivered)
	r.app.mu.Unlock()
	orphans := r.kill(t, 2)
	killed := time.Since(began)
	<-sent
	ingested := time.Since(began)
	for i := range r.n {
		if r.acks[i].Load() == 0 {
			t.Fatalf("%s never answered 200", replicaEventID(i))
		}
	}
	r.checkStored(t, 120*time.Second)
	redelivered := r.deliveries(t, 10*time.Second)
	r.app.mu.Lock()
	for _, b := range r.app.bad {
		// A delivery repeated after the killed replica's lease restarts
		// Hookbox-Attempt; anything else is wrong.
		if !strings.Contains(b, "Hookbox-Attempt") {
			t.Errorf("destination saw a bad request: %s", b)
		}
	}
	r.app.mu.Unlock()
	t.Logf("%d events (%d requests) over 3 replicas, replica 2 SIGKILLed at %v (%d delivered by then, %d claims orphaned): %d requests retried elsewhere; ingested in %v, all stored once and delivered %v after the first request, %d redelivered",
		r.n, len(jobs), killed.Round(time.Millisecond), deliveredAtKill, orphans, r.failed.Load(), ingested.Round(time.Millisecond), time.Since(began).Round(time.Millisecond), redelivered)
}
