package deliver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/stripe/stripe-go/v85"
)

// DefaultMuxName is the destination name of a Mux built with an empty name.
const DefaultMuxName = "go"

// Event is what a Go handler receives: the stored event (envelope fields,
// the exact body, reception details) and its typed form on demand.
type Event struct {
	*hookbox.Event
	// Attempt is the attempt number, 1-based, per destination.
	Attempt int

	once   sync.Once
	stripe *stripe.Event
	err    error
}

// NewEvent wraps a stored event for a handler (useful in handler tests).
func NewEvent(ev *hookbox.Event, attempt int) *Event {
	return &Event{Event: ev, Attempt: attempt}
}

// Stripe decodes the body into stripe-go's stripe.Event the first time it
// is called and returns the same value (or error) afterwards; handlers that
// only need the envelope fields never pay for the decode. It is a plain
// json.Unmarshal, not stripe-go's webhook.ConstructEvent: the signature was
// verified at ingest, and an event whose api_version differs from the one
// stripe-go is pinned to is decoded, not rejected (fields the library does
// not know are ignored; check APIVersion if it matters). The returned event
// is shared: do not modify it. Safe for concurrent use.
func (e *Event) Stripe() (*stripe.Event, error) {
	e.once.Do(func() {
		if e.Object == hookbox.ThinObject {
			e.err = fmt.Errorf("event %s: %w", e.ID, ErrThinEvent)
			return
		}
		var se stripe.Event
		if err := json.Unmarshal(e.Body, &se); err != nil {
			e.err = fmt.Errorf("decode stripe event %s: %w", e.ID, err)
			return
		}
		e.stripe = &se
	})
	return e.stripe, e.err
}

// ErrThinEvent is returned by Event.Stripe for a thin event (object
// "v2.core.event"), which stripe.Event cannot hold (its created is an RFC
// 3339 string, it has no data): read it with Notification, or FullEvent on
// a destination that delivers the fetched event (thin.DeliverEvent).
var ErrThinEvent = errors.New("a thin event (v2.core.event) is not a stripe.Event: use Notification or FullEvent")

// Notification decodes a thin notification's body with stripe-go, as
// stripe.Client.ParseEventNotification does after verifying (hookbox
// verified it at ingest): the returned value is one of stripe-go's
// *...EventNotification types for known event types (switch on it), or
// *stripe.UnknownEventNotification. It is decoded without a client, so its
// FetchEvent and FetchRelatedObject methods cannot call Stripe: call
// stripe.EventNotificationFromJSON(ev.Body, *client) for that, or deliver
// the fetched event (FullEvent). A snapshot event gives an error.
func (e *Event) Notification() (stripe.EventNotificationContainer, error) {
	if e.Object != hookbox.ThinObject {
		return nil, fmt.Errorf("event %s: object %q is not a thin notification", e.ID, e.Object)
	}
	n, err := stripe.EventNotificationFromJSON(e.Body, stripe.Client{})
	if err != nil {
		return nil, fmt.Errorf("decode thin notification %s: %w", e.ID, err)
	}
	return n, nil
}

// FullEvent decodes the full form of a thin event, the body a destination
// wrapped by thin.DeliverEvent (deliver: event) is given, with stripe-go:
// one of its typed v2 events (*stripe.V1BillingMeterErrorReportTriggeredEvent,
// ...) for known types, else its base event. A notification (no data)
// gives an error: its full form was not delivered to this destination.
func (e *Event) FullEvent() (ev stripe.V2CoreEvent, err error) {
	var raw stripe.V2CoreRawEvent
	if err := json.Unmarshal(e.Body, &raw); err != nil {
		return nil, fmt.Errorf("decode thin event %s: %w", e.ID, err)
	}
	if raw.Object != hookbox.ThinObject || raw.Data == nil {
		return nil, fmt.Errorf("event %s: not the full form of a thin event (deliver: event gives it)", e.ID)
	}
	if raw.RelatedObject == nil {
		raw.RelatedObject = &stripe.V2CoreEventRelatedObject{}
	}
	defer func() {
		if r := recover(); r != nil { // stripe-go's conversion assumes fields Stripe always sends
			ev, err = nil, fmt.Errorf("decode thin event %s: %v", e.ID, r)
		}
	}()
	return stripe.ConvertRawEvent(&raw, nil, "")
}

// Handler handles one event in library mode. Returning an error (or
// panicking) makes the attempt a failure, retried later by the retry
// policy; returning nil marks the event delivered to this Mux, never to be
// handled again unless replayed. Handlers must be idempotent: an event can
// be handled again after a crash or a lease that expired mid-call (the
// event id is the key to remember).
type Handler interface {
	HandleEvent(ctx context.Context, ev *Event) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, ev *Event) error

// HandleEvent calls f(ctx, ev).
func (f HandlerFunc) HandleEvent(ctx context.Context, ev *Event) error { return f(ctx, ev) }

// Mux is a Destination that dispatches events to Go handlers registered by
// event type: an exact type ("invoice.paid"), a prefix ("invoice.*") or
// "*". For an event, the most specific pattern wins: the exact type, else
// the longest matching prefix, else "*"; exactly one handler is called. An
// event no pattern matches is not accepted, so it is not recorded as
// delivered to the Mux.
//
// Register handlers before the Worker starts; Handle is safe for
// concurrent use with delivery, but a handler registered late does not
// receive events already delivered.
type Mux struct {
	// Livemode filters events by livemode; the zero value accepts both.
	Livemode Livemode
	// Timeout bounds each handler call through its context; <= 0 means
	// DefaultTimeout. A handler that ignores its context is not stopped,
	// and one that outlives the Worker's lease may see the event again.
	Timeout time.Duration
	// Logger receives handler panics with their stack; nil: slog.Default().
	Logger *slog.Logger
	// Version is the Stripe API version the handlers read (exact, or a
	// release train; hookbox.ParseAPIVersion): an event in an
	// incompatible version is held for this destination until released
	// (Versioned). The zero value reads every version.
	Version hookbox.APIVersion

	name     string
	mu       sync.RWMutex
	exact    map[string]Handler
	prefixes []prefixHandler // longest first
	all      Handler
}

type prefixHandler struct {
	prefix string // with the trailing dot
	h      Handler
}

var _ Destination = (*Mux)(nil)

// APIVersion returns Version (Versioned).
func (m *Mux) APIVersion() hookbox.APIVersion { return m.Version }

// NewMux returns an empty Mux whose destination name is name, or
// DefaultMuxName when name is empty. It panics on an invalid name (see
// NewHTTP for the rules), as registering an invalid pattern does.
func NewMux(name string) *Mux {
	if name == "" {
		name = DefaultMuxName
	}
	if err := checkName(name); err != nil {
		panic("deliver: NewMux: " + err.Error())
	}
	return &Mux{name: name}
}

// Handle registers h for pattern: an exact event type, "prefix.*" or "*".
// It panics on an invalid pattern, a nil handler, or a pattern already
// registered, like http.ServeMux: these are programming errors.
func (m *Mux) Handle(pattern string, h Handler) {
	if err := validatePattern(pattern); err != nil {
		panic("deliver: Mux.Handle: " + err.Error())
	}
	if h == nil {
		panic("deliver: Mux.Handle " + pattern + ": nil handler")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dup := false
	switch {
	case pattern == "*":
		dup = m.all != nil
		m.all = h
	case strings.HasSuffix(pattern, ".*"):
		p := strings.TrimSuffix(pattern, "*")
		for _, ph := range m.prefixes {
			dup = dup || ph.prefix == p
		}
		if !dup {
			m.prefixes = append(m.prefixes, prefixHandler{p, h})
			slices.SortStableFunc(m.prefixes, func(a, b prefixHandler) int { return len(b.prefix) - len(a.prefix) })
		}
	default:
		if m.exact == nil {
			m.exact = make(map[string]Handler)
		}
		_, dup = m.exact[pattern]
		if !dup {
			m.exact[pattern] = h
		}
	}
	if dup {
		panic("deliver: Mux.Handle: pattern " + pattern + " registered twice")
	}
}

// HandleFunc registers f for pattern; see Handle.
func (m *Mux) HandleFunc(pattern string, f func(ctx context.Context, ev *Event) error) {
	if f == nil {
		panic("deliver: Mux.HandleFunc " + pattern + ": nil handler")
	}
	m.Handle(pattern, HandlerFunc(f))
}

// Handler returns the handler the event type typ is dispatched to and the
// pattern it was registered with; nil and "" when none matches.
func (m *Mux) Handler(typ string) (h Handler, pattern string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if h, ok := m.exact[typ]; ok {
		return h, typ
	}
	for _, ph := range m.prefixes {
		if len(typ) > len(ph.prefix) && strings.HasPrefix(typ, ph.prefix) {
			return ph.h, ph.prefix + "*"
		}
	}
	if m.all != nil {
		return m.all, "*"
	}
	return nil, ""
}

// Name returns the destination name.
func (m *Mux) Name() string {
	if m.name == "" {
		return DefaultMuxName
	}
	return m.name
}

// AttemptTimeout returns the bound of one handler call.
func (m *Mux) AttemptTimeout() time.Duration {
	if m.Timeout > 0 {
		return m.Timeout
	}
	return DefaultTimeout
}

// Accepts reports whether ev passes the livemode filter and some pattern
// matches its type.
func (m *Mux) Accepts(ev *hookbox.Event) bool {
	if !m.Livemode.Match(ev.Livemode) {
		return false
	}
	h, _ := m.Handler(ev.Type)
	return h != nil
}

// Deliver calls the handler of ev's type with a context bounded by the
// Mux timeout. A returned error or a panic (recovered, logged with its
// stack) is a failed attempt; the attempt's Error holds its message. An
// event no handler matches is a failed attempt too (Accepts filters those
// out before the Worker calls Deliver).
func (m *Mux) Deliver(ctx context.Context, ev *hookbox.Event, attempt int) (a hookbox.Attempt) {
	start := time.Now()
	a = hookbox.Attempt{EventID: ev.ID, Destination: m.Name(), Number: attempt, StartedAt: start}
	h, pattern := m.Handler(ev.Type)
	if h == nil {
		a.Error = "no handler for event type " + ev.Type
		a.Duration = time.Since(start)
		return a
	}
	hctx, cancel := context.WithTimeout(ctx, m.AttemptTimeout())
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			a.OK = false
			a.Error = fmt.Sprintf("handler %s panicked: %v", pattern, v)
			m.logger().LogAttrs(ctx, slog.LevelError, "handler panicked",
				slog.String("destination", m.Name()), slog.String("pattern", pattern),
				slog.String("event_id", ev.ID), slog.String("type", ev.Type),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
		}
		a.Duration = time.Since(start)
	}()
	err := h.HandleEvent(hctx, &Event{Event: ev, Attempt: attempt})
	switch {
	case err == nil:
		a.OK = true
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && hctx.Err() != nil:
		a.Error = fmt.Sprintf("handler %s: timeout after %s: %v", pattern, m.AttemptTimeout(), err)
	default:
		a.Error = fmt.Sprintf("handler %s: %v", pattern, err)
	}
	return a
}

func (m *Mux) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}
