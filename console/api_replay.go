package console

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/hookbox/hookbox"
)

// replayRequest is the body of POST /api/replay: ids, or a filter with a
// state, as the events listing takes it. DryRun only counts.
type replayRequest struct {
	IDs []string `json:"ids,omitempty"`
	filter
	DryRun bool `json:"dry_run,omitempty"`
}

// apiReplay replays events by ids or by filter (POST /api/replay) and
// returns {"replayed": n}; with "dry_run": true it returns {"matching": n,
// "capped": bool} instead, counting up to CountCap.
func (s *Server) apiReplay(w http.ResponseWriter, r *http.Request) {
	var req replayRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.apiErr(w, r, hookbox.Errorf(hookbox.EINVALID, "body: %v", err))
		return
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		s.apiErr(w, r, hookbox.Errorf(hookbox.EINVALID, "body: one JSON object expected"))
		return
	}
	if err := req.filter.parse(s.now()); err != nil {
		s.apiErr(w, r, err)
		return
	}
	if len(req.IDs) > 0 {
		if !req.filter.empty() {
			s.apiErr(w, r, hookbox.Errorf(hookbox.EINVALID, "give ids or a filter, not both"))
			return
		}
		if len(req.IDs) > CountCap {
			s.apiErr(w, r, hookbox.Errorf(hookbox.EINVALID, "at most %d ids", CountCap))
			return
		}
		if req.DryRun {
			writeJSON(w, http.StatusOK, map[string]any{"matching": len(req.IDs), "capped": false})
			return
		}
		n, err := s.replay(r.Context(), hookbox.ReplayFilter{IDs: req.IDs})
		if err != nil {
			s.apiErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"replayed": n})
		return
	}
	if req.State == "" {
		s.apiErr(w, r, errNoState)
		return
	}
	if req.DryRun {
		n, ok, err := s.countUpTo(r.Context(), req.filter)
		if err != nil {
			s.apiErr(w, r, err)
			return
		}
		if !ok {
			s.apiErr(w, r, hookbox.Errorf(hookbox.EINVALID, "this store cannot count a filter"))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"matching": n, "capped": n >= CountCap})
		return
	}
	n, err := s.replayByFilter(r.Context(), req.filter)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"replayed": n})
}
