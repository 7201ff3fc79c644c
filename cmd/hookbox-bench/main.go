// Command hookbox-bench measures hookbox on this machine and checks its
// targets. It has two modes.
//
// Ingest (the default, or "ingest") measures webhook ingest against a bare
// Go handler, in one run:
//
//	hookbox req/s >= 50% of the bare handler's, hookbox p99 <= 25 ms.
//
// Each round starts "hookbox serve" on a fresh store and a bare handler
// (this binary, "hookbox-bench bare"), one after the other, and drives each
// with the same "hookbox send --concurrency C --count N" run. Rounds
// alternate which receiver goes first, so neither always meets a warmer or
// busier machine; the table shows medians over rounds. The load generator
// shares the machine with the receiver, as in the measurements of
// shared/performance-notes.md, so on a busy machine read the ratio rather
// than the absolute rates.
//
// Drain ("drain") measures delivery (issue #3): how fast "hookbox serve
// --forward-to" drains a backlog to a local HTTP destination, and how soon
// it picks up a new event once committed:
//
//	drain >= 5,000 events/s, pickup p50 <= 2 ms (commit -> destination).
//
// See drain.go for what a drain round does.
//
// With --db postgres either mode runs on a fresh schema of the PostgreSQL
// server --pg-dsn names (by default postgres@127.0.0.1:5432/test) instead of
// a fresh SQLite file, with the same commands otherwise.
//
// Usage (from the module):
//
//	go run ./cmd/hookbox-bench [ingest] [--requests 20000] [--concurrency 64] [--rounds 3]
//	    [--db sqlite|postgres] [--pg-dsn DSN] [--hookbox PATH] [--receivers hookbox,bare]
//	    [--base PATH] [--serve-env K=V]... [--load send|wrk] [--keep] [--strict]
//	go run ./cmd/hookbox-bench drain [--events 20000] [--rounds 3] [--db sqlite|postgres]
//	    [--pickup-events 2000] [--pickup-rate 200] [--pg-dsn DSN] [--hookbox PATH]
//	    [--serve-env K=V]... [--keep] [--strict]
//
// --base PATH adds a third receiver, "base": another hookbox binary (an
// earlier build) run exactly as hookbox is, in the same rounds, so a change
// is measured side by side with what it changes. After each round of
// hookbox or base the store's size is read (the SQLite file once the
// server has stopped and checkpointed, or the schema's relations with their
// indexes and TOAST) and shown per stored event.
//
// --load wrk drives each receiver with wrk (installed separately) instead
// of hookbox send: the same Stripe-shaped events, signed and written to
// files before the round, sent from 2 threads that stop after their share
// (wrk.lua). wrk takes less of the CPU the receivers share, as in the
// figures of issue #18.
//
// It exits 0 whether targets are met or missed, unless --strict; it exits 1
// when a round could not run at all.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/hookbox/hookbox/receiver"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// The targets hookbox is held to (see the package comment).
const (
	targetRateRatio = 0.5
	targetP99ms     = 25.0
)

// benchSecret signs the load; it protects nothing but a throwaway database.
const benchSecret = "whsec_bench_0123456789abcdefghijklmnopqrstuv"

func main() {
	ctx, stop := signalContext()
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "bare" {
		// Hidden mode: the baseline receiver, run as a subprocess.
		err = runBare(ctx, os.Args[2:], os.Stderr)
	} else {
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "hookbox-bench:", err)
		os.Exit(1)
	}
}

// signalContext is cancelled by SIGINT or SIGTERM (how the bench stops
// the bare receiver).
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

type config struct {
	requests    int
	concurrency int
	rounds      int
	keep        bool
	strict      bool
	db          string   // "sqlite" or "postgres"
	pgDSN       string   // the PostgreSQL server of --db postgres
	hookbox     string   // binary; built when empty
	base        string   // another hookbox binary, receiver "base"; none when empty
	receivers   []string // "hookbox", "bare", "base"
	serveEnv    []string // extra KEY=VALUE for hookbox serve
	self        string   // binary that runs "bare"; os.Executable by default
	load        string   // the load generator: "send" (hookbox send) or "wrk"
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("hookbox-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.requests, "requests", 20000, "requests per receiver per round")
	fs.IntVar(&c.concurrency, "concurrency", 64, "requests in flight (hookbox send --concurrency)")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; the table shows medians")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (databases, logs, binary)")
	fs.BoolVar(&c.strict, "strict", false, "exit 1 when a target is missed or a request failed")
	fs.StringVar(&c.db, "db", "sqlite", "store of hookbox serve: sqlite (a fresh file per round) or postgres (a fresh schema per round on --pg-dsn)")
	fs.StringVar(&c.pgDSN, "pg-dsn", defaultPostgresDSN, "PostgreSQL server for --db postgres")
	fs.StringVar(&c.hookbox, "hookbox", "", "hookbox binary to use (default: go build ./cmd/hookbox into the temp dir)")
	receivers := fs.String("receivers", "hookbox,bare", "receivers to measure, comma-separated (hookbox, bare; base is added by --base)")
	fs.StringVar(&c.base, "base", "", "another hookbox binary (an earlier build) measured as receiver base in the same rounds")
	fs.Var((*stringList)(&c.serveEnv), "serve-env", "extra KEY=VALUE for hookbox serve, repeatable (e.g. HOOKBOX_LOG_LEVEL=warn)")
	fs.StringVar(&c.load, "load", "send", "load generator: send (hookbox send) or wrk (wrk with signed requests written per round; lighter on the CPU the receivers share)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.load == "wrk" {
		// Each of wrk's threads sends an equal share.
		c.requests -= c.requests % wrkThreads
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case c.requests <= 0:
		return nil, fmt.Errorf("--requests must be > 0 (at least %d with --load wrk), got %d", wrkThreads, c.requests)
	case c.concurrency <= 0:
		return nil, fmt.Errorf("--concurrency must be > 0, got %d", c.concurrency)
	case c.rounds <= 0:
		return nil, fmt.Errorf("--rounds must be > 0, got %d", c.rounds)
	case c.db != "sqlite" && c.db != "postgres":
		return nil, fmt.Errorf("--db %q: want sqlite or postgres", c.db)
	case c.load != "send" && c.load != "wrk":
		return nil, fmt.Errorf("--load %q: want send or wrk", c.load)
	}
	for _, r := range strings.Split(*receivers, ",") {
		switch r = strings.TrimSpace(r); r {
		case "hookbox", "bare":
			if !slices.Contains(c.receivers, r) {
				c.receivers = append(c.receivers, r)
			}
		case "":
		default:
			return nil, fmt.Errorf("unknown receiver %q (hookbox, bare)", r)
		}
	}
	if c.base != "" {
		c.receivers = append(c.receivers, "base")
	}
	if len(c.receivers) == 0 {
		return nil, errors.New("--receivers names no receiver")
	}
	if err := checkServeEnv(c.serveEnv); err != nil {
		return nil, err
	}
	return c, nil
}

// summary is the part of "hookbox send --json" the bench reads.
type summary struct {
	Count    int            `json:"count"`
	Seconds  float64        `json:"seconds"`
	RPS      float64        `json:"rps"`
	P50      float64        `json:"p50_ms"`
	P99      float64        `json:"p99_ms"`
	Max      float64        `json:"max_ms"`
	Statuses map[string]int `json:"statuses"`
	Errors   int            `json:"errors"`
}

// failed counts requests without a 2xx answer.
func (s *summary) failed() int {
	n := s.Errors
	for code, c := range s.Statuses {
		if v, _ := strconv.Atoi(code); v < 200 || v > 299 {
			n += c
		}
	}
	return n
}

// result is one receiver's run in one round.
type result struct {
	summary
	serverCPU time.Duration // user+system of the receiver process, start to exit
	dbBytes   int64         // the store's size after the round; 0 for bare
}

// run runs the mode args name: "drain", or ingest ("ingest" or none).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "drain":
			return runDrain(ctx, args[1:], stdout, stderr)
		case "ingest":
			args = args[1:]
		}
	}
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	return bench(ctx, c, stdout, stderr)
}

// bench runs the rounds and prints the report.
func bench(ctx context.Context, c *config, stdout, stderr io.Writer) error {
	var err error
	if c.self == "" {
		if c.self, err = os.Executable(); err != nil {
			return fmt.Errorf("find own binary for the bare receiver: %w", err)
		}
	}
	tmp, cleanup, err := benchDir(ctx, "hookbox-bench-", c.keep, &c.hookbox, stderr)
	if err != nil {
		return err
	}
	defer cleanup()

	results := map[string][]result{}
	var runErrs []error
	for round := 1; round <= c.rounds; round++ {
		order := slices.Clone(c.receivers)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, recv := range order {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			dir := filepath.Join(tmp, fmt.Sprintf("round%d-%s", round, recv))
			if err := os.Mkdir(dir, 0o700); err != nil {
				return err
			}
			res, err := runRound(ctx, c, recv, dir, stderr)
			if err != nil {
				fmt.Fprintf(stderr, "round %d %-7s FAILED: %v\n", round, recv, err)
				runErrs = append(runErrs, fmt.Errorf("round %d %s: %w", round, recv, err))
				continue
			}
			results[recv] = append(results[recv], res)
			fmt.Fprintf(stderr, "round %d %-7s %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms  failed %d  server CPU %v  store %d B/event\n",
				round, recv, res.RPS, res.P50, res.P99, res.failed(), res.serverCPU.Round(time.Millisecond), res.dbBytes/int64(max(res.Count, 1)))
		}
	}
	return outcome(runErrs, report(stdout, c, results), c.strict)
}

// runRound starts one receiver, waits until it is ready, drives it with
// hookbox send and stops it with SIGTERM.
func runRound(ctx context.Context, c *config, recv, dir string, stderr io.Writer) (result, error) {
	listen, err := freeAddr()
	if err != nil {
		return result{}, err
	}
	var cmd *exec.Cmd
	var ready string
	var db string
	switch recv {
	case "hookbox", "base":
		admin, err := freeAddr()
		if err != nil {
			return result{}, err
		}
		var drop func()
		db, drop, err = roundDB(ctx, c.db, c.pgDSN, dir, c.keep, stderr)
		if err != nil {
			return result{}, err
		}
		defer drop()
		bin := c.hookbox
		if recv == "base" {
			bin = c.base
		}
		cmd = serveCmd(bin, db, listen, admin, c.serveEnv)
		ready = "http://" + admin + "/readyz"
	case "bare":
		cmd = exec.Command(c.self, "bare", "--listen", listen)
		cmd.Env = cleanEnv()
		ready = "http://" + listen + "/readyz"
	}
	p, err := startProc(cmd, filepath.Join(dir, recv+".log"))
	if err != nil {
		return result{}, err
	}
	defer p.stop()
	if err := p.waitReady(ctx, ready); err != nil {
		return result{}, err
	}

	var res result
	var sendErr string
	url := "http://" + listen + receiver.DefaultPath
	if c.load == "wrk" {
		res.summary, sendErr, err = wrkLoad(ctx, c.concurrency, c.requests, url, dir)
	} else {
		res.summary, sendErr, err = send(ctx, c.hookbox, c.concurrency, c.requests, url)
	}
	if err != nil {
		return result{}, err
	}
	// wrk's threads stop after their share, with a few answers to requests
	// already in flight counted as well.
	if res.Count < c.requests || c.load == "send" && res.Count != c.requests {
		return result{}, fmt.Errorf("%s ran %d of %d requests\n%s", c.load, res.Count, c.requests, sendErr)
	}
	cpu, err := p.stop()
	if err != nil {
		// A receiver that cannot shut down cleanly is worth knowing about,
		// but the load figures stand.
		fmt.Fprintf(stderr, "%s: exit after SIGTERM: %v\n", recv, err)
	}
	res.serverCPU = cpu
	if db != "" {
		if res.dbBytes, err = storeSize(ctx, db); err != nil {
			return result{}, fmt.Errorf("store size: %w", err)
		}
	}
	return res, nil
}

// cleanEnv is this process's environment without hookbox's and Stripe's
// variables, so a developer's own settings cannot change the benchmark.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HOOKBOX_") || strings.HasPrefix(kv, "STRIPE_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. A receiver that loses the race fails to start and the round says so.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls url until it answers 200, the process exits, or 30 s pass.
func waitReady(ctx context.Context, url string, exited <-chan error) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 30s (last: %v)", url, err)
		}
		select {
		case err := <-exited:
			return fmt.Errorf("receiver exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tail returns the last lines of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "--- " + path + " (tail)\n" + strings.Join(lines, "\n")
}

// machineLoad is ", load 1m 5m 15m" from /proc/loadavg, or "".
func machineLoad() string {
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			return ", load " + strings.Join(f[:3], " ")
		}
	}
	return ""
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// report prints the table and the target checks; it returns how many
// checks were missed.
func report(w io.Writer, c *config, results map[string][]result) int {
	fmt.Fprintf(w, "\nhookbox-bench: %d requests x %d rounds, concurrency %d, hookbox on %s, %d CPUs, %s%s\n\n",
		c.requests, c.rounds, c.concurrency, c.db, runtime.NumCPU(), runtime.Version(), machineLoad())

	type row struct{ rps, p99, cpuPerReq, bytesPerEvent float64 }
	rows := map[string]row{}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "receiver\treq/s (median)\tp99 ms (median)\tserver CPU us/req\tstore B/event\tfailed\trounds (req/s)")
	for _, recv := range c.receivers {
		rs := results[recv]
		if len(rs) == 0 {
			fmt.Fprintf(tw, "%s\tno round ran\t\t\t\t\n", recv)
			continue
		}
		var rps, p99, cpu, size []float64
		var rounds []string
		failed := 0
		for _, r := range rs {
			rps = append(rps, r.RPS)
			p99 = append(p99, r.P99)
			cpu = append(cpu, float64(r.serverCPU.Microseconds())/float64(r.Count))
			size = append(size, float64(r.dbBytes)/float64(r.Count))
			rounds = append(rounds, fmt.Sprintf("%.0f", r.RPS))
			failed += r.failed()
		}
		rw := row{median(rps), median(p99), median(cpu), median(size)}
		rows[recv] = rw
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.0f\t%.0f\t%d\t%s\n", recv, rw.rps, rw.p99, rw.cpuPerReq, rw.bytesPerEvent, failed, strings.Join(rounds, " "))
	}
	h, okH := rows["hookbox"]
	b, okB := rows["bare"]
	if okH && okB {
		fmt.Fprintf(tw, "hookbox/bare\t%.2f\t%.2f\t%.2f\t\t\t\n", h.rps/b.rps, h.p99/b.p99, h.cpuPerReq/b.cpuPerReq)
	}
	if base, ok := rows["base"]; ok && okB {
		fmt.Fprintf(tw, "base/bare\t%.2f\t%.2f\t%.2f\t\t\t\n", base.rps/b.rps, base.p99/b.p99, base.cpuPerReq/b.cpuPerReq)
	}
	if base, ok := rows["base"]; ok && okH {
		fmt.Fprintf(tw, "hookbox/base\t%.2f\t%.2f\t%.2f\t%.2f\t\t\n", h.rps/base.rps, h.p99/base.p99, h.cpuPerReq/base.cpuPerReq, h.bytesPerEvent/base.bytesPerEvent)
	}
	tw.Flush()
	fmt.Fprintln(w)

	check, missed := checker(w)
	if okH && okB {
		check(fmt.Sprintf("hookbox rate >= %.0f%% of bare", targetRateRatio*100), h.rps >= targetRateRatio*b.rps,
			fmt.Sprintf("%.0f%%", 100*h.rps/b.rps))
	} else if slices.Contains(c.receivers, "hookbox") && slices.Contains(c.receivers, "bare") {
		check(fmt.Sprintf("hookbox rate >= %.0f%% of bare", targetRateRatio*100), false, "not measured")
	}
	if okH {
		check(fmt.Sprintf("hookbox p99 <= %.0f ms", targetP99ms), h.p99 <= targetP99ms, fmt.Sprintf("%.2f ms", h.p99))
		failed := 0
		for _, r := range results["hookbox"] {
			failed += r.failed()
		}
		check("hookbox answered every request 2xx", failed == 0, fmt.Sprintf("%d failed", failed))
	} else if slices.Contains(c.receivers, "hookbox") {
		check(fmt.Sprintf("hookbox p99 <= %.0f ms", targetP99ms), false, "not measured")
	}
	return *missed
}

// checkServeEnv checks that every --serve-env is KEY=VALUE.
func checkServeEnv(env []string) error {
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("--serve-env wants KEY=VALUE, got %q", kv)
		}
	}
	return nil
}

// benchDir makes the temporary directory of a run, prefix followed by
// random characters, and builds hookbox into it when *hookbox is empty.
// cleanup removes the directory unless keep.
func benchDir(ctx context.Context, prefix string, keep bool, hookbox *string, stderr io.Writer) (tmp string, cleanup func(), err error) {
	tmp, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	if keep {
		fmt.Fprintf(stderr, "keeping %s\n", tmp)
		cleanup = func() {}
	}
	if *hookbox == "" {
		if *hookbox, err = buildHookbox(ctx, tmp, stderr); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	return tmp, cleanup, nil
}

// outcome is a run's error: rounds that could not run, else, with strict,
// missed checks.
func outcome(runErrs []error, missed int, strict bool) error {
	if len(runErrs) > 0 {
		return fmt.Errorf("%d round(s) could not run: %w", len(runErrs), errors.Join(runErrs...))
	}
	if strict && missed > 0 {
		return fmt.Errorf("--strict: %d check(s) missed", missed)
	}
	return nil
}

// checker returns check, which prints a target check's verdict to w, and
// the count of checks missed so far.
func checker(w io.Writer) (check func(name string, ok bool, detail string), missed *int) {
	missed = new(int)
	check = func(name string, ok bool, detail string) {
		verdict := "PASS"
		if !ok {
			verdict = "MISS"
			*missed++
		}
		fmt.Fprintf(w, "%-44s %s (%s)\n", name, verdict, detail)
	}
	return check, missed
}
