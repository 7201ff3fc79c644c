package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/hookbox/hookbox"
)

// releaseRequest is the body of POST /api/release.
type releaseRequest struct {
	Destination string   `json:"destination"`
	APIVersion  string   `json:"api_version,omitempty"`
	IDs         []string `json:"ids,omitempty"`
}

// apiRelease sends deliveries held for their API version (POST
// /api/release, {"destination": NAME, "api_version": V, "ids": [...]}):
// those of destination, only of the ids given, only of events in a version
// compatible with V when given. {"released": n}.
func (s *Server) apiRelease(w http.ResponseWriter, r *http.Request) {
	var req releaseRequest
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
	if req.Destination == "" {
		s.apiErr(w, r, hookbox.Errorf(hookbox.EINVALID, "destination is required"))
		return
	}
	if len(req.IDs) > CountCap {
		s.apiErr(w, r, hookbox.Errorf(hookbox.EINVALID, "at most %d ids", CountCap))
		return
	}
	v, err := hookbox.ParseAPIVersion(req.APIVersion)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	ids := req.IDs
	if v != "" {
		if ids, err = HeldCompatible(r.Context(), s.store, req.Destination, v, req.IDs); err != nil {
			s.apiErr(w, r, err)
			return
		}
		if len(ids) == 0 {
			writeJSON(w, http.StatusOK, map[string]int{"released": 0})
			return
		}
	}
	n, err := s.store.ReleaseHeld(r.Context(), req.Destination, ids, s.now())
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	s.log.Info("console: released held deliveries", "destination", req.Destination, "api_version", string(v), "released", n)
	if n > 0 && s.wake != nil {
		s.wake()
	}
	writeJSON(w, http.StatusOK, map[string]int{"released": n})
}

// HeldCompatible returns the ids of the events held at dest whose API
// version v reads (hookbox.APIVersion.Compatible), among only when it is not
// empty: what `hookbox events release --api-version` and POST /api/release
// release.
func HeldCompatible(ctx context.Context, s hookbox.Store, dest string, v hookbox.APIVersion, only []string) ([]string, error) {
	want := map[string]bool{}
	for _, id := range only {
		want[id] = true
	}
	ids := []string{}
	f := hookbox.EventFilter{Held: true, HeldDestination: dest, Limit: 1000}
	for {
		evs, err := s.FindEvents(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("list held events: %w", err)
		}
		for _, ev := range evs {
			if v.Compatible(ev.APIVersion) && (len(want) == 0 || want[ev.ID]) {
				ids = append(ids, ev.ID)
			}
		}
		if len(evs) < f.Limit {
			return ids, nil
		}
		last := evs[len(evs)-1]
		f.BeforeReceivedAt, f.BeforeID = last.ReceivedAt, last.ID
	}
}

// releaseEvent releases the delivery of one event held at a destination
// (POST /events/{id}/release, form field destination) and goes back to
// its page, which says the result.
func (s *Server) releaseEvent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id, dest := r.PathValue("id"), r.PostForm.Get("destination")
	if dest == "" {
		s.renderError(w, r, hookbox.Errorf(hookbox.EINVALID, "destination is required"))
		return
	}
	if _, err := s.store.FindEventByID(r.Context(), id); err != nil {
		s.renderError(w, r, err)
		return
	}
	n, err := s.store.ReleaseHeld(r.Context(), dest, []string{id}, s.now())
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.log.Info("console: released a held delivery", "id", id, "destination", dest, "released", n)
	if n > 0 && s.wake != nil {
		s.wake()
	}
	http.Redirect(w, r, eventURL(id)+"?released="+strconv.Itoa(n), http.StatusSeeOther)
}
