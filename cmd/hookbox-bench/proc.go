package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a receiver process (hookbox serve, or the bare handler) with its
// output in a log file.
type proc struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan error // receives Wait's result once
	stopped bool
}

// startProc starts cmd with its output in logPath.
func startProc(cmd *exec.Cmd, logPath string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(cmd.Path), err)
	}
	p := &proc{cmd: cmd, logPath: logPath, exited: make(chan error, 1)}
	go func() {
		p.exited <- cmd.Wait()
		logf.Close()
	}()
	return p, nil
}

// waitReady polls the process's readiness URL; on failure it kills the
// process and returns the error with the tail of its log.
func (p *proc) waitReady(ctx context.Context, url string) error {
	if err := waitReady(ctx, url, p.exited); err != nil {
		// It may have exited (waitReady then took the exit status) or hang:
		// kill it, without waiting on a status that may be gone already.
		p.stopped = true
		p.cmd.Process.Kill()
		return fmt.Errorf("%w\n%s", err, tail(p.logPath))
	}
	return nil
}

// stop sends SIGTERM and waits for the exit, killing the process after
// 40 s (beyond hookbox's 25 s grace). It returns the process's CPU time
// (user+system, start to exit). Calling it again does nothing.
func (p *proc) stop() (time.Duration, error) {
	if p.stopped {
		return 0, nil
	}
	p.stopped = true
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime(), err
	case <-time.After(40 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		return 0, errors.New("did not stop within 40s of SIGTERM; killed")
	}
}

// cpu returns the CPU time (user+system) the running process has used so
// far, from /proc; 0 where there is no /proc.
func (p *proc) cpu() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count from after it.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0
	}
	// Clock ticks of USER_HZ, 100 on every Linux architecture Go runs on.
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// buildHookbox builds hookbox into dir and returns the binary's path.
func buildHookbox(ctx context.Context, dir string, stderr io.Writer) (string, error) {
	bin := filepath.Join(dir, "hookbox")
	fmt.Fprintf(stderr, "building hookbox...\n")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/hookbox/hookbox/cmd/hookbox")
	build.Stdout, build.Stderr = stderr, stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("go build hookbox (run from the module, or pass --hookbox PATH): %w", err)
	}
	return bin, nil
}

// serveCmd is "hookbox serve" on db, listening on listen and admin, with
// the bench's clean environment followed by each of envs in turn. The
// per-client connection bound is off: every load connection comes from
// this host's one address (the total bound stays).
func serveCmd(hookbox, db, listen, admin string, envs ...[]string) *exec.Cmd {
	cmd := exec.Command(hookbox, "serve")
	cmd.Env = append(cleanEnv(),
		"HOOKBOX_DB="+db,
		"HOOKBOX_LISTEN="+listen,
		"HOOKBOX_ADMIN_LISTEN="+admin,
		"STRIPE_WEBHOOK_SECRET="+benchSecret,
		"HOOKBOX_MAX_CONNS_PER_CLIENT=0",
	)
	for _, env := range envs {
		cmd.Env = append(cmd.Env, env...)
	}
	return cmd
}

// send runs "hookbox send --json" with count requests, concurrency in
// flight, to url, and returns its summary and what it wrote to stderr.
func send(ctx context.Context, hookbox string, concurrency, count int, url string) (summary, string, error) {
	var sum summary
	cmd := exec.CommandContext(ctx, hookbox, "send",
		"--concurrency", strconv.Itoa(concurrency), "--count", strconv.Itoa(count),
		"--json", "--quiet", "--allow-errors", url)
	cmd.Env = append(cleanEnv(), "STRIPE_WEBHOOK_SECRET="+benchSecret)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return sum, errb.String(), fmt.Errorf("hookbox send: %w\n%s", err, errb.String())
	}
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		return sum, errb.String(), fmt.Errorf("hookbox send printed no JSON summary: %w\n%s", err, out.String())
	}
	return sum, errb.String(), nil
}
