package receiver

import (
	"context"
	"testing"

	"github.com/hookbox/hookbox"
)

// Ensures a reconciled event in another API version than its endpoint's
// webhooks is marked, one in the same version is not, and reconciled
// events (no endpoint) belong to the first endpoint.
func TestEndpointVersions(t *testing.T) {
	e := newEndpointVersions([]Endpoint{{Name: "stripe"}, {Name: "connect"}})
	insert := e.insert(func(_ context.Context, evs []*hookbox.Event) ([]hookbox.InsertResult, error) {
		return make([]hookbox.InsertResult, len(evs)), nil
	})
	ev := func(id, endpoint, version string, src hookbox.Source) *hookbox.Event {
		return &hookbox.Event{ID: id, Endpoint: endpoint, APIVersion: version, Source: src}
	}
	evs := []*hookbox.Event{
		ev("evt_w1", "stripe", "2026-07-29.dahlia", hookbox.SourceWebhook),
		ev("evt_w2", "connect", "2025-03-31.basil", hookbox.SourceWebhook),
		ev("evt_r1", "", "2024-06-20.acacia", hookbox.SourceReconcile),
		ev("evt_r2", "", "2026-07-29.dahlia", hookbox.SourceReconcile),
		ev("evt_r3", "connect", "2024-06-20.acacia", hookbox.SourceReconcile),
	}
	if _, err := insert(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"evt_r1": "recovered by reconcile in API version 2024-06-20.acacia; endpoint stripe delivers 2026-07-29.dahlia",
		"evt_r3": "recovered by reconcile in API version 2024-06-20.acacia; endpoint connect delivers 2025-03-31.basil",
	}
	for _, ev := range evs {
		if got := ev.Headers[HeaderVersionNote]; got != want[ev.ID] {
			t.Errorf("%s: note %q, want %q", ev.ID, got, want[ev.ID])
		}
	}
}
