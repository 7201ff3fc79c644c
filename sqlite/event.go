package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/bodycodec"
	"github.com/hookbox/hookbox/internal/headercodec"
	msqlite "modernc.org/sqlite"
	sqlitelib "modernc.org/sqlite/lib"
)

// insertSQL stores one event unless its id is already stored. DO NOTHING
// covers only the primary key: any other constraint (a CHECK) still fails
// the statement, and SQLite then undoes that statement alone, not the
// transaction.
//
// The body goes to event_bodies (0005): the row names it by body_id, the
// next free key, and insertBodySQL stores it under that same key right
// after the row went in. Nothing writes event_bodies in between: both run
// in the writer's transaction, back to back.
const insertSQL = `INSERT INTO events (
	id, type, object, created, livemode, account, api_version,
	headers, received_at, client_addr, secret_index, source,
	state, attempts, next_attempt_at, updated_at, replayed_at, endpoint,
	order_key, order_skip_dead, related_id, related_type, context, headers_packed, object_id, body_id
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ` + nextBodyID + `)
ON CONFLICT (id) DO NOTHING`

const insertArgCount = 25

// insertBodySQL stores the body of the event insertSQL has just stored,
// encoded (internal/bodycodec, migration 0010).
const insertBodySQL = `INSERT INTO event_bodies (id, encoding, body) VALUES (` + nextBodyID + `, ?, ?)`

// nextBodyID is the key of the next body: one past the last (a seek to the
// end of event_bodies, not a scan).
const nextBodyID = `(SELECT coalesce(max(id), 0) + 1 FROM event_bodies)`

// bodyColumns read the stored body of the events row in scope: its
// encoding and its bytes, which scanEvent decodes. An event without one
// (body_id 0) reads as an empty Raw body.
const bodyColumns = `coalesce((SELECT b.encoding FROM event_bodies b WHERE b.id = events.body_id), 0),
	coalesce((SELECT b.body FROM event_bodies b WHERE b.id = events.body_id), x'')`

// listColumns are the columns of a listing: everything but the body.
// headers_packed holds the headers since 0013 (internal/headercodec),
// headers before (NULL and a JSON object).
const listColumns = `id, type, object, created, livemode, account, api_version,
	headers, received_at, client_addr, secret_index, source,
	state, attempts, next_attempt_at, updated_at, replayed_at, endpoint,
	order_key, order_skip_dead, related_id, related_type, context, headers_packed`

// InsertEvents stores events in one transaction on the writer connection
// and returns one result per event, in order.
//
// An id already stored, or repeated earlier in the batch, yields Duplicate
// and leaves the stored row unchanged. An event that fails alone gets its
// own Err, coded EINVALID: a nil event, an empty ID, a zero ReceivedAt, a
// time outside 1678-2262, or a value the schema rejects (an unknown State);
// SQLite undoes only that statement and the rest of the batch commits. A
// zero State is stored as StatePending, a zero UpdatedAt as ReceivedAt, and
// times are truncated to the microsecond.
//
// On a nil error every stored row is durable (synchronous=FULL) on return.
// Any other failure (the store is closed, a lock or I/O error, ctx done, a
// failed COMMIT) returns an error coded EUNAVAILABLE and no results: nothing
// of the batch may be assumed stored, and a retry is safe because of the
// dedupe on ID.
func (s *Store) InsertEvents(ctx context.Context, events []*hookbox.Event) ([]hookbox.InsertResult, error) {
	return s.insertEvents(ctx, events, true)
}

// insertEvents is InsertEvents; with durable false the commit does not
// wait for the disk (InsertEventsNoSync).
func (s *Store) insertEvents(ctx context.Context, events []*hookbox.Event, durable bool) (results []hookbox.InsertResult, err error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	results = make([]hookbox.InsertResult, len(events))
	if len(events) == 0 {
		return results, nil
	}

	// Bodies are compressed and their object ids read before the
	// transaction begins, not while it holds the database's one writer:
	// the forms PrepareInsert computed ahead where there are, else here.
	bodies := s.codec.StoreAll(events)

	began := time.Now()
	defer func() { s.insertNanos.Add(int64(time.Since(began))) }()
	var tx *sql.Tx
	if durable {
		tx, err = s.writer.BeginTx(ctx, nil)
	} else {
		// One connection from the NORMAL pragma to the FULL one, held
		// throughout: it is the pool's only one, so no other write of the
		// store can take it in between and commit at NORMAL.
		conn, restore, nerr := s.noSync(ctx)
		if nerr != nil {
			return nil, nerr
		}
		defer func() { // err: the function's result
			if rerr := restore(); rerr != nil && err == nil {
				results, err = nil, rerr
			}
		}()
		tx, err = conn.BeginTx(ctx, nil)
	}
	if err != nil {
		return nil, unavailable("insert events: begin", err)
	}
	defer tx.Rollback() // a no-op after a successful Commit

	if s.inTx != nil {
		s.inTx(tx)
	}
	stmt := tx.StmtContext(ctx, s.insert)
	defer stmt.Close()
	bodyStmt := tx.StmtContext(ctx, s.insertBody)
	defer bodyStmt.Close()

	// The statements run without ctx's deadline: with one, the driver
	// starts a goroutine per statement to interrupt it (two per event, the
	// largest share of the writer's scheduling). A statement of this
	// transaction waits on nothing but the disk (the writer holds the
	// lock since BEGIN), so ctx is checked between events instead, and
	// the transaction ends when it is done (database/sql rolls back).
	sctx := context.WithoutCancel(ctx)

	args := make([]any, insertArgCount)
	for i, ev := range events {
		if err := insertArgs(args, ev); err != nil {
			results[i].Err = err
			continue
		}
		if s.headersJSON {
			args[7], args[23] = jsonHeaders(ev.Headers), nil
		}
		args[24] = bodies[i].ObjectID
		if err := ctx.Err(); err != nil {
			return nil, unavailable("insert events", err)
		}
		res, err := stmt.ExecContext(sctx, args...)
		if err != nil {
			if isConstraint(err) {
				results[i].Err = &hookbox.Error{
					Code:    hookbox.EINVALID,
					Message: fmt.Sprintf("event %q violates a schema constraint", ev.ID),
					Err:     err,
				}
				continue
			}
			return nil, unavailable("insert events", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, unavailable("insert events", err)
		}
		results[i].Duplicate = n == 0
		if n == 0 {
			continue
		}
		if _, err := bodyStmt.ExecContext(sctx, int64(bodies[i].Enc), bodies[i].Data); err != nil {
			return nil, unavailable("insert events: body", err)
		}
		if ev.Object == hookbox.ThinObject {
			if err := insertFetch(sctx, tx, ev); err != nil {
				return nil, unavailable("insert events: fetch", err)
			}
		}
	}

	if err := tx.Commit(); err != nil {
		return nil, unavailable("insert events: commit", err)
	}
	s.ckpt.added(len(events))
	return results, nil
}

// PrepareInsert computes ev's stored body (compressed, with its object
// id) into ev.Prepared, for InsertEvents to use (hookbox.Preparer). The
// group committer calls it in each request's goroutine, in parallel,
// instead of in the batch's transaction that every request waits on.
func (s *Store) PrepareInsert(ev *hookbox.Event) {
	if ev != nil {
		ev.Prepared = s.codec.StoreEvent(ev)
	}
}

// insertArgs fills args with the column values of ev, in insertSQL order.
func insertArgs(args []any, ev *hookbox.Event) error {
	if ev == nil {
		return hookbox.Errorf(hookbox.EINVALID, "nil event")
	}
	if ev.ID == "" {
		return hookbox.Errorf(hookbox.EINVALID, "event id is empty")
	}
	if ev.ReceivedAt.IsZero() {
		return hookbox.Errorf(hookbox.EINVALID, "event %q: received_at is zero", ev.ID)
	}
	received, ok1 := storedTime(ev.ReceivedAt)
	next, ok2 := storedTime(ev.NextAttemptAt)
	updated, ok3 := storedTime(ev.UpdatedAt)
	replayed, ok4 := storedTime(ev.ReplayedAt)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return hookbox.Errorf(hookbox.EINVALID, "event %q: time out of range", ev.ID)
	}
	if updated == 0 {
		updated = received
	}
	state := ev.State
	if state == "" {
		state = hookbox.StatePending
	}
	livemode := boolInt(ev.Livemode)

	args[0] = ev.ID
	args[1] = ev.Type
	args[2] = ev.Object
	args[3] = ev.Created
	args[4] = livemode
	args[5] = ev.Account
	args[6] = ev.APIVersion
	args[7] = "{}" // the headers are in headers_packed since 0013
	args[8] = received
	args[9] = ev.ClientAddr
	args[10] = int64(ev.SecretIndex)
	args[11] = string(ev.Source)
	args[12] = string(state)
	args[13] = int64(ev.Attempts)
	args[14] = next
	args[15] = updated
	args[16] = replayed
	args[17] = ev.Endpoint
	args[18] = ev.OrderKey
	args[19] = boolInt(ev.OrderSkipDead)
	args[20] = ev.RelatedObject.ID
	args[21] = ev.RelatedObject.Type
	args[22] = ev.Context
	args[23] = headercodec.Encode(ev.Headers) // nil (NULL) when there are none
	return nil
}

// jsonHeaders is h as the store wrote it before 0013: a JSON object.
func jsonHeaders(h map[string]string) string {
	if len(h) == 0 {
		return "{}"
	}
	b, err := json.Marshal(h)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// FindEventByID returns the stored event, body included. It fails with
// ENOTFOUND when no event has that id, EUNAVAILABLE when the store is
// closed, and an uncoded error when the database fails.
func (s *Store) FindEventByID(ctx context.Context, id string) (*hookbox.Event, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	row := s.reader.QueryRowContext(ctx, `SELECT `+listColumns+`, `+bodyColumns+` FROM events WHERE id = ?`, id)
	ev, err := scanEvent(row, s.codec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hookbox.Errorf(hookbox.ENOTFOUND, "event %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("find event: %w", err)
	}
	return ev, nil
}

// FindEvents returns up to filter.Limit (DefaultListLimit when <= 0)
// events matching filter, newest received first, ties on ReceivedAt broken
// by descending ID, without their bodies (Body is nil). It reads from the
// reader pool and never waits for the writer.
//
// A Type ending in "*" selects a prefix ("invoice.*" matches
// "invoice.paid", not "invoiceitem.created"); it is an index range, and
// LIKE or GLOB wildcards in it are matched literally.
//
// It fails with EINVALID for an unknown State, a BeforeID without
// BeforeReceivedAt, or a time outside 1678-2262; EUNAVAILABLE when the
// store is closed; an uncoded error when the database fails.
func (s *Store) FindEvents(ctx context.Context, f hookbox.EventFilter) ([]*hookbox.Event, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if f.State != "" {
		// A state has a partial index (0013) only while its events are
		// few or live: SearchEvents' planner reads it when it holds few
		// candidates, else walks events_received newest first. (Before
		// 0013, SQLite's planner read the full state index and sorted
		// every event of the state.)
		return s.SearchEvents(ctx, hookbox.EventQuery{EventFilter: f})
	}
	var (
		where []string
		args  []any
	)
	where, args = whereType(where, args, f.Type)
	where, args = whereVersion(where, args, f.APIVersion)
	if f.Blocked {
		where = append(where, blockedSQL)
	}
	if f.Held {
		where = append(where, heldFilterSQL)
		args = append(args, f.HeldDestination, f.HeldDestination)
	}
	if !f.Since.IsZero() {
		since, ok := filterTime(f.Since)
		if !ok {
			return nil, hookbox.Errorf(hookbox.EINVALID, "since out of range")
		}
		where = append(where, "received_at >= ?")
		args = append(args, since)
	}
	switch {
	case !f.BeforeReceivedAt.IsZero():
		before, ok := filterTime(f.BeforeReceivedAt)
		if !ok {
			return nil, hookbox.Errorf(hookbox.EINVALID, "cursor out of range")
		}
		// A row value compares in index order, so SQLite seeks the
		// events_received index to the cursor. An empty BeforeID means
		// "received strictly before BeforeReceivedAt": no id is < ''.
		where = append(where, "(received_at, id) < (?, ?)")
		args = append(args, before, f.BeforeID)
	case f.BeforeID != "":
		return nil, hookbox.Errorf(hookbox.EINVALID, "cursor id without cursor time")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = hookbox.DefaultListLimit
	}

	var q strings.Builder
	q.WriteString("SELECT " + listColumns + " FROM events")
	if len(where) > 0 {
		q.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	q.WriteString(" ORDER BY received_at DESC, id DESC LIMIT ?")
	args = append(args, limit)

	rows, err := s.reader.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("find events: %w", err)
	}
	defer rows.Close()
	events := make([]*hookbox.Event, 0, min(limit, 256))
	for rows.Next() {
		ev, err := scanEvent(rows, nil)
		if err != nil {
			return nil, fmt.Errorf("find events: %w", err)
		}
		events = append(events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find events: %w", err)
	}
	return events, nil
}

// whereType appends the terms and arguments selecting typ, an exact type
// or a prefix ending in "*", to where and args; "" selects any type.
func whereType(where []string, args []any, typ string) ([]string, []any) {
	if typ == "" {
		return where, args
	}
	prefix, ok := strings.CutSuffix(typ, "*")
	if !ok {
		return append(where, "type = ?"), append(args, typ)
	}
	// A range on the type index instead of LIKE, which is case-insensitive
	// and needs escaping, or GLOB, which has no escape character.
	if prefix != "" {
		where = append(where, "type >= ?")
		args = append(args, prefix)
		if end, ok := prefixEnd(prefix); ok {
			where = append(where, "type < ?")
			args = append(args, end)
		}
	}
	return where, args
}

// prefixEnd returns the smallest string greater than every string that
// starts with prefix, comparing bytes as SQLite's BINARY collation does;
// false when there is none (prefix is all 0xFF bytes).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

type scanner interface{ Scan(dest ...any) error }

// scanEvent scans the listColumns of row, then, when codec is not nil, the
// bodyColumns, decoded with it; then extra.
func scanEvent(row scanner, codec *bodycodec.Codec, extra ...any) (*hookbox.Event, error) {
	if codec == nil {
		ev, _, err := scanStored(row, false, extra...)
		return ev, err
	}
	ev, enc, err := scanStored(row, true, extra...)
	if err != nil {
		return nil, err
	}
	if err := decodeBody(codec, ev, enc); err != nil {
		return nil, err
	}
	return ev, nil
}

// decodeBody replaces ev.Body, stored as enc, by the body.
func decodeBody(codec *bodycodec.Codec, ev *hookbox.Event, enc bodycodec.Encoding) error {
	body, err := codec.Decode(enc, ev.Body)
	if err != nil {
		return fmt.Errorf("event %q: body: %w", ev.ID, err)
	}
	if body == nil {
		body = []byte{}
	}
	ev.Body = body
	return nil
}

// scanStored scans the listColumns of row, then, withBody, the
// bodyColumns, leaving the stored bytes in Body and returning their
// encoding; then extra.
func scanStored(row scanner, withBody bool, extra ...any) (*hookbox.Event, bodycodec.Encoding, error) {
	var (
		ev                                         hookbox.Event
		livemode, secretIndex, attempts, skipDead  int64
		headers, source, state                     string
		packed                                     []byte
		received, nextAttempt, updatedAt, replayed int64
	)
	dest := []any{
		&ev.ID, &ev.Type, &ev.Object, &ev.Created, &livemode, &ev.Account, &ev.APIVersion,
		&headers, &received, &ev.ClientAddr, &secretIndex, &source,
		&state, &attempts, &nextAttempt, &updatedAt, &replayed, &ev.Endpoint,
		&ev.OrderKey, &skipDead, &ev.RelatedObject.ID, &ev.RelatedObject.Type, &ev.Context, &packed,
	}
	var enc int64
	if withBody {
		dest = append(dest, &enc, &ev.Body)
	}
	dest = append(dest, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, 0, err
	}
	if packed != nil {
		h, err := headercodec.Decode(packed)
		if err != nil {
			return nil, 0, fmt.Errorf("event %q: headers: %w", ev.ID, err)
		}
		ev.Headers = h
	} else if headers != "{}" {
		if err := json.Unmarshal([]byte(headers), &ev.Headers); err != nil {
			return nil, 0, fmt.Errorf("event %q: headers: %w", ev.ID, err)
		}
	}
	ev.Livemode = livemode != 0
	ev.OrderSkipDead = skipDead != 0
	ev.SecretIndex = int(secretIndex)
	ev.Source = hookbox.Source(source)
	ev.State = hookbox.State(state)
	ev.Attempts = int(attempts)
	ev.ReceivedAt = loadTime(received)
	ev.NextAttemptAt = loadTime(nextAttempt)
	ev.UpdatedAt = loadTime(updatedAt)
	ev.ReplayedAt = loadTime(replayed)
	return &ev, bodycodec.Encoding(enc), nil
}

// Time limits of int64 unix nanoseconds.
var (
	minTime = time.Unix(0, -1<<63+1)
	maxTime = time.Unix(0, 1<<63-1)
)

// storedTime returns t as stored: unix nanoseconds truncated to the
// microsecond, 0 for the zero time; false when t does not fit.
func storedTime(t time.Time) (int64, bool) {
	if t.IsZero() {
		return 0, true
	}
	if t.Before(minTime) || t.After(maxTime) {
		return 0, false
	}
	return t.Truncate(time.Microsecond).UnixNano(), true
}

// filterTime returns t in unix nanoseconds, not truncated, so a bound
// between two stored microseconds compares right.
func filterTime(t time.Time) (int64, bool) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, false
	}
	return t.UnixNano(), true
}

func loadTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// isConstraint reports whether err is a constraint violation (CHECK, NOT
// NULL, UNIQUE, ...): an error of one row's data, which SQLite answers by
// undoing that statement alone.
func isConstraint(err error) bool {
	var e *msqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlitelib.SQLITE_CONSTRAINT
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var e *msqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlitelib.SQLITE_BUSY
}

// unavailable wraps a failure that leaves nothing of the operation
// guaranteed: the caller may retry (Stripe does, on a 503).
func unavailable(op string, err error) error {
	return &hookbox.Error{Code: hookbox.EUNAVAILABLE, Message: "store unavailable", Err: fmt.Errorf("%s: %w", op, err)}
}

// boolInt is b as SQLite stores a boolean.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// whereVersion adds the condition of an EventFilter.APIVersion: exact, or
// every version of a release train (a name without a dot).
func whereVersion(where []string, args []any, v string) ([]string, []any) {
	switch {
	case v == "":
		return where, args
	case strings.Contains(v, "."):
		return append(where, "api_version = ?"), append(args, v)
	default: // a train: the part after the dot; substr, no LIKE escaping
		return append(where, "substr(api_version, -?) = ?"), append(args, len(v)+1, "."+v)
	}
}
