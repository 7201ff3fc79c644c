package console

import (
	"net/http"

	"github.com/hookbox/hookbox"
)

// apiShowEvent returns one event (GET /api/events/{id}): its
// EventDocument, body, headers, deliveries and attempts included.
func (s *Server) apiShowEvent(w http.ResponseWriter, r *http.Request) {
	p, err := s.loadEvent(r, r.PathValue("id"))
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, NewEventDocument(p.Event, p.Deliveries, p.rawAttempts))
}

// apiReplayEvent replays one event (POST /api/events/{id}/replay):
// {"replayed": 1}, or 0 when it is being delivered right now.
func (s *Server) apiReplayEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ev, err := s.store.FindEventByID(r.Context(), id)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	if len(ev.Body) == 0 {
		s.apiErr(w, r, errPruned)
		return
	}
	n, err := s.replay(r.Context(), hookbox.ReplayFilter{IDs: []string{id}})
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"replayed": n})
}
