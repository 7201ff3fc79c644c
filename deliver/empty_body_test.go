package deliver_test

import (
	"testing"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// TestWorker_EmptyBodyDead ensures an event without a body (only a store
// edited by hand can queue one) is not sent: its deliveries are marked
// dead with the reason, and the destination gets nothing.
func TestWorker_EmptyBodyDead(t *testing.T) {
	s := mustOpenStore(t)
	rc := newReceiver(t, nil)
	ev := newEvent("evt_no_body", "invoice.paid", false)
	ev.Body = nil
	mustInsert(t, s, ev)
	startWorker(t, &deliver.Worker{Queue: s,
		Destinations: []deliver.Destination{mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{})}}).Wake()
	waitState(t, s, ev.ID, hookbox.StateDead)
	if d := mustDeliveries(t, s, ev.ID)["app"]; d.State != hookbox.StateDead || d.Attempts != 0 || d.LastError == "" {
		t.Errorf("delivery %+v, want dead, no attempt, with the reason", d)
	}
	if n := rc.count(); n != 0 {
		t.Errorf("destination got %d requests, want 0", n)
	}
}
