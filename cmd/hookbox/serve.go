package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/edge"
	"github.com/hookbox/hookbox/groupcommit"
	"github.com/hookbox/hookbox/ingest"
	"github.com/hookbox/hookbox/receiver"
	"github.com/hookbox/hookbox/stripesig"
	"github.com/hookbox/hookbox/thin"
)

// serveConfig is everything "hookbox serve" runs with: flags, HOOKBOX_*
// variables and the --config file, parsed once into typed values. The
// rules between them are receiver.Options.Validate's, checked once at
// parse time.
type serveConfig struct {
	db         dbURL
	logFormat  string
	logLevel   string
	logFlush   time.Duration // 0: every log line written at once
	configFile string
	stripe     stripeSettings
	tolerance  time.Duration // endpoints that set none
	forward    forwardFlags
	payload    receiver.Payload // the default endpoint's (--payload)
	endpoints  []endpointSpec
	warnings   []string // logged at start (an inline secret in the config file)
	// opts is the receiver's configuration but for what only exists at
	// start: the store, the endpoints' destinations (they take the
	// clock), the logger.
	opts receiver.Options
	// extraDests are added to the first endpoint (tests).
	extraDests []deliver.Destination
	getenv     func(string) string // the OTEL_* variables (tracing.New)
}

const serveUsage = `Usage: hookbox serve [flags]

Runs the webhook receiver. Stripe posts to the public listener (--listen)
at /webhooks/stripe (or /webhooks/NAME for each endpoint of --config);
every request is verified against the endpoint's signing secrets, stored
exactly once, answered 200, then delivered to the destinations
(--forward-to, or those of --config) with retries. The admin listener
(--admin-listen) serves the web console, the API (/api/), Prometheus
metrics (/metrics), /healthz and /readyz, and Go profiles with --pprof.

Secrets come from the environment only (or a file named by NAME_FILE),
never from a flag:
  STRIPE_WEBHOOK_SECRET, STRIPE_WEBHOOK_SECRET_FILE
        the endpoint's signing secret (whsec_...; comma-separated to rotate).
        "stripe listen --forward-to" prints its own whsec_ to use here.
        Ignored with --config, whose endpoints name their own secrets.
  HOOKBOX_FORWARD_SECRET, HOOKBOX_FORWARD_SECRET_FILE
        the secret --forward-to signs with (your app verifies with it)
  HOOKBOX_ADMIN_TOKEN, HOOKBOX_ADMIN_TOKEN_FILE
        the admin token (console login, API and /metrics bearer token);
        required when --admin-listen is not on loopback
  STRIPE_API_KEY, STRIPE_API_KEY_FILE
        a restricted key with read access to Events, for --reconcile-every
        and to fetch the full events of thin endpoints (--payload thin), and
        to Webhook Endpoints, for the check of --stripe-check-every

Every flag also reads the HOOKBOX_* variable named in its help.

Flags:
`

// parseServeConfig reads flags and HOOKBOX_* variables. Secrets come only
// from the environment (STRIPE_WEBHOOK_SECRET, comma-separated for rotation,
// or STRIPE_WEBHOOK_SECRET_FILE), never from a flag, so they stay out of
// shell histories and process listings.
func parseServeConfig(env *environ, args []string) (*serveConfig, error) {
	return parseServeFlags(env, args, "hookbox serve", serveUsage, nil)
}

// parseServeFlags is parseServeConfig for command name, which takes serve's
// flags and those extra registers (nil: none).
func parseServeFlags(env *environ, args []string, name, usage string, extra func(*envFlags)) (*serveConfig, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	ef := &envFlags{fs: fs, getenv: env.Getenv}
	c := &serveConfig{getenv: env.Getenv}
	apply := []func() error{
		c.mainFlags(ef), c.ingestFlags(ef), c.deliveryFlags(ef), c.edgeFlags(ef), c.thinFlags(ef), c.controlFlags(ef),
	}
	apiBase, finishStripe := c.stripeFlags(ef)
	finishReconcile := addReconcileServeFlags(ef, apiBase)
	if extra != nil {
		extra(ef)
	}
	if err := ef.parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected argument %q", strings.TrimPrefix(name, "hookbox "), fs.Arg(0))
	}
	for _, f := range apply {
		if err := f(); err != nil {
			return nil, err
		}
	}
	rc, err := finishReconcile()
	if err != nil {
		return nil, err
	}
	c.opts.Reconcile = rc
	if err := c.readAdminToken(env.Getenv); err != nil {
		return nil, err
	}
	if err := c.readEndpoints(env.Getenv); err != nil {
		return nil, err
	}
	if err := finishStripe(); err != nil {
		return nil, err
	}
	if c.opts.Thin, err = thinOptions(env.Getenv, *apiBase, c.endpoints); err != nil {
		return nil, err
	}
	if _, err := newLogger(io.Discard, c.logFormat, c.logLevel); err != nil {
		return nil, err
	}
	opts, err := c.receiverOptions(nil, nil)
	if err != nil {
		return nil, err
	}
	if err := opts.Validate(); err != nil {
		return nil, errors.New(hookbox.ErrorMessage(err))
	}
	return c, nil
}

// mainFlags registers the listeners, store, logging and config file flags.
func (c *serveConfig) mainFlags(ef *envFlags) func() error {
	listen := ef.str("listen", "HOOKBOX_LISTEN", "127.0.0.1:8080", "public webhook listener address")
	admin := ef.str("admin-listen", "HOOKBOX_ADMIN_LISTEN", defaultAdminListen, "admin listener: the web console, the API (/api/), /metrics, /healthz, /readyz and, with --pprof, /debug/pprof/; keep it on loopback, or set HOOKBOX_ADMIN_TOKEN")
	db := ef.str("db", "HOOKBOX_DB", "sqlite:hookbox.db", "store: sqlite:PATH (a file, created if missing) or postgres://USER@HOST/DB (a PostgreSQL URL; postgresql:// too)")
	logFormat := ef.str("log-format", "HOOKBOX_LOG_FORMAT", "json", "log format: json or text")
	logLevel := ef.str("log-level", "HOOKBOX_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	logFlush := ef.duration("log-flush-interval", "HOOKBOX_LOG_FLUSH_INTERVAL", defaultLogFlushInterval, "log lines are buffered this long at most (0: each line written before anything else happens, e.g. before a webhook is answered)")
	grace := ef.duration("shutdown-grace", "HOOKBOX_SHUTDOWN_GRACE", receiver.DefaultShutdownGrace, "how long shutdown waits for in-flight requests")
	configFile := ef.str("config", "HOOKBOX_CONFIG", "", "a YAML file declaring several endpoints with their secrets and destinations (see README)")
	pprof := ef.boolean("pprof", "HOOKBOX_PPROF", false, "serve Go profiles at /debug/pprof/ on the admin listener")
	adminHosts := ef.str("admin-hosts", "HOOKBOX_ADMIN_HOSTS", "", "Host names the admin listener answers besides loopback ones, comma-separated (*: any); default: loopback names only on a loopback --admin-listen, any on another address")
	retention := ef.longDur("retention", "HOOKBOX_RETENTION", receiver.DefaultRetention, "bodies of delivered events are pruned after this")
	keepIDs := ef.longDur("keep-ids", "HOOKBOX_KEEP_IDS", receiver.DefaultKeepIDs, "rows of delivered and dead events (their ids, for dedupe) are deleted after this; at least 31d")
	return func() (err error) {
		c.opts.Listen, c.opts.AdminListen, c.opts.Pprof = *listen, *admin, *pprof
		c.opts.AdminHosts = splitList(*adminHosts)
		c.logFormat, c.logLevel, c.logFlush, c.configFile = *logFormat, *logLevel, *logFlush, *configFile
		c.opts.Retention, c.opts.KeepIDs = time.Duration(*retention), time.Duration(*keepIDs)
		if c.opts.Retention <= 0 {
			return errors.New("--retention must be positive")
		}
		if c.opts.Grace = *grace; c.opts.Grace <= 0 {
			return errors.New("--shutdown-grace must be positive")
		}
		if c.logFlush < 0 {
			return errors.New("--log-flush-interval must not be negative")
		}
		c.db, err = parseDB(*db)
		return err
	}
}

// ingestFlags registers what shapes ingest: tolerance, body size, batching.
func (c *serveConfig) ingestFlags(ef *envFlags) func() error {
	tol := ef.duration("tolerance", "HOOKBOX_TOLERANCE", stripesig.DefaultTolerance, "signature timestamp tolerance, applied to past and future")
	maxBody := ef.size("max-body", "HOOKBOX_MAX_BODY", ingest.DefaultMaxBody, "largest accepted request body (bytes, or 1MiB, 512KiB)")
	debugErrors := ef.boolean("debug-errors", "HOOKBOX_DEBUG_ERRORS", false, "add internal error detail to error responses (local use only)")
	maxBatch := ef.integer("max-batch", "HOOKBOX_MAX_BATCH", 256, "group commit: most events per transaction")
	linger := ef.duration("batch-linger", "HOOKBOX_BATCH_LINGER", 0, "group commit: how long to wait for more events before committing (0: commit what is queued)")
	commitTimeout := ef.duration("commit-timeout", "HOOKBOX_COMMIT_TIMEOUT", groupcommit.DefaultTimeout, "group commit: how long one insert may take before its webhooks are answered 503 (a blocked database)")
	return func() error {
		o := &c.opts
		o.MaxBody, o.DebugErrors, o.Linger = int64(*maxBody), *debugErrors, *linger
		switch {
		case *tol <= 0:
			return errors.New("--tolerance must be positive (a zero tolerance would accept replays forever)")
		case *maxBatch <= 0:
			return errors.New("--max-batch must be positive")
		case *commitTimeout <= 0:
			return errors.New("--commit-timeout must be positive")
		}
		c.tolerance = *tol
		o.MaxBatch, o.CommitTimeout = *maxBatch, *commitTimeout
		return nil
	}
}

// deliveryFlags registers the delivery flags: mode, --forward-to and its
// filters, retries, concurrency, leases.
func (c *serveConfig) deliveryFlags(ef *envFlags) func() error {
	mode := ef.str("mode", "HOOKBOX_MODE", "async", "async: answer Stripe once stored, deliver in the background; sync: answer 200 only once every destination has the event, 500 otherwise")
	forwardTo := ef.str("forward-to", "HOOKBOX_FORWARD_TO", "", "forward every event to this URL, signed with HOOKBOX_FORWARD_SECRET")
	forwardTimeout := ef.duration("forward-timeout", "HOOKBOX_FORWARD_TIMEOUT", deliver.DefaultTimeout, "timeout of one forward attempt")
	forwardVersion := ef.str("forward-api-version", "HOOKBOX_FORWARD_API_VERSION", "", "the Stripe API version the --forward-to app reads: exact (2026-07-29.dahlia) or a release train (dahlia); checked by hookbox stripe endpoints check")
	events := ef.str("events", "HOOKBOX_EVENTS", "*", "forward only these event types, e.g. payment_intent.succeeded,invoice.*")
	livemode := ef.str("livemode", "HOOKBOX_LIVEMODE", "any", "forward only live, only test, or any events")
	order := c.orderFlags(ef)
	retryBase := ef.duration("retry-base", "HOOKBOX_RETRY_BASE", hookbox.DefaultRetryBase, "first retry backoff (doubles, with jitter)")
	retryCap := ef.duration("retry-cap", "HOOKBOX_RETRY_CAP", hookbox.DefaultRetryCap, "largest retry backoff")
	maxAttempts := ef.integer("max-attempts", "HOOKBOX_MAX_ATTEMPTS", hookbox.DefaultMaxAttempts, "attempts per destination before an event is dead")
	retryWindow := ef.longDur("retry-window", "HOOKBOX_RETRY_WINDOW", hookbox.DefaultRetryWindow, "time after receipt (or replay) after which a failing event is dead")
	concurrency := ef.integer("delivery-concurrency", "HOOKBOX_DELIVERY_CONCURRENCY", deliver.DefaultConcurrency, "events delivered at once")
	poll := ef.duration("poll-interval", "HOOKBOX_POLL_INTERVAL", deliver.DefaultPollInterval, "how often the queue is polled for due events (new events wake delivery at once; replays from the CLI wait for the poll)")
	lease := ef.duration("delivery-lease", "HOOKBOX_DELIVERY_LEASE", 0, "how long a claimed event is held before another worker may take it over after a crash (0: 60s, or more when destination timeouts add up)")
	return func() (err error) {
		o := &c.opts
		if o.Mode, err = receiver.ParseMode(*mode); err != nil {
			return fmt.Errorf("--mode %q: want async or sync", *mode)
		}
		if c.forward.types, err = deliver.ParseTypes(*events); err != nil {
			return fmt.Errorf("--events: %w", err)
		}
		if c.forward.livemode, err = deliver.ParseLivemode(*livemode); err != nil {
			return fmt.Errorf("--livemode: %w", err)
		}
		if c.forward.apiVersion, err = hookbox.ParseAPIVersion(*forwardVersion); err != nil {
			return fmt.Errorf("--forward-api-version: %s", hookbox.ErrorMessage(err))
		}
		c.forward.to, c.forward.timeout = *forwardTo, *forwardTimeout
		if err := order(); err != nil {
			return err
		}
		o.Retry = hookbox.RetryPolicy{Base: *retryBase, Cap: *retryCap, MaxAttempts: *maxAttempts, Window: time.Duration(*retryWindow)}
		o.Concurrency, o.PollInterval, o.Lease = *concurrency, *poll, *lease
		if *forwardTimeout <= 0 || *retryBase <= 0 || *retryCap < *retryBase || *maxAttempts <= 0 || *retryWindow <= 0 || *concurrency <= 0 || *poll <= 0 {
			return errors.New("--forward-timeout, --retry-base, --max-attempts, --retry-window, --delivery-concurrency and --poll-interval must be positive, and --retry-cap at least --retry-base")
		}
		// The lease against the destinations' timeouts is the receiver's
		// rule (deliver.CheckLease in Options.Validate).
		return nil
	}
}

// edgeFlags registers the public listener's protections.
func (c *serveConfig) edgeFlags(ef *envFlags) func() error {
	tlsCert := ef.str("tls-cert", "HOOKBOX_TLS_CERT", "", "TLS certificate file (PEM) for the public listener; reloaded when it changes")
	tlsKey := ef.str("tls-key", "HOOKBOX_TLS_KEY", "", "TLS private key file (PEM) for the public listener")
	redirect := ef.str("http-redirect-listen", "HOOKBOX_HTTP_REDIRECT_LISTEN", "", "also listen on this plain-HTTP address and redirect to HTTPS (Stripe treats redirects as failures: give Stripe the https URL)")
	trusted := ef.str("trusted-proxies", "HOOKBOX_TRUSTED_PROXIES", "", "CIDRs of proxies whose X-Forwarded-For and X-Forwarded-Proto are believed")
	requireHTTPS := ef.boolean("require-https", "HOOKBOX_REQUIRE_HTTPS", false, "refuse webhook requests that did not arrive over HTTPS (directly or via a trusted proxy)")
	allowlist := ef.str("ip-allowlist", "HOOKBOX_IP_ALLOWLIST", "off", "Stripe IP allowlist: off, log or enforce")
	allowSource := ef.str("ip-allowlist-source", "HOOKBOX_IP_ALLOWLIST_SOURCE", edge.StripeWebhookIPsURL, "where the allowlist is refreshed from: a URL or a file (JSON with WEBHOOKS, or one address a line)")
	allowRefresh := ef.duration("ip-allowlist-refresh", "HOOKBOX_IP_ALLOWLIST_REFRESH", 24*time.Hour, "how often the allowlist is refreshed (0: never)")
	maxFailed := ef.integer("max-failed-verifications", "HOOKBOX_MAX_FAILED_VERIFICATIONS", edge.DefaultMaxFailures, "failed signature verifications (or bodies over --max-body or not fully sent) per client address and window before it gets 429s (0: no limit)")
	failedWindow := ef.duration("failed-verification-window", "HOOKBOX_FAILED_VERIFICATION_WINDOW", edge.DefaultFailureWindow, "the window of --max-failed-verifications")
	maxConnsClient := ef.integer("max-conns-per-client", "HOOKBOX_MAX_CONNS_PER_CLIENT", edge.DefaultMaxConnsPerClient, "open connections per client address on the public listener; more are closed at once (Stripe's addresses and --trusted-proxies exempt; 0: no bound)")
	maxConns := ef.integer("max-conns", "HOOKBOX_MAX_CONNS", edge.DefaultMaxConns, "open connections in all on the public listener; more are closed at once (0: no bound)")
	return func() (err error) {
		o := &c.opts
		o.TLSCert, o.TLSKey, o.RedirectListen, o.TrustedProxies = *tlsCert, *tlsKey, *redirect, *trusted
		o.RequireHTTPS, o.AllowlistSource, o.AllowlistRefresh = *requireHTTPS, *allowSource, *allowRefresh
		if o.Allowlist, err = edge.ParseMode(*allowlist); err != nil {
			return fmt.Errorf("--ip-allowlist: %w", err)
		}
		if *maxFailed < 0 || *failedWindow <= 0 {
			return errors.New("--max-failed-verifications and --failed-verification-window must not be negative")
		}
		// 0 turns the limit off; the receiver reads 0 as its default.
		o.MaxFailedVerify, o.FailedVerifyWindow = *maxFailed, *failedWindow
		if *maxFailed == 0 {
			o.MaxFailedVerify = -1
		}
		if *maxConnsClient < 0 || *maxConns < 0 {
			return errors.New("--max-conns-per-client and --max-conns must not be negative")
		}
		o.MaxConnsPerClient, o.MaxConns = noBound(*maxConnsClient), noBound(*maxConns)
		return nil
	}
}

// noBound turns a flag's 0 (no bound) into the receiver's negative.
func noBound(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// readAdminToken reads HOOKBOX_ADMIN_TOKEN (or _FILE): one token.
func (c *serveConfig) readAdminToken(getenv func(string) string) error {
	tokens, err := readSecrets(getenv, "HOOKBOX_ADMIN_TOKEN")
	if err != nil {
		return err
	}
	if len(tokens) > 1 {
		return errors.New("HOOKBOX_ADMIN_TOKEN: give one token")
	}
	if len(tokens) == 1 {
		c.opts.AdminToken = tokens[0]
	}
	return nil
}

// receiverOptions returns the receiver's options with the endpoints'
// destinations built on the clock now (nil: time.Now).
func (c *serveConfig) receiverOptions(now func() time.Time, store thin.EventStore) (receiver.Options, error) {
	o := c.opts
	o.NowFunc = now
	for i, spec := range c.endpoints {
		ep, err := spec.endpoint(now, store)
		if err != nil {
			return o, err
		}
		if i == 0 {
			ep.Destinations = append(append([]deliver.Destination(nil), c.extraDests...), ep.Destinations...)
		}
		o.Endpoints = append(o.Endpoints, ep)
	}
	return o, nil
}

// openReceiver opens the store and starts a receiver on cfg, logging to
// logw, with the clock now (nil: time.Now).
func openReceiver(ctx context.Context, cfg *serveConfig, logw io.Writer, now func() time.Time) (*receiver.Receiver, error) {
	logger, err := newLogger(logw, cfg.logFormat, cfg.logLevel)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.warnings {
		logger.Warn(w)
	}
	store, err := openStore(ctx, cfg.db, false)
	if err != nil {
		return nil, err
	}
	ts, _ := store.(thin.EventStore)
	opts, err := cfg.receiverOptions(now, ts)
	if err != nil {
		store.Close()
		return nil, err
	}
	opts.Store, opts.Logger, opts.Version = store, logger, buildVersion()
	r, err := newTracedReceiver(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	if err := r.Open(ctx); err != nil {
		r.Close()
		return nil, err
	}
	logger.Info("store", "db", cfg.db.String())
	return r, nil
}

func runServe(ctx context.Context, env *environ, args []string) error {
	cfg, err := parseServeConfig(env, args)
	if err != nil {
		return err
	}
	var logw io.Writer = env.Stderr
	if cfg.logFlush > 0 {
		lw := newLogWriter(env.Stderr, cfg.logFlush)
		defer lw.Close()
		logw = lw
	}
	r, err := openReceiver(ctx, cfg, logw, nil)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		r.Logger().Info("shutting down", "reason", "signal")
	case err := <-r.Err():
		r.Close()
		return fmt.Errorf("serve: %w", err)
	}
	return r.Close()
}
