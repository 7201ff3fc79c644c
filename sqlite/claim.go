package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/bodycodec"
)

// claimDueSQL selects the ids of up to ?2 events due at ?1, in claim order.
//
// It reads the partial index events_queue, which is in claim order: no
// sort, and the scan stops after ?2 rows whatever the backlog. A delivering
// event's next_attempt_at is its lease_until, so one range of that index
// holds both the due pending events and the expired leases; the last term
// keeps the leases that end exactly at ?1 (a lease held until t is still
// held at t).
//
// The first term repeats the index's WHERE verbatim: SQLite uses a partial
// index only for a query whose WHERE contains the index's terms. INDEXED BY
// because the planner, without statistics, preferred
// events_state_next_attempt (until 0013: two equality ranges, then a sort
// of every due row); it also makes the query fail, rather than silently
// scan, if the index ever stops matching.
//
// An ordered event (order_key set) is due only at the head of its key: no
// other event of the key delivering, none older (created, received_at, id)
// pending or holding the key dead. An expired lease is claimed again
// whatever arrived meanwhile: its event was the key's head when first
// claimed, and may have reached the destination. The gate reads events_order_live, the
// key's live events only, whose WHERE it repeats verbatim.
const claimDueSQL = `SELECT id FROM events INDEXED BY events_queue
WHERE state IN ('pending', 'delivering')
	AND next_attempt_at <= ?1
	AND (state = 'pending' OR lease_until < ?1)
	AND (order_key = '' OR state = 'delivering' OR NOT EXISTS (
		SELECT 1 FROM events o INDEXED BY events_order_live
		WHERE o.order_key <> '' AND o.state IN ('pending', 'delivering', 'dead')
			AND o.order_key = events.order_key
			AND o.id <> events.id
			AND (o.state = 'delivering'
				OR ((o.state = 'pending' OR o.order_skip_dead = 0)
					AND (o.created, o.received_at, o.id) < (events.created, events.received_at, events.id)))))
ORDER BY next_attempt_at, received_at
LIMIT ?2`

// lateColumn is the id of the newest delivered event of the claimed
// event's key newer than it (NULL when none, or not ordered): the event it
// is late after. A range of events_order read backwards from its end.
const lateColumn = `(SELECT o.id FROM events o INDEXED BY events_order
	WHERE events.order_key <> '' AND o.order_key <> '' AND o.order_key = events.order_key AND o.state = 'delivered'
		AND (o.created, o.received_at, o.id) > (events.created, events.received_at, events.id)
	ORDER BY o.created DESC, o.received_at DESC, o.id DESC
	LIMIT 1)`

// claimSQL leases the events whose ids are in the JSON array ?5.
const claimSQL = `UPDATE events
SET state = 'delivering', lease_owner = ?1, lease_until = ?2, next_attempt_at = ?3, updated_at = ?4
WHERE id IN (SELECT value FROM json_each(?5))
RETURNING ` + listColumns + `, ` + bodyColumns + `, ` + lateColumn

// claimDeliveriesSQL reads the delivery rows of the events whose ids are in
// the JSON array ?1.
const claimDeliveriesSQL = `SELECT ` + deliveryColumns + ` FROM deliveries
WHERE event_id IN (SELECT value FROM json_each(?1))
ORDER BY event_id, destination`

// ClaimEvents leases up to limit due events to owner until now+lease and
// returns them, oldest due first (by NextAttemptAt, then ReceivedAt), with
// their bodies and every delivery row, delivered ones included so that the
// worker skips those destinations.
//
// The claim is one transaction on the writer connection: claims in this
// process never run at once, and another process waits for SQLite's write
// lock, so no two callers receive the same event while its lease holds.
// The lease end is now+lease truncated to the microsecond; while the event
// is delivering its NextAttemptAt is that lease end (when the queue looks
// at it again if the worker never reports). Durable on return.
//
// A limit <= 0 claims nothing. EINVALID for an empty owner, a lease <= 0 or
// a zero now; EUNAVAILABLE when the store is closed or the database fails.
func (s *Store) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookbox.Claim, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	l, err := newLease(owner, now, lease)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	st, err := s.stmts(ctx)
	if err != nil {
		return nil, unavailable("claim events", err)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, unavailable("claim events: begin", err)
	}
	defer tx.Rollback()

	rows, err := tx.StmtContext(ctx, st.claimDue).QueryContext(ctx, l.now, limit)
	if err != nil {
		return nil, unavailable("claim events", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, unavailable("claim events", err)
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, unavailable("claim events", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	claims, encs, err := l.claim(ctx, tx, st, ids)
	if err != nil {
		return nil, unavailable("claim events", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, unavailable("claim events: commit", err)
	}
	if err := s.decodeClaims(claims, encs); err != nil {
		return nil, err
	}
	return claims, nil
}

// ClaimEvent leases the event id to owner until now+lease whatever its
// NextAttemptAt (sync mode), and returns it as ClaimEvents does.
//
// ENOTFOUND when no such event exists; ECONFLICT when it is delivered or
// dead, or delivering under a lease that has not expired (at now the lease
// still holds if it ends at now or later). The lease is not reentrant: a
// live lease conflicts even when owner holds it, so two requests of one
// process never deliver the same event at once. EINVALID and EUNAVAILABLE
// as for ClaimEvents.
func (s *Store) ClaimEvent(ctx context.Context, id, owner string, now time.Time, lease time.Duration) (*hookbox.Claim, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	l, err := newLease(owner, now, lease)
	if err != nil {
		return nil, err
	}
	st, err := s.stmts(ctx)
	if err != nil {
		return nil, unavailable("claim event", err)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, unavailable("claim event: begin", err)
	}
	defer tx.Rollback()

	var (
		state, holder string
		until         int64
	)
	err = tx.StmtContext(ctx, st.lease).QueryRowContext(ctx, id).Scan(&state, &holder, &until)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, hookbox.Errorf(hookbox.ENOTFOUND, "event %q not found", id)
	case err != nil:
		return nil, unavailable("claim event", err)
	}
	switch hookbox.State(state) {
	case hookbox.StateDelivered, hookbox.StateDead:
		return nil, hookbox.Errorf(hookbox.ECONFLICT, "event %q is %s", id, state)
	case hookbox.StateDelivering:
		if until >= l.now {
			return nil, hookbox.Errorf(hookbox.ECONFLICT, "event %q is leased", id)
		}
	}
	claims, encs, err := l.claim(ctx, tx, st, []string{id})
	if err != nil {
		return nil, unavailable("claim event", err)
	}
	if len(claims) != 1 {
		return nil, unavailable("claim event", fmt.Errorf("event %q: %d rows claimed", id, len(claims)))
	}
	if err := tx.Commit(); err != nil {
		return nil, unavailable("claim event: commit", err)
	}
	if err := s.decodeClaims(claims, encs); err != nil {
		return nil, err
	}
	return claims[0], nil
}

// lease is a claim's owner and times, as stored.
type lease struct {
	owner string
	now   int64 // the caller's now, untruncated: compared, never stored
	at    int64 // now as stored, for updated_at
	until int64 // now+lease as stored
}

func newLease(owner string, now time.Time, d time.Duration) (lease, error) {
	switch {
	case owner == "":
		return lease{}, hookbox.Errorf(hookbox.EINVALID, "claim: owner is empty")
	case d <= 0:
		return lease{}, hookbox.Errorf(hookbox.EINVALID, "claim: lease %v is not positive", d)
	case now.IsZero():
		return lease{}, hookbox.Errorf(hookbox.EINVALID, "claim: now is zero")
	}
	n, ok1 := filterTime(now)
	at, ok2 := storedTime(now)
	until, ok3 := storedTime(now.Add(d))
	if !ok1 || !ok2 || !ok3 {
		return lease{}, hookbox.Errorf(hookbox.EINVALID, "claim: time out of range")
	}
	return lease{owner: owner, now: n, at: at, until: until}, nil
}

// claim leases the events ids inside tx and returns them in the order of
// ids, with their deliveries, and their bodies as stored with the
// encoding of each: decodeClaims decodes them once the transaction is
// over, so that decompressing does not hold the database's one writer.
// Ids that do not exist are left out.
func (l lease) claim(ctx context.Context, tx *sql.Tx, st *queueStmts, ids []string) ([]*hookbox.Claim, []bodycodec.Encoding, error) {
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return nil, nil, err
	}
	rows, err := tx.StmtContext(ctx, st.claim).QueryContext(ctx, l.owner, l.until, l.until, l.at, string(idsJSON))
	if err != nil {
		return nil, nil, err
	}
	type stored struct {
		claim *hookbox.Claim
		enc   bodycodec.Encoding
	}
	byID := make(map[string]stored, len(ids))
	for rows.Next() {
		var late sql.NullString
		ev, enc, err := scanStored(rows, true, &late)
		if err != nil {
			rows.Close()
			return nil, nil, err
		}
		ev.LateAfter = late.String
		byID[ev.ID] = stored{&hookbox.Claim{Event: ev, Owner: l.owner, LeaseUntil: loadTime(l.until)}, enc}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, err
	}

	rows, err = tx.StmtContext(ctx, st.claimDeliveries).QueryContext(ctx, string(idsJSON))
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			rows.Close()
			return nil, nil, err
		}
		if c, ok := byID[d.EventID]; ok {
			c.claim.Deliveries = append(c.claim.Deliveries, d)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, err
	}

	claims := make([]*hookbox.Claim, 0, len(byID))
	encs := make([]bodycodec.Encoding, 0, len(byID))
	for _, id := range ids {
		if c, ok := byID[id]; ok {
			claims = append(claims, c.claim)
			encs = append(encs, c.enc)
		}
	}
	return claims, encs, nil
}

// decodeClaims decodes the bodies claim left as stored. A body that does
// not decode (a damaged row) fails the call: the events stay leased and
// are claimed again when their lease ends.
func (s *Store) decodeClaims(claims []*hookbox.Claim, encs []bodycodec.Encoding) error {
	for i, c := range claims {
		if err := decodeBody(s.codec, c.Event, encs[i]); err != nil {
			return fmt.Errorf("claim events: %w", err)
		}
	}
	return nil
}
