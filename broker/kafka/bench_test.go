package kafka_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hookbox/hookbox/deliver"
)

// BenchmarkDeliver measures attempts acknowledged by a kfake broker with
// DefaultConcurrency attempts in flight, as a worker makes them (run it
// with -benchtime=20000x for the README's drain of 20,000 events).
func BenchmarkDeliver(b *testing.B) {
	topic := uniqueTopic("bench")
	cl := newCluster(b, 4, topic)
	d := mustNew(b, "kafka", cl.url("topic="+topic), deliver.BrokerOptions{})
	evs := newEvents("bench", 1000)
	var next, failed atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range deliver.DefaultConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if a := d.Deliver(context.Background(), evs[i%int64(len(evs))], 1); !a.OK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d attempts failed", n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
