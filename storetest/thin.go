package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// runThin runs the hookbox.ThinStore cases when the store is one.
func runThin(t *testing.T, h Harness) {
	if _, ok := h.Open(t).(hookbox.ThinStore); !ok {
		skipf(t, "the store is not a hookbox.ThinStore")
	}
	open := func(t *testing.T) thinStore { return h.Open(t).(thinStore) }
	t.Run("InsertStoresFetch", func(t *testing.T) { testThinInsert(t, open(t)) })
	t.Run("ClaimExclusive", func(t *testing.T) { testThinClaim(t, open(t)) })
	t.Run("CompleteOnce", func(t *testing.T) { testThinCompleteOnce(t, open(t)) })
	t.Run("Retry", func(t *testing.T) { testThinRetry(t, open(t)) })
	t.Run("CompleteWakesEvent", func(t *testing.T) { testThinWake(t, open(t)) })
	t.Run("ReplayRefetches", func(t *testing.T) { testThinReplay(t, open(t)) })
	t.Run("SearchRelatedObject", func(t *testing.T) { testThinSearch(t, open(t)) })
	t.Run("ErrInvalid", func(t *testing.T) { testThinInvalid(t, open(t)) })
}

type thinStore interface {
	hookbox.Store
	hookbox.ThinStore
}

// thinBody is a thin notification as an event destination sends it.
func thinBody(id, typ, related string) []byte {
	return fmt.Appendf(nil, `{"id":"%s","object":"v2.core.event","type":"%s","livemode":false,"created":"2026-11-27T06:20:00.123Z","context":"acct_123","related_object":{"id":"%s","type":"billing.meter","url":"/v1/billing/meters/%s"}}`,
		id, typ, related, related)
}

// NewThinEvent returns a thin notification as ingest stores it.
func NewThinEvent(id, related string, receivedAt time.Time) *hookbox.Event {
	ev := NewEvent(id, "v1.billing.meter.no_meter_found", receivedAt)
	ev.Object = hookbox.ThinObject
	ev.Account, ev.APIVersion = "", ""
	ev.Body = thinBody(id, ev.Type, related)
	ev.RelatedObject = hookbox.RelatedObject{ID: related, Type: "billing.meter"}
	ev.Context = "acct_123"
	ev.Attempts = 0
	ev.NextAttemptAt = time.Time{}
	return ev
}

func mustFindFetch(tb testing.TB, s thinStore, id string) *hookbox.Fetch {
	tb.Helper()
	f, err := s.FindFetch(context.Background(), id)
	if err != nil {
		tb.Fatalf("FindFetch(%s): %v", id, err)
	}
	return f
}

func mustClaimFetches(tb testing.TB, s thinStore, owner string, now time.Time, limit int) []hookbox.Fetch {
	tb.Helper()
	fs, err := s.ClaimFetches(context.Background(), owner, now, time.Minute, limit)
	if err != nil {
		tb.Fatalf("ClaimFetches: %v", err)
	}
	return fs
}

func fetchIDs(fs []hookbox.Fetch) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.EventID)
	}
	return out
}

// Ensures a thin event is stored with its related object and context, and
// gets a pending fetch in the same insert; a thin event given with its
// full form gets a done fetch holding it; a snapshot event gets none; a
// duplicate changes nothing.
func testThinInsert(t *testing.T, s thinStore) {
	ctx := context.Background()
	thin := NewThinEvent("evt_thin_1", "mtr_1", base)
	known := NewThinEvent("evt_thin_2", "mtr_2", base.Add(time.Second))
	known.FetchedBody = []byte(`{"id":"evt_thin_2","object":"v2.core.event","data":{"x":1}}`)
	snap := NewEvent("evt_snap_1", "invoice.paid", base.Add(2*time.Second))
	MustInsert(t, s, thin, known, snap)

	AssertEvent(t, MustFindByID(t, s, thin.ID), Stored(thin), true)
	listed := MustFind(t, s, hookbox.EventFilter{})
	for _, ev := range listed {
		if ev.ID == thin.ID {
			AssertEvent(t, ev, func() *hookbox.Event { e := *Stored(thin); e.Body = nil; return &e }(), false)
		}
	}

	f := mustFindFetch(t, s, thin.ID)
	if f.State != hookbox.FetchPending || f.Context != "acct_123" || f.Body != nil || f.Attempts != 0 ||
		!f.ReceivedAt.Equal(storedTime(thin.ReceivedAt)) {
		t.Fatalf("fetch of a new thin event = %+v, want pending, context acct_123, no body", f)
	}
	f = mustFindFetch(t, s, known.ID)
	if f.State != hookbox.FetchDone || !bytes.Equal(f.Body, known.FetchedBody) {
		t.Fatalf("fetch of a thin event stored with its full form = %+v, want done with the body", f)
	}
	_, err := s.FindFetch(ctx, snap.ID)
	assertCode(t, err, hookbox.ENOTFOUND)
	_, err = s.FindFetch(ctx, "evt_missing")
	assertCode(t, err, hookbox.ENOTFOUND)

	again := NewThinEvent("evt_thin_2", "mtr_9", base.Add(time.Hour))
	if res := MustInsert(t, s, again); !res[0].Duplicate {
		t.Fatal("a thin event stored twice is not a duplicate")
	}
	if f := mustFindFetch(t, s, known.ID); f.State != hookbox.FetchDone {
		t.Fatalf("a duplicate changed the fetch: %+v", f)
	}
	counts, err := s.CountFetches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[hookbox.FetchState]int{hookbox.FetchPending: 1, hookbox.FetchDone: 1, hookbox.FetchFailed: 0}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("CountFetches = %v, want %v", counts, want)
	}
}

// Ensures a claimed fetch is not claimed again while its lease holds, by
// any owner, is claimed again once it expired (a crashed fetcher), and the
// first owner then can no longer complete it.
func testThinClaim(t *testing.T, s thinStore) {
	ctx := context.Background()
	MustInsert(t, s, NewThinEvent("evt_a", "mtr_1", base), NewThinEvent("evt_b", "mtr_1", base.Add(time.Millisecond)))
	now := base.Add(time.Second)
	got := mustClaimFetches(t, s, "one", now, 10)
	if len(got) != 2 || got[0].Context != "acct_123" {
		t.Fatalf("first claim = %+v, want both fetches with their context", got)
	}
	if got := mustClaimFetches(t, s, "two", now.Add(59*time.Second), 10); len(got) != 0 {
		t.Fatalf("claimed again during the lease: %v", fetchIDs(got))
	}
	got = mustClaimFetches(t, s, "two", now.Add(61*time.Second), 1)
	if len(got) != 1 {
		t.Fatalf("after the lease expired: claimed %v, want one (limit 1)", fetchIDs(got))
	}
	err := s.CompleteFetch(ctx, hookbox.FetchResult{EventID: got[0].EventID, Owner: "one", Now: now.Add(62 * time.Second), Body: []byte(`{}`)})
	assertCode(t, err, hookbox.ECONFLICT)
	if err := s.CompleteFetch(ctx, hookbox.FetchResult{EventID: got[0].EventID, Owner: "two", Now: now.Add(62 * time.Second), Body: []byte(`{"id":"x"}`)}); err != nil {
		t.Fatalf("the new owner completes: %v", err)
	}
}

// Ensures a fetched body is stored once: the fetch is done, never claimed
// again, and a second completion is refused without changing the body.
func testThinCompleteOnce(t *testing.T, s thinStore) {
	ctx := context.Background()
	MustInsert(t, s, NewThinEvent("evt_c", "mtr_1", base))
	now := base.Add(time.Second)
	mustClaimFetches(t, s, "one", now, 10)
	full := []byte(`{"id":"evt_c","object":"v2.core.event","data":{"a":"\u00e9"}}`)
	if err := s.CompleteFetch(ctx, hookbox.FetchResult{EventID: "evt_c", Owner: "one", Now: now, Body: full}); err != nil {
		t.Fatal(err)
	}
	err := s.CompleteFetch(ctx, hookbox.FetchResult{EventID: "evt_c", Owner: "one", Now: now, Body: []byte(`{}`)})
	assertCode(t, err, hookbox.ECONFLICT)
	f := mustFindFetch(t, s, "evt_c")
	if f.State != hookbox.FetchDone || !bytes.Equal(f.Body, full) || !f.FetchedAt.Equal(storedTime(now)) {
		t.Fatalf("fetch = %+v, want done with the first body at %s", f, now)
	}
	if got := mustClaimFetches(t, s, "two", now.Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("a done fetch was claimed: %v", fetchIDs(got))
	}
}

// Ensures a failed fetch counts an attempt, keeps its error, is due again
// at its next attempt time and not before, and ends failed on GiveUp.
func testThinRetry(t *testing.T, s thinStore) {
	ctx := context.Background()
	MustInsert(t, s, NewThinEvent("evt_r", "mtr_1", base))
	now := base.Add(time.Second)
	mustClaimFetches(t, s, "one", now, 10)
	next := now.Add(30 * time.Second)
	if err := s.CompleteFetch(ctx, hookbox.FetchResult{EventID: "evt_r", Owner: "one", Now: now, Error: "stripe api: 429", NextAttemptAt: next}); err != nil {
		t.Fatal(err)
	}
	f := mustFindFetch(t, s, "evt_r")
	if f.State != hookbox.FetchPending || f.Attempts != 1 || f.LastError != "stripe api: 429" || !f.NextAttemptAt.Equal(storedTime(next)) {
		t.Fatalf("after a failure: %+v", f)
	}
	if got := mustClaimFetches(t, s, "one", next.Add(-time.Millisecond), 10); len(got) != 0 {
		t.Fatal("claimed before its next attempt time")
	}
	if got := mustClaimFetches(t, s, "one", next, 10); len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("at its next attempt time: %+v", got)
	}
	if err := s.CompleteFetch(ctx, hookbox.FetchResult{EventID: "evt_r", Owner: "one", Now: next, Error: "stripe api: 404", GiveUp: true}); err != nil {
		t.Fatal(err)
	}
	f = mustFindFetch(t, s, "evt_r")
	if f.State != hookbox.FetchFailed || f.Attempts != 2 || f.LastError != "stripe api: 404" {
		t.Fatalf("after giving up: %+v", f)
	}
	if got := mustClaimFetches(t, s, "one", next.Add(time.Hour), 10); len(got) != 0 {
		t.Fatal("a failed fetch was claimed")
	}
}

// Ensures a stored body makes the pending event due at once: a delivery
// deferred until the full event is there is tried without waiting out its
// deferral.
func testThinWake(t *testing.T, s thinStore) {
	ctx := context.Background()
	ev := NewThinEvent("evt_w", "mtr_1", base)
	later := base.Add(time.Hour)
	ev.NextAttemptAt = later
	MustInsert(t, s, ev)
	now := base.Add(time.Second)
	if cs, err := s.ClaimEvents(ctx, "w", now, time.Minute, 10); err != nil || len(cs) != 0 {
		t.Fatalf("claimed before it was due: %v %v", cs, err)
	}
	mustClaimFetches(t, s, "f", now, 10)
	if err := s.CompleteFetch(ctx, hookbox.FetchResult{EventID: "evt_w", Owner: "f", Now: now, Body: []byte(`{"id":"evt_w"}`)}); err != nil {
		t.Fatal(err)
	}
	cs, err := s.ClaimEvents(ctx, "w", now, time.Minute, 10)
	if err != nil || len(cs) != 1 || cs[0].Event.ID != "evt_w" {
		t.Fatalf("after the fetch the event is not due: %v %v", cs, err)
	}
}

// Ensures a replay gives a given-up fetch a fresh start: pending, due at
// the replay, attempts and error cleared, its retry window starting at the
// replay; a done fetch is left as it is.
func testThinReplay(t *testing.T, s thinStore) {
	ctx := context.Background()
	MustInsert(t, s, NewThinEvent("evt_gone", "mtr_1", base), NewThinEvent("evt_done", "mtr_1", base.Add(time.Millisecond)))
	now := base.Add(time.Second)
	mustClaimFetches(t, s, "f", now, 10)
	if err := s.CompleteFetch(ctx, hookbox.FetchResult{EventID: "evt_gone", Owner: "f", Now: now, Error: "stripe api: 404", GiveUp: true}); err != nil {
		t.Fatal(err)
	}
	full := []byte(`{"id":"evt_done","object":"v2.core.event"}`)
	if err := s.CompleteFetch(ctx, hookbox.FetchResult{EventID: "evt_done", Owner: "f", Now: now, Body: full}); err != nil {
		t.Fatal(err)
	}
	replay := base.Add(96 * time.Hour) // past the fetch's first retry window
	if n, err := s.ReplayEvents(ctx, hookbox.ReplayFilter{IDs: []string{"evt_gone", "evt_done"}}, replay); err != nil || n != 2 {
		t.Fatalf("ReplayEvents = %d, %v; want 2", n, err)
	}
	f := mustFindFetch(t, s, "evt_gone")
	if f.State != hookbox.FetchPending || f.Attempts != 0 || f.LastError != "" || !f.NextAttemptAt.Equal(storedTime(replay)) ||
		!f.ReceivedAt.Equal(storedTime(replay)) {
		t.Fatalf("given-up fetch after a replay = %+v, want pending, no attempts, due and its window from %s", f, replay)
	}
	if got := mustClaimFetches(t, s, "g", replay, 10); len(got) != 1 || got[0].EventID != "evt_gone" {
		t.Fatalf("claim after the replay = %v, want evt_gone only", fetchIDs(got))
	}
	if f := mustFindFetch(t, s, "evt_done"); f.State != hookbox.FetchDone || !bytes.Equal(f.Body, full) {
		t.Fatalf("a replay changed a done fetch: %+v", f)
	}
}

// Ensures the object id filter finds thin events by their related object.
func testThinSearch(t *testing.T, s thinStore) {
	es, ok := any(s).(hookbox.EventSearcher)
	if !ok {
		skipf(t, "the store is not a hookbox.EventSearcher")
	}
	MustInsert(t, s, NewThinEvent("evt_1", "mtr_A", base), NewThinEvent("evt_2", "mtr_B", base.Add(time.Second)),
		NewEvent("evt_3", "invoice.paid", base.Add(2*time.Second)))
	got, err := es.SearchEvents(context.Background(), hookbox.EventQuery{ObjectID: "mtr_B"})
	if err != nil {
		t.Fatal(err)
	}
	assertIDs(t, got, "evt_2")
	n, err := es.CountEventsUpTo(context.Background(), hookbox.EventQuery{ObjectID: "mtr_A"}, 10)
	if err != nil || n != 1 {
		t.Fatalf("CountEventsUpTo(mtr_A) = %d, %v; want 1", n, err)
	}
}

// Ensures bad arguments are refused with EINVALID.
func testThinInvalid(t *testing.T, s thinStore) {
	ctx := context.Background()
	_, err := s.ClaimFetches(ctx, "", base, time.Minute, 1)
	assertCode(t, err, hookbox.EINVALID)
	_, err = s.ClaimFetches(ctx, "o", base, 0, 1)
	assertCode(t, err, hookbox.EINVALID)
	err = s.CompleteFetch(ctx, hookbox.FetchResult{Owner: "o", Now: base})
	assertCode(t, err, hookbox.EINVALID)
	err = s.CompleteFetch(ctx, hookbox.FetchResult{EventID: "evt_none", Owner: "o", Now: base, Body: []byte(`{}`)})
	assertCode(t, err, hookbox.ECONFLICT)
}
