package console

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
)

// Admin token failures allowed per client (the direct peer: an IPv4
// address, an IPv6 /64) within AuthFailureWindow; the failure that reaches
// the limit refuses the client's failing credential checks (429,
// Retry-After) for the window: a person who mistyped the token has tries
// left, a script guessing it gets 10 a minute. During the penalty the
// client's tokens are not even compared (a right one served would tell a
// guesser it hit); a live session is served all the same, and so is every
// other client, whatever this one did.
const (
	MaxAuthFailures   = 10
	AuthFailureWindow = time.Minute
)

// healthz says the process is up (GET /healthz): 200 {"status":"ok"},
// without token or Host check.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeStatus(w, http.StatusOK, "ok")
}

// readyz says whether the receiver can take webhooks (GET /readyz): 200
// {"status":"ready"}, or 503 with ReadyFunc's user-safe message as the
// status ("not ready" for an internal error). Load balancers read both bodies, so their shape is fixed.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.ready == nil {
		writeStatus(w, http.StatusOK, "ready")
		return
	}
	err := s.ready(r.Context())
	if err == nil {
		writeStatus(w, http.StatusOK, "ready")
		return
	}
	if hookbox.ErrorCode(err) == hookbox.EINTERNAL {
		// ReadyFunc logs what it knows; an error without a code would
		// say nothing otherwise.
		s.log.Warn("console: readiness check failed", "error", err)
		writeStatus(w, http.StatusServiceUnavailable, "not ready")
		return
	}
	writeStatus(w, http.StatusServiceUnavailable, hookbox.ErrorMessage(err))
}

// writeStatus writes the health checks' {"status":...} document, compact
// as it always was.
func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"status": status})
}

// hostRule says which Host names the admin listener answers.
type hostRule struct {
	any   bool            // every Host
	names map[string]bool // besides loopback, normalised by hostName
}

// newHostRule returns the rule for a listener on listenAddr: loopback
// names always, and the allowed names; any Host when allowed holds "*", or
// when it is empty and the listener is not on loopback (a token is then
// required).
func newHostRule(listenAddr string, allowed []string, token bool) (hostRule, error) {
	h := hostRule{names: map[string]bool{}}
	for _, a := range allowed {
		if a == "*" {
			if !token {
				return hostRule{}, errors.New(`allowed hosts "*" needs an admin token`)
			}
			h.any = true
			continue
		}
		n := hostName(a)
		if n == "" {
			return hostRule{}, errors.New("allowed hosts: empty host name")
		}
		h.names[n] = true
	}
	if len(allowed) == 0 && listenAddr != "" && !IsLoopback(listenAddr) {
		h.any = true
	}
	return h, nil
}

// allows reports whether a request naming host is answered.
func (h hostRule) allows(host string) bool {
	return h.any || isLoopbackHost(host) || h.names[hostName(host)]
}

// hostName is a Host header's (or an allowed host's) name, lowercase,
// without port, brackets or trailing dot.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// checkHost refuses (421) a request whose Host the listener does not
// answer (hostRule), whether a token is set or not: a page on an
// attacker's domain resolving to 127.0.0.1 (DNS rebinding) would otherwise
// be same-origin with the console, read what is open, and spend the
// failure limit of every client on this host with wrong tokens.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hosts.allows(r.Host) {
			s.log.Debug("console: request for another host refused", "client", r.RemoteAddr, "path", r.URL.Path)
			writeAPIError(w, hookbox.Errorf(hookbox.EMISDIRECTED, "this admin listener answers only requests naming a loopback or an allowed host"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuseOverLimit answers a request of a client over the failure limit:
// 429 with Retry-After, and reports whether it did. Token checks ask it
// before comparing the token; session checks only once the session is
// found wanting, so that a logged-in console keeps working from an
// address that also failed (the operator's own browser, a NAT).
func (s *Server) refuseOverLimit(w http.ResponseWriter, r *http.Request) bool {
	if s.limiter == nil {
		return false
	}
	d, limited := s.limiter.Limited(clientAddr(r))
	if !limited {
		return false
	}
	s.log.Debug("console: admin token failures over the limit", "client", r.RemoteAddr, "path", r.URL.Path)
	secs := (d + time.Second - 1) / time.Second
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	writeAPIError(w, hookbox.Errorf(hookbox.ERATELIMITED, "too many wrong admin tokens from this address: try again later"))
	return true
}

// authFailed counts a request refused for a wrong token against its
// client and reports it to OnAuthFailure.
func (s *Server) authFailed(r *http.Request) {
	if s.limiter != nil {
		s.limiter.Failed(clientAddr(r))
	}
	if s.onAuthFailure != nil {
		s.onAuthFailure(r)
	}
}

// clientAddr is the direct peer's address: the admin listener trusts no
// proxy header.
func clientAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}
