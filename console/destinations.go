package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hookbox/hookbox"
)

// destinationRow is one destination on the destinations page.
type destinationRow struct {
	Name          string
	Paused        bool
	PausedAt      time.Time
	Held, Blocked int
}

// destinationsPage is the destinations page: each configured destination
// with its state, and the result of a pause or resume just made.
type destinationsPage struct {
	Names   bool
	Rows    []destinationRow
	Changed int  // -1: nothing just changed
	Paused  bool // what just changed: a pause (else a resume)
}

// DestinationDocument is a destination in GET /api/destinations.
type DestinationDocument struct {
	Name     string     `json:"name"`
	State    string     `json:"state"` // active or paused
	PausedAt *time.Time `json:"paused_at"`
	Held     int        `json:"held"`
	Blocked  int        `json:"blocked_keys"`
}

func (s *Server) destinationRows(ctx context.Context) ([]destinationRow, error) {
	paused, err := s.store.PausedDestinations(ctx)
	if err != nil {
		return nil, err
	}
	held, err := s.store.CountHeld(ctx)
	if err != nil {
		return nil, err
	}
	blocked, err := s.store.CountBlocked(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]destinationRow, 0, len(s.dests))
	for _, name := range s.dests {
		at, p := paused[name]
		rows = append(rows, destinationRow{Name: name, Paused: p, PausedAt: at, Held: held[name], Blocked: blocked[name]})
	}
	return rows, nil
}

// showDestinations is GET /destinations.
func (s *Server) showDestinations(w http.ResponseWriter, r *http.Request) {
	rows, err := s.destinationRows(r.Context())
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	p := destinationsPage{Names: len(rows) > 0, Rows: rows, Changed: -1}
	if n, err := strconv.Atoi(r.URL.Query().Get("changed")); err == nil && n >= 0 {
		p.Changed, p.Paused = n, r.URL.Query().Get("paused") == "true"
	}
	s.render(w, r, http.StatusOK, "destinations", "Destinations", p)
}

// setPaused pauses or resumes a configured destination (a resume also makes
// its parked deliveries due and wakes delivery) and returns how many
// deliveries a resume made due.
func (s *Server) setPaused(ctx context.Context, name string, paused bool) (int, error) {
	known := false
	for _, d := range s.dests {
		known = known || d == name
	}
	if !known {
		return 0, hookbox.Errorf(hookbox.ENOTFOUND, "no destination %q is configured", name)
	}
	now := s.now()
	if err := s.store.PauseDestination(ctx, name, paused, now); err != nil {
		return 0, err
	}
	s.log.Info("console: destination paused or resumed", "destination", name, "paused", paused)
	if paused {
		return 0, nil
	}
	n, err := s.store.ReleasePaused(ctx, name, now)
	if n > 0 && s.wake != nil {
		s.wake()
	}
	return n, err
}

// pauseDestination is POST /destinations/pause and /resume (form field
// destination).
func (s *Server) pauseDestination(paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		n, err := s.setPaused(r.Context(), r.PostForm.Get("destination"), paused)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		http.Redirect(w, r, "/destinations?changed="+strconv.Itoa(n)+"&paused="+strconv.FormatBool(paused), http.StatusSeeOther)
	}
}

// apiDestinations is GET /api/destinations.
func (s *Server) apiDestinations(w http.ResponseWriter, r *http.Request) {
	rows, err := s.destinationRows(r.Context())
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	docs := make([]DestinationDocument, 0, len(rows))
	for _, row := range rows {
		d := DestinationDocument{Name: row.Name, State: "active", Held: row.Held, Blocked: row.Blocked}
		if row.Paused {
			d.State, d.PausedAt = "paused", docTimePtr(row.PausedAt)
		}
		docs = append(docs, d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"destinations": docs})
}

// apiPause is POST /api/destinations/pause and /resume, body
// {"destination": NAME}; a resume answers {"due": n}.
func (s *Server) apiPause(paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Destination string `json:"destination"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			s.apiErr(w, r, hookbox.Errorf(hookbox.EINVALID, "body: %v", err))
			return
		}
		if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
			s.apiErr(w, r, hookbox.Errorf(hookbox.EINVALID, "body: one JSON object expected"))
			return
		}
		n, err := s.setPaused(r.Context(), req.Destination, paused)
		if err != nil {
			s.apiErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"destination": req.Destination, "paused": paused, "due": n})
	}
}
