package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/storetest"
)

// The queue benchmarks measure the two transactions of a drain on a fresh
// schema of the test server, in process: claiming a group of 16 events
// and completing them (one attempt, one delivered destination each). A
// Worker runs them one after the other, so their latency bounds the drain
// rate; ns/op is per event.
//
//	go test -run '^$' -bench 'Queue' ./postgres/

const benchGroup = 16

// benchClaims inserts and claims n events in groups, and returns the
// completions of every group.
func benchClaims(b *testing.B, s hookbox.Store, n int, claim func([][]hookbox.Completion)) {
	benchClaimsKeyed(b, s, n, 0, claim)
}

// benchClaimsKeyed is benchClaims with events ordered over keys keys (the
// i-th event's key is i%keys; none when keys is 0).
func benchClaimsKeyed(b *testing.B, s hookbox.Store, n, keys int, claim func([][]hookbox.Completion)) {
	ctx := context.Background()
	now := time.Now()
	for done := 0; done < n; {
		k := min(benchGroup, n-done)
		evs := make([]*hookbox.Event, k)
		for i := range evs {
			id := fmt.Sprintf("evt_bench_%08d", done+i)
			evs[i] = &hookbox.Event{ID: id, Type: "payment_intent.succeeded", Object: "event", Body: storetest.BenchBody(id), ReceivedAt: now}
			if keys > 0 {
				evs[i].OrderKey = fmt.Sprintf("stripe/acct_1/live/pi_%d", (done+i)%keys)
			}
		}
		if _, err := s.InsertEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
		done += k
	}
	var groups [][]hookbox.Completion
	b.StartTimer()
	for {
		cs, err := s.ClaimEvents(ctx, "w1", now, time.Minute, benchGroup)
		if err != nil {
			b.Fatal(err)
		}
		if len(cs) == 0 {
			break
		}
		group := make([]hookbox.Completion, len(cs))
		for i, c := range cs {
			group[i] = hookbox.Completion{EventID: c.Event.ID, Owner: "w1", Now: now,
				Attempts:   []hookbox.Attempt{{Destination: "forward", Number: 1, StartedAt: now, Duration: time.Millisecond, StatusCode: 200, OK: true}},
				Deliveries: []hookbox.Delivery{{Destination: "forward", State: hookbox.StateDelivered, Attempts: 1}}}
		}
		groups = append(groups, group)
	}
	b.StopTimer()
	claim(groups)
}

// BenchmarkQueueClaimEvents: claims of 16 events.
func BenchmarkQueueClaimEvents(b *testing.B) {
	s := mustOpenStore(b)
	b.ResetTimer()
	b.StopTimer()
	benchClaims(b, s, b.N, func([][]hookbox.Completion) {})
}

// BenchmarkQueueClaimEventsOrdered: claims of 16 events of an ordered
// destination, each the head of its own key (the gate's cost, no waits).
func BenchmarkQueueClaimEventsOrdered(b *testing.B) {
	s := mustOpenStore(b)
	b.ResetTimer()
	b.StopTimer()
	benchClaimsKeyed(b, s, b.N, 1<<30, func([][]hookbox.Completion) {})
}

// BenchmarkQueueCompleteClaims: completions of 16 claims in one
// CompleteClaims.
func BenchmarkQueueCompleteClaims(b *testing.B) {
	s := mustOpenStore(b)
	ctx := context.Background()
	b.ResetTimer()
	b.StopTimer()
	benchClaims(b, s, b.N, func(groups [][]hookbox.Completion) {
		b.StartTimer()
		for _, g := range groups {
			errs, err := s.CompleteClaims(ctx, g)
			if err != nil {
				b.Fatal(err)
			}
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
	})
}
