package console

import (
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/hookbox/hookbox"
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
	// Token is HOOKBOX_ADMIN_TOKEN. Empty: the API and the console are
	// open, which the caller allows only on a loopback listener
	// (CheckListen); requests must then name a loopback host.
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
	// events filter.
	Destinations []string
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
	// serve counts it against the client and refuses a client that keeps
	// failing (429).
	OnAuthFailure func(r *http.Request)
}

// Server serves the admin API and the console. It is an http.Handler.
type Server struct {
	store         hookbox.Store
	searcher      hookbox.EventSearcher // nil when the store has no search
	token         string
	secure        bool
	isHTTPS       func(*http.Request) bool
	activity      *Activity
	dests         []string
	wake          func()
	log           *slog.Logger
	nowFunc       func() time.Time
	onAuthFailure func(*http.Request)

	sessions  *sessions
	templates map[string]*template.Template
	handler   http.Handler
}

// New returns a Server for o. It fails when o.Store is nil.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("console: a store is required")
	}
	s := &Server{
		store:         o.Store,
		token:         o.Token,
		secure:        o.Secure,
		isHTTPS:       o.IsHTTPS,
		activity:      o.Activity,
		dests:         o.Destinations,
		wake:          o.WakeFunc,
		log:           o.Logger,
		nowFunc:       o.NowFunc,
		onAuthFailure: o.OnAuthFailure,
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
	var err error
	if s.templates, err = s.parseTemplates(); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

func (s *Server) now() time.Time { return s.nowFunc().UTC() }

// ServeHTTP serves the console and the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// routes builds the handler chain: security headers, the loopback host
// check, cross-origin protection, then the mux, whose console routes
// require a session and API routes a bearer token.
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

	mux.Handle("GET /api/events", api(s.apiListEvents))
	mux.Handle("GET /api/events/{id}", api(s.apiShowEvent))
	mux.Handle("POST /api/events/{id}/replay", api(s.apiReplayEvent))
	mux.Handle("POST /api/replay", api(s.apiReplay))
	mux.Handle("/api/", api(func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, hookbox.Errorf(hookbox.ENOTFOUND, "no such API endpoint"))
	}))
	mux.Handle("/", page(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, hookbox.Errorf(hookbox.ENOTFOUND, "page not found"))
	}))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("console: cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return s.secureHeaders(s.checkHost(cop.Handler(mux)))
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

// checkHost refuses, when the console is open (no token), a request whose
// Host is not a loopback name or address: a page on an attacker's domain
// resolving to 127.0.0.1 (DNS rebinding) would otherwise be same-origin
// with the console.
func (s *Server) checkHost(next http.Handler) http.Handler {
	if s.token != "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackHost(r.Host) {
			http.Error(w, "the console without HOOKBOX_ADMIN_TOKEN answers only requests to a loopback host", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authFailed reports a request refused for a wrong token.
func (s *Server) authFailed(r *http.Request) {
	if s.onAuthFailure != nil {
		s.onAuthFailure(r)
	}
}
