// Package stripemock starts stripe-mock, Stripe's API mock, for tests.
package stripemock

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// Start runs stripe-mock (from PATH or ~/go/bin) on ports the
// system picks and returns its HTTP base URL. Without the binary the test
// is skipped, loudly, unless CI is set: then it fails.
func Start(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("stripe-mock")
	if err != nil {
		home, _ := os.UserHomeDir()
		bin = filepath.Join(home, "go", "bin", "stripe-mock")
		if _, err := os.Stat(bin); err != nil {
			const msg = "stripe-mock not found on PATH nor in ~/go/bin: go install github.com/stripe/stripe-mock@v0.203.0"
			if os.Getenv("CI") != "" {
				tb.Fatal(msg)
			}
			tb.Skip("SKIPPING wire compatibility test: " + msg)
		}
	}
	// Both listeners on a system-chosen loopback port: with only one
	// given, stripe-mock binds the other to its fixed default.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start stripe-mock: %v", err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addrc := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`Listening for HTTP at address: (\S+)`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	select {
	case addr := <-addrc:
		return "http://" + addr
	case <-time.After(30 * time.Second):
		tb.Fatal("stripe-mock did not say where it listens within 30s")
		return ""
	}
}
