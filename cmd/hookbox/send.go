package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/hookbox/hookbox/receiver"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/stripefixture"
	"github.com/hookbox/hookbox/stripesig"
)

// Every top-level name in this file starts with "send" so that the file
// cannot collide with the other subcommands of package main.

const sendUsage = `Usage: hookbox send [flags] [URL]

Posts realistic Stripe events, signed as Stripe signs them, to URL (default
--url). It is also hookbox's load generator: bodies are generated before the
timed run (about 4 KB each, so --count 1000000 needs about 4 GB), each
request is signed just before it is sent, and a summary with exact latency
percentiles is printed at the end.

The signing secret comes from STRIPE_WEBHOOK_SECRET or, as a file,
STRIPE_WEBHOOK_SECRET_FILE; several comma-separated secrets give one v1 per
secret, as during a roll. It is never printed.

With --shuffle it sends the events of --objects objects (subscriptions,
invoices, payment intents), --events-per-object each, with realistic
created times (seconds to minutes apart), in a random order: an object's
later event often arrives before an earlier one, as Stripe does not
guarantee order. The summary counts the events dispatched before an earlier
event of their object; --concurrency above 1 reorders further (requests
overtake one another in flight), --concurrency 1 sends exactly that order.
--count is then objects x events-per-object, plus --duplicates' re-sends.

Exits non-zero when any request failed (transport error or non-2xx), after
the summary, unless --allow-errors.

Flags:
`

// sendDefaultURL is where "hookbox serve" listens by default.
const sendDefaultURL = "http://127.0.0.1:8080" + receiver.DefaultPath

// sendConfig is the parsed command line of "hookbox send".
type sendConfig struct {
	url             string
	count           int
	concurrency     int
	duplicates      float64
	types           []string
	livemode        bool
	apiVersion      string // the events' api_version
	connectFraction float64
	rate            float64
	timeout         time.Duration
	seed            int64
	json            bool
	quiet           bool
	allowErrors     bool
	secrets         []string
	shuffle         bool // send objects' lifecycles out of order
	objects         int  // with shuffle: how many objects
	perObject       int  // with shuffle: events per object
	thin            bool // send thin notifications (event destinations)
}

func runSend(ctx context.Context, env *environ, args []string) error {
	cfg, err := sendParse(env, args)
	if err != nil {
		return err
	}
	if !cfg.quiet {
		fmt.Fprintf(env.Stderr, "generating %d events...", cfg.count)
	}
	genStart := time.Now()
	plan := sendPlan(cfg)
	if !cfg.quiet {
		size := 0
		for _, b := range plan.bodies {
			size += len(b)
		}
		fmt.Fprintf(env.Stderr, " %d unique, %.1f MB in %v\n", len(plan.bodies), float64(size)/1e6, time.Since(genStart).Round(time.Millisecond))
	}

	res := sendRun(ctx, cfg, plan, env.Stderr)
	sum := res.summary(cfg, plan)
	if cfg.json {
		enc := json.NewEncoder(env.Stdout)
		if err := enc.Encode(sum); err != nil {
			return fmt.Errorf("send: write summary: %w", err)
		}
	} else {
		sum.writeText(env.Stdout)
	}
	if res.firstErr != nil {
		// One sample says more than a count (connection refused, timeout...).
		fmt.Fprintf(env.Stderr, "send: first transport error: %v\n", res.firstErr)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("send: interrupted after %d of %d requests", sum.Count, cfg.count)
	}
	failed := sum.Errors
	for code, n := range sum.Statuses {
		if c, _ := strconv.Atoi(code); c < 200 || c > 299 {
			failed += n
		}
	}
	if failed > 0 && !cfg.allowErrors {
		return fmt.Errorf("send: %d of %d requests failed (%d transport errors, %d non-2xx); --allow-errors to exit 0",
			failed, sum.Count, sum.Errors, failed-sum.Errors)
	}
	return nil
}

// sendParse parses and validates the flags and reads the secrets.
func sendParse(env *environ, args []string) (*sendConfig, error) {
	cfg := &sendConfig{}
	fs, types := sendFlagSet(cfg, env.Stderr)
	positional, err := sendParseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if err := sendShuffleCheck(cfg, fs); err != nil {
		return nil, err
	}
	switch len(positional) {
	case 0:
	case 1:
		cfg.url = positional[0]
	default:
		return nil, fmt.Errorf("send: one URL expected, got %d arguments", len(positional))
	}
	if err := sendCheck(cfg); err != nil {
		return nil, err
	}
	if cfg.types, err = sendTypes(*types); err != nil {
		return nil, err
	}
	if cfg.seed == 0 {
		cfg.seed = time.Now().UnixNano()
	}
	cfg.secrets, err = sendSecrets(env.Getenv)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// sendFlagSet declares the flags of "hookbox send" into cfg. --types is
// returned apart, as the comma-separated list sendTypes checks.
func sendFlagSet(cfg *sendConfig, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("hookbox send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), sendUsage)
		fs.PrintDefaults()
		sendWriteTypes(fs.Output())
	}
	fs.StringVar(&cfg.url, "url", sendDefaultURL, "receiver URL (a positional URL wins)")
	fs.IntVar(&cfg.count, "count", 100, "number of requests to send")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "requests in flight at once (one keep-alive connection each)")
	fs.Float64Var(&cfg.duplicates, "duplicates", 0, "fraction (0..1) of requests that re-send an event already sent, freshly signed, as Stripe's retries do")
	types := fs.String("types", "*", "comma-separated event types or prefix.* patterns (\"invoice.*,payout.paid\") to draw from uniformly; * for every supported type (listed below)")
	fs.BoolVar(&cfg.livemode, "livemode", false, "send live-mode events (livemode: true)")
	fs.StringVar(&cfg.apiVersion, "api-version", stripefixture.DefaultAPIVersion, "the events' api_version (an app on stripe-go whose ConstructEvent checks the version needs its own, e.g. 2026-03-25.dahlia)")
	fs.Float64Var(&cfg.connectFraction, "connect-fraction", 0, "fraction (0..1) of events carrying a connected account (Connect)")
	fs.Float64Var(&cfg.rate, "rate", 0, "cap on requests per second (0: unlimited)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.Int64Var(&cfg.seed, "seed", 0, "seed for event contents and ids (0: from the clock, so every run sends new ids)")
	fs.BoolVar(&cfg.json, "json", false, "print the summary as one JSON object")
	fs.BoolVar(&cfg.quiet, "quiet", false, "no progress on stderr")
	fs.BoolVar(&cfg.allowErrors, "allow-errors", false, "exit 0 even if requests failed")
	fs.BoolVar(&cfg.thin, "thin", false, "send thin event notifications (object v2.core.event, as event destinations with thin payloads send them) to a thin endpoint (payload: thin)")
	fs.BoolVar(&cfg.shuffle, "shuffle", false, "send several events per object (a lifecycle) in a random order, out of creation order")
	fs.IntVar(&cfg.objects, "objects", 25, "with --shuffle: number of objects (subscriptions, invoices, payment intents)")
	fs.IntVar(&cfg.perObject, "events-per-object", 4, "with --shuffle: events per object (first and last step of its life, then more in between)")
	return fs, types
}

// sendParseArgs parses args with fs and returns the positional arguments.
// It accepts flags after the URL too ("send URL --count 5"): the flag
// package stops at the first non-flag, so it parses again after each one.
func sendParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// sendShuffleCheck validates --shuffle's flags and derives --count from
// them: objects x events-per-object events plus the re-sends that make
// --duplicates their fraction of the requests. --count and --types, which
// the objects decide, are refused with --shuffle, as are --objects and
// --events-per-object without it.
func sendShuffleCheck(cfg *sendConfig, fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case cfg.thin && (cfg.shuffle || set["types"] || set["api-version"]):
		return errors.New("send: --thin sends thin notifications of their own types: without --shuffle, --types or --api-version")
	case !cfg.shuffle && (set["objects"] || set["events-per-object"]):
		return errors.New("send: --objects and --events-per-object go with --shuffle")
	case !cfg.shuffle:
		return nil
	case set["count"] || set["types"]:
		return errors.New("send: --shuffle sends --objects x --events-per-object events of its own types: drop --count and --types")
	case cfg.objects <= 0 || cfg.objects > 10_000_000:
		return fmt.Errorf("send: --objects must be in 1..10000000, got %d", cfg.objects)
	case cfg.perObject <= 0 || cfg.perObject > 100:
		return fmt.Errorf("send: --events-per-object must be in 1..100, got %d", cfg.perObject)
	case !(cfg.duplicates >= 0 && cfg.duplicates < 1):
		return fmt.Errorf("send: --duplicates must be a fraction in [0,1) with --shuffle, got %v", cfg.duplicates)
	}
	unique := cfg.objects * cfg.perObject
	cfg.count = int(math.Round(float64(unique) / (1 - cfg.duplicates)))
	return nil
}

// sendCheck validates the URL and the numeric flags of cfg.
func sendCheck(cfg *sendConfig) error {
	u, err := url.Parse(cfg.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("send: URL must be http(s)://host[:port]/path, got %q", cfg.url)
	}
	switch {
	case cfg.count <= 0:
		return fmt.Errorf("send: --count must be > 0, got %d", cfg.count)
	case cfg.concurrency <= 0:
		return fmt.Errorf("send: --concurrency must be > 0, got %d", cfg.concurrency)
	case !(cfg.duplicates >= 0 && cfg.duplicates <= 1): // also rejects NaN
		return fmt.Errorf("send: --duplicates must be a fraction in [0,1], got %v", cfg.duplicates)
	case !(cfg.connectFraction >= 0 && cfg.connectFraction <= 1):
		return fmt.Errorf("send: --connect-fraction must be a fraction in [0,1], got %v", cfg.connectFraction)
	case !(cfg.rate >= 0) || math.IsInf(cfg.rate, 0):
		return fmt.Errorf("send: --rate must be >= 0 requests/s (0: unlimited), got %v", cfg.rate)
	case cfg.timeout <= 0:
		return fmt.Errorf("send: --timeout must be > 0, got %v", cfg.timeout)
	case cfg.apiVersion == "" || strings.ContainsAny(cfg.apiVersion, "\"\\ \t\r\n"):
		return fmt.Errorf("send: --api-version %q: want a version such as 2026-03-25.dahlia", cfg.apiVersion)
	}
	return nil
}

// sendTypes splits the --types list, skipping empty items, into the event
// types to draw from. An item is a supported type, a prefix pattern
// ("invoice.*", as destinations' events filters write it) standing for
// every supported type it matches, or "*" for all. It fails on an
// unsupported type, a pattern matching none, or an empty list.
func sendTypes(list string) ([]string, error) {
	var types []string
	add := func(t string) {
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case item == "*" || strings.HasSuffix(item, ".*"):
			// The very matching of destinations' events filters.
			filter, err := deliver.ParseTypes(item)
			if err != nil {
				return nil, fmt.Errorf("send: --types: %w", err)
			}
			n := 0
			for _, t := range stripefixture.Types() {
				if filter.Match(t) {
					add(t)
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("send: no supported event type matches %q; supported: %s", item, strings.Join(stripefixture.Types(), ","))
			}
		case stripefixture.Supported(item):
			add(item)
		default:
			return nil, fmt.Errorf("send: unsupported event type %q; supported: %s", item, strings.Join(stripefixture.Types(), ","))
		}
	}
	if len(types) == 0 {
		return nil, errors.New("send: --types lists no event type")
	}
	return types, nil
}

// sendWriteTypes lists the supported event types for --help, wrapped.
func sendWriteTypes(w io.Writer) {
	fmt.Fprintf(w, "\nEvent types (--types takes these, prefix.* patterns such as invoice.*, or *):\n")
	line := " "
	for _, t := range slices.Sorted(slices.Values(stripefixture.Types())) {
		if len(line)+1+len(t) > 78 {
			fmt.Fprintln(w, line)
			line = " "
		}
		line += " " + t
	}
	fmt.Fprintln(w, line)
}

// sendSecrets reads STRIPE_WEBHOOK_SECRET or STRIPE_WEBHOOK_SECRET_FILE
// with the rules serve and sign use (readSecrets). Errors name the
// variables, never a value.
func sendSecrets(getenv func(string) string) ([]string, error) {
	secrets, err := readSecrets(getenv, "STRIPE_WEBHOOK_SECRET")
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	if len(secrets) == 0 {
		return nil, errors.New("send: no signing secret: set STRIPE_WEBHOOK_SECRET (whsec_..., comma-separated to sign with several) or STRIPE_WEBHOOK_SECRET_FILE")
	}
	return secrets, nil
}

// sendPlanned is the work prepared before the clock starts.
type sendPlanned struct {
	bodies [][]byte // unique events, in first-send order
	// jobs[i] >= 0: request i sends bodies[jobs[i]] for the first time.
	// jobs[i] < 0: request i re-sends an earlier event; -jobs[i] events had
	// been dispatched by then (the fallback pool when none has completed).
	jobs []int32

	// With --shuffle: the objects, the events dispatched (first sends)
	// before an earlier event of their object, and the objects with any.
	objects, outOfOrder, objectsOutOfOrder int
}

// sendChunk is how many events one generator produces. Fixed (not derived
// from the core count) so that a seed means the same events everywhere.
const sendChunk = 1024

// sendPlan generates the bodies (in parallel, outside the timed run) and
// decides which requests are re-sends.
func sendPlan(cfg *sendConfig) *sendPlanned {
	// round(fraction * count) re-sends; request 0 is always new, since a
	// re-send needs an earlier event. --shuffle fixed the unique events.
	dups := min(int(math.Round(cfg.duplicates*float64(cfg.count))), cfg.count-1)
	if cfg.shuffle {
		dups = cfg.count - cfg.objects*cfg.perObject
	}
	unique := cfg.count - dups
	rng := rand.New(rand.NewPCG(uint64(cfg.seed), 1))
	isDup := make([]bool, cfg.count)
	for _, p := range rng.Perm(cfg.count - 1)[:dups] {
		isDup[p+1] = true
	}
	p := &sendPlanned{bodies: make([][]byte, unique), jobs: make([]int32, cfg.count)}
	n := int32(0)
	for i := range p.jobs {
		if isDup[i] {
			p.jobs[i] = -n
		} else {
			p.jobs[i] = n
			n++
		}
	}
	if cfg.shuffle {
		sendShuffled(cfg, p)
		return p
	}

	// Events are created in the recent past, as a live Stripe account
	// would have created them: each generator advances 0-2 s per event, so
	// a chunk starts that far back and ends about now, never in the future.
	start := time.Now().Add(-2 * sendChunk * time.Second)
	sendParallel((unique+sendChunk-1)/sendChunk, func(c int) {
		g := sendGenerator(cfg, c, start)
		pick := rand.New(rand.NewPCG(uint64(cfg.seed), uint64(c)+2))
		for i := c * sendChunk; i < min((c+1)*sendChunk, unique); i++ {
			if cfg.thin {
				p.bodies[i] = thinNotification(pick, start.Add(time.Duration(i)*time.Second), cfg.livemode)
				continue
			}
			p.bodies[i] = g.Event(cfg.types[pick.IntN(len(cfg.types))], cfg.livemode)
		}
	})
	return p
}

// sendGenerator is the generator of chunk c, whose first event is created
// at start.
func sendGenerator(cfg *sendConfig, c int, start time.Time) *stripefixture.Generator {
	g := stripefixture.New(cfg.seed ^ int64(c+1)*0x5851f42d4c957f2d)
	g.Start = start
	g.ConnectFraction = cfg.connectFraction
	g.APIVersion = cfg.apiVersion
	return g
}

// sendParallel runs f(0) .. f(chunks-1) on up to GOMAXPROCS goroutines.
func sendParallel(chunks int, f func(c int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), chunks) {
		wg.Go(func() {
			for c := int(next.Add(1) - 1); c < chunks; c = int(next.Add(1) - 1) {
				f(c)
			}
		})
	}
	wg.Wait()
}

// sendShuffled fills p.bodies with the lifecycles of cfg.objects objects,
// cfg.perObject events each, in a random order drawn from the seed, and
// counts what that order puts before an earlier event of the same object.
func sendShuffled(cfg *sendConfig, p *sendPlanned) {
	k := cfg.perObject
	events := make([][]byte, cfg.objects*k) // object o's step j at o*k+j
	// Objects start 0-2 s apart and live up to k x 5 min: start far enough
	// back that no step is created in the future.
	per := max(1, sendChunk/k) // objects per generator
	start := time.Now().Add(-time.Duration(2*per+300*k) * time.Second)
	kinds := stripefixture.Lifecycles()
	sendParallel((cfg.objects+per-1)/per, func(c int) {
		g := sendGenerator(cfg, c, start)
		pick := rand.New(rand.NewPCG(uint64(cfg.seed), uint64(c)+2))
		for o := c * per; o < min((c+1)*per, cfg.objects); o++ {
			copy(events[o*k:], g.Sequence(kinds[pick.IntN(len(kinds))], k, cfg.livemode))
		}
	})
	order := rand.New(rand.NewPCG(uint64(cfg.seed), 1<<40)).Perm(len(events))
	for i, e := range order {
		p.bodies[i] = events[e]
	}
	// From the last dispatch back: an event is early if a step before it
	// is dispatched later.
	earliestLater := make([]int, cfg.objects)
	for o := range earliestLater {
		earliestLater[o] = k
	}
	early := make([]bool, cfg.objects)
	for _, e := range slices.Backward(order) {
		o, step := e/k, e%k
		if earliestLater[o] < step {
			p.outOfOrder++
			early[o] = true
		}
		earliestLater[o] = min(earliestLater[o], step)
	}
	p.objects = cfg.objects
	for _, b := range early {
		if b {
			p.objectsOutOfOrder++
		}
	}
}

// sendResults holds one slot per request, written only by the worker that
// ran it, so recording needs no lock.
type sendResults struct {
	status    []int16 // 0: not run (interrupted), -1: transport error, else HTTP status
	latency   []time.Duration
	duplicate []bool // the response said "duplicate": true
	elapsed   time.Duration
	firstErr  error
	errOnce   sync.Once // guards firstErr, the one field workers share
}

// record stores the outcome of request i and reports whether it failed
// (a transport error or a non-2xx status).
func (r *sendResults) record(i, status int, dup bool, lat time.Duration, err error) bool {
	r.latency[i], r.duplicate[i] = lat, dup
	if err != nil {
		r.status[i] = -1
		r.errOnce.Do(func() { r.firstErr = err })
		return true
	}
	r.status[i] = int16(status)
	return status < 200 || status > 299
}

// sendRun sends the planned requests and returns what happened.
func sendRun(ctx context.Context, cfg *sendConfig, p *sendPlanned, progress io.Writer) *sendResults {
	n := len(p.jobs)
	res := &sendResults{status: make([]int16, n), latency: make([]time.Duration, n), duplicate: make([]bool, n)}
	workers := min(cfg.concurrency, n)
	client := sendClient(cfg, workers)
	defer client.CloseIdleConnections()

	var (
		completed    sendCompleted
		next         atomic.Int64
		done, failed atomic.Int64
	)
	start := time.Now()
	stopProgress := sendProgress(cfg, progress, &done, &failed, start)

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(cfg.seed), uint64(w)+1<<32))
			buf := make([]byte, 512)
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil || !sendPace(ctx, cfg.rate, start, i) {
					return
				}
				b := p.jobs[i]
				if b < 0 {
					b = completed.pick(rng, -b)
				}
				status, dup, lat, err := sendOne(ctx, client, cfg, p.bodies[b], buf)
				if err != nil && ctx.Err() != nil {
					return // interrupted, not a failure of the receiver
				}
				if res.record(i, status, dup, lat, err) {
					failed.Add(1)
				}
				done.Add(1)
				if p.jobs[i] >= 0 && cfg.duplicates > 0 {
					completed.add(b)
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	stopProgress()
	return res
}

// sendClient is the HTTP client of a run with the given number of
// workers. One keep-alive connection per worker, all reused: a load tool
// that reconnects measures the kernel's handshakes, not the receiver.
// Redirects are not followed: Stripe counts a 3xx as a failed delivery.
func sendClient(cfg *sendConfig, workers int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil, // straight to the receiver, whatever HTTP_PROXY says
			DialContext:         (&net.Dialer{Timeout: cfg.timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        workers,
			MaxIdleConnsPerHost: workers,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: cfg.timeout,
		},
		Timeout:       cfg.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// sendPace waits until request i is due under open-loop pacing at rate
// requests/s, that is at start + i/rate (at once when rate is 0). It
// returns false if ctx ends first.
func sendPace(ctx context.Context, rate float64, start time.Time, i int) bool {
	if rate <= 0 {
		return true
	}
	due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return false
	case <-t.C:
		return true
	}
}

// sendCompleted holds the events whose delivery completed: re-sends pick
// from these, as Stripe retries an event after its previous attempt ended.
// Workers share it.
type sendCompleted struct {
	mu     sync.Mutex
	events []int32
}

// pick returns a completed event at random or, while none has completed,
// one of the first dispatched events.
func (c *sendCompleted) pick(rng *rand.Rand, dispatched int32) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) > 0 {
		return c.events[rng.IntN(len(c.events))]
	}
	return int32(rng.IntN(int(dispatched)))
}

// add records that the delivery of event b completed.
func (c *sendCompleted) add(b int32) {
	c.mu.Lock()
	c.events = append(c.events, b)
	c.mu.Unlock()
}

// sendOne signs body now and posts it with the headers Stripe sends. It
// returns the status, whether the response said "duplicate": true, and the
// latency from sending to the fully read response.
func sendOne(ctx context.Context, client *http.Client, cfg *sendConfig, body, buf []byte) (int, bool, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.url, bytes.NewReader(body))
	if err != nil {
		return 0, false, 0, err
	}
	req.Header = http.Header{
		"Content-Type":  {"application/json; charset=utf-8"},
		"User-Agent":    {"Stripe/1.0 (+https://stripe.com/docs/webhooks)"},
		"Accept":        {"*/*; q=0.5, application/xml"},
		"Cache-Control": {"no-cache"},
		// Signed just before sending, every attempt with a fresh t: a body
		// signed minutes earlier would age towards the 300 s tolerance.
		"Stripe-Signature": {stripesig.Sign(body, time.Now(), cfg.secrets...)},
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, false, time.Since(start), err
	}
	// Read the head for the duplicate flag, drain the rest so the
	// connection goes back to the pool, then close.
	n, _ := io.ReadFull(resp.Body, buf)
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	lat := time.Since(start)
	if err != nil {
		return 0, false, lat, fmt.Errorf("read response: %w", err)
	}
	return resp.StatusCode, sendSaysDuplicate(buf[:n]), lat, nil
}

// sendSaysDuplicate reports whether a JSON response body carries
// "duplicate": true, without decoding it (whitespace allowed).
func sendSaysDuplicate(b []byte) bool {
	const key = `"duplicate"`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return false
	}
	rest := bytes.TrimLeft(b[i+len(key):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(rest[1:], " \t\r\n"), []byte("true"))
}

// sendProgress prints "sent N/M  R/s  errors E" once a second, rewriting
// the line, and a final line when stopped. It returns the stop function.
func sendProgress(cfg *sendConfig, w io.Writer, done, failed *atomic.Int64, start time.Time) func() {
	if cfg.quiet {
		return func() {}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last, lastT := int64(0), start
		for {
			select {
			case <-stop:
				d := done.Load()
				rate := float64(d) / time.Since(start).Seconds()
				fmt.Fprintf(w, "\rsent %d/%d  %.0f/s  errors %d   \n", d, cfg.count, rate, failed.Load())
				return
			case now := <-t.C:
				d := done.Load()
				rate := float64(d-last) / now.Sub(lastT).Seconds()
				last, lastT = d, now
				fmt.Fprintf(w, "\rsent %d/%d  %.0f/s  errors %d   ", d, cfg.count, rate, failed.Load())
			}
		}
	}()
	return func() { close(stop); <-stopped }
}

// sendSummary is the result; its JSON form is what scripts (and
// hookbox-bench) read.
type sendSummary struct {
	Count              int            `json:"count"` // requests that ran
	Requested          int            `json:"requested"`
	UniqueEvents       int            `json:"unique_events"`
	DuplicatesSent     int            `json:"duplicates_sent"`
	Seconds            float64        `json:"seconds"`
	RPS                float64        `json:"rps"`    // every request that ran, failures included
	OKRPS              float64        `json:"ok_rps"` // requests answered 2xx
	P50                float64        `json:"p50_ms"`
	P90                float64        `json:"p90_ms"`
	P99                float64        `json:"p99_ms"`
	Max                float64        `json:"max_ms"`
	Statuses           map[string]int `json:"statuses"` // HTTP status -> count
	Errors             int            `json:"errors"`   // transport errors (no HTTP response)
	DuplicatesReported int            `json:"duplicates_reported"`
	NewReported        int            `json:"new_reported"` // 2xx not saying "duplicate": true
	// With --shuffle: the objects, the events dispatched before an earlier
	// event of their object (concurrency may reorder arrivals further), and
	// the objects with any such event.
	Objects           int `json:"objects,omitempty"`
	OutOfOrder        int `json:"out_of_order,omitempty"`
	ObjectsOutOfOrder int `json:"objects_out_of_order,omitempty"`
}

func (r *sendResults) summary(cfg *sendConfig, p *sendPlanned) *sendSummary {
	s := &sendSummary{Requested: len(p.jobs), Statuses: map[string]int{}, Seconds: r.elapsed.Seconds(),
		Objects: p.objects, OutOfOrder: p.outOfOrder, ObjectsOutOfOrder: p.objectsOutOfOrder}
	// Latency percentiles cover requests that got an HTTP response; a
	// refused connection has no meaningful latency.
	lats := make([]time.Duration, 0, len(r.status))
	for i, st := range r.status {
		switch {
		case st == 0:
			continue
		case st < 0:
			s.Errors++
		default:
			s.Statuses[strconv.Itoa(int(st))]++
			lats = append(lats, r.latency[i])
			if st >= 200 && st <= 299 {
				if r.duplicate[i] {
					s.DuplicatesReported++
				} else {
					s.NewReported++
				}
			}
		}
		s.Count++
		if p.jobs[i] < 0 {
			s.DuplicatesSent++
		} else {
			s.UniqueEvents++
		}
	}
	if s.Seconds > 0 {
		s.RPS = float64(s.Count) / s.Seconds
		s.OKRPS = float64(s.DuplicatesReported+s.NewReported) / s.Seconds
	}
	slices.Sort(lats)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	s.P50, s.P90, s.P99 = ms(sendPercentile(lats, 0.50)), ms(sendPercentile(lats, 0.90)), ms(sendPercentile(lats, 0.99))
	if len(lats) > 0 {
		s.Max = ms(lats[len(lats)-1])
	}
	return s
}

// sendPercentile is the nearest-rank percentile of sorted durations: the
// smallest value with at least p of the samples at or below it.
func sendPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (s *sendSummary) writeText(w io.Writer) {
	fmt.Fprintf(w, "requests  %d (%d distinct events, %d re-sent) in %.3fs\n", s.Count, s.UniqueEvents, s.DuplicatesSent, s.Seconds)
	if ok := s.DuplicatesReported + s.NewReported; ok != s.Count {
		// Refused connections and errors answer fast: say what succeeded.
		fmt.Fprintf(w, "rate      %.0f req/s, of which %.0f/s answered 2xx\n", s.RPS, s.OKRPS)
	} else {
		fmt.Fprintf(w, "rate      %.0f req/s\n", s.RPS)
	}
	fmt.Fprintf(w, "latency   p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", s.P50, s.P90, s.P99, s.Max)
	codes := make([]string, 0, len(s.Statuses))
	for c := range s.Statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var b strings.Builder
	for _, c := range codes {
		fmt.Fprintf(&b, "%s: %d  ", c, s.Statuses[c])
	}
	fmt.Fprintf(w, "statuses  %serror: %d\n", b.String(), s.Errors)
	fmt.Fprintf(w, "receiver  duplicate: %d  new: %d\n", s.DuplicatesReported, s.NewReported)
	if s.Objects > 0 {
		fmt.Fprintf(w, "shuffled  %d objects, %d of them with events sent out of order; %d events sent before an earlier one of their object\n",
			s.Objects, s.ObjectsOutOfOrder, s.OutOfOrder)
	}
}
