package console

import (
	"net/http"
	"net/url"
	"strings"
)

// loginPage is the data of the login template.
type loginPage struct {
	Next  string
	Error string
	Open  bool // no token configured: nothing to log in to
}

// showLogin serves the login form (GET /login).
func (s *Server) showLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	next := localPath(r.URL.Query().Get("next"))
	if s.token == "" || s.sessions.valid(s.sessionID(r)) {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", "Log in", loginPage{Next: next})
}

// login exchanges the admin token for a session cookie (POST /login). The
// token itself is never stored in the cookie nor echoed back.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	next := localPath(r.PostFormValue("next"))
	if s.token == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	// Over the failure limit, no token is tried (see requireBearer).
	if s.refuseOverLimit(w, r) {
		return
	}
	if tok := strings.TrimSpace(r.PostFormValue("token")); !s.validToken(tok) {
		s.refusedCredential(r, tok != "")
		s.render(w, r, http.StatusUnauthorized, "login", "Log in", loginPage{Next: next, Error: "That token is not the admin token."})
		return
	}
	id, err := s.sessions.create()
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.setSessionCookie(w, r, id, int(s.sessions.ttl.Seconds()))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// localPath returns p if it is a path on this server, "/" otherwise, so
// that ?next= cannot send a user elsewhere ("//evil", "/\evil", "https:").
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') {
		return "/"
	}
	// Browsers drop tabs and newlines from a Location ("/\t/evil" is
	// "//evil"): no control character at all.
	for _, c := range []byte(p) {
		if c < 0x20 || c == 0x7f {
			return "/"
		}
	}
	if u, err := url.Parse(p); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return p
}
