package redis_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/brokertest"
	"github.com/hookbox/hookbox/broker/redis"
	"github.com/hookbox/hookbox/deliver"
)

// TestDeliver_ConsumedOnce ensures events published concurrently reach a
// consumer group of an independent client exactly once each, in the stream
// their template names, with the exact body, every header field and a
// Stripe-Signature that verifies with the destination's secret; and that
// each attempt's Response names the entry the consumer read.
func TestDeliver_ConsumedOnce(t *testing.T) {
	const n, workers = 200, 8
	c := systemRedis(t)
	key := uniqueKey(t, c)
	ctx := context.Background()
	streams := map[bool]string{true: key + ":live", false: key + ":test"}
	for _, s := range streams {
		// The consumer's group exists before the first event, as a
		// consumer would create it.
		if err := c.XGroupCreateMkStream(ctx, s, "app", "0").Err(); err != nil {
			t.Fatalf("XGROUP CREATE %s: %v", s, err)
		}
	}
	d := mustNew(t, "bus", "redis://"+systemAddr+"/0?stream="+key+":{livemode}", deliver.BrokerOptions{})

	evs := make(map[string]*hookbox.Event, n)
	var ids []string
	for i := 0; i < n; i++ {
		ev := newEvent(fmt.Sprintf("evt_%04d", i), []string{"invoice.paid", "charge.failed"}[i%2], i%3 == 0)
		evs[ev.ID] = ev
		ids = append(ids, ev.ID)
	}
	responses := make(map[string]string, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan string)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				a := d.Deliver(ctx, evs[id], 1)
				if !a.OK || a.Error != "" || a.StatusCode != 0 || a.EventID != id || a.Destination != "bus" || a.Number != 1 {
					t.Errorf("attempt for %s: %+v", id, a)
				}
				mu.Lock()
				responses[id] = a.Response
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()

	// Read every entry through the group, as a consumer would.
	seen := make(map[string]int)
	got := 0
	brokertest.WaitFor(t, fmt.Sprintf("%d entries through the consumer group", n), func() bool {
		res, err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: "app", Consumer: "c1", Streams: []string{streams[true], streams[false], ">", ">"}, Count: 100, Block: -1,
		}).Result()
		if err != nil && err != goredis.Nil {
			t.Fatalf("XREADGROUP: %v", err)
		}
		for _, s := range res {
			for _, m := range s.Messages {
				e := entry{ID: m.ID, Stream: s.Stream, Fields: map[string]string{}}
				for k, v := range m.Values {
					e.Fields[k] = v.(string)
				}
				id := e.Fields[deliver.HeaderEventID]
				ev, ok := evs[id]
				if !ok {
					t.Fatalf("entry %s with an unknown event id %q", e.ID, id)
				}
				mustVerify(t, e, ev, 1)
				if s.Stream != streams[ev.Livemode] {
					t.Errorf("event %s (livemode %t) in stream %s", id, ev.Livemode, s.Stream)
				}
				if want := e.ID + " in " + s.Stream; responses[id] != want {
					t.Errorf("event %s: Response %q, want %q", id, responses[id], want)
				}
				seen[id]++
				got++
			}
		}
		return got >= n
	})
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("event %s consumed %d times", id, seen[id])
		}
	}
	if total := c.XLen(ctx, streams[true]).Val() + c.XLen(ctx, streams[false]).Val(); total != n {
		t.Errorf("streams hold %d entries, want %d", total, n)
	}
}

// TestDeliver_MaxLen ensures maxlen trims the stream (approximately, as
// XADD MAXLEN ~ does, by whole nodes) while every XADD is acknowledged, and
// that without maxlen nothing is trimmed.
func TestDeliver_MaxLen(t *testing.T) {
	const n = 400
	c := systemRedis(t)
	key := uniqueKey(t, c)
	ctx := context.Background()
	trimmed := mustNew(t, "trimmed", "redis://"+systemAddr+"?maxlen=10&stream="+key+":trimmed", deliver.BrokerOptions{})
	full := mustNew(t, "full", "redis://"+systemAddr+"?stream="+key+":full", deliver.BrokerOptions{})
	for i := 0; i < n; i++ {
		ev := newEvent(fmt.Sprintf("evt_%d", i), "invoice.paid", false)
		for _, d := range []*redis.Destination{trimmed, full} {
			if a := d.Deliver(ctx, ev, 1); !a.OK {
				t.Fatalf("%s: attempt %d: %+v", d.Name(), i, a)
			}
		}
	}
	if l := c.XLen(ctx, key+":trimmed").Val(); l >= n/2 {
		t.Errorf("stream with maxlen=10 holds %d entries after %d XADDs", l, n)
	}
	if l := c.XLen(ctx, key+":full").Val(); l != n {
		t.Errorf("stream without maxlen holds %d entries, want %d", l, n)
	}
	// The newest entry is the last event, whole.
	es := readAll(t, c, key+":trimmed")
	if len(es) == 0 || !strings.Contains(es[len(es)-1].Fields["body"], fmt.Sprintf(`"evt_%d"`, n-1)) {
		t.Errorf("trimmed stream's last entry: %+v", es[len(es)-1:])
	}
}
