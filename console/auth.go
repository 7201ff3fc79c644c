package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hookbox/hookbox"
)

// ErrTokenRequired is CheckListen's refusal: an admin listener reachable
// from other hosts needs HOOKBOX_ADMIN_TOKEN.
var ErrTokenRequired = errors.New("the admin listener is not on loopback: set HOOKBOX_ADMIN_TOKEN (or HOOKBOX_ADMIN_TOKEN_FILE) to protect the admin API and console")

// CheckListen returns ErrTokenRequired when addr, the admin listener's
// address, is not on loopback and token is empty; serve refuses to start
// then.
func CheckListen(addr, token string) error {
	if token == "" && !IsLoopback(addr) {
		return ErrTokenRequired
	}
	return nil
}

// IsLoopback reports whether a listen address ("host:port", or a bare
// host) accepts connections from this host only: "localhost" or a loopback
// IP. An empty host (":8081") or an unspecified address (0.0.0.0, [::])
// listens on every interface and is not loopback.
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopbackHost reports whether a request's Host names this host only.
func isLoopbackHost(host string) bool {
	return host != "" && IsLoopback(host)
}

// validToken compares a presented token with the configured one in
// constant time (of the token's hash, so the length leaks nothing either).
func (s *Server) validToken(got string) bool {
	if s.token == "" || got == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(s.token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header, the scheme in any letter case (RFC 7235) and the token after
// one or more spaces; presented says whether the request carried an
// Authorization header at all.
func bearerToken(r *http.Request) (token string, presented bool) {
	auth := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", auth != ""
	}
	return strings.TrimSpace(tok), true
}

// requireBearer lets a request through when the console is open or it
// carries "Authorization: Bearer <token>": the API, /metrics and
// /debug/pprof/. It takes no cookie, so a browser never sends its
// credentials cross-site. Every refusal is the same 401 document.
func (s *Server) requireBearer(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if s.token != "" {
			// A client over the failure limit is refused whatever token it
			// presents: were the right one served, the 429s and 200s would
			// tell a guesser when it hit (another address is not affected).
			if s.refuseOverLimit(w, r) {
				return
			}
			if tok, presented := bearerToken(r); !s.validToken(tok) {
				s.refusedCredential(r, presented)
				w.Header().Set("WWW-Authenticate", `Bearer realm="hookbox"`)
				writeAPIError(w, hookbox.Errorf(hookbox.EUNAUTHORIZED, "a valid bearer token (HOOKBOX_ADMIN_TOKEN) is required"))
				return
			}
		}
		h(w, r)
	})
}

// requireSession lets a console request through when the console is open
// or it carries a live session cookie; otherwise it sends a GET to the
// login page (coming back afterwards) and refuses anything else.
func (s *Server) requireSession(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if s.token != "" && !s.sessions.valid(s.sessionID(r)) {
			if s.refuseOverLimit(w, r) {
				return
			}
			if r.Method == http.MethodGet && r.URL.Query().Get("fragment") == "" {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.renderError(w, r, hookbox.Errorf(hookbox.EUNAUTHORIZED, "your session has expired: log in again"))
			return
		}
		h(w, r)
	})
}

// cookieName is the session cookie's name; over TLS the __Host- prefix
// makes the browser refuse it unless it is Secure, host-only, Path=/.
func (s *Server) cookieName(r *http.Request) string {
	if s.overHTTPS(r) {
		return "__Host-hookbox_session"
	}
	return "hookbox_session"
}

// overHTTPS reports whether r reached the console over HTTPS (Options
// Secure and IsHTTPS).
func (s *Server) overHTTPS(r *http.Request) bool {
	return s.secure || s.isHTTPS != nil && s.isHTTPS(r)
}

func (s *Server) sessionID(r *http.Request) string {
	c, err := r.Cookie(s.cookieName(r))
	if err != nil {
		return ""
	}
	return c.Value
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(r),
		Value:    id,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.overHTTPS(r),
		SameSite: http.SameSiteStrictMode,
	})
}

// maxSessions caps the sessions kept; the oldest goes first.
const maxSessions = 1000

// sessions are the logins of this process, in memory: a restart or a
// logout ends them. Only a hash of each session id is kept.
type sessions struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	expires map[[32]byte]time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, now: now, expires: map[[32]byte]time.Time{}}
}

// create returns a new session id.
func (ss *sessions) create() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, exp := range ss.expires {
		if !now.Before(exp) {
			delete(ss.expires, k)
		}
	}
	if len(ss.expires) >= maxSessions {
		var oldest [32]byte
		var first time.Time
		for k, exp := range ss.expires {
			if first.IsZero() || exp.Before(first) {
				oldest, first = k, exp
			}
		}
		delete(ss.expires, oldest)
	}
	ss.expires[sha256.Sum256([]byte(id))] = now.Add(ss.ttl)
	return id, nil
}

func (ss *sessions) valid(id string) bool {
	if id == "" {
		return false
	}
	k := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := ss.expires[k]
	if ok && !ss.now().Before(exp) {
		delete(ss.expires, k)
		return false
	}
	return ok
}

func (ss *sessions) delete(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.expires, sha256.Sum256([]byte(id)))
}

// refusedCredential logs a request refused for its admin token (the client
// and path only, never what was presented) and, when it presented one,
// counts it against the client (the failure limit) and reports it to
// OnAuthFailure. A request that presents none guesses
// nothing, and any web page can make a browser send such requests to a
// loopback console (an <img> needs no permission): counting them would
// let that page lock out the operator and Prometheus on the same address.
func (s *Server) refusedCredential(r *http.Request, presented bool) {
	if !presented {
		s.log.Debug("console: request without the admin token", "client", r.RemoteAddr, "path", r.URL.Path)
		return
	}
	s.log.Warn("console: wrong admin token", "client", r.RemoteAddr, "path", r.URL.Path)
	s.authFailed(r)
}
