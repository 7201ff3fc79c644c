package hookbox

import (
	"time"
)

// State is the processing state of a stored event. States are stored
// verbatim in every database.
type State string

const (
	// StatePending: stored, waiting to be delivered (or to be retried at
	// NextAttemptAt).
	StatePending State = "pending"
	// StateDelivering: claimed by a worker holding a lease.
	StateDelivering State = "delivering"
	// StateDelivered: every destination accepted the event.
	StateDelivered State = "delivered"
	// StateDead: delivery gave up; a replay puts the event back to pending.
	StateDead State = "dead"
)

// States lists every State in lifecycle order.
var States = []State{StatePending, StateDelivering, StateDelivered, StateDead}

// CountStates returns the per-state counts of a store whose total, pending,
// delivering and dead events were counted, delivered being the rest: the
// bulk of a store, which the stores' CountEvents never count row by row.
// Every State is a key. A new State must be counted here and by the stores.
func CountStates(total, pending, delivering, dead int) map[State]int {
	return map[State]int{
		StatePending:    pending,
		StateDelivering: delivering,
		StateDead:       dead,
		StateDelivered:  total - pending - delivering - dead,
	}
}

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Source tells how an event entered the store.
type Source string

const (
	// SourceWebhook: received as a verified webhook request.
	SourceWebhook Source = "webhook"
	// SourceReconcile: recovered from Stripe's events API.
	SourceReconcile Source = "reconcile"
)

// Event is one Stripe event as hookbox stores it: the raw body byte for byte
// plus the envelope fields extracted from it and what hookbox knows about
// its reception.
type Event struct {
	// Envelope fields, extracted from Body without a typed decode.
	ID         string // evt_..., the dedupe key
	Type       string // e.g. payment_intent.succeeded
	Object     string // "event" (or "v2.core.event" for thin events)
	Created    int64  // unix seconds, as Stripe sent it; never used for order
	Livemode   bool
	Account    string // Connect: the connected account id, "" otherwise
	APIVersion string
	// ObjectID is data.object.id, the id of the object a snapshot event is
	// about, as envelope.ObjectID reads it from Body: ParseEvent reads it
	// in the envelope's pass, so that ordering and a store's object-id
	// column do not scan the body again. "" when Body names none (thin
	// events) or it was not read; a store then reads Body itself. Like
	// the fields above it describes Body and is not checked against it
	// (only an id that Body's bytes do not hold at all is read again): a
	// caller that replaces Body after ParseEvent sets it again, or to "".
	// Set at ingest only: events read back from a store leave it "".
	ObjectID string `json:"-"`

	// Thin notifications (Object ThinObject) only, read from the body at
	// ingest: the object the event is about, and the context to fetch the
	// full event in (Stripe-Context). Empty for snapshot events.
	RelatedObject RelatedObject
	Context       string
	// FetchedBody, when set on a thin event given to InsertEvents, is its
	// full form already known (reconcile lists full events): its Fetch is
	// stored done with this body. Never read back: see ThinStore.FindFetch.
	FetchedBody []byte

	// Body is the exact request body that was verified.
	Body []byte
	// Headers holds the request headers that matter (Stripe-Signature,
	// User-Agent, Content-Type), canonical names.
	Headers map[string]string

	// Endpoint is the name of the webhook endpoint that received the event
	// ("stripe" for the default /webhooks/stripe); destinations are
	// configured per endpoint. "" for events from before endpoints had
	// names, and for reconciled events, which belong to the default one.
	Endpoint string

	ReceivedAt  time.Time // when the request was read, UTC
	ClientAddr  string    // the client address the request came from
	SecretIndex int       // position of the configured secret that matched
	Source      Source

	// OrderKey names the Stripe object the event is about when a
	// destination of its endpoint delivers in object order (the endpoint,
	// account, livemode and data.object.id; see OrderKeyOf); "" when the
	// event is not ordered. The queue never has two events of one key in
	// flight, and claims the events of a key oldest first (by Created,
	// then ReceivedAt, then ID): see Queue.
	OrderKey string
	// OrderSkipDead: when this event goes dead, the later events of its
	// OrderKey go on (--on-dead skip). Otherwise a dead event holds its key
	// until it is replayed or skipped by hand.
	OrderSkipDead bool
	// LateAfter is set on claimed events only (never stored): the id of a
	// newer event of the same OrderKey that was already delivered when
	// this one was claimed. Such an event is late: Stripe sent it after the
	// order window, so delivering it now breaks the object's order.
	LateAfter string

	// Processing state.
	State         State
	Attempts      int
	NextAttemptAt time.Time // zero: as soon as possible
	UpdatedAt     time.Time
	// ReplayedAt is when the event was last replayed; zero if never.
	ReplayedAt time.Time

	// Prepared is what a store's PrepareInsert computed from Body ahead of
	// InsertEvents (see Preparer); opaque, never stored. A store uses it
	// only when it is its own and was computed from this Body slice.
	Prepared any `json:"-"`
}

// WindowStart is when the event's retry window began: its last replay, or
// its reception.
func (e *Event) WindowStart() time.Time {
	if e.ReplayedAt.After(e.ReceivedAt) {
		return e.ReplayedAt
	}
	return e.ReceivedAt
}

// InsertResult is the outcome of one event of a batch.
type InsertResult struct {
	// Duplicate is true when an event with the same ID was already stored
	// (earlier, or earlier in the same batch); the stored row is unchanged.
	Duplicate bool
	// Err is set when this event alone could not be stored; the others of
	// the batch are unaffected.
	Err error
}

// HeaderTraceparent is the key in Event.Headers of the W3C traceparent of
// the span that received the event, kept when tracing is on and the span
// is sampled, so that each delivery attempt's span (a trace of its own,
// since it may run days later) links back to it. Neither Stripe nor a
// client sets it: it is written by hookbox's ingest, not copied from the
// request.
const HeaderTraceparent = "Hookbox-Traceparent"
