package receiver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/edge"
	"github.com/hookbox/hookbox/groupcommit"
	"github.com/hookbox/hookbox/notify"
	"github.com/hookbox/hookbox/prom"
	"github.com/hookbox/hookbox/reconcile"
	"github.com/hookbox/hookbox/stripeapi"
	"github.com/hookbox/hookbox/thin"
	"go.opentelemetry.io/otel/trace"
)

// Receiver is a whole hookbox: the public webhook handler of its endpoints,
// the group committer, the delivery worker and its wake-up, retention,
// periodic reconcile and the admin surface. New builds it, Open starts its
// background work (and its listeners, when Options.Listen is set), Close
// stops everything in order.
type Receiver struct {
	opts   Options
	logger *slog.Logger

	store     hookbox.Store
	metrics   *prom.Metrics
	activity  *console.Activity
	committer *groupcommit.Committer
	insert    hookbox.InsertFunc    // the store's, with the events' order keys set
	versions  *endpointVersions     // each endpoint's API version, as its webhooks show
	worker    *deliver.Worker       // nil without destinations
	periodic  *reconcile.Periodic   // nil without Options.Reconcile or a snapshot endpoint
	thinRecon []*reconcile.Periodic // one per thin endpoint, with Options.Reconcile
	fetcher   *thin.Fetcher         // nil without Options.Thin and a thin endpoint
	monitor   *stripeapi.Monitor    // nil without Options.StripeCheck
	notifier  *notify.Notifier      // nil without Options.Notify
	tracker   *notify.Tracker       // what notifications see of ingest and delivery; nil without Options.Notify
	dests     []deliver.Destination

	proxies *edge.Proxies
	allow   *edge.Allowlist
	limiter *edge.FailureLimiter // nil: no limit
	certs   *edge.CertReloader
	logs    *edge.LogSampler // rejection lines of the public listener, sampled

	public, admin http.Handler
	paths         []string
	forwardWarned atomic.Bool // noticeUntrustedForward has logged
	shuttingDown  atomic.Bool
	commits       commitHealth

	mu        sync.Mutex // guards opened and stops
	opened    bool
	stops     []func() // background work started by Open, stopped by Close in reverse
	listeners listeners
	serveErrs chan error
	closeOnce sync.Once
	closeErr  error
}

// New validates opts and builds a Receiver. Nothing runs until Open; the
// store is closed by Close, also when New fails.
func New(opts Options) (r *Receiver, err error) {
	if opts.Store == nil {
		return nil, hookbox.Errorf(hookbox.EINVALID, "receiver: a store is required")
	}
	if err := opts.Validate(); err != nil {
		opts.Store.Close()
		return nil, err
	}
	opts = opts.withDefaults()
	r = &Receiver{opts: opts, logger: opts.Logger, store: opts.Store, serveErrs: make(chan error, 3)}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	for _, w := range opts.Warnings() {
		r.logger.Warn(w)
	}
	r.dests = routedDestinations(opts.Endpoints)
	names := make([]string, len(r.dests))
	for i, d := range r.dests {
		names[i] = d.Name()
	}
	var promEndpoints []prom.Endpoint
	for _, ep := range opts.Endpoints {
		promEndpoints = append(promEndpoints, prom.Endpoint{Name: ep.Name, Secrets: len(ep.Secrets)})
	}
	// Metrics are the library's hooks adapted by prom, on its own registry.
	ordered := orderedNames(opts.Endpoints)
	r.metrics = prom.New(prom.Options{Version: opts.Version, Endpoints: promEndpoints, Destinations: names, OrderedDestinations: ordered})
	r.metrics.RegisterQueue(r.store.CountEvents)
	if len(ordered) > 0 {
		r.metrics.RegisterBlocked(r.store.CountBlocked)
	}
	if versioned := versionedNames(opts.Endpoints); len(versioned) > 0 {
		r.metrics.RegisterHeld(r.store.CountHeld, versioned)
	}
	if len(r.dests) > 0 {
		r.metrics.RegisterDestinationStates(r.destinationStates)
	}
	r.activity = console.NewActivity()
	if opts.Notify != nil {
		r.notifier = r.newNotifier()
	}
	if err := r.buildEdge(); err != nil {
		return nil, err
	}
	if r.fetcher, err = r.newFetcher(); err != nil {
		return nil, fmt.Errorf("thin events: %w", err)
	}
	if opts.Reconcile != nil {
		// Only reconciled events are marked: without periodic reconcile
		// the webhooks' versions need not be tracked on the insert path.
		r.versions = newEndpointVersions(opts.Endpoints)
	}
	r.insert = r.insertChain(r.store.InsertEvents)
	commitOpts := groupcommit.Options{MaxBatch: opts.MaxBatch, Linger: opts.Linger, Timeout: opts.CommitTimeout}
	if p, ok := r.store.(hookbox.Preparer); ok {
		commitOpts.Prepare = p.PrepareInsert
	}
	committed := r.insert
	if p, ok := r.store.(hookbox.PipelinedInserter); ok {
		committed, commitOpts.Sync = r.insertChain(p.InsertEventsNoSync), p.SyncInserts
	}
	commitOpts.OnBatchFunc = func(size int, d time.Duration, err error) {
		r.commits.record(err, r.opts.NowFunc())
		r.metrics.Batch(size, d, err)
	}
	r.committer = groupcommit.New(committed, commitOpts)
	if len(r.dests) > 0 {
		r.worker = r.newWorker()
		r.metrics.RegisterInFlight(r.inFlight)
	} else {
		r.logger.Warn("no destination configured (--forward-to): events are stored and stay pending until one is")
	}
	if r.public, err = r.publicHandler(); err != nil {
		return nil, err
	}
	if r.admin, err = r.adminHandler(names); err != nil {
		return nil, err
	}
	if opts.Reconcile != nil {
		if r.periodic, err = r.newPeriodic(); err != nil {
			return nil, fmt.Errorf("reconcile: %w", err)
		}
		if r.thinRecon, err = r.newThinPeriodics(r.periodic.Options); err != nil {
			return nil, fmt.Errorf("reconcile: %w", err)
		}
		if len(thinEndpoints(opts.Endpoints)) == len(opts.Endpoints) {
			r.periodic = nil // every endpoint is thin: nothing to list in /v1/events
		}
	}
	if opts.StripeCheck != nil {
		if r.monitor, err = r.newStripeMonitor(); err != nil {
			return nil, fmt.Errorf("stripe endpoint check: %w", err)
		}
	}
	return r, nil
}

// insertChain wraps a store's insert with what every stored event goes
// through: dedupe across endpoints, versions, order keys, thin fetches.
func (r *Receiver) insertChain(base hookbox.InsertFunc) hookbox.InsertFunc {
	insert := dedupeInsert(base, r.opts.Endpoints)
	if r.versions != nil {
		insert = r.versions.insert(insert)
	}
	return r.fetchInsert(orderInsert(insert, orders(r.opts.Endpoints), r.wakeAt))
}

// tracer returns hookbox's tracer from Options.TracerProvider, or nil.
func (r *Receiver) tracer() trace.Tracer {
	if r.opts.TracerProvider == nil {
		return nil
	}
	return r.opts.TracerProvider.Tracer("github.com/hookbox/hookbox", trace.WithInstrumentationVersion(r.opts.Version))
}

func (r *Receiver) newWorker() *deliver.Worker {
	o := r.opts
	return &deliver.Worker{
		OnAttempt: func(a hookbox.Attempt) {
			r.metrics.Attempt(a)
			r.activity.RecordAttempt(a)
			if r.tracker != nil {
				r.tracker.Attempt(a)
			}
		},
		Queue:        r.store,
		Destinations: r.dests,
		Retry:        o.Retry,
		Concurrency:  o.Concurrency,
		PollInterval: o.PollInterval,
		Lease:        o.Lease,
		NowFunc:      o.NowFunc,
		Logger:       r.logger,
		OnStoreError: func(op string, _ error) { r.metrics.StoreError(op) },
		OnLate:       func(dest string, _ bool) { r.metrics.Late(dest) },
		OnBreaker:    r.breakerOpened,
		OnProbe:      r.metrics.BreakerProbe,
		OnDefer:      r.metrics.Deferred,
		Tracer:       r.tracer(),
	}
}

// wakeAt has delivery look at the queue again at t (async mode): events
// held by an order window come due then.
func (r *Receiver) wakeAt(t time.Time) {
	if r.async() {
		r.worker.WakeAt(t)
	}
}

// async reports whether events are delivered in the background.
func (r *Receiver) async() bool { return r.worker != nil && r.opts.Mode == ModeAsync }

// wake starts delivery at once (async mode); a no-op otherwise.
func (r *Receiver) wake() {
	if r.async() {
		r.worker.Wake()
	}
}

// Handler is the public webhook handler: every endpoint at its Path, 404
// elsewhere (see publicHandler for the order of its protections).
func (r *Receiver) Handler() http.Handler { return r.public }

// AdminHandler is the admin surface: console, /api/, /metrics,
// /debug/pprof/ (with Pprof), /healthz and /readyz.
func (r *Receiver) AdminHandler() http.Handler { return r.admin }

// Store, Logger, Err, the listeners' addresses and the allowlist expose
// what callers of a running receiver use (serve, tests).
func (r *Receiver) Store() hookbox.Store       { return r.store }
func (r *Receiver) Logger() *slog.Logger       { return r.logger }
func (r *Receiver) Err() <-chan error          { return r.serveErrs }
func (r *Receiver) PublicAddr() string         { return r.listeners.addr(r.listeners.public) }
func (r *Receiver) AdminAddr() string          { return r.listeners.addr(r.listeners.admin) }
func (r *Receiver) RedirectAddr() string       { return r.listeners.addr(r.listeners.redirect) }
func (r *Receiver) Allowlist() *edge.Allowlist { return r.allow }

// Open starts the receiver's background work: delivery (async mode) and
// its wake-up by other replicas (a hookbox.Notifier store), periodic
// reconcile, retention and the allowlist refresh; then, when
// Options.Listen is set, binds and serves the listeners. It returns once
// requests are accepted; serving errors arrive on Err.
func (r *Receiver) Open(ctx context.Context) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.opened {
		return errors.New("receiver: already open")
	}
	r.opened = true
	// Background work runs on its own context: cancelling ctx must not
	// abort deliveries, which get their grace period in Close.
	if r.async() {
		rctx, cancel := context.WithTimeout(ctx, startupTimeout)
		r.releaseReadable(rctx)
		cancel()
		if err := r.worker.Start(context.Background()); err != nil {
			return fmt.Errorf("start delivery: %w", err)
		}
		r.startNotifier()
	}
	if r.periodic != nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r.versions.seed(sctx, r.store) // before the first run marks what it recovers
		cancel()
		if err := r.periodic.Start(context.Background()); err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
		r.stops = append(r.stops, r.periodic.Stop)
	}
	if r.monitor != nil {
		if err := r.monitor.Start(); err != nil {
			return fmt.Errorf("stripe endpoint check: %w", err)
		}
		r.stops = append(r.stops, r.monitor.Stop)
	}
	for _, p := range r.thinRecon {
		if err := p.Start(context.Background()); err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
		r.stops = append(r.stops, p.Stop)
	}
	if r.fetcher != nil {
		if err := r.fetcher.Start(context.Background()); err != nil {
			return fmt.Errorf("thin events: %w", err)
		}
		r.stops = append(r.stops, r.fetcher.Stop)
	}
	if err := r.startNotify(); err != nil {
		return err
	}
	r.stops = append(r.stops, r.startRetention())
	r.startAllowlist()
	if r.opts.Listen != "" {
		if err := r.listen(); err != nil {
			return err
		}
	}
	r.logger.Info("hookbox serving",
		"listen", r.PublicAddr(), "tls", r.certs != nil, "paths", r.paths, "admin", r.AdminAddr(),
		"mode", string(r.opts.Mode), "destinations", len(r.dests))
	return nil
}

// startNotifier wakes delivery when another process commits an event, on a
// store that tells (hookbox.Notifier: PostgreSQL's LISTEN/NOTIFY); polling
// covers a lost connection.
func (r *Receiver) startNotifier() {
	n, ok := r.store.(hookbox.Notifier)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.Listen(ctx, r.worker.Wake); err != nil {
			r.logger.Error("listen for new events stopped; polling only", "error", err)
		}
	}()
	r.stops = append(r.stops, func() { cancel(); <-done })
}

// Close stops accepting requests, waits for in-flight requests (and so
// their commits) and deliveries up to the grace period, drains the
// committer and closes the store. Safe to call more than once.
func (r *Receiver) Close() error {
	r.closeOnce.Do(func() {
		r.shuttingDown.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.Grace)
		defer cancel()
		var errs []error
		if err := r.listeners.shutdownPublic(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown public listener: %w", err))
		}
		if r.periodic != nil {
			r.periodic.Stop()
		}
		for _, p := range r.thinRecon {
			p.Stop()
		}
		if r.fetcher != nil {
			r.fetcher.Stop()
		}
		if r.committer != nil {
			if err := r.committer.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close committer: %w", err))
			}
		}
		if r.worker != nil {
			// Waits for in-flight deliveries until the grace period ends,
			// then releases the leases of the rest: nothing is lost and
			// nothing stays stuck in delivering.
			if err := r.worker.Shutdown(ctx); err != nil {
				r.logger.Warn("deliveries cut short at shutdown; their events are pending again", "error", err)
			}
		}
		// Destinations holding connections (brokers) close once nothing
		// delivers any more.
		for _, ep := range r.opts.Endpoints {
			for _, d := range ep.Destinations {
				if c, ok := d.(io.Closer); ok {
					if err := c.Close(); err != nil {
						r.logger.Warn("close destination", "destination", d.Name(), "error", err)
					}
				}
			}
		}
		r.mu.Lock()
		for i := len(r.stops) - 1; i >= 0; i-- {
			r.stops[i]()
		}
		r.stops = nil
		r.mu.Unlock()
		if err := r.listeners.shutdownRest(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown admin listener: %w", err))
		}
		if r.logs != nil {
			r.logs.Flush() // the counts of suppressed lines
		}
		if r.opts.TraceFlush != nil {
			if err := r.opts.TraceFlush(ctx); err != nil {
				r.logger.Warn("flush traces", "error", err)
			}
		}
		if r.store != nil {
			if err := r.store.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close store: %w", err))
			}
		}
		r.closeErr = errors.Join(errs...)
		if r.closeErr != nil {
			r.logger.Error("hookbox stopped with errors", "error", r.closeErr)
		} else {
			r.logger.Info("hookbox stopped")
		}
	})
	return r.closeErr
}

// listeners are the bound listeners and their servers (Options.Listen).
type listeners struct {
	public, admin, redirect          net.Listener
	publicSrv, adminSrv, redirectSrv *http.Server
}

func (l *listeners) addr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

func (l *listeners) shutdownPublic(ctx context.Context) error {
	if l.publicSrv != nil {
		return l.publicSrv.Shutdown(ctx)
	}
	if l.public != nil {
		l.public.Close()
	}
	return nil
}

func (l *listeners) shutdownRest(ctx context.Context) error {
	if l.redirectSrv != nil {
		l.redirectSrv.Shutdown(ctx)
	} else if l.redirect != nil {
		l.redirect.Close()
	}
	if l.adminSrv != nil {
		return l.adminSrv.Shutdown(ctx)
	}
	if l.admin != nil {
		l.admin.Close()
	}
	return nil
}

// NewServer returns an http.Server for h with the receiver's timeouts
// against slow clients.
func NewServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// listen binds the public, admin and redirect listeners and serves them.
func (r *Receiver) listen() (err error) {
	o, l := r.opts, &r.listeners
	if l.public, err = net.Listen("tcp", o.Listen); err != nil {
		return fmt.Errorf("listen %s: %w", o.Listen, err)
	}
	// Connections are bounded per client and in all before TLS: a refused
	// one costs no handshake.
	if l.public, err = r.limitConns(l.public); err != nil {
		return err
	}
	if o.AdminListen != "" {
		if l.admin, err = net.Listen("tcp", o.AdminListen); err != nil {
			return fmt.Errorf("admin listen %s: %w", o.AdminListen, err)
		}
	}
	l.publicSrv = NewServer(r.public, r.logger)
	if r.certs != nil {
		l.publicSrv.TLSConfig = r.certs.TLSConfig()
		l.public = tls.NewListener(l.public, l.publicSrv.TLSConfig)
	}
	if o.RedirectListen != "" {
		rh, err := edge.RedirectHTTPS(l.public.Addr().String(), r.logger)
		if err != nil {
			return fmt.Errorf("--http-redirect-listen: %w", err)
		}
		if l.redirect, err = net.Listen("tcp", o.RedirectListen); err != nil {
			return fmt.Errorf("listen %s: %w", o.RedirectListen, err)
		}
		if l.redirect, err = r.limitConns(l.redirect); err != nil {
			return err
		}
		l.redirectSrv = NewServer(rh, r.logger)
		go r.serve(l.redirectSrv, l.redirect)
	}
	go r.serve(l.publicSrv, l.public)
	if l.admin != nil {
		l.adminSrv = NewServer(r.admin, r.logger)
		go r.serve(l.adminSrv, l.admin)
	}
	return nil
}

// limitConns bounds ln's open connections per client (Stripe's addresses
// and trusted proxies exempt) and in all; over a bound a connection is
// closed as soon as it is accepted.
func (r *Receiver) limitConns(ln net.Listener) (net.Listener, error) {
	cl, err := edge.NewConnLimiter(ln, edge.ConnLimitOptions{
		MaxPerClient: r.opts.MaxConnsPerClient, MaxTotal: r.opts.MaxConns,
		Proxies: r.proxies, ExemptFunc: r.allow.Allows,
		OnRefused: r.metrics.ConnRefused, LogSampler: r.logs,
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("connection limit: %w", err)
	}
	return cl, nil
}

func (r *Receiver) serve(srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		select {
		case r.serveErrs <- err:
		default:
		}
	}
}
