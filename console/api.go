package console

import (
	"net/http"
	"time"

	"github.com/hookbox/hookbox"
)

// apiError is the body of every API error.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeAPIError(w http.ResponseWriter, err error) {
	code := hookbox.ErrorCode(err)
	writeJSON(w, statusOf(err), apiError{Code: code, Message: hookbox.ErrorMessage(err)})
}

// apiErr logs an internal error and writes the API error.
func (s *Server) apiErr(w http.ResponseWriter, r *http.Request, err error) {
	if hookbox.ErrorCode(err) == hookbox.EINTERNAL {
		s.log.Error("console: api internal error", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	writeAPIError(w, err)
}

// apiEvent is an event as the API shows it, without its body.
type apiEvent struct {
	ID            string     `json:"id"`
	Type          string     `json:"type"`
	State         string     `json:"state"`
	Source        string     `json:"source"`
	Livemode      bool       `json:"livemode"`
	Account       string     `json:"account,omitempty"`
	APIVersion    string     `json:"api_version,omitempty"`
	Created       int64      `json:"created"`
	ReceivedAt    time.Time  `json:"received_at"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	ReplayedAt    *time.Time `json:"replayed_at,omitempty"`
	UpdatedAt     time.Time  `json:"updated_at"`
	SecretIndex   int        `json:"secret_index"`
	URL           string     `json:"url"` // the console page
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toAPIEvent(ev *hookbox.Event) apiEvent {
	return apiEvent{
		ID: ev.ID, Type: ev.Type, State: string(ev.State), Source: string(ev.Source),
		Livemode: ev.Livemode, Account: ev.Account, APIVersion: ev.APIVersion, Created: ev.Created,
		ReceivedAt: ev.ReceivedAt, Attempts: ev.Attempts, NextAttemptAt: timePtr(ev.NextAttemptAt),
		ReplayedAt: timePtr(ev.ReplayedAt), UpdatedAt: ev.UpdatedAt, SecretIndex: ev.SecretIndex,
		URL: eventURL(ev.ID),
	}
}
