package console

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/hookbox/hookbox"
)

// skipRequest is the optional body of POST /api/events/{id}/skip.
type skipRequest struct {
	Reason string `json:"reason,omitempty"`
}

// apiSkipEvent skips one event (POST /api/events/{id}/skip, an optional
// body {"reason": "..."}): its pending and dead deliveries are settled as
// skipped and the event is delivered, so that the later events of its
// Stripe object go on. {"skipped": 1}; 409 when nothing could be skipped,
// 404 when the event does not exist.
func (s *Server) apiSkipEvent(w http.ResponseWriter, r *http.Request) {
	var req skipRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		s.apiErr(w, r, hookbox.Errorf(hookbox.EINVALID, "body: %v", err))
		return
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		s.apiErr(w, r, hookbox.Errorf(hookbox.EINVALID, "body: one JSON object expected"))
		return
	}
	n, err := s.skip(r.Context(), r.PathValue("id"), req.Reason)
	if err == nil && n == 0 {
		err = errNotSkipped
	}
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"skipped": n})
}
