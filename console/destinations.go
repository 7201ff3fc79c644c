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

// DestinationStatus is a destination's delivery controls and live state
// as this process's delivery worker sees them (Options.DestinationStatusFunc,
// from deliver.Worker.Status).
type DestinationStatus struct {
	MaxInFlight     int           // attempts at once, per process; 0: no cap
	Rate            float64       // attempts per second, shared by replicas; 0: no limit
	Burst           int           // with Rate
	BreakerFailures int           // consecutive failed attempts that open the breaker; < 0: off
	BreakerProbe    time.Duration // an open breaker's time between probes
	InFlight        int           // attempts under way in this process
	Failures        int           // the run of consecutive failed attempts this process saw
}

// Destination states, as the destinations page and API name them.
const (
	DestinationActive      = "active"
	DestinationPaused      = "paused"
	DestinationBreakerOpen = "breaker_open"
)

// destinationRow is one destination on the destinations page.
type destinationRow struct {
	Name string
	// State: DestinationPaused when paused (whatever the breaker: nothing
	// is attempted), else DestinationBreakerOpen, else DestinationActive.
	State                            string
	PausedAt, BreakerOpenAt, ProbeAt time.Time // the store's
	Held, Blocked                    int
	Parked                           map[string]int     // by hold reason (hookbox.Parked)
	Status                           *DestinationStatus // nil: not delivered to by this process
	Failures                         []Failure          // the last failed attempts of this process, newest first
}

// Paused reports whether the destination is paused.
func (r destinationRow) Paused() bool { return !r.PausedAt.IsZero() }

// BreakerOpen reports whether the destination's circuit breaker is open.
func (r destinationRow) BreakerOpen() bool { return !r.BreakerOpenAt.IsZero() }

// RateLimit says the destination's rate limit.
func (r destinationRow) RateLimit() string {
	switch {
	case r.Status == nil:
		return "—"
	case r.Status.Rate <= 0:
		return "none"
	}
	return strconv.FormatFloat(r.Status.Rate, 'g', -1, 64) + "/s, burst " + strconv.Itoa(max(r.Status.Burst, 1))
}

// InFlightLimit says the destination's cap on attempts at once.
func (r destinationRow) InFlightLimit() string {
	switch {
	case r.Status == nil:
		return "—"
	case r.Status.MaxInFlight <= 0:
		return "no cap"
	}
	return strconv.Itoa(r.Status.MaxInFlight) + " per process"
}

// Breaker says when the destination's circuit breaker opens.
func (r destinationRow) Breaker() string {
	switch {
	case r.Status == nil:
		return "—"
	case r.Status.BreakerFailures < 0:
		return "off"
	}
	return "after " + strconv.Itoa(r.Status.BreakerFailures) + " failures in a row, a probe every " + r.Status.BreakerProbe.String()
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
	Name string `json:"name"`
	// State is active, paused or breaker_open; a paused destination whose
	// breaker is open is paused (nothing is attempted), with
	// breaker_open_at set.
	State         string     `json:"state"`
	PausedAt      *time.Time `json:"paused_at"`
	BreakerOpenAt *time.Time `json:"breaker_open_at"`
	NextProbeAt   *time.Time `json:"next_probe_at"` // an open breaker's next probe
	Held          int        `json:"held"`
	Blocked       int        `json:"blocked_keys"`
	// Parked counts the deliveries waiting for the destination, without
	// an attempt, by why: paused, breaker (its breaker is open) and probe
	// (let through as the open breaker's probe).
	Parked map[string]int `json:"parked"`
	// Limits, InFlight and ConsecutiveFailures are this process's (null
	// when it does not deliver to the destination).
	Limits              *LimitsDocument `json:"limits"`
	InFlight            *int            `json:"in_flight"`
	ConsecutiveFailures *int            `json:"consecutive_failures"`
	// LastErrors are the last failed attempts this process made, newest
	// first (at most LastFailures; forgotten at a restart).
	LastErrors []FailureDocument `json:"last_errors"`
}

// LimitsDocument is a destination's delivery controls.
type LimitsDocument struct {
	MaxInFlight         int     `json:"max_in_flight"` // per process; 0: no cap
	Rate                float64 `json:"rate"`          // attempts per second; 0: no limit
	Burst               int     `json:"burst"`
	BreakerFailures     int     `json:"breaker_failures"` // < 0: the breaker is off
	BreakerProbeSeconds float64 `json:"breaker_probe_seconds"`
}

// FailureDocument is one failed delivery attempt.
type FailureDocument struct {
	At         time.Time `json:"at"`
	EventID    string    `json:"event_id"`
	Attempt    int       `json:"attempt"`     // the Hookbox-Attempt header sent
	StatusCode int       `json:"status_code"` // 0: no response arrived
	Error      string    `json:"error"`
}

func (s *Server) destinationRows(ctx context.Context) ([]destinationRow, error) {
	states, err := s.store.DestinationStates(ctx)
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
	parked, err := s.store.CountParked(ctx)
	if err != nil {
		return nil, err
	}
	var status map[string]DestinationStatus
	if s.destStatus != nil {
		status = s.destStatus()
	}
	rows := make([]destinationRow, 0, len(s.dests))
	for _, name := range s.dests {
		st := states[name]
		row := destinationRow{Name: name, State: DestinationActive, PausedAt: st.PausedAt, BreakerOpenAt: st.BreakerOpenAt,
			Held: held[name], Blocked: blocked[name], Parked: parked[name], Failures: s.activity.Failures(name)}
		if row.BreakerOpen() {
			row.State, row.ProbeAt = DestinationBreakerOpen, st.ProbeAt
		}
		if row.Paused() {
			row.State = DestinationPaused
		}
		if ds, ok := status[name]; ok {
			row.Status = &ds
		}
		rows = append(rows, row)
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
		docs = append(docs, newDestinationDocument(row))
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

func newDestinationDocument(row destinationRow) DestinationDocument {
	d := DestinationDocument{Name: row.Name, State: row.State, PausedAt: docTimePtr(row.PausedAt),
		BreakerOpenAt: docTimePtr(row.BreakerOpenAt), NextProbeAt: docTimePtr(row.ProbeAt),
		Held: row.Held, Blocked: row.Blocked, Parked: map[string]int{}, LastErrors: []FailureDocument{}}
	for _, r := range []string{hookbox.HoldPaused, hookbox.HoldBreaker, hookbox.HoldProbe} {
		d.Parked[r] = row.Parked[r]
	}
	if st := row.Status; st != nil {
		d.Limits = &LimitsDocument{MaxInFlight: st.MaxInFlight, Rate: st.Rate, Burst: st.Burst,
			BreakerFailures: st.BreakerFailures, BreakerProbeSeconds: st.BreakerProbe.Seconds()}
		d.InFlight, d.ConsecutiveFailures = &st.InFlight, &st.Failures
	}
	for _, f := range row.Failures {
		d.LastErrors = append(d.LastErrors, FailureDocument{At: docTime(f.At), EventID: f.EventID, Attempt: f.Number,
			StatusCode: f.StatusCode, Error: f.Error})
	}
	return d
}
