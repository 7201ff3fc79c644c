package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/stripesig"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// mustBuild builds the hookbox binary once per test run, the way a release
// is built (releaseBuild): the crash tests kill the binary that ships, and
// the image test packs it.
func mustBuild(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hookbox-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "hookbox")
		out, err := releaseBuild(builtBin).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

type proc struct {
	cmd    *exec.Cmd
	public string
	admin  string
	stderr *lockedBuffer
	exited chan struct{}
}

// startServe runs "hookbox serve" as a child process on free ports and
// waits until it is ready.
func startServe(t *testing.T, bin string, env []string) *proc {
	t.Helper()
	return startServeCmd(t, exec.Command(bin, "serve"), env)
}

// startServeCmd is startServe of a command that runs "hookbox serve" (for
// example under strace), its stderr being hookbox's.
func startServeCmd(t *testing.T, cmd *exec.Cmd, env []string) *proc {
	t.Helper()
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "HOOKBOX_LISTEN=127.0.0.1:0", "HOOKBOX_ADMIN_LISTEN=127.0.0.1:0")
	pr, pw := io.Pipe()
	p := &proc{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = io.MultiWriter(p.stderr, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); pw.Close(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) == nil && l["msg"] == "hookbox serving" {
				p.public, _ = l["listen"].(string)
				p.admin, _ = l["admin"].(string)
				close(ready)
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("hookbox exited early:\n%s", p.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("hookbox did not start:\n%s", p.stderr.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrash_SIGKILLMidLoad ensures that every event answered 2xx survives a
// SIGKILL of the process in the middle of concurrent load: after a restart
// each is stored exactly once with its exact body, a Stripe retry of it is
// recognised as a duplicate, and nothing that was never sent appears.
func TestCrash_SIGKILLMidLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and kills the real binary")
	}
	bin := mustBuild(t)
	dbPath := filepath.Join(t.TempDir(), "crash.db")
	env := []string{"HOOKBOX_DB=sqlite:" + dbPath, "STRIPE_WEBHOOK_SECRET=" + testSecret1}
	p := startServe(t, bin, env)
	url := "http://" + p.public + "/webhooks/stripe"

	var (
		mu     sync.Mutex
		acked  = map[string][]byte{}
		sent   = map[string]bool{}
		nAcked atomic.Int64
		stop   atomic.Bool
		wg     sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for n := 0; !stop.Load() && n < 100000; n++ {
				id := fmt.Sprintf("evt_crash_%02d_%06d", g, n)
				body := e2eEvent(id, "payment_intent.succeeded")
				mu.Lock()
				sent[id] = true
				mu.Unlock()
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), testSecret1))
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					if !strings.Contains(string(b), `"received":true`) {
						t.Errorf("2xx without received: %s", b)
					}
					mu.Lock()
					acked[id] = body
					mu.Unlock()
					nAcked.Add(1)
				}
			}
		}(g)
	}
	deadline := time.Now().Add(20 * time.Second)
	for nAcked.Load() < 1500 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	stop.Store(true)
	wg.Wait()
	if len(acked) < 100 {
		t.Fatalf("only %d events acknowledged before the kill; the test needs load", len(acked))
	}
	t.Logf("sent %d, acknowledged %d before SIGKILL", len(sent), len(acked))

	// Restart on the same database: every acknowledged event is a duplicate.
	p2 := startServe(t, bin, env)
	url2 := "http://" + p2.public + "/webhooks/stripe"
	checked := 0
	for id, body := range acked {
		if checked >= 200 {
			break
		}
		status, resp := postEvent(t, url2, body, stripesig.Sign(body, time.Now(), testSecret1))
		if status != 200 || resp != `{"received":true,"duplicate":true}` {
			t.Fatalf("retry of acknowledged %s after restart: %d %s", id, status, resp)
		}
		checked++
	}
	p2.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p2.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if code := p2.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code after SIGTERM: %d\n%s", code, p2.stderr.String())
	}

	store, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	all, err := store.FindEvents(context.Background(), hookbox.EventFilter{Limit: 10_000_000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range all {
		seen[e.ID]++
		if !sent[e.ID] {
			t.Fatalf("stored event %s was never sent", e.ID)
		}
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Fatalf("acknowledged event %s stored %d times", id, seen[id])
		}
	}
	// Bodies byte for byte, for a sample.
	n := 0
	for id, body := range acked {
		if n++; n > 300 {
			break
		}
		ev, err := store.FindEventByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ev.Body, body) {
			t.Fatalf("%s body differs after crash", id)
		}
	}
	t.Logf("stored %d events (acknowledged %d; the rest were committed but their answers lost in the kill)", len(all), len(acked))
}

// TestCrash_SIGKILLDuringDelivery ensures that killing the process while
// deliveries are in flight loses nothing: after a restart every event that
// was answered 2xx reaches the destination at least once (the ones whose
// lease was held by the dead process after the lease expires), and none is
// left pending, delivering or dead.
func TestCrash_SIGKILLDuringDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and kills the real binary")
	}
	bin := mustBuild(t)
	var mu sync.Mutex
	got := map[string]int{}
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), forwardSecret,
			webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
		if err != nil {
			http.Error(w, "bad signature", 400)
			return
		}
		time.Sleep(20 * time.Millisecond) // slow app: deliveries are in flight at the kill
		mu.Lock()
		got[ev.ID]++
		mu.Unlock()
	}))
	defer dest.Close()
	delivered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}

	dbPath := filepath.Join(t.TempDir(), "crash-deliver.db")
	env := []string{"HOOKBOX_DB=sqlite:" + dbPath, "STRIPE_WEBHOOK_SECRET=" + testSecret1,
		"HOOKBOX_FORWARD_TO=" + dest.URL, "HOOKBOX_FORWARD_SECRET=" + forwardSecret,
		"HOOKBOX_FORWARD_TIMEOUT=1s", "HOOKBOX_DELIVERY_LEASE=2s", "HOOKBOX_RETRY_BASE=50ms",
		"HOOKBOX_DELIVERY_CONCURRENCY=8"}
	p := startServe(t, bin, env)
	url := "http://" + p.public + "/webhooks/stripe"

	const n = 400
	acked := make(chan string, n)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				id := fmt.Sprintf("evt_dcrash_%04d", i)
				body := e2eEvent(id, "invoice.paid")
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), testSecret1))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acked <- id
				}
			}
		}(g)
	}
	wg.Wait()
	close(acked)
	waitFor(t, "some deliveries", 20*time.Second, func() bool { return delivered() >= 40 })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	before := delivered()
	if before >= n {
		t.Fatalf("every event was delivered before the kill (%d); the test needs deliveries in flight", before)
	}

	p2 := startServe(t, bin, env)
	var ids []string
	for id := range acked {
		ids = append(ids, id)
	}
	if len(ids) != n {
		t.Fatalf("only %d of %d events acknowledged", len(ids), n)
	}
	waitFor(t, "every acknowledged event delivered after restart", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if got[id] == 0 {
				return false
			}
		}
		return true
	})
	// The store agrees: the claims the dead process held expire and are
	// completed by the new one.
	store, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var counts map[hookbox.State]int
	waitFor(t, "every event marked delivered", 30*time.Second, func() bool {
		counts, _, err = store.CountEvents(context.Background())
		return err == nil && counts[hookbox.StateDelivered] == n
	})
	p2.cmd.Process.Signal(syscall.SIGTERM)
	<-p2.exited
	if counts[hookbox.StateDelivered] != n || counts[hookbox.StatePending]+counts[hookbox.StateDelivering]+counts[hookbox.StateDead] != 0 {
		t.Fatalf("states after restart: %v", counts)
	}
	mu.Lock()
	dups := 0
	for _, c := range got {
		dups += c - 1
	}
	mu.Unlock()
	t.Logf("%d delivered before SIGKILL; all %d delivered after restart; %d redelivered (at least once)", before, n, dups)
}

// TestCrash_AckLogLinesSurvive ensures that with --log-flush-interval 0
// the log line of every event answered 200 is written before the answer,
// so none is lost when the process is SIGKILLed right after it (with the
// default 100 ms buffer, the last lines would be).
func TestCrash_AckLogLinesSurvive(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and kills the real binary")
	}
	bin := mustBuild(t)
	env := []string{"HOOKBOX_DB=sqlite:" + filepath.Join(t.TempDir(), "logs.db"),
		"STRIPE_WEBHOOK_SECRET=" + testSecret1, "HOOKBOX_LOG_FLUSH_INTERVAL=0"}
	p := startServe(t, bin, env)
	url := "http://" + p.public + "/webhooks/stripe"
	var acked []string
	for i := range 50 {
		id := fmt.Sprintf("evt_logged_%d", i)
		body := e2eEvent(id, "invoice.paid")
		if status, _ := postEvent(t, url, body, stripesig.Sign(body, time.Now(), testSecret1)); status == 200 {
			acked = append(acked, id)
		}
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	logs := p.stderr.String()
	for _, id := range acked {
		if !strings.Contains(logs, `"event_id":"`+id+`"`) && !strings.Contains(logs, `"id":"`+id+`"`) {
			t.Fatalf("event %s answered 200 has no log line after SIGKILL", id)
		}
	}
	if len(acked) != 50 {
		t.Fatalf("%d of 50 acknowledged", len(acked))
	}
}
