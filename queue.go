package hookbox

import (
	"context"
	"time"
)

// The store is the queue: one row per event carries the aggregate State,
// plus one Delivery row per (event, destination) once that destination has
// been tried, plus an append-only log of Attempts.
//
// A worker claims due events (ClaimEvents) under a lease, delivers each to
// every destination whose Delivery is not yet delivered or dead, and
// completes the claim (CompleteClaim, or CompleteClaims for several at
// once) with the attempts made and the new per-destination states. The
// event's aggregate state follows:
//
//	any destination pending   -> StatePending, NextAttemptAt = earliest of them
//	else any destination dead -> StateDead
//	else                      -> StateDelivered
//
// A destination that has delivered an event is never sent it again by the
// queue: a Stripe retry is a duplicate at ingest and changes nothing, and a
// claim skips delivered destinations. Only an explicit replay of a fully
// delivered event sends it again.

// Delivery is the state of one event at one destination.
type Delivery struct {
	EventID       string
	Destination   string // the destination's stable name
	State         State  // StatePending, StateDelivered or StateDead
	Attempts      int    // attempts since the last replay (the retry budget)
	NextAttemptAt time.Time
	LastError     string // the last failed attempt's status or error, short
	// SkipReason is set when the destination was not sent the event on
	// purpose: a late event under --late skip, or a skip by hand. Such a
	// delivery is StateDelivered (settled), and a replay sends the event.
	SkipReason string
	// HoldReason is set on a held delivery: the destination states a Stripe
	// API version (deliver.Versioned) the event is not in. It is pending,
	// due at HeldUntil (never), with no attempt made and no retry budget
	// spent, until ReleaseHeld (or a replay) makes it due with HoldReason
	// HoldReleased, which it keeps until delivered, parked or not (Park): a
	// released delivery is sent whatever its version.
	HoldReason string
	UpdatedAt  time.Time
}

// HeldUntil is the NextAttemptAt of a held delivery: never due on its own.
var HeldUntil = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// HoldReleased is the HoldReason of a held delivery that was released (or
// replayed): it is delivered whatever its API version.
const HoldReleased = "released"

// HoldPaused is the HoldReason of a delivery parked because its
// destination is paused (PauseDestination): due at HeldUntil until the
// destination is resumed (ReleasePaused), no attempt made.
const HoldPaused = "paused"

// Attempt is one delivery attempt, recorded whatever its outcome.
type Attempt struct {
	EventID     string
	Destination string
	Number      int // 1-based, counted per destination across replays
	StartedAt   time.Time
	Duration    time.Duration
	StatusCode  int    // HTTP status; 0 when no response arrived
	Error       string // transport error, timeout, or handler error; "" on success
	Response    string // the first MaxResponseSnippet bytes of the response body
	OK          bool
}

// MaxResponseSnippet is how much of a destination's response is kept.
const MaxResponseSnippet = 1024

// Claim is an event a worker holds under a lease, with the state of each
// destination already tried (destinations absent from Deliveries have never
// been tried).
type Claim struct {
	Event      *Event // body included
	Deliveries []Delivery
	Owner      string
	LeaseUntil time.Time
}

// Completion is what a worker reports when it has finished with a claim.
type Completion struct {
	EventID string
	Owner   string // must still hold the lease
	Now     time.Time
	// Attempts made during this claim, appended to the log.
	Attempts []Attempt
	// Deliveries are the new states of the destinations tried (upserted);
	// the event's aggregate State and NextAttemptAt are derived from every
	// delivery row of the event as the Queue comment describes.
	Deliveries []Delivery
}

// ReplayFilter selects events to replay. IDs, when set, selects exactly
// those events; otherwise State (required), Type (exact or "prefix.*") and
// Since (received at or after) select.
type ReplayFilter struct {
	IDs   []string
	State State
	Type  string
	Since time.Time
}

// Queue is the delivery side of the Store.
type Queue interface {
	// ClaimEvents moves up to limit due events to StateDelivering under a
	// lease held by owner until now+lease, and returns them with bodies and
	// their deliveries, oldest due first. Due means StatePending with
	// NextAttemptAt <= now, or StateDelivering whose lease expired before
	// now (a crashed worker). Concurrent callers never receive the same
	// event while its lease holds. Durable on return. EUNAVAILABLE when the
	// store cannot answer.
	//
	// An event with an OrderKey is due only at the head of its key: when
	// no other event of the key is delivering, and no older one (by
	// Created, then ReceivedAt, then ID) is pending or, unless it is
	// OrderSkipDead, dead. So no two events of a key are ever claimed at
	// once, by any caller on any replica, and each key's events are
	// claimed oldest first; events of other keys are not held. (An
	// expired lease is claimed again whatever arrived meanwhile: its event
	// was the head when first claimed.) A claimed
	// ordered event carries LateAfter when a newer event of its key is
	// already delivered.
	ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*Claim, error)

	// ClaimEvent claims one event by id whatever its NextAttemptAt (sync
	// mode: Stripe's retry is the schedule). ENOTFOUND when it does not
	// exist; ECONFLICT when it is delivered, dead, or leased by someone else
	// whose lease has not expired.
	ClaimEvent(ctx context.Context, id, owner string, now time.Time, lease time.Duration) (*Claim, error)

	// CompleteClaim records the attempts, upserts the deliveries, derives
	// the event's aggregate state, and releases the lease, in one
	// transaction. ECONFLICT (and nothing written) when owner no longer
	// holds the lease on the event.
	CompleteClaim(ctx context.Context, c Completion) error

	// CompleteClaims is CompleteClaim's batch form, with identical
	// semantics for each completion, all in one transaction (one commit
	// for many claims: a worker groups the completions of concurrent
	// deliveries). The completions apply in order, as successive
	// CompleteClaim calls would: a second completion of an event in one
	// batch finds the lease released by the first (ECONFLICT).
	//
	// errs has one entry per completion, in order: nil when it was
	// recorded, or its own error, ECONFLICT when that owner no longer
	// holds that lease, EINVALID for bad input; such a completion writes
	// nothing and the others are unaffected. A non-nil err (EUNAVAILABLE)
	// means nothing of the batch was written, and errs is nil. Durable on
	// return when err is nil. An empty batch writes nothing.
	CompleteClaims(ctx context.Context, cs []Completion) (errs []error, err error)

	// ReleaseClaims puts events leased by owner back to StatePending, due
	// now, without counting an attempt (graceful shutdown). Events no longer
	// leased by owner are left alone. Returns how many were released.
	ReleaseClaims(ctx context.Context, owner string, ids []string) (int, error)

	// ReplayEvents puts the selected events back to StatePending, due now,
	// with a fresh retry budget (Attempts = 0) for every destination that
	// is not delivered; a selected event that is fully delivered is sent to
	// every destination again (an explicit replay). Leased events are
	// skipped, and so are events whose body retention emptied (nothing
	// is left to send). A selected thin event whose fetch was given up
	// (ThinStore, FetchFailed) has it pending again, due now, with fresh
	// attempts and its retry window starting now. Returns how many events
	// were replayed. EINVALID for an empty filter.
	ReplayEvents(ctx context.Context, f ReplayFilter, now time.Time) (int, error)

	// FindDeliveries returns the deliveries of an event, by destination.
	FindDeliveries(ctx context.Context, eventID string) ([]Delivery, error)

	// FindAttempts returns the attempts of an event, oldest first.
	FindAttempts(ctx context.Context, eventID string) ([]Attempt, error)

	// PruneEvents empties the body of delivered events received before
	// bodyBefore (their rows, and so their ids, stay for dedupe), and
	// deletes the rows of delivered or dead events received before
	// rowBefore together with their deliveries and attempts. An event
	// replayed at or after a bound is not pruned by it. Returns both
	// counts.
	PruneEvents(ctx context.Context, bodyBefore, rowBefore time.Time) (bodies, rows int, err error)

	// SkipEvents settles the selected events without sending them: each
	// delivery that is pending or dead becomes StateDelivered with
	// SkipReason reason, and the event is StateDelivered. Only dead events
	// and pending events with at least one delivery row are skipped
	// (a pending event never tried has no destination to record the skip
	// against); others, and leased events, are left alone. Returns how
	// many events were skipped. EINVALID for no ids or an empty reason.
	SkipEvents(ctx context.Context, ids []string, reason string, now time.Time) (int, error)

	// ReleaseHeld makes the held deliveries of destination due at now, with
	// HoldReason HoldReleased, for the events ids (all of the
	// destination's held events when ids is nil), and their events due at
	// now. Returns how many events were released. EINVALID for an empty
	// destination.
	ReleaseHeld(ctx context.Context, destination string, ids []string, now time.Time) (int, error)

	// CountHeld returns the number of held deliveries per destination
	// (not those parked for their destination: hookbox.Parked).
	CountHeld(ctx context.Context) (map[string]int, error)

	// PauseDestination pauses (paused) or resumes the destination name,
	// recorded at now; the pause is kept in the store. A resume does not
	// make the parked deliveries due: ReleasePaused does.
	PauseDestination(ctx context.Context, name string, paused bool, now time.Time) error

	// PausedDestinations returns the paused destinations and since when.
	PausedDestinations(ctx context.Context) (map[string]time.Time, error)

	// DestinationControls: circuit breakers and rate limits.
	DestinationControls

	// ReleasePaused makes the deliveries of destination parked by a pause
	// (HoldReason HoldPaused or HoldPausedReleased), and those parked by
	// its breaker (HoldBreaker, HoldBreakerReleased) unless the breaker is
	// open, due at now, with no hold (HoldReleased for those parked
	// released), and their events due at now. Returns how many. It
	// reads first and writes only when there is something to release.
	ReleasePaused(ctx context.Context, destination string, now time.Time) (int, error)

	// CountBlocked returns, per destination, the number of ordered keys
	// held by a dead event (an event with an OrderKey, not OrderSkipDead,
	// dead at that destination): later events of those keys wait.
	CountBlocked(ctx context.Context) (map[string]int, error)

	// CountEvents returns the number of events in each state and the
	// receive time of the oldest event not settled yet, pending or
	// delivering (zero if none): one stuck in delivering ages too. An
	// event due at HeldUntil (only held deliveries left) waits for a
	// person, as a dead one does, and does not count as the oldest.
	CountEvents(ctx context.Context) (map[State]int, time.Time, error)
}
