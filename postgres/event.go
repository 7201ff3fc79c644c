package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/bodycodec"
	"github.com/hookbox/hookbox/internal/headercodec"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// insertSQL stores a whole batch in one statement: one array parameter per
// column, unnested into rows. The statement text does not depend on the
// batch size, so pgx prepares it once per connection. ON CONFLICT DO
// NOTHING covers only the primary key, and RETURNING lists the ids that
// were new: the others were already stored.
//
// Rows are inserted in id order (bytewise), whatever the batch order, so
// two batches that share ids lock them in the same order and cannot
// deadlock waiting for each other's uncommitted rows.
const insertSQL = `INSERT INTO events (
	id, type, object, created, livemode, account, api_version,
	body, headers_packed, received_at, client_addr, secret_index, source,
	state, attempts, next_attempt_at, updated_at, replayed_at, endpoint,
	order_key, order_skip_dead, related_id, related_type, context, body_encoding, object_id
)
SELECT id, type, object, created, livemode, account, api_version,
	body, headers_packed, received_at, client_addr, secret_index, source,
	state, attempts, next_attempt_at, updated_at, replayed_at, endpoint,
	order_key, order_skip_dead, related_id, related_type, context, body_encoding, object_id
FROM unnest(
	$1::text[], $2::text[], $3::text[], $4::int8[], $5::bool[], $6::text[], $7::text[],
	$8::bytea[], $9::bytea[], $10::timestamptz[], $11::text[], $12::int8[], $13::text[],
	$14::text[], $15::int8[], $16::timestamptz[], $17::timestamptz[], $18::timestamptz[],
	$19::text[], $20::text[], $21::bool[], $22::text[], $23::text[], $24::text[],
	$25::int2[], $26::text[]
) AS u (
	id, type, object, created, livemode, account, api_version,
	body, headers_packed, received_at, client_addr, secret_index, source,
	state, attempts, next_attempt_at, updated_at, replayed_at, endpoint,
	order_key, order_skip_dead, related_id, related_type, context, body_encoding, object_id
)
ORDER BY id COLLATE "C"
ON CONFLICT (id) DO NOTHING
RETURNING id`

// notifySQL wakes the listeners of every Store on this schema (see
// Listen). Sent inside the transaction that made events due, it is
// delivered when, and only if, that transaction commits.
const notifySQL = `SELECT pg_notify($1, $2)`

// bodyColumns are the stored body, which scanEvent decodes: its encoding
// (0010) and its bytes.
const bodyColumns = `body_encoding, body`

// eventColumns are the columns of a listing: everything but the body.
// headers_packed holds the headers since 0013 (internal/headercodec; the
// jsonb headers column keeps its default '{}'), headers before (NULL and
// a JSON object).
const eventColumns = `id, type, object, created, livemode, account, api_version,
	headers, received_at, client_addr, secret_index, source,
	state, attempts, next_attempt_at, updated_at, replayed_at, endpoint,
	order_key, order_skip_dead, related_id, related_type, context, headers_packed`

// InsertEvents stores events in one transaction, with one INSERT statement
// for the whole batch, and returns one result per event, in order.
//
// An id already stored, or repeated earlier in the batch, yields Duplicate
// and leaves the stored row unchanged; of concurrent batches sharing an id,
// exactly one is told it was new. An event that fails alone gets its own
// Err, coded EINVALID, and is left out of the statement: a nil event, an
// empty ID, a zero ReceivedAt, a negative Attempts, an unknown State, a
// time outside 1678-2262 (the SQLite store's range), or text PostgreSQL
// cannot hold (U+0000 or invalid UTF-8 in a text field or a header). A zero
// State is stored as StatePending, a zero UpdatedAt as ReceivedAt, and
// times are truncated to the microsecond.
//
// When at least one event is new, the transaction also notifies Channel,
// so Listen wakes workers on every replica once it commits.
//
// On a nil error the batch has committed on return. Any other failure (the
// store is closed, the database is unreachable or goes away, ctx done, a
// failed COMMIT) returns an error coded EUNAVAILABLE and no results:
// nothing of the batch may be assumed stored, and a retry is safe because
// of the dedupe on ID.
func (s *Store) InsertEvents(ctx context.Context, events []*hookbox.Event) ([]hookbox.InsertResult, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	results := make([]hookbox.InsertResult, len(events))
	if len(events) == 0 {
		return results, nil
	}

	// Validate first: a bad row must not reach the statement, where it
	// would fail the whole batch.
	valid := make([]insertRow, 0, len(events))
	for i, ev := range events {
		r, err := newInsertRow(i, ev)
		if err != nil {
			results[i].Err = err
			continue
		}
		valid = append(valid, r)
	}
	if len(valid) == 0 {
		return results, nil
	}
	s.encodeBodies(valid)

	err := s.inTx(ctx, "insert events", func(tx pgx.Tx) error {
		return s.insertBatch(ctx, tx, valid, results)
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && isDataError(pe) {
		// A row the validation let through and PostgreSQL refused (a
		// constraint this code does not know). Find it, one row at a time.
		for _, r := range valid {
			results[r.idx] = hookbox.InsertResult{}
		}
		err = s.inTx(ctx, "insert events", func(tx pgx.Tx) error {
			return s.insertEach(ctx, tx, valid, results)
		})
	}
	if err != nil {
		return nil, unavailable("insert events", err)
	}
	return results, nil
}

// insertBatch inserts the first occurrence of each id of rows with one
// statement and sets the results.
func (s *Store) insertBatch(ctx context.Context, tx pgx.Tx, rows []insertRow, results []hookbox.InsertResult) error {
	unique := make([]insertRow, 0, len(rows))
	seen := make(map[string]struct{}, len(rows))
	for _, r := range rows {
		if _, ok := seen[r.ev.ID]; ok {
			results[r.idx].Duplicate = true
			continue
		}
		seen[r.ev.ID] = struct{}{}
		unique = append(unique, r)
	}
	slices.SortFunc(unique, func(a, b insertRow) int { return strings.Compare(a.ev.ID, b.ev.ID) })

	got, err := tx.Query(ctx, insertSQL, insertArgs(unique)...)
	if err != nil {
		return err
	}
	inserted := make(map[string]struct{}, len(unique))
	var id string
	if _, err := pgx.ForEachRow(got, []any{&id}, func() error {
		inserted[id] = struct{}{}
		return nil
	}); err != nil {
		return err
	}
	var thin []insertRow
	for _, r := range unique {
		_, ok := inserted[r.ev.ID]
		results[r.idx].Duplicate = !ok
		if ok && r.ev.Object == hookbox.ThinObject {
			thin = append(thin, r)
		}
	}
	if err := insertFetches(ctx, tx, thin); err != nil {
		return err
	}
	if len(inserted) > 0 {
		if _, err := tx.Exec(ctx, notifySQL, Channel, s.schema); err != nil {
			return err
		}
	}
	return nil
}

// insertEach inserts rows one by one, each under a savepoint, so a row that
// PostgreSQL refuses gets its own EINVALID and the others are stored. Rows
// go in id order, as in insertBatch (no deadlock with a concurrent batch),
// repeats of an id in batch order (the first valid one is new).
func (s *Store) insertEach(ctx context.Context, tx pgx.Tx, rows []insertRow, results []hookbox.InsertResult) error {
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b insertRow) int { return strings.Compare(a.ev.ID, b.ev.ID) })
	var n int
	for _, r := range rows {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		var id string
		err = sp.QueryRow(ctx, insertSQL, insertArgs([]insertRow{r})...).Scan(&id)
		var pe *pgconn.PgError
		switch {
		case err == nil:
			n++
			if r.ev.Object == hookbox.ThinObject {
				if err := insertFetches(ctx, sp, []insertRow{r}); err != nil {
					return err
				}
			}
		case errors.Is(err, pgx.ErrNoRows):
			results[r.idx].Duplicate = true
		case errors.As(err, &pe) && isDataError(pe):
			results[r.idx].Err = &hookbox.Error{
				Code:    hookbox.EINVALID,
				Message: fmt.Sprintf("event %q violates a schema constraint", r.ev.ID),
				Err:     err,
			}
			if err := sp.Rollback(ctx); err != nil {
				return err
			}
			continue
		default:
			return err
		}
		if err := sp.Commit(ctx); err != nil {
			return err
		}
	}
	if n > 0 {
		if _, err := tx.Exec(ctx, notifySQL, Channel, s.schema); err != nil {
			return err
		}
	}
	return nil
}

// isDataError reports whether pe is about the data of a row (class 22
// data exception, class 23 integrity constraint violation), not about the
// database or the connection.
func isDataError(pe *pgconn.PgError) bool {
	return strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23")
}

// insertRow is a validated event with its column values.
type insertRow struct {
	idx                               int // position in the batch
	ev                                *hookbox.Event
	state                             string
	body                              []byte // as stored: encoded
	enc                               bodycodec.Encoding
	objectID                          string
	headers                           []byte // headercodec; nil: none
	received, next, updated, replayed pgtype.Timestamptz
}

func newInsertRow(idx int, ev *hookbox.Event) (insertRow, error) {
	if ev == nil {
		return insertRow{}, hookbox.Errorf(hookbox.EINVALID, "nil event")
	}
	if ev.ID == "" {
		return insertRow{}, hookbox.Errorf(hookbox.EINVALID, "event id is empty")
	}
	for _, f := range []struct{ name, value string }{
		{"id", ev.ID}, {"type", ev.Type}, {"object", ev.Object}, {"account", ev.Account},
		{"api_version", ev.APIVersion}, {"client_addr", ev.ClientAddr}, {"source", string(ev.Source)},
		{"endpoint", ev.Endpoint}, {"order_key", ev.OrderKey},
		{"related_id", ev.RelatedObject.ID}, {"related_type", ev.RelatedObject.Type}, {"context", ev.Context},
	} {
		if !validText(f.value) {
			return insertRow{}, hookbox.Errorf(hookbox.EINVALID, "event %q: %s holds U+0000 or invalid UTF-8", strings.ToValidUTF8(ev.ID, "\uFFFD"), f.name)
		}
	}
	if ev.ReceivedAt.IsZero() {
		return insertRow{}, hookbox.Errorf(hookbox.EINVALID, "event %q: received_at is zero", ev.ID)
	}
	if ev.Attempts < 0 {
		return insertRow{}, hookbox.Errorf(hookbox.EINVALID, "event %q: negative attempts", ev.ID)
	}
	state := ev.State
	if state == "" {
		state = hookbox.StatePending
	}
	if !state.Valid() {
		return insertRow{}, hookbox.Errorf(hookbox.EINVALID, "event %q: unknown state %q", ev.ID, ev.State)
	}
	for _, t := range []time.Time{ev.ReceivedAt, ev.NextAttemptAt, ev.UpdatedAt, ev.ReplayedAt} {
		if !inRange(t) {
			return insertRow{}, hookbox.Errorf(hookbox.EINVALID, "event %q: time out of range", ev.ID)
		}
	}
	// Headers are bytes since 0013 (headers_packed), which could hold
	// U+0000; refused still, as when they were jsonb, so that every
	// store keeps the same headers.
	for k, v := range ev.Headers {
		if strings.IndexByte(k, 0) >= 0 || strings.IndexByte(v, 0) >= 0 {
			return insertRow{}, hookbox.Errorf(hookbox.EINVALID, "event %q: header %q holds U+0000", ev.ID, k)
		}
	}
	headers := headercodec.Encode(ev.Headers)
	updated := ev.UpdatedAt
	if updated.IsZero() {
		updated = ev.ReceivedAt
	}
	return insertRow{
		idx:      idx,
		ev:       ev,
		state:    string(state),
		headers:  headers,
		received: pgTime(ev.ReceivedAt),
		next:     pgTime(ev.NextAttemptAt),
		updated:  pgTime(updated),
		replayed: pgTime(ev.ReplayedAt),
	}, nil
}

// encodeBodies sets the stored body and object id of each row: the ones
// PrepareInsert computed ahead where there are, else computed here.
// InsertEvents runs on the group committer's one goroutine, which every
// event waits on.
func (s *Store) encodeBodies(rows []insertRow) {
	events := make([]*hookbox.Event, len(rows))
	for i, r := range rows {
		events[i] = r.ev
	}
	for i, st := range s.codec.StoreAll(events) {
		rows[i].enc, rows[i].body, rows[i].objectID = st.Enc, st.Data, st.ObjectID
	}
}

// PrepareInsert computes ev's stored body (compressed, with its object
// id) into ev.Prepared, for InsertEvents to use (hookbox.Preparer). The
// group committer calls it in each request's goroutine, in parallel,
// instead of on its one goroutine.
func (s *Store) PrepareInsert(ev *hookbox.Event) {
	if ev != nil {
		ev.Prepared = s.codec.StoreEvent(ev)
	}
}

// insertArgs returns the array parameters of insertSQL for rows.
func insertArgs(rows []insertRow) []any {
	n := len(rows)
	var (
		ids, types, objects, accounts, versions = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		headers                                 = make([][]byte, n)
		addrs, sources, states                  = make([]string, n), make([]string, n), make([]string, n)
		created, secrets, attempts              = make([]int64, n), make([]int64, n), make([]int64, n)
		livemodes                               = make([]bool, n)
		bodies                                  = make([][]byte, n)
		endpoints, orderKeys                    = make([]string, n), make([]string, n)
		skipDead                                = make([]bool, n)
		relIDs, relTypes, contexts              = make([]string, n), make([]string, n), make([]string, n)
		encodings                               = make([]int16, n)
		objectIDs                               = make([]string, n)
		received, next, updated, replayed       = make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	)
	for i, r := range rows {
		ev := r.ev
		ids[i], types[i], objects[i], created[i], livemodes[i] = ev.ID, ev.Type, ev.Object, ev.Created, ev.Livemode
		accounts[i], versions[i], bodies[i], headers[i] = ev.Account, ev.APIVersion, r.body, r.headers
		received[i], addrs[i], secrets[i], sources[i] = r.received, ev.ClientAddr, int64(ev.SecretIndex), string(ev.Source)
		states[i], attempts[i], next[i], updated[i], replayed[i] = r.state, int64(ev.Attempts), r.next, r.updated, r.replayed
		endpoints[i], orderKeys[i], skipDead[i] = ev.Endpoint, ev.OrderKey, ev.OrderSkipDead
		relIDs[i], relTypes[i], contexts[i] = ev.RelatedObject.ID, ev.RelatedObject.Type, ev.Context
		encodings[i], objectIDs[i] = int16(r.enc), r.objectID
	}
	return []any{
		ids, types, objects, created, livemodes, accounts, versions,
		bodies, headers, received, addrs, secrets, sources,
		states, attempts, next, updated, replayed, endpoints,
		orderKeys, skipDead, relIDs, relTypes, contexts,
		encodings, objectIDs,
	}
}

// FindEventByID returns the stored event, body included. It fails with
// ENOTFOUND when no event has that id (an id PostgreSQL text cannot hold
// is never stored), EUNAVAILABLE when the store is closed or the database
// cannot answer, and an uncoded error when a query fails otherwise.
func (s *Store) FindEventByID(ctx context.Context, id string) (*hookbox.Event, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if !validText(id) {
		return nil, hookbox.Errorf(hookbox.ENOTFOUND, "event %q not found", id)
	}
	var ev *hookbox.Event
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		var err error
		ev, err = scanEvent(conn.QueryRow(ctx, `SELECT `+eventColumns+`, `+bodyColumns+` FROM events WHERE id = $1`, id), s.codec)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hookbox.Errorf(hookbox.ENOTFOUND, "event %q not found", id)
	}
	if err != nil {
		return nil, dbError("find event", err)
	}
	return ev, nil
}

// FindEvents returns up to filter.Limit (DefaultListLimit when <= 0)
// events matching filter, newest received first, ties on ReceivedAt broken
// by descending ID (bytewise), without their bodies (Body is nil).
//
// A Type ending in "*" selects a prefix ("invoice.*" matches
// "invoice.paid", not "invoiceitem.created"); it is an index range, and
// LIKE wildcards in it are matched literally. Since and the cursor compare
// to the nanosecond against stored microseconds.
//
// It fails with EINVALID for an unknown State, a BeforeID without
// BeforeReceivedAt, a BeforeID PostgreSQL text cannot hold, or a time
// outside 1678-2262; EUNAVAILABLE when the store is closed or the database
// cannot answer; an uncoded error when a query fails otherwise.
func (s *Store) FindEvents(ctx context.Context, f hookbox.EventFilter) ([]*hookbox.Event, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	var w where
	if f.State != "" {
		if !f.State.Valid() {
			return nil, hookbox.Errorf(hookbox.EINVALID, "unknown state %q", f.State)
		}
		w.add("state = $?", string(f.State))
	}
	if f.Blocked {
		w.add(blockedSQL)
	}
	if f.Held {
		w.add(heldFilterSQL, f.HeldDestination, f.HeldDestination)
	}
	if !f.Since.IsZero() {
		if !inRange(f.Since) {
			return nil, hookbox.Errorf(hookbox.EINVALID, "since out of range")
		}
		w.add("received_at >= $?", ceilMicro(f.Since))
	}
	switch {
	case !f.BeforeReceivedAt.IsZero():
		if !inRange(f.BeforeReceivedAt) {
			return nil, hookbox.Errorf(hookbox.EINVALID, "cursor out of range")
		}
		if !validText(f.BeforeID) {
			return nil, hookbox.Errorf(hookbox.EINVALID, "cursor id holds U+0000 or invalid UTF-8")
		}
		if t := f.BeforeReceivedAt.Truncate(time.Microsecond); t.Equal(f.BeforeReceivedAt) {
			// A row comparison is an index condition on events_received
			// (received_at, id). An empty BeforeID means "received
			// strictly before": no id is < ''.
			w.add("(received_at, id) < ($?, $?)", t, f.BeforeID)
		} else {
			// Between two stored microseconds: every event at or before
			// the lower one is before the cursor, whatever its id.
			w.add("received_at <= $?", t)
		}
	case f.BeforeID != "":
		return nil, hookbox.Errorf(hookbox.EINVALID, "cursor id without cursor time")
	}
	w.addVersion(f.APIVersion)
	if f.Type != "" && !w.addType(f.Type) {
		return []*hookbox.Event{}, nil // no stored type can match
	}
	limit := f.Limit
	if limit <= 0 {
		limit = hookbox.DefaultListLimit
	}
	q := `SELECT ` + eventColumns + ` FROM events` + w.sql() + ` ORDER BY received_at DESC, id DESC LIMIT ` + w.arg(limit)

	events := make([]*hookbox.Event, 0, min(limit, 256))
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, q, w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			ev, err := scanEvent(rows, nil)
			if err != nil {
				return err
			}
			events = append(events, ev)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, dbError("find events", err)
	}
	return events, nil
}

// where builds a WHERE clause with numbered parameters.
type where struct {
	conds []string
	args  []any
}

// arg adds a parameter and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

// add adds a condition whose "$?" placeholders take args in order.
func (w *where) add(cond string, args ...any) {
	for _, a := range args {
		cond = strings.Replace(cond, "$?", w.arg(a), 1)
	}
	w.conds = append(w.conds, cond)
}

// addType adds the condition of an EventFilter or ReplayFilter Type: exact,
// or a prefix when it ends in "*". False when no stored type can match
// (it is not text PostgreSQL can hold).
func (w *where) addType(typ string) bool {
	if !validText(typ) {
		return false
	}
	prefix, ok := strings.CutSuffix(typ, "*")
	if !ok {
		w.add("type = $?", typ)
		return true
	}
	// A range on the C-collated type index instead of LIKE, which needs
	// escaping; bytewise order is code point order in UTF-8.
	if prefix != "" {
		w.add("type >= $?", prefix)
		if end, ok := prefixEnd(prefix); ok {
			w.add("type < $?", end)
		}
	}
	return true
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// prefixEnd returns the smallest valid UTF-8 string greater (bytewise) than
// every string that starts with prefix: prefix with its last code point
// incremented (dropping trailing U+10FFFF); false when there is none.
func prefixEnd(prefix string) (string, bool) {
	for prefix != "" {
		r, size := utf8.DecodeLastRuneInString(prefix)
		prefix = prefix[:len(prefix)-size]
		if r == utf8.MaxRune {
			continue
		}
		r++
		if r >= 0xD800 && r <= 0xDFFF { // surrogates are not valid code points
			r = 0xE000
		}
		return prefix + string(r), true
	}
	return "", false
}

type scanner interface{ Scan(dest ...any) error }

// scanEvent scans the eventColumns of row, then, when codec is not nil, the
// bodyColumns, decoded with it; then extra.
func scanEvent(row scanner, codec *bodycodec.Codec, extra ...any) (*hookbox.Event, error) {
	var (
		ev                                hookbox.Event
		headers, packed                   []byte
		source, state                     string
		secretIndex, attempts             int64
		received, next, updated, replayed pgtype.Timestamptz
	)
	dest := []any{
		&ev.ID, &ev.Type, &ev.Object, &ev.Created, &ev.Livemode, &ev.Account, &ev.APIVersion,
		&headers, &received, &ev.ClientAddr, &secretIndex, &source,
		&state, &attempts, &next, &updated, &replayed, &ev.Endpoint,
		&ev.OrderKey, &ev.OrderSkipDead, &ev.RelatedObject.ID, &ev.RelatedObject.Type, &ev.Context, &packed,
	}
	var enc int16
	withBody := codec != nil
	if withBody {
		dest = append(dest, &enc, &ev.Body)
	}
	dest = append(dest, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if withBody {
		body, err := codec.Decode(bodycodec.Encoding(enc), ev.Body)
		if err != nil {
			return nil, fmt.Errorf("event %q: body: %w", ev.ID, err)
		}
		if body == nil {
			body = []byte{}
		}
		ev.Body = body
	}
	if packed != nil {
		h, err := headercodec.Decode(packed)
		if err != nil {
			return nil, fmt.Errorf("event %q: headers: %w", ev.ID, err)
		}
		ev.Headers = h
	} else if len(headers) > 0 && string(headers) != "{}" {
		if err := json.Unmarshal(headers, &ev.Headers); err != nil {
			return nil, fmt.Errorf("event %q: headers: %w", ev.ID, err)
		}
		if len(ev.Headers) == 0 {
			ev.Headers = nil
		}
	}
	ev.SecretIndex = int(secretIndex)
	ev.Source = hookbox.Source(source)
	ev.State = hookbox.State(state)
	ev.Attempts = int(attempts)
	ev.ReceivedAt = goTime(received)
	ev.NextAttemptAt = goTime(next)
	ev.UpdatedAt = goTime(updated)
	ev.ReplayedAt = goTime(replayed)
	return &ev, nil
}

// validText reports whether s can be stored in a PostgreSQL text column:
// valid UTF-8 without U+0000.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// The times the SQLite store can hold (int64 unix nanoseconds); both stores
// accept exactly the same.
var (
	minTime = time.Unix(0, -1<<63+1)
	maxTime = time.Unix(0, 1<<63-1)
)

// inRange reports whether t is zero or within minTime..maxTime.
func inRange(t time.Time) bool {
	return t.IsZero() || !(t.Before(minTime) || t.After(maxTime))
}

// pgTime returns t as stored: truncated to the microsecond, the zero time
// as -infinity.
func pgTime(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	return pgtype.Timestamptz{Time: t.Truncate(time.Microsecond), Valid: true}
}

// goTime returns a stored time in UTC, -infinity (or NULL) as the zero
// time.
func goTime(ts pgtype.Timestamptz) time.Time {
	if !ts.Valid || ts.InfinityModifier != pgtype.Finite {
		return time.Time{}
	}
	return ts.Time.UTC()
}

// ceilMicro returns the first microsecond at or after t: a stored time x
// is >= t exactly when x >= ceilMicro(t).
func ceilMicro(t time.Time) time.Time {
	c := t.Truncate(time.Microsecond)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c
}

// addVersion adds the condition of an EventFilter.APIVersion: exact, or
// every version of a release train (a name without a dot).
func (w *where) addVersion(v string) {
	switch {
	case v == "":
	case !validText(v):
		w.add("false") // no stored version holds it
	case strings.Contains(v, "."):
		w.add("api_version = $?", v)
	default:
		w.add("right(api_version, $?) = $?", len(v)+1, "."+v)
	}
}
