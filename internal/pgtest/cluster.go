package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// Cluster is a throwaway PostgreSQL cluster of the test's own, so that a
// test can stop and start a server without touching the shared one.
type Cluster struct {
	bin  string // directory of initdb and pg_ctl
	dir  string // holds data/, the log and the socket
	port int
	as   string // run the binaries as this user ("" for the current one)
}

// StartCluster initializes and starts a cluster on a free port, and stops
// and removes it when tb ends. Without initdb, or running as root without a
// postgres user to run the cluster as, it skips tb, loudly, or fails it
// under CI.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(bins) // newest major version last (good enough for two digits)
	var initdb string
	if len(bins) > 0 {
		initdb = bins[len(bins)-1]
	} else if p, err := exec.LookPath("initdb"); err == nil {
		initdb = p
	} else if os.Getenv("CI") != "" {
		tb.Fatal("no initdb under /usr/lib/postgresql/*/bin or in PATH, and CI is set")
	} else {
		tb.Skipf("\n!!! SKIPPING %s: no initdb under /usr/lib/postgresql/*/bin or in PATH !!!", tb.Name())
	}
	c := &Cluster{bin: filepath.Dir(initdb)}
	// Not tb.TempDir: its parent is private to the current user, and the
	// cluster may have to run as another.
	dir, err := os.MkdirTemp("", "hookbox-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	c.dir = dir
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 { // initdb and postgres refuse to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatal("running as root, no postgres user to run the cluster as, and CI is set")
			}
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
	c.Start(tb)
	tb.Cleanup(func() { c.exec("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop") })
	return c
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// DSN returns the DSN of the cluster's postgres database, as its superuser
// postgres. The cluster has no TLS; a connection attempt gives up after
// 2 s, so that a client notices a crashed server quickly.
func (c *Cluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", c.port)
}

// Start starts the server again after Crash, waiting up to 30 s for it to
// accept connections.
func (c *Cluster) Start(tb testing.TB) {
	tb.Helper()
	c.run(tb, "pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-w", "-t", "30", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c shared_buffers=16MB -c max_connections=40", c.port, c.dir),
		"start")
}

// Crash stops the server at once (pg_ctl -m immediate), as a power cut
// would from the client's side: no checkpoint, connections cut.
func (c *Cluster) Crash(tb testing.TB) {
	tb.Helper()
	c.run(tb, "pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
}

// run runs a binary of the cluster's and fails tb, with its output and the
// server log, when it fails.
func (c *Cluster) run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := c.exec(name, args...); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		tb.Fatalf("%s %v: %v\n%s\nserver log:\n%s", name, args, err, out, log)
	}
}

// exec runs a binary of the cluster's, as c.as when set, in c.dir.
func (c *Cluster) exec(name string, args ...string) ([]byte, error) {
	bin := filepath.Join(c.bin, name)
	cmd := exec.Command(bin, args...)
	if c.as != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.as, "--", bin}, args...)...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}
