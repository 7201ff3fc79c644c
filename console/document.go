package console

import (
	"encoding/json"
	"time"

	"github.com/hookbox/hookbox"
)

// EventSummary is an event without its body, headers, deliveries or
// attempts: an item of GET /api/events and of `hookbox events list --json`.
// Every field is always present. Times are UTC, to the microsecond (the
// stores' precision), in RFC 3339 as encoding/json writes a time.Time; a
// time that does not apply is null.
type EventSummary struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Object string `json:"object"` // "event", or "v2.core.event" for thin events
	State  string `json:"state"`
	Source string `json:"source"` // webhook or reconcile
	// Endpoint is the webhook endpoint the event arrived on ("stripe"
	// for /webhooks/stripe); "" for older rows and reconciled events,
	// which go to the first endpoint's destinations.
	Endpoint   string `json:"endpoint"`
	Livemode   bool   `json:"livemode"`
	Account    string `json:"account"` // Connect: the connected account, "" otherwise
	APIVersion string `json:"api_version"`
	// Created is Stripe's created time, unix seconds (0 when it had none).
	Created    int64     `json:"created"`
	ReceivedAt time.Time `json:"received_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Attempts counts every attempt logged: all destinations, all
	// replays.
	Attempts int `json:"attempts"`
	// NextAttemptAt is when a pending event is due (null: as soon as
	// possible, or not pending).
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	ReplayedAt    *time.Time `json:"replayed_at"` // null: never replayed
	// SecretIndex is the position of the webhook secret that matched; -1
	// for a reconciled event.
	SecretIndex int    `json:"secret_index"`
	URL         string `json:"url"` // the event's console page
	// NoDestination is true for an event delivered to no destination:
	// none accepted it (their type and livemode filters, and their
	// endpoint's), so it ended delivered with no delivery and no attempt.
	NoDestination bool `json:"no_destination"`
	// OrderKey names the Stripe object whose events an ordered destination
	// receives in order ("" when the event is not ordered); Blocked is
	// true for a dead event that holds the later events of its object
	// until it is replayed or skipped.
	OrderKey string `json:"order_key"`
	Blocked  bool   `json:"blocked"`
}

// EventDocument is one event with everything stored about it: the body of
// GET /api/events/{id} and the output of `hookbox events show --json`, one
// definition so that the two never differ. Every field is always present.
type EventDocument struct {
	EventSummary
	ClientAddr string            `json:"client_addr"`
	Headers    map[string]string `json:"headers"`
	// Body is the stored body: the JSON value itself when it is JSON, a
	// string when it is not, null when retention pruned it.
	Body       any                `json:"body"`
	Deliveries []DeliveryDocument `json:"deliveries"`
	// AttemptLog is every attempt, oldest first. An attempt's number is
	// the Hookbox-Attempt header it sent: counted per destination across
	// replays, while a delivery's attempts restart at 0 with each replay
	// (the retry budget).
	AttemptLog []AttemptDocument `json:"attempt_log"`
}

// DeliveryDocument is the state of an event at one destination.
type DeliveryDocument struct {
	Destination string `json:"destination"`
	State       string `json:"state"`
	// Attempts is the retry budget spent: attempts since the event was
	// received or last replayed (the attempt log's numbers go on across
	// replays).
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at"` // null when not pending
	LastError     string     `json:"last_error"`
	// SkipReason is set when the destination was not sent the event on
	// purpose (a late event under --late skip, or a skip by hand); state
	// is then "delivered" (settled) and a replay sends the event.
	SkipReason string `json:"skip_reason"`
	// HoldReason is set on a delivery held because the event's Stripe API
	// version is not one the destination reads (state "pending", never
	// due until released); "released" once released, until delivered;
	// "paused", "breaker" or "probe" while parked for the destination, with
	// "+released" when it was released before (Parked says which park).
	HoldReason string `json:"hold_reason"`
	// Parked is "paused", "breaker" or "probe" while the delivery is parked
	// for its destination, released or not; "" otherwise.
	Parked    string    `json:"parked,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AttemptDocument is one delivery attempt.
type AttemptDocument struct {
	Destination string `json:"destination"`
	// Number is the Hookbox-Attempt header sent: 1-based, per destination,
	// across replays.
	Number     int       `json:"number"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS float64   `json:"duration_ms"` // to the microsecond
	StatusCode int       `json:"status_code"` // 0: no response arrived
	OK         bool      `json:"ok"`
	Error      string    `json:"error"`
	Response   string    `json:"response"` // the first 1 KiB of the response body
}

// NewEventSummary returns ev's summary.
func NewEventSummary(ev *hookbox.Event) EventSummary {
	s := EventSummary{
		ID: ev.ID, Type: ev.Type, Object: ev.Object, State: string(ev.State), Source: string(ev.Source),
		Endpoint: ev.Endpoint, Livemode: ev.Livemode, Account: ev.Account, APIVersion: ev.APIVersion,
		Created: ev.Created, ReceivedAt: docTime(ev.ReceivedAt), UpdatedAt: docTime(ev.UpdatedAt),
		Attempts: ev.Attempts, ReplayedAt: docTimePtr(ev.ReplayedAt), SecretIndex: ev.SecretIndex,
		URL: eventURL(ev.ID), NoDestination: DeliveredToNoneRow(ev),
		OrderKey: ev.OrderKey, Blocked: Blocked(ev),
	}
	if ev.State == hookbox.StatePending && !ev.NextAttemptAt.Equal(hookbox.HeldUntil) {
		s.NextAttemptAt = docTimePtr(ev.NextAttemptAt)
	}
	return s
}

// NewEventDocument returns the document of ev (found with its body) and
// its deliveries and attempts.
func NewEventDocument(ev *hookbox.Event, ds []hookbox.Delivery, as []hookbox.Attempt) EventDocument {
	d := EventDocument{
		EventSummary: NewEventSummary(ev),
		ClientAddr:   ev.ClientAddr,
		Headers:      ev.Headers,
		Deliveries:   make([]DeliveryDocument, 0, len(ds)),
		AttemptLog:   make([]AttemptDocument, 0, len(as)),
	}
	// The document has the deliveries: their absence is the fact, where a
	// list's summary can only infer it from the row (DeliveredToNoneRow).
	d.NoDestination = DeliveredToNone(ev, ds)
	if d.Headers == nil {
		d.Headers = map[string]string{}
	}
	switch body := ev.Body; {
	case len(body) == 0:
		d.Body = nil
	case json.Valid(body):
		d.Body = json.RawMessage(body)
	default:
		d.Body = string(body)
	}
	for _, x := range ds {
		dd := DeliveryDocument{
			Destination: x.Destination, State: string(x.State), Attempts: x.Attempts,
			LastError: x.LastError, SkipReason: x.SkipReason, HoldReason: x.HoldReason, UpdatedAt: docTime(x.UpdatedAt),
		}
		dd.Parked, _ = hookbox.ParkedAs(x.HoldReason)
		if x.State == hookbox.StatePending && !x.NextAttemptAt.Equal(hookbox.HeldUntil) {
			dd.NextAttemptAt = docTimePtr(x.NextAttemptAt) // null when held: never due on its own
		}
		d.Deliveries = append(d.Deliveries, dd)
	}
	for _, a := range as {
		d.AttemptLog = append(d.AttemptLog, AttemptDocument{
			Destination: a.Destination, Number: a.Number, StartedAt: docTime(a.StartedAt),
			DurationMS: float64(a.Duration.Microseconds()) / 1000, StatusCode: a.StatusCode,
			OK: a.OK, Error: a.Error, Response: a.Response,
		})
	}
	return d
}

// DeliveredToNone reports whether ev, with its deliveries ds, was
// delivered to no destination: the worker completes an event that no
// destination accepts as delivered, without a delivery (see
// deliver.Destination's Accepts).
func DeliveredToNone(ev *hookbox.Event, ds []hookbox.Delivery) bool {
	return ev.State == hookbox.StateDelivered && len(ds) == 0
}

// DeliveredToNoneRow is DeliveredToNone from the event's row alone, for
// lists: delivered with no attempt ever logged (every destination that
// accepts an event makes at least one attempt before it is delivered).
func DeliveredToNoneRow(ev *hookbox.Event) bool {
	return ev.State == hookbox.StateDelivered && ev.Attempts == 0
}

// docTime is t as every document shows it: UTC, to the microsecond.
func docTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// docTimePtr is docTime(t), or nil when t is zero.
func docTimePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := docTime(t)
	return &u
}

// Blocked reports whether ev is a dead event holding its ordered key: the
// later events of its Stripe object wait until it is replayed or skipped.
func Blocked(ev *hookbox.Event) bool {
	return ev.State == hookbox.StateDead && ev.OrderKey != "" && !ev.OrderSkipDead
}
