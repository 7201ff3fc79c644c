package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/internal/pgtest"
	"github.com/hookbox/hookbox/postgres"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/storetest"
	"github.com/jackc/pgx/v5"
)

type searchStore interface {
	hookbox.Store
	hookbox.EventSearcher
}

// Long object ids: longObj1 and longObj2 share their first 200 characters
// (the indexed key), longPrefix is those 200 characters.
var (
	longPrefix = strings.Repeat("x", 199) + "é"
	longObj1   = longPrefix + "1"
	longObj2   = longPrefix + "2"
)

// searchBodies are the bodies of the search dataset. The object id
// matches are the SQLite store's: data.object.id when it is a JSON string
// whose bytes appear in the body as is.
var searchBodies = []string{
	`{"id":"%s","data":{"object":{"id":"ch_1","object":"charge"}}}`,
	`{"id":"%s","data":{"object":{"id":"ch_2","object":"charge","customer":"ch_1"}}}`,
	`{ "id" : "%s" , "data" : { "object" : { "id" : "in_1" } } }`,
	`{"id":"%s","data":{"object":{"id":"a/b"}}}`,
	`{"id":"%s","data":{"object":{"id":"a\/b"}}}`,       // escaped: no match for "a/b"
	`{"id":"%s","data":{"object":{"id":"é_1"}}}`,        // raw UTF-8
	`{"id":"%s","data":{"object":{"id":"\u00e9_1"}}}`,   // escaped: no match for "é_1"
	`{"id":"%s","data":{"object":{"id":123}}}`,          // a number: no match for "123"
	`{"id":"%s","data":{"object":{"id":["ch_1"]}}}`,     // an array
	`{"id":"%s","data":{"object":["ch_1"]},"x":"ch_1"}`, // data.object not an object
	`{"id":"ch_1","evt":"%s"}`,                          // a top-level id only
	`{"id":"%s","data":{"object":{"id":"ch_1"}}`,        // truncated: not JSON
	`{"id":"%s","data":{"object":{"id":"` + longObj1 + `"}}}`,
	`{"id":"%s","data":{"object":{"id":"` + longObj2 + `"}}}`,
	`{"id":"%s","data":{"object":{"id":"` + longPrefix + `"}}}`,
	`{"id":"%s","data":{"object":{"id":"ch_1"}},"n":[1.5e3,true,null,{}]}`,
	"", // emptied by retention
}

// searchObjectIDs are the object ids the dataset is searched for.
var searchObjectIDs = []string{"", "ch_1", "ch_2", "in_1", "a/b", "é_1", "123", "nope", longObj1, longObj2, longPrefix}

// seedSearch stores the same events, states and deliveries in s: n events
// over a few distinct receive times (many ties), each with a body of
// searchBodies and some tried at destinations "app" and "billing".
func seedSearch(tb testing.TB, s hookbox.Store, n int) {
	tb.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"charge.succeeded", "charge.failed", "invoice.paid", "invoiceitem.created", "customer.created", "ch"}
	states := []hookbox.State{hookbox.StatePending, hookbox.StatePending, hookbox.StateDelivered, hookbox.StateDead, hookbox.StateDelivering}
	var evs []*hookbox.Event
	for i := range n {
		// Ids in a different order than times; 37 distinct times with
		// nanoseconds, so ties on received_at are common.
		id := fmt.Sprintf("evt_%03d", (i*7919)%n)
		ev := storetest.NewEvent(id, types[rng.IntN(len(types))], timeBase.Add(time.Duration(rng.IntN(37))*time.Second+time.Duration(rng.IntN(3))*1500))
		ev.State = states[rng.IntN(len(states))]
		ev.NextAttemptAt = time.Time{}
		body := searchBodies[rng.IntN(len(searchBodies))]
		if body != "" {
			body = fmt.Sprintf(body, id)
		}
		ev.Body = []byte(body)
		evs = append(evs, ev)
	}
	storetest.MustInsert(tb, s, evs...)
	dstates := []hookbox.State{hookbox.StateDelivered, hookbox.StatePending, hookbox.StateDead}
	for _, ev := range evs {
		if ev.State != hookbox.StatePending || rng.IntN(3) == 0 {
			continue
		}
		now := timeBase.Add(time.Hour)
		if _, err := s.ClaimEvent(ctx, ev.ID, "w", now, time.Minute); err != nil {
			tb.Fatalf("ClaimEvent %s: %v", ev.ID, err)
		}
		c := hookbox.Completion{EventID: ev.ID, Owner: "w", Now: now}
		for _, dest := range []string{"app", "billing"} {
			if rng.IntN(2) == 0 {
				continue
			}
			st := dstates[rng.IntN(len(dstates))]
			c.Attempts = append(c.Attempts, hookbox.Attempt{Destination: dest, Number: 1, StartedAt: now, StatusCode: 500})
			c.Deliveries = append(c.Deliveries, hookbox.Delivery{Destination: dest, State: st, Attempts: 1,
				NextAttemptAt: now.Add(time.Minute)})
		}
		if err := s.CompleteClaim(ctx, c); err != nil {
			tb.Fatalf("CompleteClaim %s: %v", ev.ID, err)
		}
	}
}

func openSQLite(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "hookbox.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func eventIDs(evs []*hookbox.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// searchAll pages through q, limit events a page, and returns the ids.
func searchAll(tb testing.TB, s hookbox.EventSearcher, q hookbox.EventQuery, limit int) []string {
	tb.Helper()
	q.Limit = limit
	var all []string
	for range 1000 {
		evs, err := s.SearchEvents(context.Background(), q)
		if err != nil {
			tb.Fatalf("SearchEvents(%+v): %v", q, err)
		}
		for _, ev := range evs {
			if ev.Body != nil {
				tb.Fatalf("SearchEvents returned a body for %s", ev.ID)
			}
		}
		all = append(all, eventIDs(evs)...)
		if len(evs) < limit {
			return all
		}
		last := evs[len(evs)-1]
		q.BeforeReceivedAt, q.BeforeID = last.ReceivedAt, last.ID
	}
	tb.Fatalf("SearchEvents(%+v): more than 1000 pages", q)
	return nil
}

// Ensures SearchEvents and CountEventsUpTo select exactly what the SQLite
// store selects, in the same order, page by page, for every kind of filter
// and combinations of them: type (exact, prefix), state, since and until
// (with nanoseconds), the keyset cursor, the object id (escapes, numbers,
// other places of the id, invalid and emptied bodies, ids longer than the
// indexed key) and the destination.
//
// The specification is storetest's EventSearcher cases, which both stores
// pass with the ids written out; this differential test stays as a
// randomized cross-check of 600 combinations on a larger dataset (both
// stores' plans change with the data), where a hand-written expectation
// would be a second implementation.
func TestSearchEvents_MatchesSQLite(t *testing.T) {
	pg := mustOpenStore(t)
	lite := openSQLite(t)
	const n = 400
	seedSearch(t, pg, n)
	seedSearch(t, lite, n)
	ctx := context.Background()

	// Everything, newest first, must agree before any filter does.
	all := searchAll(t, lite, hookbox.EventQuery{}, n+1)
	if len(all) != n {
		t.Fatalf("SQLite holds %d events, want %d", len(all), n)
	}
	if got := searchAll(t, pg, hookbox.EventQuery{}, n+1); !slices.Equal(got, all) {
		t.Fatalf("listing differs:\n pg     %v\n sqlite %v", got, all)
	}

	types := []string{"", "charge.succeeded", "charge.*", "invoice.*", "ch*", "*", "nope"}
	states := []hookbox.State{"", hookbox.StatePending, hookbox.StateDelivering, hookbox.StateDelivered, hookbox.StateDead}
	times := []time.Time{{}, timeBase.Add(5 * time.Second), timeBase.Add(20*time.Second + 1500), timeBase.Add(20*time.Second + 1000), timeBase.Add(30*time.Second + 1)}
	dests := []string{"", "app", "billing", "nope"}
	rng := rand.New(rand.NewPCG(3, 4))
	matched := map[string]int{}
	for i := range 600 {
		// Each filter in one query of two, so that many match something.
		pick := func(n int) int {
			if rng.IntN(2) == 0 {
				return 0 // no filter
			}
			return rng.IntN(n)
		}
		q := hookbox.EventQuery{
			EventFilter: hookbox.EventFilter{Type: types[pick(len(types))], State: states[pick(len(states))]},
			ObjectID:    searchObjectIDs[pick(len(searchObjectIDs))],
			Destination: dests[pick(len(dests))],
		}
		if i < len(searchObjectIDs)*2 { // every object id alone, and with a destination
			q = hookbox.EventQuery{ObjectID: searchObjectIDs[i/2]}
			if i%2 == 1 {
				q.Destination = "app"
			}
		}
		q.Since, q.Until = times[pick(len(times))], times[pick(len(times))]
		if rng.IntN(4) == 0 { // start from a cursor
			j := rng.IntN(len(all))
			ev := storetest.MustFindByID(t, lite, all[j])
			q.BeforeReceivedAt, q.BeforeID = ev.ReceivedAt, ev.ID
			switch rng.IntN(3) {
			case 0:
				q.BeforeID = ""
			case 1:
				q.BeforeReceivedAt = q.BeforeReceivedAt.Add(700) // between two microseconds
			}
		}
		limit := 1 + rng.IntN(40)
		want := searchAll(t, lite, q, limit)
		got := searchAll(t, pg, q, limit)
		if !slices.Equal(got, want) {
			t.Errorf("SearchEvents(%+v), pages of %d:\n pg     %v\n sqlite %v", q, limit, got, want)
			continue
		}
		if q.ObjectID != "" && len(want) > 0 {
			matched[q.ObjectID]++
		}
		for _, limit := range []int{0, 1, len(want), len(want) + 1, 3} {
			wantN, err := lite.CountEventsUpTo(ctx, q, limit)
			if err != nil {
				t.Fatal(err)
			}
			gotN, err := pg.CountEventsUpTo(ctx, q, limit)
			if err != nil {
				t.Fatalf("CountEventsUpTo(%+v, %d): %v", q, limit, err)
			}
			if gotN != wantN || gotN != min(limit, len(want)) {
				t.Errorf("CountEventsUpTo(%+v, %d) = %d, SQLite %d, events %d", q, limit, gotN, wantN, len(want))
			}
		}
	}
	// The object ids that some event has must have been found.
	for _, id := range []string{"ch_1", "ch_2", "in_1", "a/b", "é_1", longObj1, longObj2, longPrefix} {
		if matched[id] == 0 {
			t.Errorf("no query found object id %.12q...", id)
		}
	}

	wantOldest, err := lite.OldestPending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gotOldest, err := pg.OldestPending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !gotOldest.Equal(wantOldest) || gotOldest.IsZero() {
		t.Errorf("OldestPending = %v, SQLite %v", gotOldest, wantOldest)
	}
}

// Ensures the object id search on bodies that are not plain JSON gives
// the same answers on both stores: since 0010 both read the id that Go
// extracted at insert (bodycodec.ObjectID), so they agree on a BOM,
// trailing text and deep nesting (no match), on text that PostgreSQL's
// jsonb or SQLite's JSON functions treated apart before (invalid UTF-8,
// \u0000 or a lone surrogate elsewhere in the body: a match) and on
// duplicate keys (the last counts). Stripe sends none of these.
func TestSearchEvents_ObjectIDBodies(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		body  string
		match bool // matches "ch_1"
	}{
		{`{"data":{"object":{"id":"ch_1"}}}`, true},
		{"\ufeff" + `{"data":{"object":{"id":"ch_1"}}}`, false}, // a BOM is not JSON
		{`{"data":{"object":{"id":"ch_1"}}} trailing`, false},
		{strings.Repeat("[", 100000) + `{"data":{"object":{"id":"ch_1"}}}` + strings.Repeat("]", 100000), false},
		{`{"data":{"object":{"id":"ch_1",}}}`, false},
		{` {"data":{"object":{"id":"ch_1"}}}` + "\n\r\t", true},
		{`{"data":{"object":{"id":"ch_1"}},"x":1e999}`, true},
		{`{"data":{"object":{"id":"ch_1"}},"x":"\u0000"}`, true},
		{`{"data":{"object":{"id":"ch_1"}},"x":"\ud800"}`, true},
		{`{"data":{"object":{"id":"ch_1"}},"x":"` + "\xff" + `"}`, true},
		{`{"data":{"object":{"id":"ch_1"}},"data":{"object":{"id":"ch_2"}}}`, false},
		{`{"data":{"object":{"id":"ch_2"}},"data":{"object":{"id":"ch_1"}}}`, true},
	}
	for _, st := range []struct {
		name string
		s    searchStore
	}{{"postgres", mustOpenStore(t)}, {"sqlite", openSQLite(t)}} {
		for i, c := range cases {
			ev := storetest.NewEvent(fmt.Sprintf("evt_%02d", i), "charge.succeeded", timeBase)
			ev.Body = []byte(c.body)
			storetest.MustInsert(t, st.s, ev)
			evs, err := st.s.SearchEvents(ctx, hookbox.EventQuery{ObjectID: "ch_1"})
			if err != nil {
				t.Fatalf("%s: body %d: %v", st.name, i, err)
			}
			if got := slices.Contains(eventIDs(evs), ev.ID); got != c.match {
				t.Errorf("%s: body %d %.50q: matched %v, want %v", st.name, i, c.body, got, c.match)
			}
		}
	}
}

// Ensures what PostgreSQL adds to storetest's EventSearcher cases: a cursor
// id PostgreSQL text cannot hold is EINVALID, and text it cannot hold in
// any other filter matches nothing.
func TestSearchEvents_ErrText(t *testing.T) {
	s := mustOpenStore(t)
	ctx := context.Background()
	storetest.MustInsert(t, s, storetest.NewEvent("evt_1", "charge.succeeded", timeBase))
	q := hookbox.EventQuery{EventFilter: hookbox.EventFilter{BeforeReceivedAt: timeBase, BeforeID: "evt\x00"}}
	if _, err := s.SearchEvents(ctx, q); hookbox.ErrorCode(err) != hookbox.EINVALID {
		t.Errorf("cursor text: SearchEvents: %v, want EINVALID", err)
	}
	if _, err := s.CountEventsUpTo(ctx, q, 10); hookbox.ErrorCode(err) != hookbox.EINVALID {
		t.Errorf("cursor text: CountEventsUpTo: %v, want EINVALID", err)
	}
	for name, q := range map[string]hookbox.EventQuery{
		"type":        {EventFilter: hookbox.EventFilter{Type: "charge\xff"}},
		"object":      {ObjectID: "ch\x00"},
		"destination": {Destination: "app\xff"},
	} {
		evs, err := s.SearchEvents(ctx, q)
		if err != nil || evs == nil || len(evs) != 0 {
			t.Errorf("%s: SearchEvents = %v, %v; want none", name, evs, err)
		}
		if n, err := s.CountEventsUpTo(ctx, q, 10); err != nil || n != 0 {
			t.Errorf("%s: CountEventsUpTo = %d, %v; want 0", name, n, err)
		}
	}
}

// Ensures the searches read the indexes that bound them on a large table:
// a state events_state in listing order, OldestPending two index probes (not a
// scan of the delivered events).
func TestSearchEvents_Plan(t *testing.T) {
	schema := pgtest.Schema(t)
	mustOpenOn(t, pgtest.DSN(t), postgres.Options{Schema: schema})
	conn := adminConn(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `SET search_path = `+schema); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO events (id, type, object, created, livemode, account, api_version,
		body, received_at, client_addr, secret_index, source, state, updated_at)
		SELECT 'evt_' || i, 'x', 'event', 0, false, '', '',
			convert_to('{"data":{"object":{"id":"ch_' || (i / 3) || '"}}}', 'UTF8'),
			now() - i * interval '1 second', '', 0, 'webhook',
			CASE WHEN i % 100 = 0 THEN 'pending' WHEN i % 50 = 0 THEN 'dead' ELSE 'delivered' END, now()
		FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE events`); err != nil {
		t.Fatal(err)
	}
	explain := func(sql string, args ...any) string {
		t.Helper()
		rows, err := conn.Query(ctx, "EXPLAIN "+sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	cols := `id, received_at FROM events`
	if plan := explain(`SELECT `+cols+` WHERE state = $1 AND (received_at, id) < ($2, $3)
		ORDER BY received_at DESC, id DESC LIMIT 51`, "dead", time.Now(), "evt_9"); !strings.Contains(plan, "events_state") || strings.Contains(plan, "Sort") {
		t.Errorf("state plan:\n%s", plan)
	}
	if plan := explain(`SELECT least(
			(SELECT min(received_at) FROM events WHERE state = 'pending'),
			(SELECT min(received_at) FROM events WHERE state = 'delivering'))`); strings.Count(plan, "events_state") != 2 || strings.Contains(plan, "Seq Scan") {
		t.Errorf("oldest pending plan:\n%s", plan)
	}
	// The scrape-time count: every state it counts is an index range
	// (events_state, or events_queue for the live states), and the only
	// pass over the whole table is the total.
	if plan := explain(postgres.CountEventsSQL); strings.Count(plan, "Seq Scan") > 1 ||
		strings.Count(plan, "Index Scan")+strings.Count(plan, "Index Only Scan") < 4 {
		t.Errorf("count plan:\n%s", plan)
	} else {
		t.Logf("count plan:\n%s", plan)
	}
}

// BenchmarkSearchPostgres times the console's searches on a table of
// HOOKBOX_BENCH_SEARCH_ROWS events (default 200000) of ~2.7 KB, one every
// 5 s, mostly delivered (0.5% dead, 0.3% pending), three events per object
// id, each tried at "app" and one in ten at "billing":
//
//	go test -run '^$' -bench SearchPostgres ./postgres/
func BenchmarkSearchPostgres(b *testing.B) {
	rows := 200000
	if v := os.Getenv("HOOKBOX_BENCH_SEARCH_ROWS"); v != "" {
		var err error
		if rows, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	schema := pgtest.Schema(b)
	s := mustOpenOn(b, pgtest.DSN(b), postgres.Options{Schema: schema})
	conn := adminConn(b)
	ctx := context.Background()
	newest := timeBase
	start := time.Now()
	for _, sql := range []string{
		`SET search_path = ` + schema,
		`INSERT INTO events (id, type, object, created, livemode, account, api_version,
			body, received_at, client_addr, secret_index, source, state, updated_at)
		SELECT 'evt_' || i, (ARRAY['charge.succeeded', 'charge.failed', 'invoice.paid', 'invoice.payment_failed',
				'customer.created', 'customer.updated', 'payment_intent.succeeded', 'payment_intent.created',
				'checkout.session.completed', 'invoiceitem.created'])[i % 10 + 1],
			'event', 0, false, '', '',
			convert_to(replace(replace($1, 'EVTID', 'evt_' || i), 'pi_3QxYzA2eZvKYlo2C1a2b3c4d', 'pi_' || (i / 3)), 'UTF8'),
			$2::timestamptz - i * interval '5 seconds', '', 0, 'webhook',
			CASE WHEN i % 200 = 0 THEN 'dead' WHEN i % 300 = 1 THEN 'pending' ELSE 'delivered' END, $2
		FROM generate_series(1, $3::int) i`,
		`INSERT INTO deliveries (event_id, destination, state, attempts, updated_at)
		SELECT id, 'app', 'delivered', 1, received_at FROM events`,
		`INSERT INTO deliveries (event_id, destination, state, attempts, updated_at)
		SELECT 'evt_' || i, 'billing', 'delivered', 1, $1 FROM generate_series(10, $2::int, 10) i`,
		`VACUUM ANALYZE events`,
		`VACUUM ANALYZE deliveries`,
	} {
		var args []any
		switch {
		case strings.HasPrefix(sql, "INSERT INTO events"):
			args = []any{string(storetest.BenchBody("EVTID")), newest, rows}
		case strings.Contains(sql, "'billing'"):
			args = []any{newest, rows}
		}
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d events in %v", rows, time.Since(start).Round(time.Millisecond))

	mid := newest.Add(-time.Duration(rows/2) * 5 * time.Second)
	day := newest.Add(-24 * time.Hour)
	old := fmt.Sprintf("pi_%d", rows/3-7) // the oldest events
	recent := fmt.Sprintf("pi_%d", 1000)  // received within the last day
	page := func(q hookbox.EventQuery) hookbox.EventQuery { q.Limit = 51; return q }
	for _, c := range []struct {
		name string
		q    hookbox.EventQuery
	}{
		{"Page", page(hookbox.EventQuery{})},
		{"PageMiddle", page(hookbox.EventQuery{EventFilter: hookbox.EventFilter{BeforeReceivedAt: mid, BeforeID: "evt_5"}})},
		{"Dead", page(hookbox.EventQuery{EventFilter: hookbox.EventFilter{State: hookbox.StateDead}})},
		{"TypePrefix", page(hookbox.EventQuery{EventFilter: hookbox.EventFilter{Type: "invoice.*"}})},
		{"Until", page(hookbox.EventQuery{Until: mid})},
		{"ObjectIDOldest", page(hookbox.EventQuery{ObjectID: old})},
		{"ObjectIDRecentSince24h", page(hookbox.EventQuery{ObjectID: recent, EventFilter: hookbox.EventFilter{Since: day}})},
		{"Destination", page(hookbox.EventQuery{Destination: "billing"})},
		{"DeadDestinationType", page(hookbox.EventQuery{Destination: "billing", EventFilter: hookbox.EventFilter{State: hookbox.StateDead, Type: "charge.*"}})},
	} {
		b.Run("Search/"+c.name, func(b *testing.B) {
			for b.Loop() {
				evs, err := s.SearchEvents(ctx, c.q)
				if err != nil || len(evs) == 0 {
					b.Fatalf("%d events, %v", len(evs), err)
				}
			}
		})
	}
	for _, c := range []struct {
		name string
		q    hookbox.EventQuery
	}{
		{"All", hookbox.EventQuery{}},
		{"Pending", hookbox.EventQuery{EventFilter: hookbox.EventFilter{State: hookbox.StatePending}}},
		{"DeadSince24h", hookbox.EventQuery{EventFilter: hookbox.EventFilter{State: hookbox.StateDead, Since: day}}},
		{"Since24h", hookbox.EventQuery{EventFilter: hookbox.EventFilter{Since: day}}},
		{"TypePrefix", hookbox.EventQuery{EventFilter: hookbox.EventFilter{Type: "invoice.*"}}},
		{"ObjectID", hookbox.EventQuery{ObjectID: old}},
		{"Destination", hookbox.EventQuery{Destination: "billing"}},
	} {
		b.Run("Count10000/"+c.name, func(b *testing.B) {
			for b.Loop() {
				if n, err := s.CountEventsUpTo(ctx, c.q, 10000); err != nil || n == 0 {
					b.Fatalf("%d, %v", n, err)
				}
			}
		})
	}
	b.Run("OldestPending", func(b *testing.B) {
		for b.Loop() {
			if t, err := s.OldestPending(ctx); err != nil || t.IsZero() {
				b.Fatalf("%v, %v", t, err)
			}
		}
	})
}
