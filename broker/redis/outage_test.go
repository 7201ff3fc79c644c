package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/brokertest"
	"github.com/hookbox/hookbox/deliver"
)

// TestWorker_RedisStoppedMidRun ensures that with Redis killed while a
// worker delivers to it, failed attempts are recorded and the events stay
// pending; that once Redis is back (same destination, no restart of
// hookbox) every event reaches the stream, once per event id; and that a
// replay appends every event again with its next attempt number.
func TestWorker_RedisStoppedMidRun(t *testing.T) {
	const n = 20 // per batch: before the stop, during it
	const pw = "throwaway-server-password"
	srv := startServer(t, "--requirepass", pw)
	ctx := context.Background()
	s := brokertest.OpenStore(t)
	d := mustNew(t, "bus", "redis://:"+pw+"@"+srv.addr()+"/0?stream=stripe", deliver.BrokerOptions{Timeout: 2 * time.Second})
	w := brokertest.StartWorker(t, &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{d},
		// Retries come quickly and the budget outlasts the outage.
		Retry:        brokertest.Retry(5*time.Millisecond, 20*time.Millisecond, 1<<20),
		PollInterval: 20 * time.Millisecond,
	})

	var all []*hookbox.Event
	batch := func(from int) []*hookbox.Event {
		var evs []*hookbox.Event
		for i := from; i < from+n; i++ {
			evs = append(evs, newEvent(fmt.Sprintf("evt_%03d", i), "invoice.paid", i%2 == 0))
		}
		brokertest.Insert(t, s, evs...)
		all = append(all, evs...)
		w.Wake()
		return evs
	}
	waitDelivered := func(evs []*hookbox.Event) {
		t.Helper()
		for _, ev := range evs {
			brokertest.WaitFor(t, ev.ID+" delivered", func() bool { return brokertest.FindEvent(t, s, ev.ID).State == hookbox.StateDelivered })
		}
	}

	waitDelivered(batch(0))
	srv.kill()

	during := batch(n)
	for _, ev := range during {
		brokertest.WaitFor(t, ev.ID+": a failed attempt recorded", func() bool {
			as := brokertest.Attempts(t, s, ev.ID)
			return len(as) > 0 && !as[0].OK
		})
	}
	for _, ev := range during {
		if st := brokertest.FindEvent(t, s, ev.ID).State; st != hookbox.StatePending && st != hookbox.StateDelivering {
			t.Errorf("event %s %s while Redis is down", ev.ID, st)
		}
		a := brokertest.Attempts(t, s, ev.ID)[0]
		if a.OK || a.Error == "" || a.StatusCode != 0 || strings.Contains(a.Error, pw) {
			t.Errorf("attempt while Redis is down: %+v", a)
		}
	}

	srv.restart()
	waitDelivered(during)

	// Every event once per id, each entry as its successful attempt made it.
	c := goredis.NewClient(&goredis.Options{Addr: srv.addr(), Password: pw, MaxRetries: -1})
	defer c.Close()
	last := func(ev *hookbox.Event) int {
		as := brokertest.Attempts(t, s, ev.ID)
		if a := as[len(as)-1]; !a.OK {
			t.Fatalf("event %s: last attempt %+v", ev.ID, a)
		}
		return as[len(as)-1].Number
	}
	check := func(minTimes int) {
		t.Helper()
		byID := map[string][]entry{}
		es := readAll(t, c, "stripe")
		for _, e := range es {
			id := e.Fields[deliver.HeaderEventID]
			byID[id] = append(byID[id], e)
		}
		dups := 0
		for _, ev := range all {
			got := byID[ev.ID]
			if len(got) < minTimes {
				t.Errorf("event %s in the stream %d times, want at least %d", ev.ID, len(got), minTimes)
				continue
			}
			dups += len(got) - minTimes
			// The newest entry of the event is its latest attempt.
			mustVerify(t, got[len(got)-1], ev, last(ev))
			delete(byID, ev.ID)
		}
		if len(byID) > 0 {
			t.Errorf("entries of unknown events: %v", byID)
		}
		t.Logf("%d entries for %d events (%d duplicates)", len(es), len(all), dups)
	}
	check(1)

	replayed, err := s.ReplayEvents(ctx, hookbox.ReplayFilter{IDs: brokertest.IDs(all)}, time.Now())
	if err != nil || replayed != len(all) {
		t.Fatalf("replay: %d, %v", replayed, err)
	}
	w.Wake()
	for _, ev := range all {
		brokertest.WaitFor(t, ev.ID+" republished", func() bool {
			as := brokertest.Attempts(t, s, ev.ID)
			return brokertest.FindEvent(t, s, ev.ID).State == hookbox.StateDelivered && len(as) > 1 && as[len(as)-1].OK &&
				as[len(as)-1].Number > 1
		})
	}
	check(2)
}
