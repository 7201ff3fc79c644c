package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/edge"
)

// Defaults for Options.
const (
	// DefaultSessionTTL is how long a console login lasts.
	DefaultSessionTTL = 12 * time.Hour
	// PageSize is how many events a page of the console lists.
	PageSize = 50
	// MaxAPILimit caps the limit of GET /api/events.
	MaxAPILimit = 500
	// CountCap bounds every count the console makes: beyond it, the
	// console says "10,000+" instead of walking the table.
	CountCap = 10000
	// RefreshInterval is how often the live pages poll for fresh data.
	RefreshInterval = 5 * time.Second
)

// Options configure a Server.
type Options struct {
	// Store is where events are read and replayed. Required. When it also
	// implements hookbox.EventSearcher, the console offers the time range,
	// destination and object id filters and bounded counts.
	Store hookbox.Store
	// Token is HOOKBOX_ADMIN_TOKEN. Empty: the API, the console, /metrics
	// and /debug/pprof/ are open, which the caller allows only on a
	// loopback listener (CheckListen, ListenAddr).
	Token string
	// Secure marks the session cookie Secure (the admin listener is TLS).
	Secure bool
	// IsHTTPS, if set, tells per request whether it reached the console
	// over HTTPS (TLS here, or a trusted proxy's X-Forwarded-Proto); the
	// session cookie is then Secure, with the __Host- prefix, and HSTS is
	// sent, as with Secure.
	IsHTTPS func(*http.Request) bool
	// Activity holds the ingest and delivery counters of the overview;
	// nil: the overview shows only what the store knows.
	Activity *Activity
	// Destinations are the configured destination names, offered by the
	// events filter. Empty: the overview and pending events' pages say
	// that no destination is configured (events stay pending).
	Destinations []string
	// DestinationStatusFunc, if set, returns the delivery controls and
	// live state of each destination this process delivers to
	// (deliver.Worker.Status), by name, for the destinations page; nil, or
	// a destination absent from its map: the page shows what the store
	// knows only.
	DestinationStatusFunc func() map[string]DestinationStatus
	// WakeFunc, if set, is called after a replay so that delivery starts
	// at once (deliver.(*Worker).Wake).
	WakeFunc func()
	// SessionTTL is how long a login lasts; <= 0: DefaultSessionTTL.
	SessionTTL time.Duration
	// Logger receives internal errors; nil: slog.Default().
	Logger *slog.Logger
	// NowFunc is the clock; nil: time.Now.
	NowFunc func() time.Time
	// OnAuthFailure, if set, is called for each request refused for a
	// wrong admin token: an API request with a bearer token that is not
	// it, a failed login. Not for a request that presents no token, nor
	// for an expired session: they guess nothing (see refusedCredential).
	// The console counts these failures itself (MaxAuthFailures); this is
	// a hook, for metrics say.
	OnAuthFailure func(r *http.Request)

	// ListenAddr is the admin listener's address (--admin-listen). It
	// decides which Host names are served, with AllowedHosts: a listener
	// on loopback answers only requests naming a loopback host (or one of
	// AllowedHosts), token or not, so that a DNS-rebinding page cannot
	// reach it through a browser on this host; a listener on another
	// address answers AllowedHosts and loopback names, or any Host when
	// AllowedHosts is empty. Empty: loopback. New refuses a non-loopback
	// ListenAddr without a Token (CheckListen).
	ListenAddr string
	// AllowedHosts are host names (or IP addresses) served besides the
	// loopback ones, compared without letter case and without the port:
	// the names a reverse proxy or the operator's browser uses to reach
	// the admin listener. "*" allows any Host (Token required).
	AllowedHosts []string
	// Metrics, if set, is served at GET /metrics behind the token, as the
	// API is (Prometheus sends it as a bearer token).
	Metrics http.Handler
	// Pprof serves Go's profiles at /debug/pprof/ behind the token.
	Pprof bool
	// ReadyFunc, if set, says whether the receiver can take webhooks, for
	// GET /readyz: nil is ready (200 {"status":"ready"}); an error is 503
	// with its user-safe message as the status ({"status":"store
	// stalled"}), so return a *hookbox.Error with EUNAVAILABLE and a short
	// message ("not ready" for an error without a code, which the console
	// logs). It gets the request's context and bounds its own wait. Nil:
	// always ready.
	ReadyFunc func(ctx context.Context) error
}

// Server is the admin listener's http.Handler: the console, the API, /metrics,
// /debug/pprof/, /healthz and /readyz.
type Server struct {
	store         hookbox.Store
	searcher      hookbox.EventSearcher // nil when the store has no search
	token         string
	secure        bool
	isHTTPS       func(*http.Request) bool
	activity      *Activity
	dests         []string
	destStatus    func() map[string]DestinationStatus
	wake          func()
	log           *slog.Logger
	nowFunc       func() time.Time
	onAuthFailure func(*http.Request)
	hosts         hostRule
	metrics       http.Handler
	pprof         bool
	ready         func(context.Context) error
	limiter       *edge.FailureLimiter // nil without a token

	sessions  *sessions
	templates map[string]*template.Template
	handler   http.Handler
}

// New returns a Server for o. It fails when o.Store is nil, when
// o.ListenAddr is not on loopback and o.Token is empty (ErrTokenRequired),
// and when o.AllowedHosts holds an empty name, or "*" without a token.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("console: a store is required")
	}
	if o.ListenAddr != "" {
		if err := CheckListen(o.ListenAddr, o.Token); err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
	}
	hosts, err := newHostRule(o.ListenAddr, o.AllowedHosts, o.Token != "")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	s := &Server{
		store:         o.Store,
		token:         o.Token,
		secure:        o.Secure,
		isHTTPS:       o.IsHTTPS,
		activity:      o.Activity,
		dests:         o.Destinations,
		destStatus:    o.DestinationStatusFunc,
		wake:          o.WakeFunc,
		log:           o.Logger,
		nowFunc:       o.NowFunc,
		onAuthFailure: o.OnAuthFailure,
		hosts:         hosts,
		metrics:       o.Metrics,
		pprof:         o.Pprof,
		ready:         o.ReadyFunc,
	}
	s.searcher, _ = o.Store.(hookbox.EventSearcher)
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.nowFunc == nil {
		s.nowFunc = time.Now
	}
	ttl := o.SessionTTL
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	s.sessions = newSessions(ttl, s.now)
	if s.token != "" {
		// The client is the direct peer: the admin listener trusts no
		// proxy header.
		if s.limiter, err = edge.NewFailureLimiter(MaxAuthFailures, AuthFailureWindow, edge.LimiterOptions{NowFunc: s.nowFunc}); err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
	}
	if s.templates, err = s.parseTemplates(); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

func (s *Server) now() time.Time { return s.nowFunc().UTC() }

// ServeHTTP serves the whole admin listener: the console, the API,
// /metrics, /debug/pprof/, /healthz and /readyz.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// routes builds the handler chain. The health checks come first, outside
// every guard: load balancers and orchestrators probe them with whatever
// Host they use, and they reveal and change nothing. Every other request
// goes through security headers, the Host guard, cross-origin protection,
// then the mux, whose console routes require a session and the API,
// /metrics and /debug/pprof/ a bearer token; the failure limit refuses
// those credential checks (not the login form) for a client that keeps
// failing them.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	page := s.requireSession
	api := s.requireBearer

	mux.Handle("GET /static/", s.static())
	mux.HandleFunc("GET /login", s.showLogin)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)

	mux.Handle("GET /{$}", page(s.showOverview))
	mux.Handle("GET /events", page(s.listEvents))
	mux.Handle("GET /events/replay", page(s.confirmReplay))
	mux.Handle("POST /events/replay", page(s.replayFilter))
	mux.Handle("GET /events/{id}", page(s.showEvent))
	mux.Handle("POST /events/{id}/replay", page(s.replayEvent))
	mux.Handle("POST /events/{id}/skip", page(s.skipEvent))
	mux.Handle("POST /events/{id}/release", page(s.releaseEvent))

	mux.Handle("GET /api/events", api(s.apiListEvents))
	mux.Handle("GET /api/events/{id}", api(s.apiShowEvent))
	mux.Handle("POST /api/events/{id}/replay", api(s.apiReplayEvent))
	mux.Handle("POST /api/events/{id}/skip", api(s.apiSkipEvent))
	mux.Handle("POST /api/release", api(s.apiRelease))
	mux.Handle("GET /destinations", page(s.showDestinations))
	mux.Handle("POST /destinations/pause", page(s.pauseDestination(true)))
	mux.Handle("POST /destinations/resume", page(s.pauseDestination(false)))
	mux.Handle("GET /api/destinations", api(s.apiDestinations))
	mux.Handle("POST /api/destinations/pause", api(s.apiPause(true)))
	mux.Handle("POST /api/destinations/resume", api(s.apiPause(false)))
	mux.Handle("POST /api/replay", api(s.apiReplay))
	mux.Handle("/api/", api(func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, hookbox.Errorf(hookbox.ENOTFOUND, "no such API endpoint"))
	}))
	if s.metrics != nil {
		mux.Handle("GET /metrics", api(s.metrics.ServeHTTP))
	}
	if s.pprof {
		mux.Handle("/debug/pprof/", api(pprof.Index))
		mux.Handle("/debug/pprof/profile", api(pprof.Profile))
		mux.Handle("/debug/pprof/trace", api(pprof.Trace))
	}
	mux.Handle("/", page(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, hookbox.Errorf(hookbox.ENOTFOUND, "page not found"))
	}))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("console: cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		writeAPIError(w, hookbox.Errorf(hookbox.EFORBIDDEN, "cross-origin request refused"))
	}))

	top := http.NewServeMux()
	top.HandleFunc("GET /healthz", s.healthz)
	top.HandleFunc("GET /readyz", s.readyz)
	top.Handle("/", s.secureHeaders(s.checkHost(cop.Handler(mux))))
	return top
}

// csp allows scripts, styles and images from the console itself only: no
// inline script, no inline style, no framing, forms posting only here.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (s *Server) secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if s.overHTTPS(r) {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}
