package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookbox/hookbox/stripesig"
)

// pgCluster is a throwaway PostgreSQL cluster of the test's own, so that a
// test can stop and start a server without touching the shared one. It is
// a small copy of the postgres package's test helper (test code is not
// shared across packages).
type pgCluster struct {
	bin  string // directory of initdb and pg_ctl
	dir  string // holds data/, the log and the socket
	port int
	as   string // run the binaries as this user ("" for the current one)
}

// newPGCluster initializes and starts a cluster on a free port, and removes
// it when t ends. Without initdb it skips t, loudly, or fails it under CI.
func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(bins) // newest major version last (good enough for two digits)
	var initdb string
	if len(bins) > 0 {
		initdb = bins[len(bins)-1]
	} else if p, err := exec.LookPath("initdb"); err == nil {
		initdb = p
	} else if os.Getenv("CI") != "" {
		t.Fatal("no initdb under /usr/lib/postgresql/*/bin or in PATH, and CI is set")
	} else {
		t.Skipf("\n!!! SKIPPING %s: no initdb under /usr/lib/postgresql/*/bin or in PATH !!!", t.Name())
	}
	c := &pgCluster{bin: filepath.Dir(initdb)}
	// Not t.TempDir: its parent is private to the current user, and the
	// cluster may have to run as another.
	dir, err := os.MkdirTemp("", "hookbox-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 { // initdb and postgres refuse to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("\n!!! SKIPPING %s: running as root and no postgres user to run the cluster as !!!", t.Name())
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.as = "postgres"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	c.run(t, "initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	c.start(t)
	t.Cleanup(func() { c.pgctl("-m", "immediate", "-w", "stop") })
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

func (c *pgCluster) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", c.port)
}

func (c *pgCluster) start(t *testing.T) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-w", "-t", "30", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c shared_buffers=16MB -c max_connections=40", c.port, c.dir),
		"start")
}

// crash stops the server at once, as a power cut would from the client's
// side: no checkpoint, connections cut.
func (c *pgCluster) crash(t *testing.T) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
}

func (c *pgCluster) pgctl(args ...string) ([]byte, error) {
	return c.exec("pg_ctl", append([]string{"-D", c.data()}, args...)...)
}

func (c *pgCluster) run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := c.exec(name, args...); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		t.Fatalf("%s %v: %v\n%s\nserver log:\n%s", name, args, err, out, log)
	}
}

func (c *pgCluster) exec(name string, args ...string) ([]byte, error) {
	bin := filepath.Join(c.bin, name)
	cmd := exec.Command(bin, args...)
	if c.as != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.as, "--", bin}, args...)...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

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
	c := newPGCluster(t)
	bin := mustBuild(t)
	a := newApp(t, 0)
	p := startServe(t, bin, []string{
		"HOOKBOX_DB=" + c.dsn(), "STRIPE_WEBHOOK_SECRET=" + testSecret1,
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

	c.crash(t)
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
	c.start(t)
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
	stored := storedIDs(t, c.dsn())
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
