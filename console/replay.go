package console

import (
	"context"
	"net/http"
	"strconv"

	"github.com/hookbox/hookbox"
)

// replayEvent replays one event (POST /events/{id}/replay) and goes back
// to its page, which says the result.
func (s *Server) replayEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ev, err := s.store.FindEventByID(r.Context(), id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if len(ev.Body) == 0 {
		s.renderError(w, r, errPruned)
		return
	}
	n, err := s.replay(r.Context(), hookbox.ReplayFilter{IDs: []string{id}})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, eventURL(id)+"?replayed="+strconv.Itoa(n), http.StatusSeeOther)
}

// replay replays f's events at now, logs it, and wakes delivery.
func (s *Server) replay(ctx context.Context, f hookbox.ReplayFilter) (int, error) {
	n, err := s.store.ReplayEvents(ctx, f, s.now())
	if err != nil {
		return 0, err
	}
	s.log.Info("console: replayed events", "count", n, "ids", len(f.IDs), "state", f.State, "type", f.Type)
	if n > 0 && s.wake != nil {
		s.wake()
	}
	return n, nil
}

// replayByFilter replays the events f selects. A filter of state, type
// and since alone is one store statement; any other filter is resolved to at
// most CountCap ids first (EINVALID beyond, asking to narrow it). A state
// is required, so that a replay never re-sends every delivered event by
// accident.
func (s *Server) replayByFilter(ctx context.Context, f filter) (int, error) {
	if f.State == "" {
		return 0, errNoState
	}
	if !f.needsSearch() && f.Q == "" && !f.Blocked && f.Version == "" && f.State != StateHeld {
		return s.replay(ctx, hookbox.ReplayFilter{State: hookbox.State(f.State), Type: f.Type, Since: f.since})
	}
	var ids []string
	before := ""
	for {
		evs, next, err := s.findEvents(ctx, f, before, 1000)
		if err != nil {
			return 0, err
		}
		for _, ev := range evs {
			ids = append(ids, ev.ID)
		}
		if len(ids) > CountCap {
			return 0, hookbox.Errorf(hookbox.EINVALID, "more than %s events match: narrow the filter", comma(CountCap))
		}
		if next == "" {
			break
		}
		before = next
	}
	if len(ids) == 0 {
		return 0, nil
	}
	return s.replay(ctx, hookbox.ReplayFilter{IDs: ids})
}
