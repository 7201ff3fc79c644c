package thin_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v85"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/envelope"
	"github.com/hookbox/hookbox/reconcile"
	"github.com/hookbox/hookbox/sqlite"
	"github.com/hookbox/hookbox/thin"
	"github.com/hookbox/hookbox/thin/thintest"
)

const key = "sk_test_thinfake_0123456789"

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func mustOpenStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "hookbox.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func mustClient(tb testing.TB, api *thintest.API) *thin.Client {
	tb.Helper()
	c, err := thin.NewClient(api.Key, reconcile.ClientConfig{APIBase: api.URL()})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// storeNotification stores ev's notification as ingest would.
func storeNotification(tb testing.TB, s hookbox.Store, ev thintest.Event, at time.Time) {
	tb.Helper()
	e, err := envelope.ParseEvent(ev.Notification())
	if err != nil {
		tb.Fatal(err)
	}
	e.Endpoint, e.ReceivedAt, e.Source = "thin", at, hookbox.SourceWebhook
	res, err := s.InsertEvents(context.Background(), []*hookbox.Event{e})
	if err != nil || res[0].Err != nil {
		tb.Fatalf("insert: %v %v", err, res)
	}
}

func meterEvent(id, ctx string) thintest.Event {
	return thintest.Event{ID: id, Type: "v1.billing.meter.error_report_triggered", Created: t0.Add(-time.Minute),
		Context: ctx, RelatedID: "mtr_" + id, RelatedType: "billing.meter"}
}

// clock is a settable clock for the fetcher.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// Ensures each stored notification's full event is fetched with the
// notification's context as Stripe-Context and Stripe-Request-Trigger
// event=<id>, stored byte for byte once, and that a 429 is retried no
// sooner than its Retry-After, pausing the fetcher meanwhile; outcomes are
// reported for metrics.
func TestThinFetch(t *testing.T) {
	api := thintest.New(t, key)
	a, b := meterEvent("evt_a", "acct_1"), meterEvent("evt_b", "")
	api.Add(a, b)
	store := mustOpenStore(t)
	storeNotification(t, store, a, t0)
	storeNotification(t, store, b, t0)
	api.RateLimit("evt_b", 1, "7")

	clk := &clock{t: t0}
	var mu sync.Mutex
	outcomes := map[thin.Outcome]int{}
	var stored []string
	f := &thin.Fetcher{Store: store, Client: mustClient(t, api), Owner: "f1", NowFunc: clk.now,
		Concurrency: 1,
		OnFetch:     func(o thin.Outcome) { mu.Lock(); outcomes[o]++; mu.Unlock() },
		OnStored:    func(id string) { mu.Lock(); stored = append(stored, id); mu.Unlock() },
		Logger:      discard()}
	ctx := context.Background()
	if n, err := f.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	fa, err := store.FindFetch(ctx, "evt_a")
	if err != nil || fa.State != hookbox.FetchDone || !bytes.Equal(fa.Body, a.Full()) {
		t.Fatalf("evt_a: %+v %v", fa, err)
	}
	fb, _ := store.FindFetch(ctx, "evt_b")
	if fb.State != hookbox.FetchPending || fb.NextAttemptAt.Before(t0.Add(7*time.Second)) || !strings.Contains(fb.LastError, "429") {
		t.Fatalf("evt_b after a 429 with Retry-After 7: %+v", fb)
	}
	for _, r := range api.Requests() {
		if r.Path == "/v2/core/events/evt_a" && (r.StripeContext != "acct_1" || r.Trigger != "event=evt_a") {
			t.Fatalf("fetch of evt_a sent Stripe-Context %q, Stripe-Request-Trigger %q", r.StripeContext, r.Trigger)
		}
	}
	clk.add(3 * time.Second)
	if n, _ := f.RunOnce(ctx); n != 0 {
		t.Fatalf("claimed %d during Retry-After", n)
	}
	clk.add(10 * time.Second)
	if n, err := f.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("after Retry-After: RunOnce = %d, %v", n, err)
	}
	if fb, _ := store.FindFetch(ctx, "evt_b"); fb.State != hookbox.FetchDone {
		t.Fatalf("evt_b: %+v", fb)
	}
	clk.add(time.Hour)
	f.RunOnce(ctx)
	if api.Retrieves("evt_a") != 1 || api.Retrieves("evt_b") != 2 {
		t.Fatalf("retrieves: evt_a %d (want 1), evt_b %d (want 2: a 429, then the event)", api.Retrieves("evt_a"), api.Retrieves("evt_b"))
	}
	mu.Lock()
	defer mu.Unlock()
	if outcomes[thin.OutcomeFetched] != 2 || outcomes[thin.OutcomeRateLimited] != 1 || len(stored) != 2 {
		t.Fatalf("outcomes %v, stored %v", outcomes, stored)
	}
}

// Ensures a fetch Stripe keeps refusing (404: an unknown event, or one
// asked in the wrong context) is given up after a few attempts and not
// claimed again, and that the key never shows in the recorded error.
func TestThinFetchGivesUp(t *testing.T) {
	api := thintest.New(t, key)
	store := mustOpenStore(t)
	storeNotification(t, store, meterEvent("evt_gone", ""), t0)
	clk := &clock{t: t0}
	f := &thin.Fetcher{Store: store, Client: mustClient(t, api), Owner: "f1", NowFunc: clk.now, Logger: discard()}
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		f.RunOnce(ctx)
		clk.add(time.Hour)
	}
	fe, _ := store.FindFetch(ctx, "evt_gone")
	if fe.State != hookbox.FetchFailed || fe.Attempts != 3 || !strings.Contains(fe.LastError, "404") {
		t.Fatalf("fetch of an unknown event: %+v", fe)
	}
	if api.Retrieves("evt_gone") != 3 {
		t.Fatalf("%d retrieves, want 3", api.Retrieves("evt_gone"))
	}

	// A wrong key: 401, whose message quotes the key; retried, never stored.
	bad, _ := thin.NewClient("sk_test_wrong_key_zzz", reconcile.ClientConfig{APIBase: api.URL()})
	_, err := bad.Retrieve(ctx, "evt_x", "")
	var ae *reconcile.APIError
	if !errors.As(err, &ae) || ae.Status != 401 || strings.Contains(err.Error(), "sk_test_wrong_key_zzz") {
		t.Fatalf("wrong key: %v", err)
	}
}

// Ensures two fetchers sharing one store (replicas) fetch each event once.
func TestThinFetchOnceAcrossFetchers(t *testing.T) {
	api := thintest.New(t, key)
	store := mustOpenStore(t)
	var ids []string
	for i := range 40 {
		ev := meterEvent(fmt.Sprintf("evt_%02d", i), "")
		api.Add(ev)
		storeNotification(t, store, ev, t0)
		ids = append(ids, ev.ID)
	}
	var wg sync.WaitGroup
	for _, owner := range []string{"one", "two"} {
		f := &thin.Fetcher{Store: store, Client: mustClient(t, api), Owner: owner, Batch: 5, NowFunc: func() time.Time { return t0 }, Logger: discard()}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := f.RunOnce(context.Background())
				if err != nil {
					t.Error(err)
				}
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if n := api.Retrieves(id); n != 1 {
			t.Fatalf("%s fetched %d times", id, n)
		}
	}
}

// Ensures reconcile over /v2/core/events pages through every page of the
// window (retrying a 429), stores the missing events under the thin
// endpoint with their full form as fetched, and finds them stored on a
// second run.
func TestThinReconcile(t *testing.T) {
	api := thintest.New(t, key)
	api.PageSize = 7
	store := mustOpenStore(t)
	for i := range 20 {
		api.Add(thintest.Event{ID: fmt.Sprintf("evt_r%02d", i), Type: "v2.core.account.updated", Created: t0.Add(-time.Duration(i) * time.Minute),
			RelatedID: "acct_r", RelatedType: "v2.core.account"})
	}
	api.Add(thintest.Event{ID: "evt_old", Type: "v2.core.account.updated", Created: t0.Add(-100 * time.Hour)})
	storeNotification(t, store, meterEvent("evt_r03", ""), t0) // already received
	api.RateLimit("list", 1, "0")
	r := &reconcile.Reconciler{V2: mustClient(t, api), Store: store, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, Logger: discard()}
	opts := reconcile.Options{Since: 72 * time.Hour, Endpoint: "thin", NowFunc: func() time.Time { return t0 }}
	sum, err := r.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Pages != 3 || sum.Seen != 20 || sum.Recovered != 19 || sum.AlreadyStored != 1 {
		t.Fatalf("summary %+v", sum)
	}
	ev, err := store.FindEventByID(context.Background(), "evt_r05")
	if err != nil || ev.Endpoint != "thin" || ev.Source != hookbox.SourceReconcile || ev.RelatedObject.ID != "acct_r" {
		t.Fatalf("recovered event: %+v %v", ev, err)
	}
	f, err := store.FindFetch(context.Background(), "evt_r05")
	if err != nil || f.State != hookbox.FetchDone || !bytes.Equal(f.Body, ev.Body) {
		t.Fatalf("recovered event's fetch: %+v %v", f, err)
	}
	if q := api.Requests()[0].Query; !strings.Contains(q, "created%5Bgte%5D=2026-11-28T10%3A00%3A00Z") {
		t.Fatalf("first list query %q: want created[gte] in RFC 3339", q)
	}
	sum, err = r.Run(context.Background(), opts)
	if err != nil || sum.AlreadyStored != 20 || sum.Recovered != 0 {
		t.Fatalf("second run: %+v %v", sum, err)
	}
}

// Ensures a destination with deliver: event waits, without an attempt or
// a spent retry, while the full event is not fetched, gets the fetched
// event once it is, and is dead when the fetch was given up; a
// notification destination of the same endpoint is not held.
func TestThinDeliverEvent(t *testing.T) {
	api := thintest.New(t, key)
	ev := meterEvent("evt_d", "")
	api.Add(ev)
	store := mustOpenStore(t)
	storeNotification(t, store, ev, t0)

	var mu sync.Mutex
	got := map[string][][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.URL.Path] = append(got[r.URL.Path], b)
		mu.Unlock()
	}))
	defer srv.Close()
	notif, _ := deliver.NewHTTP("notification", srv.URL+"/n", "whsec_dest_0123456789abcdef0123456789abcdef", deliver.HTTPOptions{})
	full, _ := deliver.NewHTTP("event", srv.URL+"/e", "whsec_dest_0123456789abcdef0123456789abcdef", deliver.HTTPOptions{})
	w := &deliver.Worker{Queue: store, Destinations: []deliver.Destination{notif, thin.DeliverEvent(full, store)},
		NowFunc: func() time.Time { return t0 }, Logger: discard()}
	ctx := context.Background()
	if ok, err := w.DeliverNow(ctx, "evt_d"); err != nil || ok {
		t.Fatalf("before the fetch: DeliverNow = %v, %v; want not all delivered", ok, err)
	}
	ds, _ := store.FindDeliveries(ctx, "evt_d")
	for _, d := range ds {
		switch d.Destination {
		case "notification":
			if d.State != hookbox.StateDelivered {
				t.Fatalf("notification destination held: %+v", d)
			}
		case "event":
			if d.State != hookbox.StatePending || d.Attempts != 0 || !strings.Contains(d.LastError, "waiting") {
				t.Fatalf("event destination before the fetch: %+v", d)
			}
		}
	}
	if atts, _ := store.FindAttempts(ctx, "evt_d"); len(atts) != 1 {
		t.Fatalf("%d attempts, want 1 (the notification)", len(atts))
	}
	f := &thin.Fetcher{Store: store, Client: mustClient(t, api), Owner: "f", NowFunc: func() time.Time { return t0 }, Logger: discard()}
	f.RunOnce(ctx)
	if ok, err := w.DeliverNow(ctx, "evt_d"); err != nil || !ok {
		t.Fatalf("after the fetch: DeliverNow = %v, %v", ok, err)
	}
	mu.Lock()
	if len(got["/n"]) != 1 || !bytes.Equal(got["/n"][0], ev.Notification()) || len(got["/e"]) != 1 || !bytes.Equal(got["/e"][0], ev.Full()) {
		t.Fatalf("received: notification %q, event %q", got["/n"], got["/e"])
	}
	mu.Unlock()

	// A fetch given up: the event destination is dead, with the reason.
	gone := meterEvent("evt_gone", "")
	storeNotification(t, store, gone, t0)
	for i := 0; i < 3; i++ {
		f.NowFunc = func() time.Time { return t0.Add(time.Duration(i+1) * time.Hour) }
		f.RunOnce(ctx)
	}
	w.DeliverNow(ctx, "evt_gone")
	ds, _ = store.FindDeliveries(ctx, "evt_gone")
	for _, d := range ds {
		if d.Destination == "event" && (d.State != hookbox.StateDead || !strings.Contains(d.LastError, "could not be fetched")) {
			t.Fatalf("event destination after a given-up fetch: %+v", d)
		}
	}
}

// Ensures Go handlers read thin events with stripe-go's types: Stripe()
// names the mistake instead of failing to decode, Notification gives the
// typed notification, FullEvent the typed fetched event.
func TestThinAccessors(t *testing.T) {
	ev := meterEvent("evt_acc", "acct_9")
	n, err := envelope.ParseEvent(ev.Notification())
	if err != nil {
		t.Fatal(err)
	}
	de := deliver.NewEvent(n, 1)
	if _, err := de.Stripe(); !errors.Is(err, deliver.ErrThinEvent) {
		t.Fatalf("Stripe() on a thin event: %v", err)
	}
	note, err := de.Notification()
	if err != nil {
		t.Fatal(err)
	}
	typed, ok := note.(*stripe.V1BillingMeterErrorReportTriggeredEventNotification)
	if !ok || typed.RelatedObject.ID != "mtr_evt_acc" || *typed.Context.StringPtr() != "acct_9" || !typed.Created.Equal(ev.Created) {
		t.Fatalf("Notification() = %#v", note)
	}
	if _, err := de.FullEvent(); err == nil {
		t.Fatal("FullEvent() on a notification: no error")
	}
	fullEv := *n
	fullEv.Body = ev.Full()
	got, err := deliver.NewEvent(&fullEv, 1).FullEvent()
	if err != nil {
		t.Fatal(err)
	}
	if fe, ok := got.(*stripe.V1BillingMeterErrorReportTriggeredEvent); !ok || fe.ID != "evt_acc" {
		t.Fatalf("FullEvent() = %#v", got)
	}
}
