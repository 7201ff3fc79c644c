package console

import (
	"net/http"

	"github.com/hookbox/hookbox"
)

// apiError is the body of every API error.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeAPIError(w http.ResponseWriter, err error) {
	code := hookbox.ErrorCode(err)
	writeJSON(w, statusOf(err), apiError{Code: code, Message: hookbox.ErrorMessage(err)})
}

// apiErr logs an internal error and writes the API error.
func (s *Server) apiErr(w http.ResponseWriter, r *http.Request, err error) {
	if hookbox.ErrorCode(err) == hookbox.EINTERNAL {
		s.log.Error("console: api internal error", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	writeAPIError(w, err)
}
