package receiver

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"path"
	"time"

	"github.com/hookbox/hookbox/console"
	"github.com/hookbox/hookbox/edge"
)

// Admin token failures allowed per client and window before the client is
// refused (429) for the window: a person who mistyped the token has
// tries left, a script guessing it gets 10 a minute.
const (
	adminMaxFailures   = 10
	adminFailureWindow = time.Minute
)

// adminHandler builds the admin surface: with a token, a client that keeps
// presenting a wrong one is refused (429, Retry-After) before any handler
// runs, except the health checks, which take no token and must answer load
// balancers and orchestrators whatever else the same address has done.
func (r *Receiver) adminHandler(destinations []string) (http.Handler, error) {
	o := r.opts
	var err error
	if o.AdminToken != "" {
		// The client is the direct peer: the admin listener trusts no
		// proxy header.
		if r.adminLimiter, err = edge.NewFailureLimiter(adminMaxFailures, adminFailureWindow, edge.LimiterOptions{NowFunc: o.NowFunc}); err != nil {
			return nil, fmt.Errorf("admin failure limit: %w", err)
		}
	}
	var wake func()
	if r.async() {
		wake = r.worker.Wake
	}
	r.console, err = console.New(console.Options{
		Store: r.store, Token: o.AdminToken, Activity: r.activity, Destinations: destinations,
		WakeFunc: wake, Logger: r.logger, NowFunc: o.NowFunc, OnAuthFailure: r.adminAuthFailed,
		IsHTTPS: r.proxies.IsHTTPS, // behind a TLS-terminating proxy in --trusted-proxies
	})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	mux := r.adminMux()
	if r.adminLimiter == nil {
		return mux, nil
	}
	limited := r.adminLimiter.Middleware(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if p := path.Clean(req.URL.Path); p == "/healthz" || p == "/readyz" {
			mux.ServeHTTP(w, req)
			return
		}
		limited.ServeHTTP(w, req)
	}), nil
}

func (r *Receiver) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, req *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		if err := r.Ready(req.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", r.requireToken(r.metrics.Handler()))
	// The console and the admin API under /api/ (token-protected off
	// loopback; see package console).
	mux.Handle("/", r.console)
	if r.opts.Pprof {
		mux.Handle("/debug/pprof/", r.requireToken(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/profile", r.requireToken(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/trace", r.requireToken(http.HandlerFunc(pprof.Trace)))
	}
	return mux
}

// requireToken protects an admin handler with the admin token as a bearer
// token (compared in constant time) when one is configured, as the admin
// API is; Prometheus sends it with "authorization: {credentials: ...}".
func (r *Receiver) requireToken(h http.Handler) http.Handler {
	token := r.opts.AdminToken
	if token == "" {
		// Without a token the admin listener is on loopback; it answers
		// only requests that name a loopback host, as the console does, so
		// that a DNS-rebinding page cannot read metrics or profiles (or
		// start CPU profiles) through the operator's browser.
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Host == "" || !console.IsLoopback(req.Host) {
				http.Error(w, "without HOOKBOX_ADMIN_TOKEN this answers only requests to a loopback host", http.StatusMisdirectedRequest)
				return
			}
			h.ServeHTTP(w, req)
		})
	}
	// Compared as hashes, so the time taken tells nothing of the length
	// either.
	want := sha256.Sum256([]byte("Bearer " + token))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		auth := req.Header.Get("Authorization")
		got := sha256.Sum256([]byte(auth))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			// The client and path only: never what was presented. Only a
			// token presented counts against the client (see console's
			// refusedCredential: any web page can send requests without
			// one).
			if auth == "" {
				r.logger.Debug("admin: request without the admin token", "client", req.RemoteAddr, "path", req.URL.Path)
			} else {
				r.logger.Warn("admin: wrong admin token", "client", req.RemoteAddr, "path", req.URL.Path)
				r.adminAuthFailed(req)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookbox"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		h.ServeHTTP(w, req)
	})
}

// adminAuthFailed counts a request refused for a wrong admin token against
// its client (the direct peer).
func (r *Receiver) adminAuthFailed(req *http.Request) {
	if r.adminLimiter != nil {
		r.adminLimiter.Failed((*edge.Proxies)(nil).ClientAddr(req))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
