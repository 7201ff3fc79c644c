package redis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/hookbox/hookbox/deliver"
)

// BenchmarkDeliver measures attempts (one signed XADD of a Stripe-sized
// event each, acknowledged) against the system Redis, from parallel
// callers as a worker's concurrent deliveries are.
func BenchmarkDeliver(b *testing.B) {
	c := systemRedis(b)
	key := uniqueKey(b, c)
	d := mustNew(b, "bench", "redis://"+systemAddr+"?maxlen=100000&stream="+key, deliver.BrokerOptions{})
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ev := newEvent(fmt.Sprintf("evt_%d", n.Add(1)), "invoice.paid", false)
			if a := d.Deliver(context.Background(), ev, 1); !a.OK {
				b.Fatalf("attempt: %+v", a)
			}
		}
	})
}
