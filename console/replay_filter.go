package console

import (
	"net/http"
	"strconv"

	"github.com/hookbox/hookbox"
)

// replayPage is the data of the replay confirmation.
type replayPage struct {
	Filter filter
	Count  counted
	Error  string
}

// confirmReplay shows how many events a replay of the filter would replay
// (GET /events/replay?state=...), with the button that does it.
func (s *Server) confirmReplay(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query(), s.now())
	p := replayPage{Filter: f}
	if err == nil && f.State == "" {
		err = errNoState
	}
	if err == nil {
		var n int
		var ok bool
		n, ok, err = s.countUpTo(r.Context(), f)
		p.Count = counted{N: n, Known: ok}
	}
	status := http.StatusOK
	if err != nil {
		status = statusOf(err)
		p.Error = s.userMessage(r, err)
	}
	s.render(w, r, status, "replay", "Replay events", p)
}

// replayFilter replays the events of the posted filter (POST
// /events/replay) and goes back to the list, which says how many.
func (s *Server) replayFilter(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f, err := parseFilter(r.PostForm, s.now())
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	n, err := s.replayByFilter(r.Context(), f)
	if err != nil {
		s.render(w, r, statusOf(err), "replay", "Replay events", replayPage{Filter: f, Error: s.userMessage(r, err)})
		return
	}
	http.Redirect(w, r, string(f.Link("/events", "replayed", strconv.Itoa(n))), http.StatusSeeOther)
}

var errNoState = hookbox.Errorf(hookbox.EINVALID, "choose a state to replay by filter (dead, usually)")

// errPruned refuses the replay of an event whose body retention emptied.
var errPruned = hookbox.Errorf(hookbox.ECONFLICT, "this event cannot be replayed: retention emptied its body, so there is nothing to send")
