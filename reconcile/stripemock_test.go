package reconcile_test

import (
	"context"
	"errors"
	"github.com/hookbox/hookbox/internal/stripemock"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/envelope"
	"github.com/hookbox/hookbox/reconcile"
	"github.com/hookbox/hookbox/thin"
)

// startStripeMock runs stripe-mock and returns its HTTP base URL.
func startStripeMock(t *testing.T) string { return stripemock.Start(t) }

// Ensures wire compatibility with Stripe's API as stripe-mock models it:
// the request with every filter reconcile sends is accepted, the fixture
// event comes back, is stored byte for byte with source reconcile, and a
// second run finds it stored. A key stripe-mock refuses gives ErrAuth
// without the key in the error, although stripe-mock quotes it.
func TestStripeMock(t *testing.T) {
	t.Parallel()
	base := startStripeMock(t)
	store := mustOpenStore(t)
	r, logs := newReconciler(t, base, "sk_test_123", store)

	var got []*hookbox.Event
	opts := reconcile.Options{
		Since: 30 * 24 * time.Hour, Settle: time.Minute, UndeliveredOnly: true,
		Types:     []string{"plan.created", "invoice.paid"},
		EventFunc: func(ev *hookbox.Event, o reconcile.Outcome) { got = append(got, ev) },
	}
	sum, err := r.Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, logs)
	}
	if sum.Pages != 1 || sum.Seen != 1 || sum.Recovered != 1 || len(got) != 1 {
		t.Fatalf("summary: %+v", sum)
	}
	stored, err := store.FindEventByID(context.Background(), got[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	f, err := envelope.Parse(stored.Body)
	if err != nil || f.ID != stored.ID || !strings.HasPrefix(f.ID, "evt_") || stored.Source != hookbox.SourceReconcile {
		t.Fatalf("stored %+v: %v", stored, err)
	}
	if sum, err := r.Run(context.Background(), opts); err != nil || sum.AlreadyStored != 1 || sum.Recovered != 0 {
		t.Fatalf("second run: %+v, %v", sum, err)
	}

	t.Run("ErrAuth", func(t *testing.T) {
		const key = "rk_live_51StripeMockRefusesLiveKeys0000"
		r, logs := newReconciler(t, base, key, store)
		_, err := r.Run(context.Background(), reconcile.Options{})
		if !errors.Is(err, reconcile.ErrAuth) {
			t.Fatalf("Run: %v", err)
		}
		if strings.Contains(err.Error(), key) || strings.Contains(logs.String(), key) {
			t.Fatalf("key leaked: %v\n%s", err, logs)
		}
	})
}

// Records what stripe-mock serves of the v2 events API: nothing. Both
// GET /v2/core/events and GET /v2/core/events/{id} answer 404 "Unrecognized
// request URL" (stripe-mock v0.203.0 and master), so thin fetching and
// reconcile are tested against thin/thintest's stateful fake instead. When
// stripe-mock starts serving them, this test fails: then test against it
// too.
func TestStripeMockV2EventsUnserved(t *testing.T) {
	t.Parallel()
	base := startStripeMock(t)
	c, err := thin.NewClient("sk_test_123", reconcile.ClientConfig{APIBase: base})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _, err = c.ListEvents(ctx, time.Now().Add(-time.Hour), time.Time{}, "")
	var ae *reconcile.APIError
	if !errors.As(err, &ae) || ae.Status != 404 || !strings.Contains(ae.Message, "Unrecognized request URL") {
		t.Fatalf("stripe-mock GET /v2/core/events: %v; want 404 Unrecognized request URL", err)
	}
	_, err = c.Retrieve(ctx, "evt_123", "")
	if !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("stripe-mock GET /v2/core/events/evt_123: %v; want 404", err)
	}
}
