package console

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/hookbox/hookbox"
)

type apiDelivery struct {
	Destination   string     `json:"destination"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

type apiAttempt struct {
	Destination string    `json:"destination"`
	Number      int       `json:"number"`
	StartedAt   time.Time `json:"started_at"`
	DurationMS  float64   `json:"duration_ms"`
	StatusCode  int       `json:"status_code"`
	OK          bool      `json:"ok"`
	Error       string    `json:"error,omitempty"`
	Response    string    `json:"response,omitempty"`
}

// apiShowEvent returns one event (GET /api/events/{id}) with its body (as
// JSON when it is JSON, else as a string), headers, deliveries and
// attempts.
func (s *Server) apiShowEvent(w http.ResponseWriter, r *http.Request) {
	p, err := s.loadEvent(r, r.PathValue("id"))
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	out := struct {
		apiEvent
		ClientAddr string            `json:"client_addr,omitempty"`
		Headers    map[string]string `json:"headers"`
		Body       any               `json:"body"`
		Deliveries []apiDelivery     `json:"deliveries"`
		AttemptLog []apiAttempt      `json:"attempt_log"`
	}{
		apiEvent:   toAPIEvent(p.Event),
		ClientAddr: p.Event.ClientAddr,
		Headers:    p.Event.Headers,
		Deliveries: []apiDelivery{},
		AttemptLog: []apiAttempt{},
	}
	if out.Headers == nil {
		out.Headers = map[string]string{}
	}
	switch body := p.Event.Body; {
	case len(body) == 0:
		out.Body = nil
	case json.Valid(body):
		out.Body = json.RawMessage(body)
	default:
		out.Body = string(body)
	}
	for _, d := range p.Deliveries {
		out.Deliveries = append(out.Deliveries, apiDelivery{
			Destination: d.Destination, State: string(d.State), Attempts: d.Attempts,
			NextAttemptAt: timePtr(d.NextAttemptAt), LastError: d.LastError, UpdatedAt: d.UpdatedAt,
		})
	}
	for _, a := range p.Attempts {
		out.AttemptLog = append(out.AttemptLog, apiAttempt{
			Destination: a.Destination, Number: a.Number, StartedAt: a.StartedAt,
			DurationMS: float64(a.Duration) / float64(time.Millisecond), StatusCode: a.StatusCode,
			OK: a.OK, Error: a.Error, Response: a.Response,
		})
	}
	writeJSON(w, http.StatusOK, out)
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
