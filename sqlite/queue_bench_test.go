package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
)

// BenchmarkCompleteClaims measures recording the completions of a drain:
// groups of 32 claims of 4 KB events, each with one attempt and one
// delivered destination, in one CompleteClaims each. An op is one
// completion.
func BenchmarkCompleteClaims(b *testing.B) {
	const group = 32
	s, _ := openTest(b)
	ctx := context.Background()
	body := make([]byte, 4000) // a Stripe event's size
	for i := range body {
		body[i] = 'x'
	}
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(group, b.N-done)
		b.StopTimer()
		evs := make([]*hookbox.Event, k)
		for j := range evs {
			evs[j] = event(fmt.Sprintf("evt_%08d", done+j))
			evs[j].Body = body
		}
		done += k
		if _, err := s.InsertEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
		claims, err := s.ClaimEvents(ctx, "w1", t0, time.Minute, k)
		if err != nil || len(claims) != k {
			b.Fatalf("ClaimEvents: %d, %v", len(claims), err)
		}
		cs := make([]hookbox.Completion, k)
		for j, c := range claims {
			cs[j] = hookbox.Completion{EventID: c.Event.ID, Owner: "w1", Now: t0,
				Attempts:   []hookbox.Attempt{{Destination: "forward", Number: 1, StartedAt: t0, Duration: time.Millisecond, StatusCode: 200, OK: true}},
				Deliveries: []hookbox.Delivery{{Destination: "forward", State: hookbox.StateDelivered, Attempts: 1}}}
		}
		b.StartTimer()
		errs, err := s.CompleteClaims(ctx, cs)
		if err != nil {
			b.Fatal(err)
		}
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
