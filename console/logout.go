package console

import "net/http"

// logout ends the session (POST /logout) and goes back to the login page.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if id := s.sessionID(r); id != "" {
		s.sessions.delete(id)
	}
	s.setSessionCookie(w, r, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
