// Package storetest is the conformance suite every hookbox.Store passes.
//
// An adapter's tests call Run with a Harness: a constructor of fresh, empty
// stores and, optionally, of databases that several handles open:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			Open: func(tb testing.TB) hookbox.Store {
//				return mustOpenStore(tb) // a new database; Close registered with tb.Cleanup
//			},
//			NewDatabase: newDatabase, // several handles on one new database
//		})
//	}
//
// The cases pin down what the hookbox.Store contract leaves to no adapter's
// judgement: deduplication by ID across and inside batches, per-event
// errors that do not fail a batch, times kept to the microsecond and
// returned in UTC, listing order with ties broken by ID, type prefixes
// matched literally, and keyset paging without gaps or repeats; and for the
// queue: claim order and exclusivity, leases that expire, the aggregate
// state derived from every destination, owner checks, release, replay,
// the attempt log, pruning and counts. The queue cases run on an injected
// clock (the now every Queue method takes) and never sleep.
//
// A store's optional capabilities have their cases too, run when the store
// has the capability and skipped, saying so, when it does not (as river's
// riverdrivertest does): hookbox.EventSearcher (search.go),
// hookbox.ThinStore (thin.go),
// hookbox.Notifier (notify.go, which waits for wakes on the wall clock,
// with a deadline) and migrations (migrate.go). The last two need
// Harness.NewDatabase.
//
// IDs and types compare as bytes (SQLite's BINARY collation); a PostgreSQL
// store needs COLLATE "C" on those columns to list in the same order.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// Harness tells Run how to open the stores under test.
type Harness struct {
	// Open returns a new, empty store on each call and registers its Close
	// with tb.Cleanup; Close must tolerate being called again, as some
	// cases close the store themselves. Required.
	Open func(tb testing.TB) hookbox.Store

	// NewDatabase returns a database that does not exist yet (a new file,
	// a new PostgreSQL schema), dropped when tb ends, for the cases that
	// open it several times as several processes would: wake-ups across
	// handles and migrations. Optional: without it those cases are
	// skipped, saying so.
	NewDatabase func(tb testing.TB) Database
}

// Database is one database that several store handles open.
type Database struct {
	// Open opens a new handle on the database, creating and migrating it
	// when needed, as the store's own Open does: each handle stands for
	// another process. It is called from several goroutines at once; it
	// must not fail the test itself (no tb.Fatal), and the suite closes
	// the handles it opens. Required.
	Open func(ctx context.Context) (hookbox.Store, error)

	// Migrations returns the versions recorded as applied in the
	// database's migration table, one per record, in version order.
	// Optional: without it the suite checks the migrations by their
	// effects only.
	Migrations func(ctx context.Context) ([]int, error)
}

// Run runs every conformance case as a subtest of t: the Store and Queue
// cases, then those of each optional capability (skipped, saying why, when
// the store lacks it or h lacks what they need).
func Run(t *testing.T, h Harness) {
	if h.Open == nil {
		t.Fatal("storetest.Run: Harness.Open is nil")
	}
	open := h.Open
	t.Run("InsertEvents", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) { testInsertOK(t, open(t)) })
		t.Run("Defaults", func(t *testing.T) { testInsertDefaults(t, open(t)) })
		t.Run("DuplicateAcrossBatches", func(t *testing.T) { testInsertDuplicateAcrossBatches(t, open(t)) })
		t.Run("DuplicateInsideBatch", func(t *testing.T) { testInsertDuplicateInsideBatch(t, open(t)) })
		t.Run("BadRowDoesNotFailBatch", func(t *testing.T) { testInsertBadRow(t, open(t)) })
		t.Run("Empty", func(t *testing.T) { testInsertEmpty(t, open(t)) })
		t.Run("Concurrent", func(t *testing.T) { testInsertConcurrent(t, open(t)) })
	})
	t.Run("FindEventByID", func(t *testing.T) {
		t.Run("ErrNotFound", func(t *testing.T) { testFindByIDNotFound(t, open(t)) })
	})
	t.Run("FindEvents", func(t *testing.T) {
		t.Run("Order", func(t *testing.T) { testFindOrder(t, open(t)) })
		t.Run("Limit", func(t *testing.T) { testFindLimit(t, open(t)) })
		t.Run("TypeExact", func(t *testing.T) { testFindTypeExact(t, open(t)) })
		t.Run("TypePrefix", func(t *testing.T) { testFindTypePrefix(t, open(t)) })
		t.Run("State", func(t *testing.T) { testFindState(t, open(t)) })
		t.Run("APIVersion", func(t *testing.T) { testFindAPIVersion(t, open(t)) })
		t.Run("Since", func(t *testing.T) { testFindSince(t, open(t)) })
		t.Run("Paging", func(t *testing.T) { testFindPaging(t, open(t)) })
		t.Run("ErrInvalid", func(t *testing.T) { testFindInvalid(t, open(t)) })
	})
	t.Run("Ping", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) { testPing(t, open(t)) })
	})
	t.Run("Close", func(t *testing.T) {
		t.Run("Idempotent", func(t *testing.T) { testCloseIdempotent(t, open(t)) })
	})
	t.Run("Queue", func(t *testing.T) { runQueue(t, open) })
	t.Run("Bodies", func(t *testing.T) { runBodies(t, open) })
	t.Run("OrderStress", func(t *testing.T) { runOrderStress(t, open) })
	t.Run("EventSearcher", func(t *testing.T) { runSearch(t, h) })
	t.Run("Notifier", func(t *testing.T) { runNotifier(t, h) })
	t.Run("Migrations", func(t *testing.T) { runMigrations(t, h) })
	t.Run("ThinStore", func(t *testing.T) { runThin(t, h) })
}

// skipf skips t loudly: a capability the suite cannot check is a gap in
// what the run proves, and the message says which.
func skipf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Skipf("SKIPPED (not checked for this store): "+format, args...)
}

// base is the reception time the cases count from. It has nanoseconds and
// a non-UTC zone on purpose: stores keep microseconds and answer in UTC.
var base = time.Date(2026, 11, 27, 6, 20, 0, 123456789, time.FixedZone("CET", 3600))

// body is a Stripe-shaped event body that a store must keep byte for byte:
// unicode, escapes, odd spacing, key order and a trailing newline.
func body(id, typ string) []byte {
	return fmt.Appendf(nil, `{"id": "%s","object":"event","type":"%s",
  "data":{"object":{"name":"Zoë Ångström 東京 🚀","note":"tab\there \u00e9 \"q\" \\ /","amount":1000,"z":null,"a":[1,2.50,-0]}},
	"livemode" :false}
`, id, typ)
}

// NewEvent returns a valid event with every field set, received at
// receivedAt. Cases change what they test.
func NewEvent(id, typ string, receivedAt time.Time) *hookbox.Event {
	return &hookbox.Event{
		ID:         id,
		Type:       typ,
		Object:     "event",
		Created:    1764220800,
		Livemode:   true,
		Account:    "acct_1Nv0FGQ9RKHgCVdK",
		APIVersion: "2025-10-29.clover",
		Body:       body(id, typ),
		Headers: map[string]string{
			"Stripe-Signature": "t=1764220800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
			"User-Agent":       "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
			"Content-Type":     "application/json; charset=utf-8",
		},
		ReceivedAt:    receivedAt,
		ClientAddr:    "3.18.12.63:41234",
		SecretIndex:   1,
		Source:        hookbox.SourceWebhook,
		State:         hookbox.StatePending,
		Attempts:      2,
		NextAttemptAt: receivedAt.Add(90*time.Second + 987654321),
		UpdatedAt:     receivedAt.Add(3*time.Second + 5),
	}
}

// Stored returns ev as a store gives it back: times truncated to the
// microsecond in UTC, the zero State as pending, a zero UpdatedAt as
// ReceivedAt, a nil Body as empty, empty Headers as nil.
func Stored(ev *hookbox.Event) *hookbox.Event {
	e := *ev
	e.ReceivedAt = storedTime(ev.ReceivedAt)
	e.NextAttemptAt = storedTime(ev.NextAttemptAt)
	e.UpdatedAt = storedTime(ev.UpdatedAt)
	e.ReplayedAt = storedTime(ev.ReplayedAt)
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = e.ReceivedAt
	}
	if e.State == "" {
		e.State = hookbox.StatePending
	}
	if e.Body == nil {
		e.Body = []byte{}
	}
	if len(e.Headers) == 0 {
		e.Headers = nil
	}
	return &e
}

func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Microsecond).UTC()
}

// AssertEvent fails tb unless got equals want field by field. Times must be
// equal instants in UTC. The body is compared only when withBody is set;
// otherwise got must have none (a listing).
func AssertEvent(tb testing.TB, got, want *hookbox.Event, withBody bool) {
	tb.Helper()
	if got == nil {
		tb.Fatalf("event %q: got nil", want.ID)
	}
	var diffs []string
	diff := func(field string, g, w any) {
		diffs = append(diffs, fmt.Sprintf("%s: got %#v, want %#v", field, g, w))
	}
	if got.ID != want.ID {
		diff("ID", got.ID, want.ID)
	}
	if got.Type != want.Type {
		diff("Type", got.Type, want.Type)
	}
	if got.Object != want.Object {
		diff("Object", got.Object, want.Object)
	}
	if got.Created != want.Created {
		diff("Created", got.Created, want.Created)
	}
	if got.Livemode != want.Livemode {
		diff("Livemode", got.Livemode, want.Livemode)
	}
	if got.Account != want.Account {
		diff("Account", got.Account, want.Account)
	}
	if got.APIVersion != want.APIVersion {
		diff("APIVersion", got.APIVersion, want.APIVersion)
	}
	if got.Endpoint != want.Endpoint {
		diff("Endpoint", got.Endpoint, want.Endpoint)
	}
	if got.RelatedObject != want.RelatedObject {
		diff("RelatedObject", got.RelatedObject, want.RelatedObject)
	}
	if got.Context != want.Context {
		diff("Context", got.Context, want.Context)
	}
	if withBody {
		if !bytes.Equal(got.Body, want.Body) {
			diff("Body", string(got.Body), string(want.Body))
		}
	} else if got.Body != nil {
		diff("Body (listing)", string(got.Body), nil)
	}
	if !maps.Equal(got.Headers, want.Headers) {
		diff("Headers", got.Headers, want.Headers)
	}
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{
		{"ReceivedAt", got.ReceivedAt, want.ReceivedAt},
		{"NextAttemptAt", got.NextAttemptAt, want.NextAttemptAt},
		{"UpdatedAt", got.UpdatedAt, want.UpdatedAt},
		{"ReplayedAt", got.ReplayedAt, want.ReplayedAt},
	} {
		if !f.got.Equal(f.want) {
			diff(f.name, f.got.Format(time.RFC3339Nano), f.want.Format(time.RFC3339Nano))
		} else if !f.got.IsZero() && f.got.Location() != time.UTC {
			diff(f.name+" location", f.got.Location().String(), "UTC")
		}
	}
	if got.ClientAddr != want.ClientAddr {
		diff("ClientAddr", got.ClientAddr, want.ClientAddr)
	}
	if got.SecretIndex != want.SecretIndex {
		diff("SecretIndex", got.SecretIndex, want.SecretIndex)
	}
	if got.Source != want.Source {
		diff("Source", got.Source, want.Source)
	}
	if got.State != want.State {
		diff("State", got.State, want.State)
	}
	if got.Attempts != want.Attempts {
		diff("Attempts", got.Attempts, want.Attempts)
	}
	if len(diffs) > 0 {
		tb.Fatalf("event %q differs:\n\t%s", want.ID, strings.Join(diffs, "\n\t"))
	}
}

// MustInsert inserts evs in one batch and fails tb on a batch error or on
// any per-event error.
func MustInsert(tb testing.TB, s hookbox.Store, evs ...*hookbox.Event) []hookbox.InsertResult {
	tb.Helper()
	res, err := s.InsertEvents(context.Background(), evs)
	if err != nil {
		tb.Fatalf("InsertEvents: %v", err)
	}
	if len(res) != len(evs) {
		tb.Fatalf("InsertEvents: %d results for %d events", len(res), len(evs))
	}
	for i, r := range res {
		if r.Err != nil {
			tb.Fatalf("InsertEvents: event %d: %v", i, r.Err)
		}
	}
	return res
}

// MustFind returns FindEvents(f) and fails tb on error.
func MustFind(tb testing.TB, s hookbox.Store, f hookbox.EventFilter) []*hookbox.Event {
	tb.Helper()
	evs, err := s.FindEvents(context.Background(), f)
	if err != nil {
		tb.Fatalf("FindEvents(%+v): %v", f, err)
	}
	return evs
}

// MustFindByID returns FindEventByID(id) and fails tb on error.
func MustFindByID(tb testing.TB, s hookbox.Store, id string) *hookbox.Event {
	tb.Helper()
	ev, err := s.FindEventByID(context.Background(), id)
	if err != nil {
		tb.Fatalf("FindEventByID(%q): %v", id, err)
	}
	return ev
}

func ids(evs []*hookbox.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func assertIDs(tb testing.TB, got []*hookbox.Event, want ...string) {
	tb.Helper()
	if g := ids(got); !slices.Equal(g, want) {
		tb.Fatalf("ids:\n\tgot  %v\n\twant %v", g, want)
	}
}

func assertCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := hookbox.ErrorCode(err); got != code {
		tb.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

// all lists every stored event, newest first.
func all(tb testing.TB, s hookbox.Store) []*hookbox.Event {
	tb.Helper()
	return MustFind(tb, s, hookbox.EventFilter{Limit: 100000})
}

// Ensures every field survives a round trip, the body byte for byte, times
// to the microsecond in UTC.
func testInsertOK(t *testing.T, s hookbox.Store) {
	connect := NewEvent("evt_1Connect", "account.updated", base)
	connect.ReplayedAt = base.Add(time.Minute + 999)
	connect.Endpoint = "connect"
	plain := NewEvent("evt_2Plain", "invoice.paid", base.Add(time.Nanosecond*1500))
	plain.Livemode = false
	plain.Account = ""
	plain.SecretIndex = 0
	plain.Source = hookbox.SourceReconcile
	plain.State = hookbox.StateDead
	plain.Attempts = 0
	plain.NextAttemptAt = time.Time{}

	res := MustInsert(t, s, connect, plain)
	for i, r := range res {
		if r.Duplicate {
			t.Fatalf("event %d: Duplicate on first insert", i)
		}
	}
	for _, ev := range []*hookbox.Event{connect, plain} {
		AssertEvent(t, MustFindByID(t, s, ev.ID), Stored(ev), true)
	}
	got := all(t, s)
	assertIDs(t, got, plain.ID, connect.ID)
	AssertEvent(t, got[0], Stored(plain), false)
	AssertEvent(t, got[1], Stored(connect), false)
}

// Ensures the documented defaults: a zero State is pending, a zero
// UpdatedAt is ReceivedAt, a nil body is empty, no headers read back nil.
func testInsertDefaults(t *testing.T, s hookbox.Store) {
	ev := &hookbox.Event{ID: "evt_min", ReceivedAt: base}
	MustInsert(t, s, ev)
	got := MustFindByID(t, s, ev.ID)
	AssertEvent(t, got, Stored(ev), true)
	if got.State != hookbox.StatePending || !got.UpdatedAt.Equal(got.ReceivedAt) {
		t.Fatalf("defaults: state %q, updated %v, received %v", got.State, got.UpdatedAt, got.ReceivedAt)
	}
}

// Ensures an ID stored by an earlier batch is a Duplicate and the stored
// row keeps its first content.
func testInsertDuplicateAcrossBatches(t *testing.T, s hookbox.Store) {
	first := NewEvent("evt_dup", "charge.succeeded", base)
	MustInsert(t, s, first)

	again := NewEvent("evt_dup", "charge.refunded", base.Add(time.Hour))
	again.Body = []byte(`{"id":"evt_dup","changed":true}`)
	other := NewEvent("evt_other", "charge.succeeded", base)
	res := MustInsert(t, s, again, other)
	if !res[0].Duplicate || res[1].Duplicate {
		t.Fatalf("results %+v, want [duplicate, new]", res)
	}
	AssertEvent(t, MustFindByID(t, s, first.ID), Stored(first), true)
	if n := len(all(t, s)); n != 2 {
		t.Fatalf("%d events stored, want 2", n)
	}
}

// Ensures an ID repeated inside one batch is stored once, from its first
// occurrence, and the repeats are Duplicate.
func testInsertDuplicateInsideBatch(t *testing.T, s hookbox.Store) {
	a := NewEvent("evt_a", "invoice.paid", base)
	b := NewEvent("evt_b", "invoice.paid", base)
	a2 := NewEvent("evt_a", "invoice.voided", base.Add(time.Second))
	a3 := NewEvent("evt_a", "invoice.voided", base.Add(2*time.Second))
	res := MustInsert(t, s, a, b, a2, a3)
	want := []bool{false, false, true, true}
	for i, r := range res {
		if r.Duplicate != want[i] {
			t.Fatalf("result %d: Duplicate=%v, want %v", i, r.Duplicate, want[i])
		}
	}
	AssertEvent(t, MustFindByID(t, s, "evt_a"), Stored(a), true)
	if n := len(all(t, s)); n != 2 {
		t.Fatalf("%d events stored, want 2", n)
	}
}

// Ensures events that are invalid on their own get an EINVALID Err while
// the rest of the batch, before and after them, is stored.
func testInsertBadRow(t *testing.T, s hookbox.Store) {
	good1 := NewEvent("evt_good1", "charge.succeeded", base)
	emptyID := NewEvent("", "charge.succeeded", base)
	good2 := NewEvent("evt_good2", "charge.succeeded", base)
	badState := NewEvent("evt_badstate", "charge.succeeded", base)
	badState.State = "exploded"
	noReceived := NewEvent("evt_noreceived", "charge.succeeded", time.Time{})
	good3 := NewEvent("evt_good3", "charge.succeeded", base)
	batch := []*hookbox.Event{good1, emptyID, good2, badState, nil, noReceived, good3}

	res, err := s.InsertEvents(context.Background(), batch)
	if err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
	if len(res) != len(batch) {
		t.Fatalf("%d results for %d events", len(res), len(batch))
	}
	for _, i := range []int{0, 2, 6} {
		if res[i].Err != nil || res[i].Duplicate {
			t.Fatalf("result %d: %+v, want stored", i, res[i])
		}
		AssertEvent(t, MustFindByID(t, s, batch[i].ID), Stored(batch[i]), true)
	}
	for _, i := range []int{1, 3, 4, 5} {
		if res[i].Err == nil {
			t.Fatalf("result %d: no error", i)
		}
		assertCode(t, res[i].Err, hookbox.EINVALID)
	}
	for _, id := range []string{"evt_badstate", "evt_noreceived"} {
		_, err := s.FindEventByID(context.Background(), id)
		assertCode(t, err, hookbox.ENOTFOUND)
	}
	if n := len(all(t, s)); n != 3 {
		t.Fatalf("%d events stored, want 3", n)
	}
}

// Ensures an empty or nil batch is a no-op without error.
func testInsertEmpty(t *testing.T, s hookbox.Store) {
	for _, batch := range [][]*hookbox.Event{nil, {}} {
		res, err := s.InsertEvents(context.Background(), batch)
		if err != nil || len(res) != 0 {
			t.Fatalf("InsertEvents(%v) = %v, %v; want no results, no error", batch, res, err)
		}
	}
	if n := len(all(t, s)); n != 0 {
		t.Fatalf("%d events stored, want 0", n)
	}
}

// Ensures concurrent batches with overlapping IDs store every ID exactly
// once and tell exactly one inserter that it was new.
func testInsertConcurrent(t *testing.T, s hookbox.Store) {
	const (
		workers   = 8
		batches   = 15
		batchSize = 6
		distinct  = 200
	)
	var (
		mu    sync.Mutex
		fresh = map[string]int{} // id -> results that were not Duplicate
		wg    sync.WaitGroup
		errs  = make(chan error, workers)
	)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range batches {
				batch := make([]*hookbox.Event, batchSize)
				for k := range batch {
					id := fmt.Sprintf("evt_c%03d", rng.IntN(distinct))
					batch[k] = NewEvent(id, "charge.succeeded", base.Add(time.Duration(rng.IntN(1000))*time.Millisecond))
				}
				res, err := s.InsertEvents(context.Background(), batch)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for k, r := range res {
					if r.Err != nil {
						mu.Unlock()
						errs <- r.Err
						return
					}
					if _, ok := fresh[batch[k].ID]; !ok {
						fresh[batch[k].ID] = 0
					}
					if !r.Duplicate {
						fresh[batch[k].ID]++
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("InsertEvents: %v", err)
	}
	for id, n := range fresh {
		if n != 1 {
			t.Errorf("%s: %d inserts reported new, want 1", id, n)
		}
	}
	if got := len(all(t, s)); got != len(fresh) {
		t.Fatalf("%d events stored, want %d distinct ids", got, len(fresh))
	}
}

// Ensures an open store answers Ping.
func testPing(t *testing.T, s hookbox.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// Ensures Close can be called twice, and a closed store fails instead of
// answering.
func testCloseIdempotent(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, NewEvent("evt_1", "charge.succeeded", base))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Fatalf("Ping after Close: no error")
	}
	if _, err := s.InsertEvents(context.Background(), []*hookbox.Event{NewEvent("evt_2", "charge.succeeded", base)}); err == nil {
		t.Fatalf("InsertEvents after Close: no error")
	}
}
