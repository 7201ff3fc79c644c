package deliver_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// TestWorker_BreakerProbeCadence ensures that an open circuit breaker
// sends one probe per BreakerProbe (not at the next once-a-second read of
// the stored state after it), that failed probes park the delivery again
// without spending its retry budget (an outage of the app sends no event
// dead), and that a successful probe closes the breaker and the event is
// delivered; OnBreaker and OnProbe report it.
func TestWorker_BreakerProbeCadence(t *testing.T) {
	const maxAttempts, probe = 2, 300 * time.Millisecond
	s := mustOpenStore(t)
	var healthy atomic.Bool
	rc := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	})
	ev := newEvent("evt_breaker", "invoice.paid", false)
	mustInsert(t, s, ev)
	var opened, closed, probesOK, probesFailed atomic.Int64
	w := startWorker(t, &deliver.Worker{
		Queue: s,
		Destinations: []deliver.Destination{deliver.Controlled(mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{}),
			deliver.Controls{BreakerFailures: 1, BreakerProbe: probe})},
		Retry: fastRetry(maxAttempts),
		OnBreaker: func(_ string, open bool) {
			if open {
				opened.Add(1)
			} else {
				closed.Add(1)
			}
		},
		OnProbe: func(_ string, ok bool) {
			if ok {
				probesOK.Add(1)
			} else {
				probesFailed.Add(1)
			}
		},
	})
	w.Wake()
	waitFor(t, "the first attempt and 4 probes", func() bool { return rc.count() >= 5 })
	if st := mustEvent(t, s, ev.ID).State; st == hookbox.StateDead {
		t.Fatalf("the event went dead while the breaker was open")
	}
	if d := mustDeliveries(t, s, ev.ID)["app"]; d.Attempts != 1 {
		t.Fatalf("delivery %+v: want 1 attempt of the budget spent (the probes spend none)", d)
	}
	reqs := rc.requests()
	for i := 2; i < len(reqs); i++ {
		if gap := reqs[i].At.Sub(reqs[i-1].At); gap < probe*8/10 || gap > 2*probe {
			t.Fatalf("probes %v apart, want about %v", gap, probe)
		}
	}
	if opened.Load() != 1 || probesFailed.Load() < 3 {
		t.Fatalf("opened %d, failed probes %d", opened.Load(), probesFailed.Load())
	}
	healthy.Store(true)
	waitState(t, s, ev.ID, hookbox.StateDelivered)
	waitFor(t, "the breaker closed", func() bool { return closed.Load() == 1 })
	if probesOK.Load() != 1 || w.Status()["app"].BreakerOpenAt != (time.Time{}) {
		t.Fatalf("probes ok %d, status %+v", probesOK.Load(), w.Status()["app"])
	}
}

// TestWorker_BreakerProbeRotates ensures that an open breaker's probes do
// not keep picking one delivery that fails for its own sake (an event the
// app cannot take): a failed probe spends none of its budget, so it stays
// the parked delivery with the fewest attempts, and were it probed again
// and again, the breaker would never close though the app takes every
// other event, and every other event would wait forever.
func TestWorker_BreakerProbeRotates(t *testing.T) {
	s := mustOpenStore(t)
	var down atomic.Bool
	down.Store(true)
	var rc *receiver
	rc = newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if down.Load() || strings.Contains(string(rc.requests()[n-1].Body), "evt_1_poison") {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	})
	var opened, probesFailed atomic.Int64
	w := startWorker(t, &deliver.Worker{
		Queue: s,
		Destinations: []deliver.Destination{deliver.Controlled(mustHTTP(t, "app", rc.URL, deliver.HTTPOptions{}),
			deliver.Controls{BreakerFailures: 1, BreakerProbe: 50 * time.Millisecond})},
		Retry:       fastRetry(5),
		Concurrency: 1,
		OnBreaker: func(_ string, open bool) {
			if open {
				opened.Add(1)
			}
		},
		OnProbe: func(_ string, ok bool) {
			if !ok {
				probesFailed.Add(1)
			}
		},
	})
	first := newEvent("evt_0_first", "charge.succeeded", false)
	mustInsert(t, s, first)
	w.Wake()
	waitFor(t, "the breaker open", func() bool { return opened.Load() == 1 })
	// Parked with no attempt behind the open breaker: the poison one is
	// the older (by id, same created), so the first probe picks it.
	poison, good := newEvent("evt_1_poison", "charge.succeeded", false), newEvent("evt_2_good", "charge.succeeded", false)
	mustInsert(t, s, poison, good)
	w.Wake()
	waitFor(t, "both parked", func() bool {
		return mustDeliveries(t, s, poison.ID)["app"].HoldReason != "" && mustDeliveries(t, s, good.ID)["app"].HoldReason != ""
	})
	down.Store(false) // the app is back, but fails the poison event
	waitState(t, s, good.ID, hookbox.StateDelivered)
	waitState(t, s, first.ID, hookbox.StateDelivered)
	t.Logf("failed probes: %d", probesFailed.Load())
}
