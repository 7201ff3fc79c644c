package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// Ensures ReleaseClaims puts back only the events the owner holds, without
// counting an attempt, due to a claimer on the clock that claimed them
// (ReleaseClaims has no clock of its own), and that the releasing owner
// cannot complete them any more.
func testRelease(t *testing.T, s hookbox.Store) {
	ctx := context.Background()
	MustInsert(t, s, queued("evt_1", base, qt0), queued("evt_2", base.Add(time.Second), qt0), queued("evt_3", base.Add(2*time.Second), qt0))
	assertClaimIDs(t, mustClaim(t, s, "w1", qt0, 2), "evt_1", "evt_2")
	assertClaimIDs(t, mustClaim(t, s, "w2", qt0, 2), "evt_3")

	n, err := s.ReleaseClaims(ctx, "w1", []string{"evt_1", "evt_2", "evt_3", "evt_missing"})
	if err != nil || n != 2 {
		t.Fatalf("ReleaseClaims = %d, %v; want 2", n, err)
	}
	for _, id := range []string{"evt_1", "evt_2"} {
		assertQueued(t, s, id, hookbox.StatePending, 0, time.Time{})
		if as := mustAttempts(t, s, id); len(as) != 0 {
			t.Fatalf("%s: release recorded %d attempts", id, len(as))
		}
	}
	assertQueued(t, s, "evt_3", hookbox.StateDelivering, 0, time.Time{})
	if n, err := s.ReleaseClaims(ctx, "w1", []string{"evt_1", "evt_3"}); err != nil || n != 0 {
		t.Fatalf("ReleaseClaims again = %d, %v; want 0", n, err)
	}
	err = s.CompleteClaim(ctx, hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: qt0.Add(time.Second)})
	assertCode(t, err, hookbox.ECONFLICT)

	assertClaimIDs(t, mustClaim(t, s, "w3", qt0, 10), "evt_1", "evt_2")
	mustComplete(t, s, hookbox.Completion{EventID: "evt_3", Owner: "w2", Now: qt0.Add(time.Second)})
}
