package console

import (
	"net/http"
	"strconv"

	"github.com/hookbox/hookbox"
)

// eventsPage is the data of the events list.
type eventsPage struct {
	Filter       filter
	Events       []*hookbox.Event
	Before       string // the cursor of this page ("" on the first)
	Next         string // the cursor of the next page ("" on the last)
	Destinations []string
	CanSearch    bool // the store serves every filter
	Replayed     int  // a replay by filter just replayed this many (-1: none)
	Error        string
}

// listEvents serves the events list (GET /events): filters, keyset pages,
// and, on the first page, live refresh of the rows.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := eventsPage{Destinations: s.dests, CanSearch: s.searcher != nil, Before: q.Get("before"), Replayed: -1}
	if n, err := strconv.Atoi(q.Get("replayed")); err == nil && n >= 0 {
		p.Replayed = n
	}
	status := http.StatusOK
	f, err := parseFilter(q, s.now())
	p.Filter = f
	if err == nil {
		// An event id that exists goes straight to its page.
		if isEventID(f.Q) && q.Get("fragment") == "" {
			if _, err := s.store.FindEventByID(r.Context(), f.Q); err == nil {
				http.Redirect(w, r, eventURL(f.Q), http.StatusSeeOther)
				return
			}
		}
		p.Events, p.Next, err = s.findEvents(r.Context(), f, p.Before, PageSize)
	}
	if err != nil {
		status = statusOf(err)
		p.Error = s.userMessage(r, err)
	}
	if q.Get("fragment") != "" {
		s.renderFragment(w, r, "events", "rows", p)
		return
	}
	s.render(w, r, status, "events", "Events", p)
}
