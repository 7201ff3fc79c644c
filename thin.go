package hookbox

import (
	"context"
	"time"
)

// ThinObject is the object field of a thin event notification, as Stripe's
// event destinations send it (API v2); a snapshot event says "event".
const ThinObject = "v2.core.event"

// A thin event notification carries no data: it names the event, the
// object it is about (RelatedObject) and the context to fetch it in, and
// the full event comes from GET /v2/core/events/{id}. hookbox stores the
// notification as it stores every event (verified, deduplicated on its id,
// delivered from the queue), and a fetcher stores the full event beside
// it, once, in the background: ingest never waits for Stripe's API.
//
// Each stored event whose Object is ThinObject gets a Fetch in the same
// transaction that stores it, pending unless the event came with its full
// form already (Event.FetchedBody, as reconcile's /v2/core/events listing
// does).

// RelatedObject is the object a thin event is about: its related_object.
type RelatedObject struct {
	ID   string // e.g. mtr_..., acct_...; "" when the notification names none
	Type string // e.g. billing.meter, v2.core.account
}

// FetchState is where the fetch of a thin event's full form stands. States
// are stored verbatim in every database.
type FetchState string

const (
	// FetchPending: not fetched yet; a fetcher claims it at NextAttemptAt
	// (while claimed, NextAttemptAt is the end of the lease).
	FetchPending FetchState = "pending"
	// FetchDone: the full event is stored (Fetch.Body); it is never
	// fetched again.
	FetchDone FetchState = "fetched"
	// FetchFailed: the fetcher gave up (a refusal that no retry mends, or
	// the retry budget spent). Destinations that want the full event
	// cannot have it; LastError says why.
	FetchFailed FetchState = "failed"
)

// FetchStates lists every FetchState.
var FetchStates = []FetchState{FetchPending, FetchDone, FetchFailed}

// Fetch is the fetch of one thin event's full form.
type Fetch struct {
	EventID string
	// Context is the notification's context (a connected account's, for
	// example), sent back as the Stripe-Context header when fetching.
	Context       string
	State         FetchState
	Attempts      int // failed fetches so far
	NextAttemptAt time.Time
	LastError     string
	// Body is the full event exactly as GET /v2/core/events/{id} returned
	// it; set when State is FetchDone and retention has not emptied it.
	Body      []byte
	FetchedAt time.Time
	// ReceivedAt is the notification's, or its last replay's when it was
	// replayed: the fetch's retry window starts there (a replay resets a
	// given-up fetch with fresh attempts).
	ReceivedAt time.Time
}

// FetchResult is what a fetcher reports for a claimed Fetch.
type FetchResult struct {
	EventID string
	Owner   string // must still hold the claim
	Now     time.Time
	// Body, when non-nil, is the fetched event: State becomes FetchDone.
	Body []byte
	// Otherwise the fetch failed with Error: it is retried at
	// NextAttemptAt, or, when GiveUp is set, it is FetchFailed.
	Error         string
	NextAttemptAt time.Time
	GiveUp        bool
}

// ThinStore is implemented by stores that keep the full form of thin
// events (both hookbox stores). It is optional: without it thin
// notifications are stored and delivered, and nothing is fetched.
type ThinStore interface {
	// ClaimFetches takes up to limit pending fetches due at now (oldest
	// due first) for owner until now+lease, so that fetchers on several
	// replicas never fetch one event at once: a claimed fetch is not due
	// again before its lease ends (a crashed fetcher's claim expires by
	// itself). Durable on return. EUNAVAILABLE when the store cannot
	// answer.
	ClaimFetches(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Fetch, error)

	// CompleteFetch records the outcome of a claimed fetch: the body
	// (stored once: a fetch that is done is never changed again), or the
	// failure and the next attempt time, and releases the claim. When the
	// body is stored, a pending event becomes due at once, so that the
	// destinations that wait for it (deliver: event) are tried without
	// waiting out their deferral. ECONFLICT (nothing written) when owner
	// no longer holds the claim or the fetch is no longer pending;
	// EINVALID for a result without EventID or Owner.
	CompleteFetch(ctx context.Context, r FetchResult) error

	// FindFetch returns the fetch of a thin event, body included.
	// ENOTFOUND when the event is not a stored thin event.
	FindFetch(ctx context.Context, eventID string) (*Fetch, error)

	// CountFetches returns the number of fetches in each state (every
	// FetchState is a key).
	CountFetches(ctx context.Context) (map[FetchState]int, error)
}
