package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// Ensures every Attempt field survives a round trip (times and durations
// to the microsecond, StartedAt in UTC, the response byte for byte, even
// cut inside a UTF-8 sequence) and attempts list oldest StartedAt first,
// ties in recording order, across completions.
func testAttempts(t *testing.T, s hookbox.Store) {
	MustInsert(t, s, queued("evt_1", base, qt0))
	mustClaim(t, s, "w1", qt0, 1)
	start := base.Add(time.Hour) // nanoseconds and a zone on purpose
	x1 := hookbox.Attempt{EventID: "evt_1", Destination: "orders", Number: 1, StartedAt: start,
		Duration: 1500*time.Microsecond + 999, StatusCode: 503,
		Response: "Service Unavailable \u20ac"[:len("Service Unavailable \u20ac")-1]}
	x2 := hookbox.Attempt{EventID: "evt_1", Destination: "billing", Number: 1, StartedAt: start.Add(-time.Second),
		Error: "dial tcp 10.0.0.7:443: connect: connection refused"}
	x3 := hookbox.Attempt{EventID: "evt_1", Destination: "audit", Number: 7, StartedAt: start,
		Duration: 2 * time.Second, StatusCode: 200, Response: strings.Repeat("\u00e9", hookbox.MaxResponseSnippet/2), OK: true}
	now := start.Add(3 * time.Second)
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: now,
		Attempts: []hookbox.Attempt{x1, x2, x3},
		Deliveries: []hookbox.Delivery{
			pending("evt_1", "orders", 1, now.Add(time.Minute), now, "503"),
			pending("evt_1", "billing", 1, now.Add(time.Minute), now, "connection refused"),
			delivered("evt_1", "audit", 7, now),
		}})
	later := now.Add(time.Minute)
	mustClaim(t, s, "w1", later, 1)
	x4 := hookbox.Attempt{EventID: "evt_1", Destination: "orders", Number: 2, StartedAt: later,
		Duration: time.Millisecond, StatusCode: 204, OK: true}
	mustComplete(t, s, hookbox.Completion{EventID: "evt_1", Owner: "w1", Now: later,
		Attempts:   []hookbox.Attempt{x4},
		Deliveries: []hookbox.Delivery{delivered("evt_1", "orders", 2, later)}})

	got := mustAttempts(t, s, "evt_1")
	want := []hookbox.Attempt{x2, x1, x3, x4}
	if len(got) != len(want) {
		t.Fatalf("%d attempts, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		w.StartedAt = storedTime(w.StartedAt)
		w.Duration = w.Duration.Truncate(time.Microsecond)
		g := got[i]
		if g.StartedAt.Location() != time.UTC || !g.StartedAt.Equal(w.StartedAt) {
			t.Fatalf("attempt %d: StartedAt %v, want %v in UTC", i, g.StartedAt, w.StartedAt)
		}
		g.StartedAt = w.StartedAt
		if g != w {
			t.Fatalf("attempt %d:\n\tgot  %+v\n\twant %+v", i, g, w)
		}
	}
	assertQueued(t, s, "evt_1", hookbox.StatePending, 4, time.Time{})
	if as := mustAttempts(t, s, "evt_missing"); len(as) != 0 {
		t.Fatalf("attempts of a missing event: %+v", as)
	}
}
