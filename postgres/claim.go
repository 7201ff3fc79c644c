package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// claimSQL leases up to $2 events due at $1 to $3 until $4, and returns
// them with their due time and reception from before the claim (the claim
// order), one row per delivery row of the event (its columns NULL when it
// has none), an event's rows together. It and lockKeysSQL go in one batch,
// so one round trip and one implicit transaction with no BEGIN nor COMMIT
// of its own: the claim is the drain's hot path, and a delivery row's
// event body repeated matters less (events with deliveries are retries,
// and most have one destination).
//
// The CTE repeats the predicate of the partial index events_queue
// verbatim and reads it in claim order. A delivering event's
// next_attempt_at is its lease_until, so the same range holds the expired
// leases; the last term keeps the leases that end at or after now (a lease
// held until t is still held at t). $1 is now truncated to the microsecond
// (x <= now), $5 rounded up (x < now).
//
// FOR UPDATE SKIP LOCKED: rows another claimer is locking are passed over
// instead of waited for, and a row another claimer leased and committed
// meanwhile is re-checked against the WHERE clause when locked (READ
// COMMITTED), so it is no longer due and left out.
//
// An ordered event (order_key set) is due only at the head of its key: no
// other event of the key delivering, none older (created, received_at, id)
// pending or holding the key dead (dueWhere). An expired lease is claimed
// again whatever arrived meanwhile: its event was the key's head when first
// claimed, and may have reached the destination. late_after is the newest
// delivered event of the key newer than the claimed one (a late event).
//
// The gate reads the statement's snapshot, which alone cannot keep two
// claimers off one key: the snapshot of a claimer may predate an event of
// the key that another claimer sees (an older one inserted or replayed
// meanwhile), and the two then lock two different rows, each its own
// head, and both commit. So claimSQL runs second in the transaction of
// ClaimEvents, after lockKeysSQL took the key locks, and takes ordered
// events only of the keys whose lock the transaction holds (listed in the
// transaction's setting hookbox.claim_keys): claims of one key are
// serialised, and the snapshot of the second is taken after the first
// committed, so it sees the first's event delivering.
// dueWhere is the WHERE clause of a due event, the gate of ordered events
// included (the predicate of the partial index events_queue first,
// verbatim); $1 is now truncated to the microsecond, $5 rounded up.
const dueWhere = `state IN ('pending', 'delivering')
		AND next_attempt_at <= $1
		AND (state = 'pending' OR lease_until < $5)
		AND (events.order_key = '' OR events.state = 'delivering' OR NOT EXISTS (
			SELECT 1 FROM events o
			WHERE o.order_key <> '' AND o.state IN ('pending', 'delivering', 'dead')
				AND o.order_key = events.order_key
				AND o.id <> events.id
				AND (o.state = 'delivering'
					OR ((o.state = 'pending' OR NOT o.order_skip_dead)
						AND (o.created, o.received_at, o.id) < (events.created, events.received_at, events.id)))))`

// claimKeyClass is the first key of the transaction-level advisory locks
// on order keys (pg_try_advisory_xact_lock(claimKeyClass,
// hashtext(order_key))); migrationLock, a one-bigint lock, never meets
// them. Two keys of one hash share a lock: they wait on each other, never
// more.
const claimKeyClass = 0x68626f78 // "hbox"

// lockKeysSQL takes the advisory lock of the key of each ordered event
// among the first events due at $1 ($3: $1 rounded up), in claim order, up
// to $2 events (the scan of claimSQL, without row locks), and lists the
// hashes it holds in the transaction's setting hookbox.claim_keys for
// claimSQL. Keys another transaction holds are passed over, as SKIP
// LOCKED passes over rows, among the first 4*$2 due events. Unordered
// events take no lock but count in the $2. The inner LIMIT keeps the lock
// out of the scan whatever the plan (a volatile term is never pushed into
// a subquery with a LIMIT): a sorting plan would otherwise try the lock of
// every due event's key; here at most 4*$2 are tried and $2 held. When no
// ordered event is live (the EXISTS, one probe of events_order_live, run
// once) the scan is skipped: an unordered queue pays one index probe. An
// ordered event stored between the two statements is then passed over by
// this claim (its key is not in the setting) and taken by the next.
var lockKeysSQL = `SELECT set_config('hookbox.claim_keys', '{' || coalesce(string_agg(DISTINCT k::text, ','), '') || '}', true)
FROM (
	SELECT k FROM (
		SELECT CASE WHEN order_key = '' THEN NULL ELSE hashtext(order_key) END AS k FROM events
		WHERE ` + strings.ReplaceAll(dueWhere, "$5", "$3") + `
			AND EXISTS (SELECT 1 FROM events o WHERE o.order_key <> '' AND o.state IN ('pending', 'delivering', 'dead'))
		ORDER BY next_attempt_at, received_at, id
		LIMIT 4 * $2
	) due
	WHERE k IS NULL OR pg_try_advisory_xact_lock(` + fmt.Sprint(claimKeyClass) + `, k)
	LIMIT $2
) locked`

var claimSQL = `WITH due AS (
	SELECT id, next_attempt_at, received_at FROM events
	WHERE ` + dueWhere + `
		AND (events.order_key = '' OR hashtext(events.order_key) = ANY(current_setting('hookbox.claim_keys')::int[]))
	ORDER BY next_attempt_at, received_at, id
	LIMIT $2
	FOR UPDATE SKIP LOCKED
), claimed AS (
	UPDATE events e
	SET state = 'delivering', lease_owner = $3, lease_until = $4, next_attempt_at = $4, updated_at = $1
	FROM due
	WHERE e.id = due.id
	RETURNING ` + returningColumns + `, due.next_attempt_at AS due_at, due.received_at AS due_received,
		` + lateColumn + ` AS late_after
)
SELECT c.*, d.destination, d.state, d.attempts, d.next_attempt_at, d.last_error, d.updated_at, d.skip_reason, d.hold_reason
FROM claimed c LEFT JOIN deliveries d ON d.event_id = c.id
ORDER BY c.id, d.destination`

// lateColumn is the id of the newest delivered event of e's key newer
// than e, NULL when there is none or e is not ordered.
const lateColumn = `(SELECT o.id FROM events o
			WHERE e.order_key <> '' AND o.order_key <> '' AND o.order_key = e.order_key AND o.state = 'delivered'
				AND (o.created, o.received_at, o.id) > (e.created, e.received_at, e.id)
			ORDER BY o.created DESC, o.received_at DESC, o.id DESC LIMIT 1)`

// returningColumns are eventColumns and bodyColumns, qualified for an UPDATE
// ... FROM.
var returningColumns = "e." + strings.ReplaceAll(strings.Join(strings.Fields(eventColumns), " "), ", ", ", e.") + ", e.body_encoding, e.body"

// ClaimEvents leases up to limit due events to owner until now+lease and
// returns them with their bodies and every delivery row (delivered ones
// included, so that the worker skips those destinations), oldest due first
// (by NextAttemptAt, a zero one first, then ReceivedAt, then ID). Due means
// StatePending with NextAttemptAt <= now, or StateDelivering whose lease
// ended before now. The lease end is now+lease truncated to the
// microsecond; while the event is delivering its NextAttemptAt is that
// lease end. Rows that a concurrent claimer holds locked are skipped, never
// waited for: concurrent callers, on any replica, never receive the same
// event while its lease holds. A limit <= 0 claims nothing.
//
// Committed on return. EINVALID for an empty owner, a lease <= 0, a zero
// now or a time out of range; EUNAVAILABLE when the store is closed or the
// database cannot answer.
func (s *Store) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookbox.Claim, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	until, err := checkLease(owner, now, lease)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	type claimed struct {
		claim    *hookbox.Claim
		due      pgtype.Timestamptz // next_attempt_at before the claim
		received time.Time
	}
	var (
		got []claimed
		d   struct {
			destination, state, lastError, skip, hold *string
			attempts                                  *int64
			next, updated                             pgtype.Timestamptz
		}
	)
	err = s.withConn(ctx, func(conn *pgx.Conn) error {
		// One batch, one round trip, one implicit transaction (a single
		// Sync): the key locks last until the claim commits.
		at, ceil := now.Truncate(time.Microsecond), ceilMicro(now)
		b := &pgx.Batch{}
		b.Queue(lockKeysSQL, at, limit, ceil)
		b.Queue(claimSQL, at, limit, owner, until, ceil)
		br := conn.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c claimed
			var late *string
			ev, err := scanEvent(rows, s.codec, &c.due, &c.received, &late,
				&d.destination, &d.state, &d.attempts, &d.next, &d.lastError, &d.updated, &d.skip, &d.hold)
			if err != nil {
				return err
			}
			if late != nil {
				ev.LateAfter = *late
			}
			if n := len(got); n == 0 || got[n-1].claim.Event.ID != ev.ID {
				c.claim = &hookbox.Claim{Event: ev, Owner: owner, LeaseUntil: until}
				got = append(got, c)
			}
			if d.destination != nil {
				c := got[len(got)-1].claim
				c.Deliveries = append(c.Deliveries, hookbox.Delivery{
					EventID: ev.ID, Destination: *d.destination, State: hookbox.State(*d.state),
					Attempts: int(*d.attempts), NextAttemptAt: goTime(d.next), LastError: *d.lastError, UpdatedAt: goTime(d.updated),
					SkipReason: *d.skip, HoldReason: *d.hold,
				})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return br.Close() // the commit's error, if any
	})
	if err != nil {
		return nil, dbError("claim events", err)
	}
	if len(got) == 0 {
		return nil, nil
	}
	// UPDATE ... RETURNING has no order: put the claims in claim order.
	slices.SortFunc(got, func(a, b claimed) int {
		if c := goTime(a.due).Compare(goTime(b.due)); c != 0 {
			return c
		}
		if c := a.received.Compare(b.received); c != 0 {
			return c
		}
		return strings.Compare(a.claim.Event.ID, b.claim.Event.ID)
	})
	claims := make([]*hookbox.Claim, len(got))
	for i, c := range got {
		claims[i] = c.claim
	}
	return claims, nil
}

// ClaimEvent leases the event id to owner until now+lease whatever its
// NextAttemptAt (sync mode: Stripe's retry is the schedule), and returns it
// as ClaimEvents does. Anyone may take an event whose lease ended before
// now. The lease is not reentrant: a live lease conflicts even when owner
// holds it, so two requests of one process never deliver the same event at
// once.
//
// Committed on return. ENOTFOUND when the event does not exist; ECONFLICT
// when it is delivered or dead, or delivering under a lease that ends at
// now or later; EINVALID and EUNAVAILABLE as for ClaimEvents.
func (s *Store) ClaimEvent(ctx context.Context, id, owner string, now time.Time, lease time.Duration) (*hookbox.Claim, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	until, err := checkLease(owner, now, lease)
	if err != nil {
		return nil, err
	}
	if !validText(id) {
		return nil, hookbox.Errorf(hookbox.ENOTFOUND, "event %q not found", id)
	}
	var claim *hookbox.Claim
	err = s.inTx(ctx, "claim event", func(tx pgx.Tx) error {
		var (
			state string
			held  pgtype.Timestamptz
		)
		err := tx.QueryRow(ctx, `SELECT state, lease_until FROM events WHERE id = $1 FOR UPDATE`, id).
			Scan(&state, &held)
		if errors.Is(err, pgx.ErrNoRows) {
			return hookbox.Errorf(hookbox.ENOTFOUND, "event %q not found", id)
		}
		if err != nil {
			return err
		}
		switch hookbox.State(state) {
		case hookbox.StateDelivered, hookbox.StateDead:
			return hookbox.Errorf(hookbox.ECONFLICT, "event %q is %s", id, state)
		case hookbox.StateDelivering:
			if !goTime(held).Before(now) {
				return hookbox.Errorf(hookbox.ECONFLICT, "event %q is leased", id)
			}
		}
		ev, err := scanEvent(tx.QueryRow(ctx, `UPDATE events e
			SET state = 'delivering', lease_owner = $2, lease_until = $3, next_attempt_at = $3, updated_at = $4
			WHERE id = $1
			RETURNING `+returningColumns, id, owner, until, now.Truncate(time.Microsecond)), s.codec)
		if err != nil {
			return err
		}
		claim = &hookbox.Claim{Event: ev, Owner: owner, LeaseUntil: until}
		return findDeliveries(ctx, tx, []*hookbox.Claim{claim})
	})
	if err != nil {
		return nil, dbError("claim event", err)
	}
	return claim, nil
}

// checkLease validates the arguments of a claim and returns the lease's
// end as stored.
func checkLease(owner string, now time.Time, lease time.Duration) (time.Time, error) {
	if owner == "" || !validText(owner) {
		return time.Time{}, hookbox.Errorf(hookbox.EINVALID, "lease owner %q: want non-empty text", owner)
	}
	if lease <= 0 {
		return time.Time{}, hookbox.Errorf(hookbox.EINVALID, "lease %v: want > 0", lease)
	}
	until := now.Add(lease)
	if now.IsZero() || !inRange(now) || !inRange(until) {
		return time.Time{}, hookbox.Errorf(hookbox.EINVALID, "claim time out of range")
	}
	return until.Truncate(time.Microsecond).UTC(), nil
}

// findDeliveries sets the Deliveries of claims.
func findDeliveries(ctx context.Context, tx pgx.Tx, claims []*hookbox.Claim) error {
	if len(claims) == 0 {
		return nil
	}
	ids := make([]string, len(claims))
	byID := make(map[string]*hookbox.Claim, len(claims))
	for i, c := range claims {
		ids[i] = c.Event.ID
		byID[c.Event.ID] = c
	}
	rows, err := tx.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE event_id = ANY($1) ORDER BY event_id, destination`, ids)
	if err != nil {
		return err
	}
	return forEachDelivery(rows, func(d hookbox.Delivery) {
		c := byID[d.EventID]
		c.Deliveries = append(c.Deliveries, d)
	})
}
