package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/edge"
	"github.com/hookbox/hookbox/reconcile"
	"go.opentelemetry.io/otel/trace"
)

// Server timeouts against slow clients. Stripe sends a few KB and expects an
// answer within seconds; anything slower is not Stripe.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 15 * time.Second
	WriteTimeout      = 20 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 32 << 10
)

// DefaultShutdownGrace is how long Close waits for in-flight requests and
// deliveries.
const DefaultShutdownGrace = 25 * time.Second

// Retention defaults. Stripe's manual resends and its events API reach back
// 30 days, so ids are kept well beyond that for dedupe.
const (
	DefaultRetention  = 30 * 24 * time.Hour
	DefaultKeepIDs    = 90 * 24 * time.Hour
	MinKeepIDs        = 31 * 24 * time.Hour
	RetentionInterval = time.Hour
)

// Mode is how an endpoint answers Stripe with respect to delivery.
type Mode string

const (
	// ModeAsync answers Stripe once the event is stored and delivers it
	// in the background (the default).
	ModeAsync Mode = "async"
	// ModeSync answers 200 only once every destination has the event, 500
	// otherwise (Stripe then retries).
	ModeSync Mode = "sync"
)

// ParseMode parses "async" or "sync".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAsync, ModeSync:
		return m, nil
	}
	return "", hookbox.Errorf(hookbox.EINVALID, "mode %q: want async or sync", s)
}

// Options configure a Receiver. Store and Endpoints are required; every
// other zero value means the default named in its comment.
type Options struct {
	// Store holds events and is the delivery queue. The Receiver closes it.
	Store hookbox.Store
	// Endpoints are the webhook endpoints; the first is the default one,
	// which also delivers events that have no endpoint (reconciled events,
	// older rows).
	Endpoints []Endpoint
	// Mode: ModeAsync ("") or ModeSync.
	Mode Mode
	// Logger receives structured logs; nil: discarded.
	Logger *slog.Logger
	// NowFunc is the clock of delivery, retention, the admin console and
	// the first reconcile window; nil: time.Now.
	NowFunc func() time.Time
	// Version is reported in hookbox_build_info.
	Version string
	// TracerProvider makes the spans of webhooks (ingest.Handler.Tracer)
	// and of delivery attempts (deliver.Worker.Tracer); package tracing
	// builds one from the OTEL_* environment variables, and a library
	// user may pass their own. nil: no spans at all.
	TracerProvider trace.TracerProvider
	// TraceFlush, if set, is called by Close once ingest and delivery
	// have stopped, to export the spans still buffered (as
	// tracing.Provider.Shutdown does). A provider passed without it is
	// the caller's to flush.
	TraceFlush func(context.Context) error

	// Ingest.
	MaxBody       int64         // largest accepted body; 0: ingest.DefaultMaxBody
	DebugErrors   bool          // add internal detail to error responses (local use only)
	MaxBatch      int           // group commit: events per transaction; 0: 256
	Linger        time.Duration // group commit: wait for more events; 0: none
	CommitTimeout time.Duration // bound of one insert; 0: groupcommit.DefaultTimeout

	// Delivery.
	Retry        hookbox.RetryPolicy // zero fields: the hookbox defaults
	Concurrency  int                 // 0: deliver.DefaultConcurrency
	PollInterval time.Duration       // 0: deliver.DefaultPollInterval
	Lease        time.Duration       // 0: sized from the destinations' timeouts

	// Retention: bodies of delivered events are emptied after Retention
	// (0: DefaultRetention), rows (ids, for dedupe) deleted after KeepIDs
	// (0: DefaultKeepIDs; at least MinKeepIDs), by a sweep at Open and then
	// every RetentionEvery (0: RetentionInterval).
	Retention, KeepIDs time.Duration
	RetentionEvery     time.Duration

	// Reconcile, when set, reconciles with Stripe's events API
	// periodically: /v1/events for snapshot endpoints, /v2/core/events
	// for each thin endpoint.
	Reconcile *ReconcileOptions
	// StripeCheck, when set, checks the Stripe webhook endpoints that
	// point at the endpoints periodically (hookbox_stripe_endpoint_enabled).
	StripeCheck *StripeCheckOptions
	// Thin, when set, fetches the full form of thin events (endpoints
	// with PayloadThin) in the background.
	Thin *ThinOptions
	// Notify, when set, tells people of dead events, failing destinations
	// and other conditions through Slack, a signed webhook or email.
	Notify *NotifyOptions

	// Admin surface.
	AdminToken string // required off loopback; never logged
	Pprof      bool   // serve /debug/pprof/ on the admin handler
	// AdminHosts are the Host names the admin surface answers besides
	// loopback ones ("*": any); none: loopback names only on a loopback
	// AdminListen, any Host on another address (where a token is required).
	AdminHosts []string

	// The public listener's protections (package edge).
	TrustedProxies     string    // CIDRs whose X-Forwarded-For/-Proto are believed
	RequireHTTPS       bool      // refuse webhooks that did not arrive over HTTPS
	Allowlist          edge.Mode // Stripe IP allowlist: "" (off), log, enforce
	AllowlistSource    string    // "": edge.StripeWebhookIPsURL
	AllowlistRefresh   time.Duration
	MaxFailedVerify    int           // per client and window before 429s; <0: no limit, 0: edge.DefaultMaxFailures
	FailedVerifyWindow time.Duration // 0: edge.DefaultFailureWindow
	// Open connections of the public listener per client (the TCP peer;
	// Stripe's addresses and trusted proxies exempt) and in all; over a
	// bound a new connection is closed at once. 0: edge.DefaultMaxConnsPerClient
	// and edge.DefaultMaxConns; negative: no bound.
	MaxConnsPerClient, MaxConns int

	// Listeners. Open binds them when Listen is set; otherwise use
	// Handler and AdminHandler with servers of your own.
	Listen         string // public webhook listener, e.g. ":8080"
	AdminListen    string // admin listener; "" with Listen set: no admin listener
	RedirectListen string // plain HTTP redirecting to HTTPS (needs TLS)
	TLSCert        string // PEM files of the public listener, reloaded on change
	TLSKey         string
	Grace          time.Duration // shutdown grace; 0: DefaultShutdownGrace
}

// ReconcileOptions configure the periodic reconcile with Stripe's events API.
type ReconcileOptions struct {
	Key             string        // Stripe API key (rk_/sk_); never logged
	APIBase         string        // "": https://api.stripe.com
	Every           time.Duration // required
	Since           time.Duration // the first run's window; 0: reconcile.DefaultSince
	Types           []string      // only these event types
	UndeliveredOnly bool          // only events Stripe has not delivered everywhere
}

// withDefaults returns o with the zero values replaced by defaults.
func (o Options) withDefaults() Options {
	if o.Mode == "" {
		o.Mode = ModeAsync
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.NowFunc == nil {
		o.NowFunc = time.Now
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 256
	}
	if o.Retry.Base == 0 {
		o.Retry.Base = hookbox.DefaultRetryBase
	}
	if o.Retry.Cap == 0 {
		o.Retry.Cap = max(hookbox.DefaultRetryCap, o.Retry.Base)
	}
	if o.Retry.MaxAttempts == 0 {
		o.Retry.MaxAttempts = hookbox.DefaultMaxAttempts
	}
	if o.Retry.Window == 0 {
		o.Retry.Window = hookbox.DefaultRetryWindow
	}
	if o.Concurrency == 0 {
		o.Concurrency = deliver.DefaultConcurrency
	}
	if o.PollInterval == 0 {
		o.PollInterval = deliver.DefaultPollInterval
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.RetentionEvery == 0 {
		o.RetentionEvery = RetentionInterval
	}
	if o.KeepIDs == 0 {
		o.KeepIDs = max(DefaultKeepIDs, o.Retention)
	}
	if o.Allowlist == "" {
		o.Allowlist = edge.ModeOff
	}
	if o.AllowlistSource == "" {
		o.AllowlistSource = edge.StripeWebhookIPsURL
	}
	if o.MaxFailedVerify == 0 {
		o.MaxFailedVerify = edge.DefaultMaxFailures
	}
	if o.FailedVerifyWindow == 0 {
		o.FailedVerifyWindow = edge.DefaultFailureWindow
	}
	if o.Grace == 0 {
		o.Grace = DefaultShutdownGrace
	}
	return o
}

// Validate reports the first rule o breaks, as an EINVALID error naming the
// option and its hookbox serve flag. Zero values are defaults and valid.
// These are the only rules of a receiver's configuration: hookbox serve
// and hookbox config check both go through them.
func (o Options) Validate() error {
	if err := o.validate(); err != nil {
		return &hookbox.Error{Code: hookbox.EINVALID, Message: err.Error()}
	}
	return nil
}

func (o Options) validate() error {
	if err := validateEndpoints(o.Endpoints); err != nil {
		return err
	}
	o = o.withDefaults()
	if _, err := ParseMode(string(o.Mode)); err != nil {
		return fmt.Errorf("--mode %q: want async or sync", o.Mode)
	}
	if o.Mode == ModeSync && destinationCount(o.Endpoints) == 0 {
		return errors.New("--mode sync needs a destination (--forward-to, or destinations in --config)")
	}
	if err := validateOrder(o); err != nil {
		return err
	}
	if err := validateDedupe(o.Endpoints); err != nil {
		return err
	}
	if err := validateThin(o); err != nil {
		return err
	}
	if err := o.validateTimes(); err != nil {
		return err
	}
	if _, err := edge.ParseTrustedProxies(o.TrustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if _, err := edge.ParseMode(string(o.Allowlist)); err != nil {
		return fmt.Errorf("--ip-allowlist: %w", err)
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if o.RedirectListen != "" && o.TLSCert == "" {
		return errors.New("--http-redirect-listen needs --tls-cert and --tls-key")
	}
	if err := console.CheckListen(o.AdminListen, o.AdminToken); o.AdminListen != "" && err != nil {
		return fmt.Errorf("--admin-listen %s: %w", o.AdminListen, err)
	}
	if o.AdminToken != "" && len(o.AdminToken) < 16 {
		return errors.New("HOOKBOX_ADMIN_TOKEN is too short: use at least 16 random characters (e.g. openssl rand -hex 32)")
	}
	if o.Reconcile != nil {
		if err := o.Reconcile.validate(); err != nil {
			return err
		}
	}
	if o.Notify != nil {
		if err := o.Notify.validate(o.Endpoints); err != nil {
			return err
		}
	}
	if o.StripeCheck != nil {
		return o.StripeCheck.validate()
	}
	return nil
}

// validateTimes checks durations and counts (o has its defaults).
func (o Options) validateTimes() error {
	r := o.Retry
	if r.Base <= 0 || r.Cap < r.Base || r.MaxAttempts <= 0 || r.Window <= 0 || o.Concurrency <= 0 || o.PollInterval <= 0 {
		return errors.New("--retry-base, --max-attempts, --retry-window, --delivery-concurrency and --poll-interval must be positive, and --retry-cap at least --retry-base")
	}
	switch {
	case o.MaxBody < 0:
		return errors.New("--max-body must be positive")
	case o.MaxBatch < 0:
		return errors.New("--max-batch must be positive")
	case o.Linger < 0 || o.Linger > time.Second:
		return errors.New("--batch-linger must be between 0 and 1s")
	case o.CommitTimeout < 0:
		return errors.New("--commit-timeout must be positive")
	case o.Grace < 0:
		return errors.New("--shutdown-grace must be positive")
	case o.Lease < 0:
		return errors.New("--delivery-lease must be positive")
	case o.Retention < 0:
		return errors.New("--retention must be positive")
	case o.RetentionEvery < 0:
		return errors.New("the retention interval must be positive")
	case o.KeepIDs < MinKeepIDs || o.KeepIDs < o.Retention:
		return errors.New("--keep-ids must be at least 31d (Stripe resends and its events API reach back 30 days) and at least --retention")
	case o.FailedVerifyWindow < 0 || o.AllowlistRefresh < 0:
		return errors.New("--failed-verification-window and --ip-allowlist-refresh must not be negative")
	}
	if err := deliver.CheckLease(o.Lease, routedDestinations(o.Endpoints)); err != nil {
		return fmt.Errorf("--delivery-lease: %s", hookbox.ErrorMessage(err))
	}
	return nil
}

func (r *ReconcileOptions) validate() error {
	if r.Every <= 0 {
		return errors.New("--reconcile-every must be positive (or 0: off)")
	}
	if r.Since < 0 || r.Since > reconcile.MaxSince {
		return errors.New("--reconcile-since: Stripe keeps events for 30 days only; use at most 30d (older events cannot be recovered from Stripe)")
	}
	opts := reconcile.Options{Since: r.Since, Types: r.Types}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("--reconcile-types: %s", hookbox.ErrorMessage(err))
	}
	if _, err := reconcile.NewClient(r.Key, reconcile.ClientConfig{APIBase: r.APIBase}); err != nil {
		return fmt.Errorf("--reconcile-every: %s", hookbox.ErrorMessage(err))
	}
	return nil
}

// Warnings returns what is weak in o but allowed, for the caller to log at
// start: secrets that do not look like Stripe's or are shorter than its,
// a tolerance wider than replay protection needs. Values are never
// included.
func (o Options) Warnings() []string {
	var ws []string
	for _, ep := range o.Endpoints {
		for i, s := range ep.Secrets {
			if !strings.HasPrefix(s, "whsec_") {
				ws = append(ws, fmt.Sprintf("endpoint %s: webhook secret #%d does not look like a Stripe endpoint secret (whsec_...)", ep.Name, i))
			}
			if WeakSecret(s) {
				ws = append(ws, fmt.Sprintf("endpoint %s: webhook secret #%d has fewer than %d characters of key material (Stripe's have %d): a short secret can be guessed", ep.Name, i, MinSecretMaterial, MinSecretMaterial))
			}
		}
		if ep.Tolerance > MaxSafeTolerance {
			ws = append(ws, fmt.Sprintf("endpoint %s: tolerance %s is above %s: a captured request can be replayed for that long (Stripe's libraries use 5m)", ep.Name, ep.Tolerance, MaxSafeTolerance))
		}
	}
	return ws
}

// MinSecretMaterial is the length of the key material of Stripe's secrets
// (after "whsec_"); MaxSafeTolerance the widest tolerance that passes
// without a warning.
const (
	MinSecretMaterial = 32
	MaxSafeTolerance  = 15 * time.Minute
)

// WeakSecret reports whether a signing secret (a webhook secret, or a
// forwarding secret apps verify hookbox with) has less key material than
// Stripe's: fewer than MinSecretMaterial characters after any "whsec_".
func WeakSecret(s string) bool {
	return len(strings.TrimPrefix(s, "whsec_")) < MinSecretMaterial
}
