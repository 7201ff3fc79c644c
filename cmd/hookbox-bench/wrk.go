package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hookbox/hookbox/stripefixture"
	"github.com/hookbox/hookbox/stripesig"
)

// wrkThreads is wrk's thread count in --load wrk: one per core here.
const wrkThreads = 2

// wrkScript drives wrk from the request files wrkRequests writes (see the
// script), stops each thread after its share of answers and prints the
// run's summary as JSON.
//
//go:embed wrk.lua
var wrkScript []byte

// wrkRequests writes the signed webhooks of one run for wrk: a file per
// thread (prefix.0, prefix.1, ...) of count/threads requests each, every
// one a Stripe-Signature header value, a tab, the body's length and a
// newline, then the body (Stripe's bodies hold newlines). The events are
// those of stripefixture, every type in turn, unique within the run, and
// signed now with benchSecret.
func wrkRequests(prefix string, count, threads int) error {
	now := time.Now()
	types := stripefixture.Types()
	for th := range threads {
		f, err := os.Create(prefix + "." + strconv.Itoa(th))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		g := stripefixture.New(int64(th + 1))
		g.Start = now.Add(-time.Hour)
		for i := range count / threads {
			body := g.Event(types[i%len(types)], false)
			fmt.Fprintf(w, "%s\t%d\n", stripesig.Sign(body, now, benchSecret), len(body))
			w.Write(body)
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// wrkLoad drives url with wrk (--load wrk): count requests from
// concurrency connections on wrkThreads threads. wrk is C and takes less
// of the two cores than hookbox send, so the receivers get more of them:
// the issue's own figures (#18) were measured with it.
func wrkLoad(ctx context.Context, concurrency, count int, url, dir string) (summary, string, error) {
	var sum summary
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return sum, "", fmt.Errorf("--load wrk: %w (Debian: apt-get install wrk)", err)
	}
	script := filepath.Join(dir, "load.lua")
	if err := os.WriteFile(script, wrkScript, 0o600); err != nil {
		return sum, "", err
	}
	prefix := filepath.Join(dir, "requests")
	if err := wrkRequests(prefix, count, wrkThreads); err != nil {
		return sum, "", fmt.Errorf("write requests: %w", err)
	}
	defer func() {
		for th := range wrkThreads {
			os.Remove(prefix + "." + strconv.Itoa(th))
			os.Remove(prefix + "." + strconv.Itoa(th) + ".done")
		}
	}()
	// The duration is a bound only: each thread stops after its share and
	// says so with a file; wrk, which otherwise waits out its duration,
	// ends on SIGINT and reports (its duration then runs to the signal,
	// a few milliseconds after the last answer).
	cmd := exec.CommandContext(ctx, wrk, "-t", strconv.Itoa(wrkThreads), "-c", strconv.Itoa(max(concurrency, wrkThreads)),
		"-d", "10m", "--timeout", "30s", "-s", script, url, "--", prefix, strconv.Itoa(count/wrkThreads))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return sum, "", fmt.Errorf("wrk: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	var werr error
wait:
	for {
		select {
		case werr = <-exited:
			break wait
		case <-tick.C:
			done := 0
			for th := range wrkThreads {
				if _, err := os.Stat(prefix + "." + strconv.Itoa(th) + ".done"); err == nil {
					done++
				}
			}
			if done == wrkThreads {
				cmd.Process.Signal(os.Interrupt)
				werr = <-exited
				break wait
			}
		}
	}
	if werr != nil {
		return sum, errb.String(), fmt.Errorf("wrk: %w\n%s%s", werr, out.String(), errb.String())
	}
	// wrk prints its own report first; the script's JSON is the last line.
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	if err := json.Unmarshal(lines[len(lines)-1], &sum); err != nil {
		return sum, errb.String(), fmt.Errorf("wrk printed no JSON summary: %w\n%s", err, out.String())
	}
	return sum, errb.String(), nil
}
