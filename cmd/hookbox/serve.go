package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/edge"
	"github.com/hookbox/hookbox/groupcommit"
	"github.com/hookbox/hookbox/ingest"
	"github.com/hookbox/hookbox/postgres"
	"github.com/hookbox/hookbox/prom"
	"github.com/hookbox/hookbox/reconcile"
	"github.com/hookbox/hookbox/stripesig"
)

// Server timeouts against slow clients. Stripe sends a few KB and expects an
// answer within seconds; anything slower is not Stripe.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	DefaultWriteTimeout      = 20 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 32 << 10
	DefaultShutdownGrace     = 25 * time.Second
)

// Config is everything "hookbox serve" is configured with.
type Config struct {
	Listen        string
	AdminListen   string
	DB            string
	Tolerance     time.Duration
	MaxBody       int64
	LogFormat     string
	LogLevel      string
	DebugErrors   bool
	ConfigFile    string
	Endpoints     []EndpointSpec // the default endpoint, or those of the config file
	Warnings      []string       // logged at start (an inline secret in the config file)
	MaxBatch      int
	Linger        time.Duration
	CommitTimeout time.Duration // bound of one group-commit insert
	Grace         time.Duration
	Pprof         bool

	// Delivery.
	Mode           string // async or sync
	ForwardTo      string
	ForwardSecret  string // from HOOKBOX_FORWARD_SECRET or _FILE only; never logged
	ForwardTimeout time.Duration
	Events         string // type filter, as the Stripe CLI spells it
	Livemode       string // any, live, test
	Retry          hookbox.RetryPolicy
	Concurrency    int
	PollInterval   time.Duration
	Lease          time.Duration
	Retention      time.Duration // bodies of delivered events kept this long
	KeepIDs        time.Duration // rows (ids, for dedupe) kept this long

	Reconcile reconcileServeConfig // periodic reconcile (--reconcile-every)

	AdminToken string // HOOKBOX_ADMIN_TOKEN or _FILE; required off loopback; never logged

	// The public listener's protections (package edge).
	TLSCert, TLSKey    string
	RedirectListen     string
	TrustedProxies     string
	RequireHTTPS       bool
	Allowlist          string // off, log, enforce
	AllowlistSource    string
	AllowlistRefresh   time.Duration
	MaxFailedVerify    int
	FailedVerifyWindow time.Duration
}

// Retention defaults. Stripe's manual resends and its events API reach back
// 30 days, so ids are kept well beyond that for dedupe.
const (
	DefaultRetention = 30 * 24 * time.Hour
	DefaultKeepIDs   = 90 * 24 * time.Hour
	MinKeepIDs       = 31 * 24 * time.Hour
)

// ParseServeConfig reads flags and HOOKBOX_* variables. Secrets come only
// from the environment (STRIPE_WEBHOOK_SECRET, comma-separated for rotation,
// or STRIPE_WEBHOOK_SECRET_FILE), never from a flag, so they stay out of
// shell histories and process listings.
func ParseServeConfig(env *Env, args []string) (*Config, error) {
	fs := flag.NewFlagSet("hookbox serve", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	ef := &envFlags{fs: fs, getenv: env.Getenv}
	c := &Config{}
	listen := ef.String("listen", "HOOKBOX_LISTEN", "127.0.0.1:8080", "public webhook listener address")
	admin := ef.String("admin-listen", "HOOKBOX_ADMIN_LISTEN", "127.0.0.1:8081", "admin listener (/healthz, /readyz); keep it on loopback")
	db := ef.String("db", "HOOKBOX_DB", "sqlite:hookbox.db", "store: sqlite:PATH")
	tol := ef.Duration("tolerance", "HOOKBOX_TOLERANCE", stripesig.DefaultTolerance, "signature timestamp tolerance, applied to past and future")
	maxBody := ef.Size("max-body", "HOOKBOX_MAX_BODY", ingest.DefaultMaxBody, "largest accepted request body (bytes, or 1MiB, 512KiB)")
	logFormat := ef.String("log-format", "HOOKBOX_LOG_FORMAT", "json", "log format: json or text")
	logLevel := ef.String("log-level", "HOOKBOX_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	debugErrors := ef.Bool("debug-errors", "HOOKBOX_DEBUG_ERRORS", false, "add internal error detail to error responses (local use only)")
	maxBatch := ef.Int("max-batch", "HOOKBOX_MAX_BATCH", 256, "group commit: most events per transaction")
	linger := ef.Duration("batch-linger", "HOOKBOX_BATCH_LINGER", 0, "group commit: how long to wait for more events before committing (0: commit what is queued)")
	commitTimeout := ef.Duration("commit-timeout", "HOOKBOX_COMMIT_TIMEOUT", groupcommit.DefaultTimeout, "group commit: how long one insert may take before its webhooks are answered 503 (a blocked database)")
	grace := ef.Duration("shutdown-grace", "HOOKBOX_SHUTDOWN_GRACE", DefaultShutdownGrace, "how long shutdown waits for in-flight requests")
	configFile := ef.String("config", "HOOKBOX_CONFIG", "", "a YAML file declaring several endpoints with their secrets and destinations (see README)")
	pprof := ef.Bool("pprof", "HOOKBOX_PPROF", false, "serve Go profiles at /debug/pprof/ on the admin listener")
	mode := ef.String("mode", "HOOKBOX_MODE", "async", "async: answer Stripe once stored, deliver in the background; sync: answer 200 only once every destination has the event, 500 otherwise")
	forwardTo := ef.String("forward-to", "HOOKBOX_FORWARD_TO", "", "forward every event to this URL, signed with HOOKBOX_FORWARD_SECRET")
	forwardTimeout := ef.Duration("forward-timeout", "HOOKBOX_FORWARD_TIMEOUT", deliver.DefaultTimeout, "timeout of one forward attempt")
	events := ef.String("events", "HOOKBOX_EVENTS", "*", "forward only these event types, e.g. payment_intent.succeeded,invoice.*")
	livemode := ef.String("livemode", "HOOKBOX_LIVEMODE", "any", "forward only live, only test, or any events")
	retryBase := ef.Duration("retry-base", "HOOKBOX_RETRY_BASE", hookbox.DefaultRetryBase, "first retry backoff (doubles, with jitter)")
	retryCap := ef.Duration("retry-cap", "HOOKBOX_RETRY_CAP", hookbox.DefaultRetryCap, "largest retry backoff")
	maxAttempts := ef.Int("max-attempts", "HOOKBOX_MAX_ATTEMPTS", hookbox.DefaultMaxAttempts, "attempts per destination before an event is dead")
	retryWindow := ef.LongDuration("retry-window", "HOOKBOX_RETRY_WINDOW", hookbox.DefaultRetryWindow, "time after receipt (or replay) after which a failing event is dead")
	concurrency := ef.Int("delivery-concurrency", "HOOKBOX_DELIVERY_CONCURRENCY", deliver.DefaultConcurrency, "events delivered at once")
	poll := ef.Duration("poll-interval", "HOOKBOX_POLL_INTERVAL", deliver.DefaultPollInterval, "how often the queue is polled for due events (new events wake delivery at once; replays from the CLI wait for the poll)")
	lease := ef.Duration("delivery-lease", "HOOKBOX_DELIVERY_LEASE", 0, "how long a claimed event is held before another worker may take it over after a crash (0: 60s, or more when destination timeouts add up)")
	retention := ef.LongDuration("retention", "HOOKBOX_RETENTION", DefaultRetention, "bodies of delivered events are pruned after this")
	keepIDs := ef.LongDuration("keep-ids", "HOOKBOX_KEEP_IDS", DefaultKeepIDs, "rows of delivered and dead events (their ids, for dedupe) are deleted after this; at least 31d")
	tlsCert := ef.String("tls-cert", "HOOKBOX_TLS_CERT", "", "TLS certificate file (PEM) for the public listener; reloaded when it changes")
	tlsKey := ef.String("tls-key", "HOOKBOX_TLS_KEY", "", "TLS private key file (PEM) for the public listener")
	redirect := ef.String("http-redirect-listen", "HOOKBOX_HTTP_REDIRECT_LISTEN", "", "also listen on this plain-HTTP address and redirect to HTTPS (Stripe treats redirects as failures: give Stripe the https URL)")
	trusted := ef.String("trusted-proxies", "HOOKBOX_TRUSTED_PROXIES", "", "CIDRs of proxies whose X-Forwarded-For and X-Forwarded-Proto are believed")
	requireHTTPS := ef.Bool("require-https", "HOOKBOX_REQUIRE_HTTPS", false, "refuse webhook requests that did not arrive over HTTPS (directly or via a trusted proxy)")
	allowlist := ef.String("ip-allowlist", "HOOKBOX_IP_ALLOWLIST", "off", "Stripe IP allowlist: off, log or enforce")
	allowSource := ef.String("ip-allowlist-source", "HOOKBOX_IP_ALLOWLIST_SOURCE", edge.StripeWebhookIPsURL, "where the allowlist is refreshed from: a URL or a file (JSON with WEBHOOKS, or one address a line)")
	allowRefresh := ef.Duration("ip-allowlist-refresh", "HOOKBOX_IP_ALLOWLIST_REFRESH", 24*time.Hour, "how often the allowlist is refreshed (0: never)")
	maxFailed := ef.Int("max-failed-verifications", "HOOKBOX_MAX_FAILED_VERIFICATIONS", edge.DefaultMaxFailures, "failed signature verifications (or bodies over --max-body or not fully sent) per client address and window before it gets 429s (0: no limit)")
	failedWindow := ef.Duration("failed-verification-window", "HOOKBOX_FAILED_VERIFICATION_WINDOW", edge.DefaultFailureWindow, "the window of --max-failed-verifications")
	finishReconcile := addReconcileServeFlags(ef)
	if err := ef.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	rc, err := finishReconcile()
	if err != nil {
		return nil, err
	}
	c.Reconcile = rc
	c.TLSCert, c.TLSKey, c.RedirectListen, c.TrustedProxies = *tlsCert, *tlsKey, *redirect, *trusted
	c.RequireHTTPS, c.Allowlist, c.AllowlistSource, c.AllowlistRefresh = *requireHTTPS, *allowlist, *allowSource, *allowRefresh
	c.MaxFailedVerify, c.FailedVerifyWindow = *maxFailed, *failedWindow
	tokens, err := readSecrets(env.Getenv, "HOOKBOX_ADMIN_TOKEN")
	if err != nil {
		return nil, err
	}
	if len(tokens) > 1 {
		return nil, errors.New("HOOKBOX_ADMIN_TOKEN: give one token")
	}
	if len(tokens) == 1 {
		c.AdminToken = tokens[0]
		if len(c.AdminToken) < 16 {
			return nil, errors.New("HOOKBOX_ADMIN_TOKEN is too short: use at least 16 random characters (e.g. openssl rand -hex 32)")
		}
	}
	if err := console.CheckListen(*admin, c.AdminToken); err != nil {
		return nil, fmt.Errorf("--admin-listen %s: %w", *admin, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if c.RedirectListen != "" && c.TLSCert == "" {
		return nil, errors.New("--http-redirect-listen needs --tls-cert and --tls-key")
	}
	if _, err := edge.ParseTrustedProxies(c.TrustedProxies); err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	if _, err := edge.ParseMode(c.Allowlist); err != nil {
		return nil, fmt.Errorf("--ip-allowlist: %w", err)
	}
	if c.MaxFailedVerify < 0 || c.FailedVerifyWindow <= 0 || c.AllowlistRefresh < 0 {
		return nil, errors.New("--max-failed-verifications, --failed-verification-window and --ip-allowlist-refresh must not be negative")
	}
	c.Pprof = *pprof
	c.Mode, c.ForwardTo, c.ForwardTimeout = *mode, *forwardTo, *forwardTimeout
	c.Events, c.Livemode, c.Concurrency, c.PollInterval = *events, *livemode, *concurrency, *poll
	c.Retry = hookbox.RetryPolicy{Base: *retryBase, Cap: *retryCap, MaxAttempts: *maxAttempts, Window: time.Duration(*retryWindow)}
	c.Retention, c.KeepIDs = time.Duration(*retention), time.Duration(*keepIDs)
	c.Lease = *lease
	if c.Lease < 0 || (c.Lease > 0 && c.Lease <= c.ForwardTimeout) {
		return nil, errors.New("--delivery-lease must be longer than --forward-timeout")
	}
	if c.Mode != "async" && c.Mode != "sync" {
		return nil, fmt.Errorf("--mode %q: want async or sync", c.Mode)
	}
	if c.ForwardTimeout <= 0 || *retryBase <= 0 || *retryCap < *retryBase || *maxAttempts <= 0 || *retryWindow <= 0 || c.Concurrency <= 0 || c.PollInterval <= 0 {
		return nil, errors.New("--forward-timeout, --retry-base, --max-attempts, --retry-window, --delivery-concurrency and --poll-interval must be positive, and --retry-cap at least --retry-base")
	}
	if c.Retention <= 0 {
		return nil, errors.New("--retention must be positive")
	}
	if c.KeepIDs < MinKeepIDs || c.KeepIDs < c.Retention {
		return nil, fmt.Errorf("--keep-ids must be at least 31d (Stripe resends and its events API reach back 30 days) and at least --retention")
	}
	if _, err := deliver.ParseTypes(c.Events); err != nil {
		return nil, fmt.Errorf("--events: %w", err)
	}
	if _, err := deliver.ParseLivemode(c.Livemode); err != nil {
		return nil, fmt.Errorf("--livemode: %w", err)
	}
	c.Listen, c.AdminListen, c.DB = *listen, *admin, *db
	c.Tolerance, c.MaxBody = *tol, int64(*maxBody)
	c.LogFormat, c.LogLevel, c.DebugErrors = *logFormat, *logLevel, *debugErrors
	c.MaxBatch, c.Linger, c.Grace, c.CommitTimeout = *maxBatch, *linger, *grace, *commitTimeout
	if c.Grace <= 0 {
		return nil, errors.New("--shutdown-grace must be positive")
	}
	if c.CommitTimeout <= 0 {
		return nil, errors.New("--commit-timeout must be positive")
	}

	if c.Tolerance <= 0 {
		return nil, errors.New("--tolerance must be positive (a zero tolerance would accept replays forever)")
	}
	if c.MaxBatch <= 0 {
		return nil, errors.New("--max-batch must be positive")
	}
	if c.Linger < 0 || c.Linger > time.Second {
		return nil, errors.New("--batch-linger must be between 0 and 1s")
	}
	if _, err := parseDB(c.DB); err != nil {
		return nil, err
	}
	if _, err := newLogger(io.Discard, c.LogFormat, c.LogLevel); err != nil {
		return nil, err
	}
	c.ConfigFile = *configFile
	if c.ConfigFile != "" {
		if err := c.endpointsFromFile(env.Getenv); err != nil {
			return nil, err
		}
	} else if err := c.defaultEndpoint(env.Getenv); err != nil {
		return nil, err
	}
	if c.Mode == "sync" && c.destinationCount() == 0 {
		return nil, errors.New("--mode sync needs a destination (--forward-to, or destinations in --config)")
	}
	return c, nil
}

// defaultEndpoint configures the single endpoint /webhooks/stripe from the
// environment (secrets) and flags (--forward-to and its filters).
func (c *Config) defaultEndpoint(getenv func(string) string) error {
	secrets, err := readSecrets(getenv, "STRIPE_WEBHOOK_SECRET")
	if err != nil {
		return err
	}
	if len(secrets) == 0 {
		return errors.New("no webhook secret: set STRIPE_WEBHOOK_SECRET (whsec_..., comma-separated to rotate) or STRIPE_WEBHOOK_SECRET_FILE, or declare endpoints in --config; hookbox will not accept unverified webhooks")
	}
	ep := EndpointSpec{Name: DefaultEndpoint, Secrets: secrets, Tolerance: c.Tolerance, Livemode: deliver.LivemodeAny}
	if c.ForwardTo != "" {
		fs, err := readSecrets(getenv, "HOOKBOX_FORWARD_SECRET")
		if err != nil {
			return err
		}
		if len(fs) != 1 {
			return errors.New("--forward-to needs exactly one HOOKBOX_FORWARD_SECRET (or HOOKBOX_FORWARD_SECRET_FILE): the secret your app verifies hookbox's signature with")
		}
		types, _ := deliver.ParseTypes(c.Events)
		live, _ := deliver.ParseLivemode(c.Livemode)
		url, secret, timeout := c.ForwardTo, fs[0], c.ForwardTimeout
		if _, err := deliver.NewHTTP("forward", url, secret, deliver.HTTPOptions{}); err != nil {
			return fmt.Errorf("--forward-to: %w", err)
		}
		ep.Dests = append(ep.Dests, func(now func() time.Time) (deliver.Destination, error) {
			return deliver.NewHTTP("forward", url, secret, deliver.HTTPOptions{Timeout: timeout, Types: types, Livemode: live, NowFunc: now})
		})
	}
	c.Endpoints = []EndpointSpec{ep}
	return nil
}

// endpointsFromFile configures the endpoints of --config. The flags that
// configure the default endpoint's destination must not be used with it.
func (c *Config) endpointsFromFile(getenv func(string) string) error {
	if c.ForwardTo != "" {
		return errors.New("--config and --forward-to: declare destinations in the config file")
	}
	fc, warnings, err := LoadFileConfig(c.ConfigFile, getenv)
	if err != nil {
		return err
	}
	c.Warnings = warnings
	for _, e := range fc.Endpoints {
		live, _ := deliver.ParseLivemode(e.Livemode)
		tol := time.Duration(e.Tolerance)
		if tol == 0 {
			tol = c.Tolerance
		}
		ep := EndpointSpec{Name: e.Name, Secrets: e.secrets, Tolerance: tol, Livemode: live}
		for _, d := range e.Destinations {
			d, name := d, e.Name
			ep.Dests = append(ep.Dests, func(now func() time.Time) (deliver.Destination, error) {
				h, err := d.destination(name, c.ForwardTimeout)
				return h, err
			})
		}
		c.Endpoints = append(c.Endpoints, ep)
	}
	return nil
}

func (c *Config) destinationCount() int {
	n := 0
	for _, e := range c.Endpoints {
		n += len(e.Dests)
	}
	return n
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want json or text", format)
	}
}

// Main is a running "hookbox serve": the store, the group committer, the
// public and admin servers. Run does not block; Close shuts down in order.
// The end-to-end tests use it exactly as main does.
type Main struct {
	Config *Config
	Logger *slog.Logger

	Store     hookbox.Store
	Committer *groupcommit.Committer
	Worker    *deliver.Worker // nil without destinations
	Metrics   *prom.Metrics
	Activity  *console.Activity // the console's recent counters
	Console   *console.Server
	Reconcile *reconcile.Periodic // nil unless --reconcile-every

	// Destinations are extra destinations (tests); --forward-to adds one.
	Destinations []deliver.Destination
	// NowFunc is the clock of delivery and retention; nil: time.Now.
	NowFunc func() time.Time

	stopListen    context.CancelFunc
	listenDone    chan struct{}
	stopRetention chan struct{}
	retentionDone chan struct{}

	publicLn, adminLn, redirectLn    net.Listener
	publicSrv, adminSrv, redirectSrv *http.Server

	proxies       *edge.Proxies
	allow         *edge.Allowlist
	stopAllow     func()
	limiter       *edge.FailureLimiter
	adminLimiter  *edge.FailureLimiter // admin token failures; nil without a token
	forwardWarned atomic.Bool          // noticeUntrustedForward has logged
	certs         *edge.CertReloader
	shuttingDown  atomic.Bool
	closeOnce     sync.Once
	closeErr      error
	serveErrs     chan error
}

// NewMain returns a Main for cfg logging to logw.
func NewMain(cfg *Config, logw io.Writer) (*Main, error) {
	logger, err := newLogger(logw, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	return &Main{Config: cfg, Logger: logger, serveErrs: make(chan error, 2)}, nil
}

// PublicAddr and AdminAddr are the bound addresses (useful with port 0).
func (m *Main) PublicAddr() string { return m.publicLn.Addr().String() }
func (m *Main) AdminAddr() string  { return m.adminLn.Addr().String() }

// Run opens the store, binds both listeners and starts serving. It returns
// once hookbox accepts requests; errors after that arrive on Err.
func (m *Main) Run(ctx context.Context) (err error) {
	c := m.Config
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	for _, w := range c.Warnings {
		m.Logger.Warn(w)
	}
	dbu, err := parseDB(c.DB)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, dbu, false)
	if err != nil {
		return err
	}
	m.Store = store

	var dests []deliver.Destination
	var promEndpoints []prom.Endpoint
	for i, ep := range c.Endpoints {
		promEndpoints = append(promEndpoints, prom.Endpoint{Name: ep.Name, Secrets: len(ep.Secrets)})
		var eds []deliver.Destination
		if i == 0 {
			eds = append(eds, m.Destinations...)
		}
		for _, mk := range ep.Dests {
			d, err := mk(m.NowFunc)
			if err != nil {
				return fmt.Errorf("endpoint %s: %w", ep.Name, err)
			}
			eds = append(eds, d)
		}
		for _, d := range eds {
			dests = append(dests, endpointDestination{Destination: d, endpoint: ep.Name, isDefault: i == 0, live: ep.Livemode})
		}
	}
	names := make([]string, len(dests))
	for i, d := range dests {
		names[i] = d.Name()
	}
	// Metrics are the library's hooks adapted by prom, on its own registry.
	m.Metrics = prom.New(prom.Options{Version: buildVersion(), Endpoints: promEndpoints, Destinations: names})
	m.Metrics.RegisterQueue(store.CountEvents)
	m.Activity = console.NewActivity()
	if err := m.setupEdge(); err != nil {
		return err
	}
	m.Committer = groupcommit.New(store.InsertEvents, groupcommit.Options{MaxBatch: c.MaxBatch, Linger: c.Linger, Timeout: c.CommitTimeout, OnBatchFunc: m.Metrics.Batch})
	if err := deliver.CheckLease(c.Lease, dests); err != nil {
		return fmt.Errorf("--delivery-lease: %s", hookbox.ErrorMessage(err))
	}
	if len(dests) > 0 {
		m.Worker = &deliver.Worker{
			OnAttempt: func(a hookbox.Attempt) {
				m.Metrics.Attempt(a)
				m.Activity.RecordAttempt(a)
			},
			Queue:        store,
			Destinations: dests,
			Retry:        c.Retry,
			Concurrency:  c.Concurrency,
			PollInterval: c.PollInterval,
			Lease:        c.Lease,
			NowFunc:      m.NowFunc,
			Logger:       m.Logger,
			OnStoreError: func(op string, _ error) { m.Metrics.StoreError(op) },
		}
	} else {
		m.Logger.Warn("no destination configured (--forward-to): events are stored and stay pending until one is")
	}

	mux := http.NewServeMux()
	var paths []string
	for _, ep := range c.Endpoints {
		h, err := m.endpointHandler(ep)
		if err != nil {
			return err
		}
		mux.Handle(ep.Path(), m.protect(h))
		paths = append(paths, ep.Path())
	}
	mux.HandleFunc("/", ingest.NotFound)

	if m.publicLn, err = net.Listen("tcp", c.Listen); err != nil {
		return fmt.Errorf("listen %s: %w", c.Listen, err)
	}
	if m.adminLn, err = net.Listen("tcp", c.AdminListen); err != nil {
		return fmt.Errorf("admin listen %s: %w", c.AdminListen, err)
	}
	errLog := slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn)
	m.publicSrv = &http.Server{
		Handler:           edge.HSTS(cleanPathsOnly(mux), 0, m.proxies),
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          errLog,
	}
	var wake func()
	if m.Worker != nil && c.Mode == "async" {
		wake = m.Worker.Wake
	}
	if c.AdminToken != "" {
		// The client is the direct peer: the admin listener trusts no
		// proxy header.
		if m.adminLimiter, err = edge.NewFailureLimiter(adminMaxFailures, adminFailureWindow, edge.LimiterOptions{NowFunc: m.NowFunc}); err != nil {
			return fmt.Errorf("admin failure limit: %w", err)
		}
	}
	m.Console, err = console.New(console.Options{
		Store: store, Token: c.AdminToken, Activity: m.Activity, Destinations: names,
		WakeFunc: wake, Logger: m.Logger, NowFunc: m.NowFunc, OnAuthFailure: m.adminAuthFailed,
		IsHTTPS: m.proxies.IsHTTPS, // behind a TLS-terminating proxy in --trusted-proxies
	})
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	m.adminSrv = &http.Server{
		Handler:           m.adminHandler(),
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          errLog,
	}
	// The worker runs on its own context: a signal cancels ctx, and the
	// worker must then get its grace period (Close), not an abort.
	if m.Worker != nil && c.Mode == "async" {
		if err := m.Worker.Start(context.Background()); err != nil {
			return fmt.Errorf("start delivery: %w", err)
		}
		// On PostgreSQL, an event committed by another replica wakes this
		// one through LISTEN/NOTIFY; polling covers a lost connection.
		if pg, ok := store.(*postgres.Store); ok {
			lctx, cancel := context.WithCancel(context.Background())
			m.stopListen, m.listenDone = cancel, make(chan struct{})
			go func() {
				defer close(m.listenDone)
				if err := pg.Listen(lctx, m.Worker.Wake); err != nil {
					m.Logger.Error("listen for new events stopped; polling only", "error", err)
				}
			}()
		}
	}
	if c.Reconcile.Every > 0 {
		p, err := newPeriodicReconcile(c.Reconcile, store, nil, m.Worker.Wake, reconcileMetricsHook(m.Metrics), m.Logger)
		if err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
		m.Reconcile = p
		if err := p.Start(context.Background()); err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
	}
	m.startRetention()
	if m.certs != nil {
		m.publicSrv.TLSConfig = m.certs.TLSConfig()
		m.publicLn = tls.NewListener(m.publicLn, m.publicSrv.TLSConfig)
	}
	if c.RedirectListen != "" {
		rh, err := edge.RedirectHTTPS(m.PublicAddr(), m.Logger)
		if err != nil {
			return fmt.Errorf("--http-redirect-listen: %w", err)
		}
		if m.redirectLn, err = net.Listen("tcp", c.RedirectListen); err != nil {
			return fmt.Errorf("listen %s: %w", c.RedirectListen, err)
		}
		m.redirectSrv = &http.Server{Handler: rh, ReadHeaderTimeout: DefaultReadHeaderTimeout, ReadTimeout: DefaultReadTimeout,
			WriteTimeout: DefaultWriteTimeout, IdleTimeout: DefaultIdleTimeout, MaxHeaderBytes: DefaultMaxHeaderBytes, ErrorLog: errLog}
		go m.serve(m.redirectSrv, m.redirectLn)
	}
	go m.serve(m.publicSrv, m.publicLn)
	go m.serve(m.adminSrv, m.adminLn)
	m.Logger.Info("hookbox serving",
		"listen", m.PublicAddr(), "tls", m.certs != nil, "paths", paths, "admin", m.AdminAddr(),
		"db", dbu.String(), "mode", c.Mode, "destinations", len(dests))
	return nil
}

// endpointHandler builds the public handler of one endpoint: its own
// verifier (secrets, tolerance), the shared committer, metrics, and either
// the delivery wake-up (async) or delivery inside the request (sync).
func (m *Main) endpointHandler(ep EndpointSpec) (*ingest.Handler, error) {
	verifier, err := stripesig.NewVerifier(ep.Secrets, stripesig.Options{Tolerance: ep.Tolerance})
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: secrets: %w", ep.Name, err)
	}
	for i, s := range ep.Secrets {
		if !strings.HasPrefix(s, "whsec_") {
			m.Logger.Warn("webhook secret does not look like a Stripe endpoint secret (whsec_...)", "endpoint", ep.Name, "secret_index", i)
		}
	}
	h := &ingest.Handler{
		Endpoint:    ep.Name,
		Verifier:    verifier,
		Submit:      m.Committer.Submit,
		MaxBody:     m.Config.MaxBody,
		Logger:      m.Logger,
		DebugErrors: m.Config.DebugErrors,
		// The same client address everywhere: logs, limits, allowlist.
		ClientAddrFunc: m.proxies.ClientAddr,
	}
	async := m.Worker != nil && m.Config.Mode == "async"
	if m.Worker != nil && m.Config.Mode == "sync" {
		h.DeliverFunc = m.Worker.DeliverNow
	}
	h.OnResult = func(r ingest.Result) {
		m.Metrics.IngestResult(r)
		idx := -1
		if r.Event != nil {
			idx = r.Event.SecretIndex
		}
		m.Activity.Record(string(r.Outcome), r.Reason, idx, time.Now())
		switch {
		case r.Outcome == ingest.OutcomeAccepted && async:
			m.Worker.Wake()
		case m.limiter != nil && (r.Outcome == ingest.OutcomeRejected ||
			r.Outcome == ingest.OutcomeTooLarge || r.Outcome == ingest.OutcomeReadError):
			// Stripe never sends a body over the limit nor stalls one: a
			// client that keeps doing so is probing or holding
			// connections, and is limited like one failing verification.
			m.limiter.Failed(r.Client)
		}
	}
	return h, nil
}

// cleanPathsOnly answers 404 for a path that is not in clean form
// ("//webhooks/stripe", "/webhooks/./stripe"), where http.ServeMux would
// redirect: Stripe counts a 3xx as a failed delivery, and a mistyped
// endpoint URL should fail plainly, as any unknown path does.
func cleanPathsOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "" || p != path.Clean(p) {
			ingest.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// setupEdge builds the public listener's protections: trusted proxies,
// TLS with certificate reload, the Stripe IP allowlist and the limit on
// failed verifications.
func (m *Main) setupEdge() error {
	c := m.Config
	var err error
	if m.proxies, err = edge.ParseTrustedProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if c.TLSCert != "" {
		if m.certs, err = edge.NewCertReloader(c.TLSCert, c.TLSKey, edge.CertOptions{Logger: m.Logger}); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		m.Metrics.CertificateExpiry(m.certs.NotAfter())
	}
	mode, _ := edge.ParseMode(c.Allowlist)
	// The allowlist exists even when off: the failure limit exempts
	// Stripe's own addresses (see package edge).
	m.allow, err = edge.NewAllowlist(mode, edge.AllowlistOptions{
		Source:         c.AllowlistSource,
		ClientAddrFunc: m.proxies.ClientAddr,
		OnOutside:      m.Metrics.AllowlistOutside,
		OnRefresh:      m.Metrics.AllowlistRefresh,
		Logger:         m.Logger,
	})
	if err != nil {
		return fmt.Errorf("--ip-allowlist: %w", err)
	}
	if mode != edge.ModeOff {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := m.allow.Refresh(ctx); err != nil {
			m.Logger.Warn("IP allowlist refresh failed; using the built-in list", "source", c.AllowlistSource, "error", err)
		}
		cancel()
		if c.AllowlistRefresh > 0 {
			m.stopAllow = m.allow.Start(context.Background(), c.AllowlistRefresh)
		}
	} else if c.MaxFailedVerify > 0 && c.AllowlistRefresh > 0 {
		// Off, the list still exempts Stripe's addresses from the failure
		// limit: keep it current in a long-running process (no fetch at
		// start, so a machine without outbound access starts quietly on
		// the built-in list).
		m.stopAllow = m.allow.Start(context.Background(), c.AllowlistRefresh)
	}
	if c.MaxFailedVerify > 0 {
		m.limiter, err = edge.NewFailureLimiter(c.MaxFailedVerify, c.FailedVerifyWindow, edge.LimiterOptions{
			ClientAddrFunc: m.proxies.ClientAddr,
			ExemptFunc:     m.allow.Allows,
			OnLimited:      m.Metrics.FailureLimited,
		})
		if err != nil {
			return fmt.Errorf("--max-failed-verifications: %w", err)
		}
	}
	return nil
}

// protect wraps an endpoint's handler: HTTPS required (if set), then the
// allowlist, then the failure limit, all before the body is read.
func (m *Main) protect(h http.Handler) http.Handler {
	if m.limiter != nil {
		h = m.limiter.Middleware(h)
	}
	h = m.allow.Middleware(h)
	if m.Config.RequireHTTPS {
		h = edge.RequireHTTPS(h, m.proxies)
	}
	return m.noticeUntrustedForward(h)
}

// noticeUntrustedForward logs a warning, once per process, the first time
// a request carries X-Forwarded-For from a peer outside --trusted-proxies:
// hookbox is then behind a proxy it does not believe, so every client has
// the proxy's address in logs and in the failed-verification limit, where
// one forger gets everyone behind the proxy refused.
func (m *Main) noticeUntrustedForward(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !m.forwardWarned.Load() && r.Header.Get("X-Forwarded-For") != "" {
			if peer, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && !m.proxies.Trusts(peer.Addr()) &&
				m.forwardWarned.CompareAndSwap(false, true) {
				m.Logger.Warn("request with X-Forwarded-For from a peer outside --trusted-proxies: client addresses "+
					"(logs, failed-verification limit) are the peer's; behind a proxy, set --trusted-proxies to its address",
					"peer", peer.Addr().Unmap().String())
			}
		}
		h.ServeHTTP(w, r)
	})
}

func (m *Main) serve(srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		m.serveErrs <- err
	}
}

// Err delivers a fatal serving error.
func (m *Main) Err() <-chan error { return m.serveErrs }

// requireToken protects an admin handler with HOOKBOX_ADMIN_TOKEN as a
// bearer token (compared in constant time) when one is configured, as the
// admin API is; Prometheus sends it with "authorization: {credentials: ...}".
// /healthz and /readyz stay open for load balancers.
func (m *Main) requireToken(h http.Handler) http.Handler {
	token := m.Config.AdminToken
	if token == "" {
		// Without a token the admin listener is on loopback; it answers
		// only requests that name a loopback host, as the console does, so
		// that a DNS-rebinding page cannot read metrics or profiles (or
		// start CPU profiles) through the operator's browser.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Host == "" || !console.IsLoopback(r.Host) {
				http.Error(w, "without HOOKBOX_ADMIN_TOKEN this answers only requests to a loopback host", http.StatusMisdirectedRequest)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	// Compared as hashes, so the time taken tells nothing of the length
	// either.
	want := sha256.Sum256([]byte("Bearer " + token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		got := sha256.Sum256([]byte(auth))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			// The client and path only: never what was presented. Only a
			// token presented counts against the client (see
			// console's refusedCredential: any web page can send requests
			// without one).
			if auth == "" {
				m.Logger.Debug("admin: request without the admin token", "client", r.RemoteAddr, "path", r.URL.Path)
			} else {
				m.Logger.Warn("admin: wrong admin token", "client", r.RemoteAddr, "path", r.URL.Path)
				m.adminAuthFailed(r)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookbox"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Admin token failures allowed per client and window before the client is
// refused (429) for the window: a person who mistyped the token has
// tries left, a script guessing it gets 10 a minute.
const (
	adminMaxFailures   = 10
	adminFailureWindow = time.Minute
)

// adminAuthFailed counts a request refused for a wrong admin token against
// its client (the direct peer).
func (m *Main) adminAuthFailed(r *http.Request) {
	if m.adminLimiter != nil {
		m.adminLimiter.Failed((*edge.Proxies)(nil).ClientAddr(r))
	}
}

// adminHandler is the admin listener's handler: with a token, a client
// that keeps presenting a wrong one is refused (429, Retry-After) before
// any handler runs, except the health checks, which take no token and
// must answer load balancers and orchestrators whatever else the same
// address has done.
func (m *Main) adminHandler() http.Handler {
	mux := m.adminMux()
	if m.adminLimiter == nil {
		return mux
	}
	limited := m.adminLimiter.Middleware(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := path.Clean(r.URL.Path); p == "/healthz" || p == "/readyz" {
			mux.ServeHTTP(w, r)
			return
		}
		limited.ServeHTTP(w, r)
	})
}

// readyStall is how long one insert of the event writer may run before
// /readyz says the store is stalled (a batch takes milliseconds; inserts are
// cut at --commit-timeout).
const readyStall = 2 * time.Second

func (m *Main) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if m.shuttingDown.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
			return
		}
		// A store that blocks rather than fails (a lock held elsewhere, a
		// stalled disk or link) answers Ping on another connection while
		// every webhook waits behind the writer: the writer says.
		if m.Committer != nil {
			limit := readyStall
			if t := m.Config.CommitTimeout; t > 0 {
				limit = min(limit, t/2)
			}
			if d := m.Committer.Stalled(); d > limit {
				m.Logger.Warn("readiness check failed: the event writer is stuck", "insert_running", d.Round(time.Millisecond))
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store stalled"})
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := m.Store.Ping(ctx); err != nil {
			m.Logger.Warn("readiness check failed", "error", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", m.requireToken(m.Metrics.Handler()))
	// The console and the admin API under /api/ (token-protected off
	// loopback; see package console).
	mux.Handle("/", m.Console)
	if m.Config.Pprof {
		mux.Handle("/debug/pprof/", m.requireToken(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/profile", m.requireToken(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/trace", m.requireToken(http.HandlerFunc(pprof.Trace)))
	}
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Close stops accepting requests, waits for in-flight requests (and so their
// commits) up to the grace period, drains the committer and closes the
// store. Safe to call more than once.
func (m *Main) Close() error {
	m.closeOnce.Do(func() {
		m.shuttingDown.Store(true)
		grace := m.Config.Grace
		if grace <= 0 {
			grace = DefaultShutdownGrace
		}
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		var errs []error
		if m.publicSrv != nil {
			if err := m.publicSrv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("shutdown public listener: %w", err))
			}
		} else if m.publicLn != nil {
			m.publicLn.Close()
		}
		if m.Reconcile != nil {
			m.Reconcile.Stop()
		}
		if m.Committer != nil {
			if err := m.Committer.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close committer: %w", err))
			}
		}
		if m.Worker != nil {
			// Waits for in-flight deliveries until the grace period ends,
			// then releases the leases of the rest: nothing is lost and
			// nothing stays stuck in delivering.
			if err := m.Worker.Shutdown(ctx); err != nil {
				m.Logger.Warn("deliveries cut short at shutdown; their events are pending again", "error", err)
			}
		}
		if m.stopListen != nil {
			m.stopListen()
			<-m.listenDone
		}
		m.stopRetentionLoop()
		if m.redirectSrv != nil {
			m.redirectSrv.Shutdown(ctx)
		}
		if m.stopAllow != nil {
			m.stopAllow()
		}
		if m.adminSrv != nil {
			if err := m.adminSrv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("shutdown admin listener: %w", err))
			}
		} else if m.adminLn != nil {
			m.adminLn.Close()
		}
		if m.Store != nil {
			if err := m.Store.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close store: %w", err))
			}
		}
		m.closeErr = errors.Join(errs...)
		if m.Logger != nil {
			if m.closeErr != nil {
				m.Logger.Error("hookbox stopped with errors", "error", m.closeErr)
			} else {
				m.Logger.Info("hookbox stopped")
			}
		}
	})
	return m.closeErr
}

// RetentionInterval is how often retention runs.
const RetentionInterval = time.Hour

func (m *Main) now() time.Time {
	if m.NowFunc != nil {
		return m.NowFunc()
	}
	return time.Now()
}

// startRetention prunes now and then every RetentionInterval: bodies of
// delivered events older than --retention, rows (ids) of delivered and dead
// events older than --keep-ids. Pending events are never pruned.
func (m *Main) startRetention() {
	m.stopRetention, m.retentionDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(m.retentionDone)
		t := time.NewTicker(RetentionInterval)
		defer t.Stop()
		for {
			m.Prune(context.Background())
			select {
			case <-m.stopRetention:
				return
			case <-t.C:
			}
		}
	}()
}

func (m *Main) stopRetentionLoop() {
	if m.stopRetention != nil {
		close(m.stopRetention)
		<-m.retentionDone
		m.stopRetention = nil
	}
}

// Prune runs retention once.
func (m *Main) Prune(ctx context.Context) (bodies, rows int, err error) {
	now := m.now()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	bodies, rows, err = m.Store.PruneEvents(ctx, now.Add(-m.Config.Retention), now.Add(-m.Config.KeepIDs))
	if err != nil {
		m.Metrics.StoreError(prom.OpPrune)
		m.Logger.Error("retention failed", "error", err, "bodies_pruned", bodies, "rows_deleted", rows)
	} else if bodies > 0 || rows > 0 {
		m.Logger.Info("retention", "bodies_pruned", bodies, "rows_deleted", rows)
	}
	return bodies, rows, err
}

func runServe(ctx context.Context, env *Env, args []string) error {
	cfg, err := ParseServeConfig(env, args)
	if err != nil {
		return err
	}
	lw := newLogWriter(env.Stderr, DefaultLogFlushInterval)
	defer lw.Close()
	m, err := NewMain(cfg, lw)
	if err != nil {
		return err
	}
	if err := m.Run(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		m.Logger.Info("shutting down", "reason", "signal")
	case err := <-m.Err():
		m.Close()
		return fmt.Errorf("serve: %w", err)
	}
	return m.Close()
}
