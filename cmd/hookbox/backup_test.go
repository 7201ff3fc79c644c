package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/stripesig"
)

// prettyEvent returns a Stripe-like body laid out as Stripe sends it (two
// spaces, newlines), n bytes of description making sizes vary.
func prettyEvent(id string, n int) []byte {
	return fmt.Appendf(nil, "{\n  \"id\": %q,\n  \"object\": \"event\",\n  \"api_version\": \"2025-10-29.clover\",\n"+
		"  \"created\": 1764201234,\n  \"livemode\": false,\n  \"type\": \"invoice.paid\",\n  \"data\": {\n"+
		"    \"object\": {\n      \"id\": \"in_%s\",\n      \"description\": \"caf\\u00e9 <%s>\"\n    }\n  }\n}\n",
		id, id, strings.Repeat("z", n))
}

// TestBackup_UnderLoad ensures "hookbox backup", a process of its own,
// copies the store of a running "hookbox serve" (another process) under
// concurrent webhooks: the copy passes integrity_check and holds every
// event acknowledged before the backup began, body byte for byte, while
// ingest keeps answering 200; a second backup to the same file is refused
// and leaves it alone.
func TestBackup_UnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin := mustBuild(t)
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "hookbox.db")
	p := startServe(t, bin, []string{"HOOKBOX_DB=" + db, "STRIPE_WEBHOOK_SECRET=" + testSecret1})
	url := "http://" + p.public + "/webhooks/stripe"

	const (
		before = iota // the backup has not begun
		during
		after
	)
	var (
		mu       sync.Mutex
		phase    = before
		acked    = map[string][]byte{} // acknowledged before the backup began
		counts   [3]int                // acknowledgements per phase
		stop     atomic.Bool
		wg       sync.WaitGroup
		failures atomic.Int64
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				id := fmt.Sprintf("evt_bk_%d_%06d", g, n)
				body := prettyEvent(id, n%700)
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), testSecret1))
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("%s: %v", id, err)
					failures.Add(1)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("%s: status %d", id, resp.StatusCode)
					failures.Add(1)
					return
				}
				mu.Lock()
				// Counted as acknowledged before the backup only if the 200
				// was read before the backup began.
				if phase == before {
					acked[id] = body
				}
				counts[phase]++
				mu.Unlock()
			}
		}()
	}
	setPhase := func(ph int) {
		mu.Lock()
		phase = ph
		mu.Unlock()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := counts[before]
		mu.Unlock()
		if n >= 1000 || failures.Load() > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}

	dst := filepath.Join(t.TempDir(), "backup.db")
	setPhase(during)
	out, err := exec.Command(bin, "backup", "--db", db, dst).CombinedOutput()
	setPhase(after)
	if err != nil {
		t.Fatalf("hookbox backup: %v\n%s", err, out)
	}
	// Keep sending a little after the backup, then stop.
	for {
		mu.Lock()
		n := counts[after]
		mu.Unlock()
		if n >= 20 || failures.Load() > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatal("ingest failed during the test")
	}
	if len(acked) < 100 {
		t.Fatalf("only %d events acknowledged before the backup; the test needs load", len(acked))
	}
	t.Logf("%s; acknowledged %d before, %d during, %d after the backup", strings.TrimSpace(string(out)), counts[before], counts[during], counts[after])

	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	mustIntegrityOK(t, dst)
	c, err := sqlite.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for id, body := range acked {
		ev, err := c.FindEventByID(context.Background(), id)
		if err != nil {
			t.Fatalf("acknowledged %s before the backup: %v", id, err)
		}
		if !bytes.Equal(ev.Body, body) {
			t.Fatalf("%s: body differs in the backup:\n%q\nwant\n%q", id, ev.Body, body)
		}
	}

	// A second backup to the same file is refused; the first stays whole.
	out, err = exec.Command(bin, "backup", "--db", db, dst).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "exists") {
		t.Fatalf("backup over an existing file: %v\n%s", err, out)
	}
	mustIntegrityOK(t, dst)
}

// mustIntegrityOK fails unless the SQLite file at path passes
// PRAGMA integrity_check.
func mustIntegrityOK(tb testing.TB, path string) {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		tb.Fatalf("integrity_check of %s: %q %v", path, res, err)
	}
}

// Ensures backup of a PostgreSQL store says to use pg_dump, without
// connecting and without echoing the URL (it may hold a password).
func TestBackup_ErrPostgres(t *testing.T) {
	env, _, _ := testEnv(nil)
	err := run(context.Background(), env, []string{"backup", "--db", "postgres://u:s3cret@127.0.0.1:1/x", filepath.Join(t.TempDir(), "b")})
	if err == nil || !strings.Contains(err.Error(), "pg_dump") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("backup on postgres: %v", err)
	}
}

// Ensures backup refuses a missing store (a typo must not back up a new
// empty database) and a missing FILE argument.
func TestBackup_ErrArgs(t *testing.T) {
	dir := t.TempDir()
	env, _, _ := testEnv(nil)
	err := run(context.Background(), env, []string{"backup", "--db", "sqlite:" + filepath.Join(dir, "nope.db"), filepath.Join(dir, "b.db")})
	if err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("backup of a missing store: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nope.db")); err == nil {
		t.Fatal("backup created the store it was asked to copy")
	}
	if err := run(context.Background(), env, []string{"backup", "--db", "sqlite:x.db"}); err == nil || !strings.Contains(err.Error(), "FILE") {
		t.Fatalf("backup without FILE: %v", err)
	}
}
