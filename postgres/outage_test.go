package postgres_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/postgres"
	"github.com/hookbox/hookbox/storetest"
	"github.com/jackc/pgx/v5"
)

// cluster is a throwaway PostgreSQL cluster of the test's own, so that the
// test can stop and start a server without touching the shared one.
type cluster struct {
	bin  string // directory of initdb, pg_ctl
	dir  string // owns data/, the log and the socket
	port int
	as   string // run the binaries as this user ("" for the current one)
}

// newCluster initializes and starts a cluster on a free port, and removes
// it when tb ends. It skips tb, loudly, when no initdb is installed.
func newCluster(tb testing.TB) *cluster {
	tb.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(bins) // the newest major version last (single digits aside, good enough)
	var initdb string
	if len(bins) > 0 {
		initdb = bins[len(bins)-1]
	} else if p, err := exec.LookPath("initdb"); err == nil {
		initdb = p
	} else {
		tb.Skipf("\n!!! SKIPPING %s: no initdb under /usr/lib/postgresql/*/bin or in PATH !!!", tb.Name())
	}
	c := &cluster{bin: filepath.Dir(initdb)}

	dir, err := os.MkdirTemp("", "hookbox-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	c.dir = dir
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Skipf("\n!!! SKIPPING %s: running as root and no postgres user to run the cluster as !!!", tb.Name())
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		c.as = "postgres"
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()

	c.run(tb, "initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	c.start(tb)
	tb.Cleanup(func() { c.runErr("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop") })
	return c
}

func (c *cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *cluster) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?connect_timeout=2", c.port)
}

func (c *cluster) start(tb testing.TB) {
	tb.Helper()
	c.run(tb, "pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-w", "-t", "30", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c shared_buffers=16MB -c max_connections=40", c.port, c.dir),
		"start")
}

// crash stops the server at once, as a power cut would from the client's
// side: no checkpoint, connections cut.
func (c *cluster) crash(tb testing.TB) {
	tb.Helper()
	c.run(tb, "pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
}

func (c *cluster) run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := c.runErr(name, args...); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		tb.Fatalf("%s %v: %v\n%s\nserver log:\n%s", name, args, err, out, log)
	}
}

func (c *cluster) runErr(name string, args ...string) ([]byte, error) {
	bin := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.as != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.as, "--", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// Ensures the store rides out a database crash under load: while
// PostgreSQL is down every insert fails quickly with EUNAVAILABLE (never a
// nil error without a commit) and Ping fails; when it is back the store
// reconnects by itself, without reopening, Listen reconnects and wakes;
// and every insert that returned success is in the database.
func TestOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	c := newCluster(t)
	s := mustOpenOn(t, c.dsn(), postgres.Options{Schema: "hookbox", ConnectTimeout: 2 * time.Second})
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

	c.crash(t)
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
	c.start(t)
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

	conn, err := pgx.Connect(context.Background(), c.dsn())
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
