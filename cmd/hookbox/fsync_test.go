package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookbox/hookbox/stripesig"
)

// TestServe_AnswersAfterFsync ensures "a 2xx means the event is on disk" on
// SQLite by watching the system calls of the real binary (strace): every
// 200 that serve writes to a webhook connection comes after an fsync (or
// fdatasync) of the WAL that ended after the event was written to the WAL.
// A crash test cannot see this (a SIGKILL does not lose the page cache), so
// synchronous=OFF or NORMAL, or an answer sent before the commit's sync,
// passes every other test.
func TestServe_AnswersAfterFsync(t *testing.T) {
	if testing.Short() {
		t.Skip("traces the real binary")
	}
	strace := straceBin(t)
	bin := mustBuild(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "fsync.db")
	tracePath := filepath.Join(dir, "strace.out")
	cmd := exec.Command(strace, "-f", "-ttt", "-yy", "-s", "8192", "-o", tracePath,
		"-e", "trace=fsync,fdatasync,read,recvfrom,write,writev,pwrite64,pwritev,sendto,sendmsg",
		"--", bin, "serve")
	p := startServeCmd(t, cmd, []string{"HOOKBOX_DB=sqlite:" + dbPath, "STRIPE_WEBHOOK_SECRET=" + testSecret1})
	hookbox := traceePID(t, cmd.Process.Pid)
	t.Cleanup(func() { syscall.Kill(hookbox, syscall.SIGKILL) }) // before startServeCmd's cleanup

	// Concurrent senders, so that the group commit stores several events
	// per transaction.
	const n, senders = 48, 8
	url := "http://" + p.public + "/webhooks/stripe"
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += senders {
				body := e2eEvent(fmt.Sprintf("evt_fsync_%04d", i), "invoice.paid")
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), testSecret1))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("event %d: status %d", i, resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := syscall.Kill(hookbox, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited: // strace ends with its tracee, its output complete
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}

	f, err := os.Open(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	calls, err := parseStrace(f)
	if err != nil {
		t.Fatal(err)
	}
	checked, syncs, problems := checkAnswersAfterSync(calls, "TCP:["+p.public+"->", dbPath+"-wal>")
	for _, p := range problems {
		t.Error(p)
	}
	if checked != n {
		t.Errorf("found %d answers 200 to webhooks in the trace, want %d", checked, n)
	}
	if t.Failed() {
		if dir := os.Getenv("HOOKBOX_ARTIFACTS"); dir != "" {
			if b, err := os.ReadFile(tracePath); err == nil && os.WriteFile(filepath.Join(dir, "strace-fsync.out"), b, 0o644) == nil {
				t.Logf("the trace is in %s", filepath.Join(dir, "strace-fsync.out"))
			}
		}
		return
	}
	t.Logf("%d answers, each after a sync of the WAL that followed the event's WAL write; %d WAL syncs", checked, syncs)
}

// straceBin returns strace's path. Without it the test is skipped, loudly,
// or fails when CI is set.
func straceBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("strace"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/strace"); err == nil {
		return "/usr/bin/strace"
	}
	const msg = "strace not found: the fsync before every 2xx is NOT checked (Debian: apt-get install strace)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI is set, so this is a failure")
	}
	fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s !!!\n\n", t.Name(), msg)
	t.Skip("SKIPPED: " + msg)
	return ""
}

// traceePID returns the pid of the process strace (pid) started.
func traceePID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatalf("children of strace: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		t.Fatalf("strace has children %q, want one", f)
	}
	child, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return child
}

// syscallRec is one system call in an strace -f -ttt -yy trace: its name,
// its arguments and result as printed, and the lines (0-based) where it
// started and ended (the same unless another thread's call came between).
type syscallRec struct {
	name       string
	text       string
	start, end int
}

var (
	straceLine    = regexp.MustCompile(`^(\d+)\s+\d+\.\d+\s+(.*)$`)
	straceCall    = regexp.MustCompile(`^([a-z0-9_]+)\(`)
	straceResumed = regexp.MustCompile(`^<\.\.\. ([a-z0-9_]+) resumed>`)
)

// parseStrace reads a trace of strace -f -ttt and returns its system calls
// in the order they ended. A call interrupted by another thread's
// ("<unfinished ...>", then "<... name resumed>") is joined.
func parseStrace(r io.Reader) ([]syscallRec, error) {
	var calls []syscallRec
	pending := map[string]syscallRec{} // by thread
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
	for i := 0; sc.Scan(); i++ {
		m := straceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			return nil, fmt.Errorf("trace line %d: %q", i+1, sc.Text())
		}
		tid, rest := m[1], m[2]
		if r := straceResumed.FindStringSubmatch(rest); r != nil {
			c, ok := pending[tid]
			if !ok || c.name != r[1] {
				return nil, fmt.Errorf("trace line %d: %s resumed, not started", i+1, r[1])
			}
			delete(pending, tid)
			c.text += rest[len(r[0]):]
			c.end = i
			calls = append(calls, c)
			continue
		}
		name := straceCall.FindStringSubmatch(rest)
		if name == nil {
			continue // "+++ exited with 0 +++", "--- SIGTERM ... ---"
		}
		c := syscallRec{name: name[1], text: rest, start: i, end: i}
		if strings.HasSuffix(rest, "<unfinished ...>") {
			c.text = strings.TrimSuffix(rest, "<unfinished ...>")
			pending[tid] = c
			continue
		}
		calls = append(calls, c)
	}
	return calls, sc.Err()
}

var eventIDs = regexp.MustCompile(`evt_fsync_\d{4}`)

// checkAnswersAfterSync checks, in calls, that every answer 200 written to
// a connection whose -yy description starts with conn (the public
// listener's side) was started after a sync of a file descriptor whose
// description ends with wal ended, that sync having started after the end
// of the first write to the WAL of the event the connection last read. It
// returns how many answers it checked, how many WAL syncs it saw, and what
// is wrong.
func checkAnswersAfterSync(calls []syscallRec, conn, wal string) (checked, syncs int, problems []string) {
	firstWrite := map[string]int{} // event id -> end of its first WAL write
	var syncEnds []int             // WAL syncs: end lines, ascending
	var syncStarts []int
	lastRead := map[string]string{} // connection -> last event id read on it
	fd := func(c syscallRec) string {
		// name(15<TCP:[a->b]>, ...: the -yy description of the first
		// argument, up to the '>' that ends it.
		open := strings.IndexByte(c.text, '(') + 1
		for open < len(c.text) && c.text[open] >= '0' && c.text[open] <= '9' {
			open++
		}
		if open >= len(c.text) || c.text[open] != '<' {
			return ""
		}
		for j := open + 1; j < len(c.text); j++ {
			if c.text[j] == '>' && (j+1 == len(c.text) || strings.IndexByte(",) ", c.text[j+1]) >= 0) {
				return c.text[open+1 : j+1]
			}
		}
		return ""
	}
	// Calls are in the order they ended; answers are judged by their
	// start, so gather every sync first.
	for _, c := range calls {
		if (c.name == "fsync" || c.name == "fdatasync") && strings.HasSuffix(fd(c), wal) && strings.HasSuffix(c.text, "= 0") {
			syncStarts = append(syncStarts, c.start)
			syncEnds = append(syncEnds, c.end)
		}
	}
	for _, c := range calls {
		desc := fd(c)
		switch {
		case strings.HasSuffix(desc, wal) && strings.HasPrefix(c.name, "pwrite") || c.name == "write" && strings.HasSuffix(desc, wal):
			for _, id := range eventIDs.FindAllString(c.text, -1) {
				if _, ok := firstWrite[id]; !ok {
					firstWrite[id] = c.end
				}
			}
		case strings.HasPrefix(desc, conn) && (c.name == "read" || c.name == "recvfrom"):
			if ids := eventIDs.FindAllString(c.text, -1); len(ids) > 0 {
				lastRead[desc] = ids[len(ids)-1]
			}
		case strings.HasPrefix(desc, conn) && strings.Contains(c.text, `"HTTP/1.1 200 `):
			checked++
			id := lastRead[desc]
			w, ok := firstWrite[id]
			switch {
			case id == "":
				problems = append(problems, fmt.Sprintf("trace line %d: a 200 on %s, which read no event", c.start+1, desc))
			case !ok || w > c.start:
				problems = append(problems, fmt.Sprintf("trace line %d: 200 for %s before it was written to the WAL", c.start+1, id))
			default:
				synced := false
				for i := range syncStarts {
					if syncStarts[i] > w && syncEnds[i] < c.start {
						synced = true
						break
					}
				}
				if !synced {
					problems = append(problems, fmt.Sprintf("trace line %d: 200 for %s, written to the WAL at line %d, with no sync of the WAL between", c.start+1, id, w+1))
				}
			}
		}
	}
	return checked, len(syncStarts), problems
}
