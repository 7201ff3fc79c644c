package deliver_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/sqlite"
)

// slowClaims is the real SQLite store whose ClaimEvents answers late: the
// claim waits (for the writer connection, a busy lock, a slow network)
// after the worker read its clock, so the lease, counted from that time,
// is partly spent when the claim returns.
type slowClaims struct {
	*sqlite.Store
	delay time.Duration
}

func (s slowClaims) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookbox.Claim, error) {
	time.Sleep(s.delay)
	return s.Store.ClaimEvents(ctx, owner, now, lease, limit)
}

// TestWorker_DeliveryEndsBeforeLease ensures a delivery is cut before the
// claim's lease ends, counted from the lease the store granted, not from
// when the worker got the claim back: otherwise a second worker takes the
// expired lease and delivers the same event while the first delivery is
// still running (a double delivery).
func TestWorker_DeliveryEndsBeforeLease(t *testing.T) {
	s := mustOpenStore(t)
	// Deliveries are cut lease/4 before the lease ends. The claim comes
	// back 1.2 s into a 3 s lease: counted from the lease, the delivery has
	// 1.05 s (ample for the request to reach the destination on a loaded
	// machine); counted from the claim's return, as before the fix, it
	// would run to 3.45 s, past the lease, where the other worker takes
	// the event.
	const lease, delay = 3 * time.Second, 1200 * time.Millisecond
	var inflight, overlap atomic.Int32
	hang := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if inflight.Add(1) > 1 {
			overlap.Add(1)
		}
		defer inflight.Add(-1)
		select {
		case <-r.Context().Done():
		case <-time.After(2 * lease):
		}
	})
	ev := newEvent("evt_lease_bound", "charge.succeeded", false)
	mustInsert(t, s, ev)

	dest := func() []deliver.Destination {
		return []deliver.Destination{mustHTTP(t, "app", hang.URL, deliver.HTTPOptions{Timeout: 3 * lease})}
	}
	slow := startWorker(t, &deliver.Worker{
		Queue: slowClaims{s, delay}, Owner: "slow", Destinations: dest(),
		Lease: lease, Retry: hookbox.RetryPolicy{Base: time.Hour, Cap: time.Hour, MaxAttempts: 5},
	})
	slow.Wake()
	waitFor(t, "the first request", func() bool { return hang.count() == 1 })
	other := startWorker(t, &deliver.Worker{
		Queue: s, Owner: "other", Destinations: dest(), Lease: lease,
		PollInterval: 10 * time.Millisecond,
	})
	other.Wake()
	// The slow worker's delivery is cut, recorded as a failed attempt and
	// scheduled an hour later, all before its lease ends: the other worker
	// never gets the event. (Without the fix, the other worker's request
	// has started by the time an attempt is recorded.)
	waitFor(t, "the attempt recorded", func() bool { return len(mustAttempts(t, s, ev.ID)) == 1 })
	if n := hang.count(); n != 1 || overlap.Load() != 0 {
		t.Fatalf("destination got %d requests (%d while another ran), want 1", n, overlap.Load())
	}
	if d := mustDeliveries(t, s, ev.ID)["app"]; d.State != hookbox.StatePending || d.Attempts != 1 {
		t.Errorf("delivery %+v, want pending after 1 attempt", d)
	}
}
