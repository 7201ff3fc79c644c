package amqp_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqpgo "github.com/rabbitmq/amqp091-go"

	"github.com/hookbox/hookbox/broker/brokertest"
)

// rabbitServer is a throwaway RabbitMQ node the test owns: its own node
// name, AMQP and distribution ports, Erlang cookie, config, data and log
// directories, so that stopping it never touches the system RabbitMQ
// (rabbit@localhost on 5672). Stop and Start keep the node name, ports and
// data: durable queues and their persistent messages outlive a restart.
type rabbitServer struct {
	tb   testing.TB
	bin  string
	dir  string
	node string
	port int
	env  []string
	cred *syscall.Credential // the rabbitmq user when the test runs as root

	cmd      *exec.Cmd     // the running rabbitmq-server script; nil when stopped
	done     chan struct{} // closed once cmd has been waited for
	watchdog *exec.Cmd     // kills cmd's process group if the test process dies
	dogPipe  io.Closer
}

// rabbitServerBinary returns the rabbitmq-server script to run in the
// foreground. Debian's /usr/sbin/rabbitmq-server re-runs itself through
// su, in a session of its own that the test could not kill as a group, so
// the script it wraps comes first.
func rabbitServerBinary() (string, error) {
	const debian = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	return exec.LookPath("rabbitmq-server")
}

// startRabbitServer boots a throwaway RabbitMQ node on free ports and
// waits until it accepts AMQP connections (guest/guest). The node's
// process group is killed and its directory removed when the test ends,
// whatever the outcome; a watchdog process kills the group if the test
// process dies first (a go test timeout, ^C). Without rabbitmq-server the
// test is skipped, loudly, outside CI, and fails under CI.
func startRabbitServer(tb testing.TB) *rabbitServer {
	tb.Helper()
	bin, err := rabbitServerBinary()
	if err != nil {
		brokertest.Unavailable(tb, "no rabbitmq-server to start a throwaway broker (%v): the RabbitMQ restart is NOT tested", err)
	}

	dir, err := os.MkdirTemp("", "hb-rabbit-")
	if err != nil {
		tb.Fatal(err)
	}
	r := &rabbitServer{tb: tb, bin: bin, dir: dir, node: unique("hb-test") + "@localhost"}
	tb.Cleanup(r.cleanup)

	// As root, run the node as the rabbitmq user, as the system service
	// does, in a directory it owns.
	if os.Geteuid() == 0 {
		if u, err := user.Lookup("rabbitmq"); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			r.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
			if err := os.Chown(dir, uid, gid); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	r.port = brokertest.FreePort(tb)
	dist := brokertest.FreePort(tb)
	// The config file replaces /etc/rabbitmq/rabbitmq.conf (whose listener
	// is the system broker's 5672); no plugins; no rabbitmq-env.conf (whose
	// NODENAME is the system node's).
	files := map[string]string{
		"rabbitmq.conf":   fmt.Sprintf("listeners.tcp.1 = 127.0.0.1:%d\n", r.port),
		"enabled_plugins": "[].\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	r.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"LC_ALL=C.UTF-8",
		"HOME=" + dir, // its own Erlang cookie, so it cannot reach the system node
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_CRASH_DUMP=" + filepath.Join(dir, "erl_crash.dump"),
		"RABBITMQ_NODENAME=" + r.node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT=" + strconv.Itoa(r.port),
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(dist),
		"RABBITMQ_CONF_ENV_FILE=" + filepath.Join(dir, "rabbitmq-env.conf"), // absent
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + filepath.Join(dir, "advanced.config"), // absent
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_FEATURE_FLAGS_FILE=" + filepath.Join(dir, "feature_flags"),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE=" + filepath.Join(dir, "rabbitmq.pid"),
	}
	r.Start()
	return r
}

// URL is the node's AMQP URL (guest/guest, the default vhost).
func (r *rabbitServer) URL() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", r.port) }

// Addr is the node's AMQP host:port.
func (r *rabbitServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// Start runs rabbitmq-server in the foreground, in a process group of its
// own, and waits until the node accepts AMQP connections.
func (r *rabbitServer) Start() {
	r.tb.Helper()
	out, err := os.OpenFile(filepath.Join(r.dir, "server.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.tb.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(r.bin)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = r.dir, r.env, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: r.cred}
	if err := cmd.Start(); err != nil {
		r.tb.Fatalf("start rabbitmq-server: %v", err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(r.done)

	// The watchdog waits for EOF on its stdin, which comes when the test
	// process exits without cleaning up, and then kills the node's group
	// and removes its directory.
	dog := exec.Command("/bin/sh", "-c", `cat >/dev/null; kill -9 "-$1"; rm -rf "$2"`,
		"watchdog", strconv.Itoa(cmd.Process.Pid), r.dir)
	dog.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pipe, err := dog.StdinPipe()
	if err == nil {
		err = dog.Start()
	}
	if err != nil {
		r.tb.Fatalf("start watchdog: %v", err)
	}
	r.watchdog, r.dogPipe = dog, pipe

	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := amqpgo.DialConfig(r.URL(), amqpgo.Config{Dial: amqpgo.DefaultDial(time.Second)})
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-r.done:
			r.tb.Fatalf("rabbitmq-server exited while booting (%v):\n%s", cmd.ProcessState, r.tail())
		default:
		}
		if time.Now().After(deadline) {
			r.tb.Fatalf("rabbitmq-server not answering on %s after 60 s (%v):\n%s", r.Addr(), err, r.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the node the way its service does: SIGTERM to the script,
// which stops the Erlang VM properly (queues flushed, listeners closed)
// and exits once it has.
func (r *rabbitServer) Stop() {
	r.tb.Helper()
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		r.tb.Errorf("rabbitmq-server still running 30 s after SIGTERM; killing it:\n%s", r.tail())
		r.kill()
	}
	r.stopWatchdog()
	r.cmd = nil
}

// kill kills the node's whole process group and waits for the script.
func (r *rabbitServer) kill() {
	if r.cmd == nil {
		return
	}
	// The group is still alive (the script has not been waited for, or its
	// children outlive it), so its id cannot have been reused.
	select {
	case <-r.done:
	default:
		syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
	r.stopWatchdog()
	r.cmd = nil
}

// stopWatchdog ends the watchdog without letting it fire.
func (r *rabbitServer) stopWatchdog() {
	if r.watchdog == nil {
		return
	}
	syscall.Kill(-r.watchdog.Process.Pid, syscall.SIGKILL)
	r.dogPipe.Close()
	r.watchdog.Wait()
	r.watchdog = nil
}

// cleanup kills the node if it runs and removes its directory.
func (r *rabbitServer) cleanup() {
	if r.tb.Failed() && r.cmd != nil {
		r.tb.Logf("throwaway rabbitmq-server %s:\n%s", r.node, r.tail())
	}
	r.kill()
	if err := os.RemoveAll(r.dir); err != nil {
		r.tb.Errorf("remove %s: %v", r.dir, err)
	}
}

// tail returns the end of the node's console output and log.
func (r *rabbitServer) tail() string {
	var b strings.Builder
	for _, name := range []string{"server.out", filepath.Join("log", r.node+".log")} {
		data, err := os.ReadFile(filepath.Join(r.dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s:\n%s\n", name, data)
	}
	return b.String()
}
