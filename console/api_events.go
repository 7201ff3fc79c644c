package console

import (
	"net/http"
	"strconv"

	"github.com/hookbox/hookbox"
)

// apiListEvents lists events (GET /api/events?state=&type=&since=&until=
// &destination=&q=&blocked=&limit=&before=), newest first; blocked=true
// keeps the dead events that hold their Stripe object. "next" is the cursor of
// the following page: pass it as before=; it is absent on the last page.
func (s *Server) apiListEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := parseFilter(q, s.now())
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	limit := PageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxAPILimit {
			s.apiErr(w, r, hookbox.Errorf(hookbox.EINVALID, "limit must be between 1 and %d", MaxAPILimit))
			return
		}
		limit = n
	}
	evs, next, err := s.findEvents(r.Context(), f, q.Get("before"), limit)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	out := struct {
		Events []EventSummary `json:"events"`
		Next   string         `json:"next,omitempty"`
	}{Events: make([]EventSummary, 0, len(evs)), Next: next}
	for _, ev := range evs {
		out.Events = append(out.Events, NewEventSummary(ev))
	}
	writeJSON(w, http.StatusOK, out)
}
