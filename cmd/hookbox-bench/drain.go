package main

// Drain mode: delivery throughput and pickup latency (issue #3). Each
// round:
//
//  1. starts "hookbox serve" without a destination on a fresh store, fills
//     a backlog of --events events with "hookbox send --count N
//     --concurrency 64 --quiet", and stops it (SIGTERM);
//  2. starts a destination in this process: an HTTP server that answers
//     200 without verifying anything, counts the event ids
//     (Idempotency-Key) and records when each first arrived;
//  3. starts "hookbox serve --forward-to" that destination on the same
//     store, and times from the process start until every event of the
//     backlog has arrived: the drain rate, start-up included;
//  4. with the backlog drained and serve still running, sends
//     --pickup-events new events one at a time, paced at --pickup-rate
//     per second, and measures for each the time from the moment its 200
//     arrives (ingest has committed it) to the destination receiving it:
//     the pickup latency;
//  5. stops hookbox and checks that every event arrived exactly once.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/hookbox/hookbox/receiver"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/hookbox/hookbox/stripefixture"
	"github.com/hookbox/hookbox/stripesig"
)

// The delivery targets of issue #3.
const (
	targetDrainRate   = 5000.0 // events/s
	targetPickupP50ms = 2.0
)

// benchForwardSecret is what hookbox signs forwarded events with; the
// destination does not check it.
const benchForwardSecret = "whsec_bench_forward_0123456789abcdefghijklmn"

// pickupType is the type of the events of the pickup phase.
const pickupType = "payment_intent.succeeded"

type drainConfig struct {
	events          int
	fillConcurrency int
	rounds          int
	pickupEvents    int
	pickupRate      float64
	timeout         time.Duration
	db              string
	pgDSN           string
	hookbox         string
	serveEnv        []string
	keep            bool
	strict          bool
	cpuProfile      string // with a round number, where serve's drain profile goes
}

func parseDrainFlags(args []string, stderr io.Writer) (*drainConfig, error) {
	c := &drainConfig{}
	fs := flag.NewFlagSet("hookbox-bench drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.events, "events", 20000, "events in the backlog to drain, per round")
	fs.IntVar(&c.fillConcurrency, "fill-concurrency", 64, "requests in flight while filling the backlog (hookbox send --concurrency)")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; the table shows medians")
	fs.IntVar(&c.pickupEvents, "pickup-events", 2000, "events sent one at a time for the pickup latency, per round (0: skip)")
	fs.Float64Var(&c.pickupRate, "pickup-rate", 200, "pickup events per second")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "longest a drain may take")
	fs.StringVar(&c.db, "db", "sqlite", "store of hookbox serve: sqlite (a fresh file per round) or postgres (a fresh schema per round on --pg-dsn)")
	fs.StringVar(&c.pgDSN, "pg-dsn", defaultPostgresDSN, "PostgreSQL server for --db postgres")
	fs.StringVar(&c.hookbox, "hookbox", "", "hookbox binary to use (default: go build ./cmd/hookbox into the temp dir)")
	fs.Var((*stringList)(&c.serveEnv), "serve-env", "extra KEY=VALUE for hookbox serve, repeatable (e.g. HOOKBOX_DELIVERY_CONCURRENCY=64)")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (databases, logs, binary) and PostgreSQL schemas")
	fs.BoolVar(&c.strict, "strict", false, "exit 1 when a target is missed or an event was lost or repeated")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of hookbox serve over the first 3 s of each drain to this file, suffixed .N for round N")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case c.events <= 0:
		return nil, fmt.Errorf("--events must be > 0, got %d", c.events)
	case c.fillConcurrency <= 0:
		return nil, fmt.Errorf("--fill-concurrency must be > 0, got %d", c.fillConcurrency)
	case c.rounds <= 0:
		return nil, fmt.Errorf("--rounds must be > 0, got %d", c.rounds)
	case c.pickupEvents < 0:
		return nil, fmt.Errorf("--pickup-events must be >= 0, got %d", c.pickupEvents)
	case !(c.pickupRate > 0) || c.pickupRate > 1e6:
		return nil, fmt.Errorf("--pickup-rate must be in (0, 1e6], got %v", c.pickupRate)
	case c.timeout <= 0:
		return nil, fmt.Errorf("--timeout must be > 0, got %v", c.timeout)
	case c.db != "sqlite" && c.db != "postgres":
		return nil, fmt.Errorf("--db %q: want sqlite or postgres", c.db)
	}
	if err := checkServeEnv(c.serveEnv); err != nil {
		return nil, err
	}
	return c, nil
}

// drainResult is one drain round.
type drainResult struct {
	fillRate  float64       // backlog ingest, requests/s
	drain     time.Duration // serve start -> last backlog event received
	drainCPU  time.Duration // serve's CPU time over that span
	pickup    []time.Duration
	pickupBad int // pickup events not accepted, or never delivered
	received  int // distinct ids the destination received
	requests  int // requests it received
	expected  int // events it should have received
}

func (r drainResult) rate(events int) float64 { return float64(events) / r.drain.Seconds() }

// missing and repeated are the exactly-once check.
func (r drainResult) missing() int  { return max(r.expected-r.received, 0) }
func (r drainResult) repeated() int { return r.requests - r.received }

// percentile returns the p-quantile (0..1) of sorted ds, in ms.
func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	i := min(len(ds)-1, int(p*float64(len(ds))))
	return float64(ds[i].Microseconds()) / 1000
}

func runDrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseDrainFlags(args, stderr)
	if err != nil {
		return err
	}
	tmp, cleanup, err := benchDir(ctx, "hookbox-bench-drain-", c.keep, &c.hookbox, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	var (
		results []drainResult
		runErrs []error
	)
	for round := 1; round <= c.rounds; round++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		dir := filepath.Join(tmp, fmt.Sprintf("round%d", round))
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		res, err := drainRound(ctx, c, round, dir, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "round %d FAILED: %v\n", round, err)
			runErrs = append(runErrs, fmt.Errorf("round %d: %w", round, err))
			continue
		}
		results = append(results, res)
		fmt.Fprintf(stderr, "round %d  fill %6.0f ev/s  drain %6.0f ev/s (%v, serve CPU %v)  pickup p50 %.2f ms p99 %.2f ms  missing %d repeated %d\n",
			round, res.fillRate, res.rate(c.events), res.drain.Round(time.Millisecond), res.drainCPU.Round(10*time.Millisecond),
			percentile(res.pickup, 0.50), percentile(res.pickup, 0.99), res.missing(), res.repeated())
	}
	return outcome(runErrs, drainReport(stdout, c, results), c.strict)
}

// startServe starts "hookbox serve" on db, forwarding to forwardTo when
// set, and waits until it is ready. It returns the process, its public
// URL and its admin address.
func startServe(ctx context.Context, c *drainConfig, db, forwardTo, logPath string, env ...string) (*proc, string, string, error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, "", "", err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, "", "", err
	}
	var forward []string
	if forwardTo != "" {
		forward = []string{"HOOKBOX_FORWARD_TO=" + forwardTo, "HOOKBOX_FORWARD_SECRET=" + benchForwardSecret}
	}
	cmd := serveCmd(c.hookbox, db, listen, admin, forward, c.serveEnv, env)
	p, err := startProc(cmd, logPath)
	if err != nil {
		return nil, "", "", err
	}
	if err := p.waitReady(ctx, "http://"+admin+"/readyz"); err != nil {
		return nil, "", "", err
	}
	return p, "http://" + listen + receiver.DefaultPath, admin, nil
}

// drainRound runs round number round in dir: the five steps described at
// the top of this file.
func drainRound(ctx context.Context, c *drainConfig, round int, dir string, stderr io.Writer) (drainResult, error) {
	var res drainResult
	db, drop, err := roundDB(ctx, c.db, c.pgDSN, dir, c.keep, stderr)
	if err != nil {
		return res, err
	}
	defer drop()

	// 1. The backlog, stored by a hookbox without destination.
	if res.fillRate, err = fillBacklog(ctx, c, db, dir); err != nil {
		return res, err
	}

	// 2. The destination.
	dest, err := startDestination()
	if err != nil {
		return res, err
	}
	defer dest.close()

	// 3. The drain, timed from the start of the process.
	// Delivery starts as soon as the store is open, while startServe
	// still polls for readiness.
	var env []string
	if c.cpuProfile != "" {
		env = append(env, "HOOKBOX_PPROF=true")
	}
	drained := dest.expect(c.events)
	start := time.Now()
	p, url, admin, err := startServe(ctx, c, db, dest.url, filepath.Join(dir, "drain.log"), env...)
	if err != nil {
		return res, err
	}
	defer p.stop()
	if c.cpuProfile != "" {
		waitProfile := startProfile(ctx, admin, fmt.Sprintf("%s.%d", c.cpuProfile, round), round, stderr)
		defer waitProfile()
	}
	at, err := awaitDrain(ctx, c, p, dest, drained)
	if err != nil {
		return res, err
	}
	res.drain = at.Sub(start)
	res.drainCPU = p.cpu()

	// 4. Pickup latency, one event at a time.
	var accepted int
	if c.pickupEvents > 0 {
		res.pickup, accepted, err = pickup(ctx, c, round, url, dest)
		if err != nil {
			return res, err
		}
		res.pickupBad = c.pickupEvents - len(res.pickup)
	}

	// 5. Stop, then check that every event arrived exactly once.
	if _, err := p.stop(); err != nil {
		fmt.Fprintf(stderr, "hookbox serve: exit after SIGTERM: %v\n", err)
	}
	res.received, res.requests = dest.distinct(), dest.total()
	res.expected = c.events + accepted
	return res, nil
}

// fillBacklog stores c.events events in db through a hookbox serve
// without destination, stops it, and returns the ingest rate in
// requests/s.
func fillBacklog(ctx context.Context, c *drainConfig, db, dir string) (float64, error) {
	fill, url, _, err := startServe(ctx, c, db, "", filepath.Join(dir, "fill.log"))
	if err != nil {
		return 0, err
	}
	sum, err := sendBacklog(ctx, c, url)
	if _, serr := fill.stop(); serr != nil && err == nil {
		err = fmt.Errorf("hookbox serve (fill): exit after SIGTERM: %w", serr)
	}
	if err != nil {
		return 0, err
	}
	return sum.RPS, nil
}

// startProfile starts saving a CPU profile of the hookbox serve whose
// admin listener is admin to path, in the background. The returned
// function waits for it and reports a failure on stderr.
func startProfile(ctx context.Context, admin, path string, round int, stderr io.Writer) func() {
	profiled := make(chan error, 1)
	go func() { profiled <- saveProfile(ctx, admin, path) }()
	return func() {
		if err := <-profiled; err != nil {
			fmt.Fprintf(stderr, "round %d: cpu profile: %v\n", round, err)
		}
	}
}

// awaitDrain waits for drained, which receives when the last backlog
// event arrived at dest, and returns that time. It fails if serve (p)
// exits, c.timeout passes or ctx ends first.
func awaitDrain(ctx context.Context, c *drainConfig, p *proc, dest *destination, drained <-chan time.Time) (time.Time, error) {
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	select {
	case at := <-drained:
		return at, nil
	case err := <-p.exited:
		p.stopped = true
		return time.Time{}, fmt.Errorf("hookbox serve exited during the drain (%v), %d of %d events received\n%s",
			err, dest.distinct(), c.events, tail(p.logPath))
	case <-timer.C:
		return time.Time{}, fmt.Errorf("%d of %d events received after %v\n%s", dest.distinct(), c.events, c.timeout, tail(p.logPath))
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}

// sendBacklog posts c.events events with hookbox send and fails unless
// every one was accepted.
func sendBacklog(ctx context.Context, c *drainConfig, url string) (summary, error) {
	sum, sendErr, err := send(ctx, c.hookbox, c.fillConcurrency, c.events, url)
	if err != nil {
		return sum, err
	}
	if sum.Count != c.events || sum.failed() > 0 {
		return sum, fmt.Errorf("backlog: hookbox send ran %d of %d requests, %d failed\n%s", sum.Count, c.events, sum.failed(), sendErr)
	}
	return sum, nil
}

// destination is the HTTP server hookbox forwards to. It answers 200 to
// everything without verifying anything, and records, per event id
// (Idempotency-Key), how many requests carried it and when the first
// arrived.
type destination struct {
	url string
	srv *http.Server

	mu       sync.Mutex
	requests int
	seen     map[string]int
	arrived  map[string]time.Time
	waiters  []waiter
}

// waiter is a channel that receives the arrival time of the n-th distinct
// id.
type waiter struct {
	n  int
	ch chan time.Time
}

func startDestination() (*destination, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &destination{url: "http://" + ln.Addr().String() + "/", seen: map[string]int{}, arrived: map[string]time.Time{}}
	d.srv = &http.Server{Handler: http.HandlerFunc(d.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	go d.srv.Serve(ln)
	return d, nil
}

func (d *destination) serveHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	id := r.Header.Get("Idempotency-Key")
	io.Copy(io.Discard, r.Body)
	d.mu.Lock()
	d.requests++
	d.seen[id]++
	if d.seen[id] == 1 {
		d.arrived[id] = at
		n := len(d.seen)
		d.waiters = slices.DeleteFunc(d.waiters, func(w waiter) bool {
			if n < w.n {
				return false
			}
			w.ch <- at
			return true
		})
	}
	d.mu.Unlock()
}

// expect returns a channel that receives the arrival time of the n-th
// distinct id.
func (d *destination) expect(n int) <-chan time.Time {
	ch := make(chan time.Time, 1)
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.seen) >= n {
		ch <- time.Now()
		return ch
	}
	d.waiters = append(d.waiters, waiter{n: n, ch: ch})
	return ch
}

// arrival returns when id first arrived.
func (d *destination) arrival(id string) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.arrived[id]
	return at, ok
}

func (d *destination) distinct() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}

func (d *destination) total() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.requests
}

func (d *destination) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.srv.Shutdown(ctx)
}

// pickup sends c.pickupEvents new events to url one at a time, each due
// 1/c.pickupRate s after the previous one (or at once if the previous took
// longer), and returns, sorted, the time from each 200 response (the event
// is committed) to its arrival at dest, and how many events were
// accepted. An event not accepted, or not delivered within 10 s of the
// last send, has no latency.
func pickup(ctx context.Context, c *drainConfig, round int, url string, dest *destination) ([]time.Duration, int, error) {
	bodies, ids, err := pickupBodies(round, c.pickupEvents)
	if err != nil {
		return nil, 0, err
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1},
		Timeout:   10 * time.Second,
	}
	defer client.CloseIdleConnections()

	committed, accepted, err := postPickups(ctx, client, url, bodies, c.pickupRate)
	if err != nil {
		return nil, 0, err
	}
	// Wait for the stragglers: the backlog's events plus the accepted ones.
	select {
	case <-dest.expect(c.events + accepted):
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	return pickupLatencies(ids, committed, dest), accepted, nil
}

// pickupBodies generates n events of pickupType, created now, and returns
// their bodies and ids.
func pickupBodies(round, n int) ([][]byte, []string, error) {
	gen := stripefixture.New(int64(round)<<32 | time.Now().UnixNano()&0xffffffff)
	gen.Start = time.Now()
	bodies := make([][]byte, n)
	ids := make([]string, n)
	for i := range bodies {
		bodies[i] = gen.Event(pickupType, false)
		var env struct{ ID string }
		if err := json.Unmarshal(bodies[i], &env); err != nil || env.ID == "" {
			return nil, nil, fmt.Errorf("pickup: generated event without an id: %v", err)
		}
		ids[i] = env.ID
	}
	return bodies, ids, nil
}

// postPickups posts bodies to url in order, body i due i/rate s after the
// first (or at once if the previous took longer). It returns, per body,
// when its 200 response arrived (zero if it was not accepted), and how
// many were accepted; it fails if none was.
func postPickups(ctx context.Context, client *http.Client, url string, bodies [][]byte, rate float64) ([]time.Time, int, error) {
	committed := make([]time.Time, len(bodies))
	accepted := 0
	var firstErr error
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i, body := range bodies {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, 0, err
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("Stripe-Signature", stripesig.Sign(body, time.Now(), benchSecret))
		if err := postOne(client, req); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		committed[i] = time.Now()
		accepted++
	}
	if accepted == 0 {
		return nil, 0, fmt.Errorf("pickup: no event accepted (first error: %v)", firstErr)
	}
	return committed, accepted, nil
}

// postOne sends req and fails unless the answer is 200, after reading the
// body so that the connection is reused.
func postOne(client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// pickupLatencies returns, sorted, the time from each committed event to
// its arrival at dest; events not committed or not arrived are left out.
func pickupLatencies(ids []string, committed []time.Time, dest *destination) []time.Duration {
	var lat []time.Duration
	for i, id := range ids {
		if committed[i].IsZero() {
			continue
		}
		if at, ok := dest.arrival(id); ok {
			// Negative when the worker, woken at commit, delivered
			// before the response reached the sender: counted as 0.
			lat = append(lat, max(at.Sub(committed[i]), 0))
		}
	}
	slices.Sort(lat)
	return lat
}

// drainReport prints the table and the target checks; it returns how many
// checks were missed.
func drainReport(w io.Writer, c *drainConfig, results []drainResult) int {
	fmt.Fprintf(w, "\nhookbox-bench drain: %d events x %d rounds, hookbox on %s, pickup %d events at %.0f/s, %d CPUs, %s%s\n\n",
		c.events, c.rounds, c.db, c.pickupEvents, c.pickupRate, runtime.NumCPU(), runtime.Version(), machineLoad())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "round\tfill ev/s\tdrain ev/s\tdrain s\tserve CPU us/ev\tpickup p50 ms\tp90 ms\tp99 ms\tmissing\trepeated")
	var rates, p50s, p90s, p99s, cpus []float64
	missing, repeated, pickupBad := 0, 0, 0
	for i, r := range results {
		rate := r.rate(c.events)
		cpu := float64(r.drainCPU.Microseconds()) / float64(c.events)
		p50, p90, p99 := percentile(r.pickup, 0.50), percentile(r.pickup, 0.90), percentile(r.pickup, 0.99)
		rates, cpus = append(rates, rate), append(cpus, cpu)
		if len(r.pickup) > 0 {
			p50s, p90s, p99s = append(p50s, p50), append(p90s, p90), append(p99s, p99)
		}
		missing, repeated, pickupBad = missing+r.missing(), repeated+r.repeated(), pickupBad+r.pickupBad
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.2f\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%d\n",
			i+1, r.fillRate, rate, r.drain.Seconds(), cpu, p50, p90, p99, r.missing(), r.repeated())
	}
	if len(results) > 0 {
		fmt.Fprintf(tw, "median\t\t%.0f\t\t%.0f\t%.2f\t%.2f\t%.2f\t\t\n", median(rates), median(cpus), median(p50s), median(p90s), median(p99s))
	}
	tw.Flush()
	fmt.Fprintln(w)

	check, missed := checker(w)
	if len(rates) == 0 {
		check(fmt.Sprintf("drain >= %.0f events/s", targetDrainRate), false, "not measured")
	} else {
		check(fmt.Sprintf("drain >= %.0f events/s", targetDrainRate), median(rates) >= targetDrainRate, fmt.Sprintf("median %.0f events/s", median(rates)))
	}
	if c.pickupEvents > 0 {
		if len(p50s) == 0 {
			check(fmt.Sprintf("pickup p50 <= %.0f ms", targetPickupP50ms), false, "not measured")
		} else {
			check(fmt.Sprintf("pickup p50 <= %.0f ms", targetPickupP50ms), median(p50s) <= targetPickupP50ms, fmt.Sprintf("median %.2f ms", median(p50s)))
		}
	}
	check("every event delivered exactly once", len(results) > 0 && missing == 0 && repeated == 0 && pickupBad == 0,
		fmt.Sprintf("%d missing, %d repeated, %d pickup events not accepted or not delivered", missing, repeated, pickupBad))
	return *missed
}

// saveProfile writes a 3 s CPU profile of the hookbox serve whose admin
// listener is admin to path.
func saveProfile(ctx context.Context, admin, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/debug/pprof/profile?seconds=3", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /debug/pprof/profile: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
