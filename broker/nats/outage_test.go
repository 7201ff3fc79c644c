package nats_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/brokertest"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/sqlite"
)

// TestWorkerBrokerOutage runs a deliver.Worker on a real SQLite store with
// a destination on a throwaway nats-server that the test stops and
// restarts: down before the first attempt (the destination dials again),
// then killed mid-run (nats.go reconnects). Failed attempts are recorded
// while it is down and the events stay pending; once it is back every
// event is in the stream exactly once (the Nats-Msg-Id dedupe absorbs
// attempts whose ack was lost), and a replay publishes each again.
func TestWorkerBrokerOutage(t *testing.T) {
	srv := startServer(t)
	const stream, prefix = "HBOUTAGE", "hbout"
	func() {
		nc, err := natsgo.Connect(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
			Name: stream, Subjects: []string{prefix + ".>"}, Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute,
		}); err != nil {
			t.Fatalf("create stream: %v", err)
		}
	}()
	srv.stop() // down before the destination's first attempt

	s := brokertest.OpenStore(t)
	const n = 60
	evs := make([]*hookbox.Event, n)
	ids := make([]string, n)
	for i := range evs {
		evs[i] = brokertest.NewEvent(fmt.Sprintf("evt_outage_%03d", i), "invoice.paid", false)
		ids[i] = evs[i].ID
	}
	if _, err := s.InsertEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	d := mustNew(t, "bus", srv.URL()+"?subject="+prefix+".{type}&stream="+stream, deliver.BrokerOptions{Timeout: 2 * time.Second})

	// After okBeforeStop acknowledged attempts, the attempt hook holds its
	// worker goroutine until the test has killed the server: mid-run.
	const okBeforeStop = 10
	var oks, fails atomic.Int64
	reached, stopped := make(chan struct{}), make(chan struct{})
	var once sync.Once
	w := brokertest.StartWorker(t, &deliver.Worker{
		Queue:        s,
		Destinations: []deliver.Destination{d},
		Retry:        brokertest.Retry(20*time.Millisecond, 100*time.Millisecond, 100000),
		Concurrency:  4,
		PollInterval: 20 * time.Millisecond,
		OnAttempt: func(a hookbox.Attempt) {
			if !a.OK {
				fails.Add(1)
				return
			}
			if oks.Add(1) == okBeforeStop {
				once.Do(func() { close(reached); <-stopped })
			}
		},
	})

	// Down from the start: attempts fail and are recorded, nothing is lost.
	brokertest.WaitFor(t, "failed attempts while the server is down", func() bool { return fails.Load() >= 8 })
	checkFailedPending(t, s, ids, n)
	srv.start()

	// Up, then killed mid-run.
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for acknowledged attempts")
	}
	srv.stop()
	before := fails.Load()
	close(stopped)
	brokertest.WaitFor(t, "failed attempts after the server was killed", func() bool { return fails.Load() >= before+8 })
	checkFailedPending(t, s, ids, n-okBeforeStop)
	srv.start()

	brokertest.WaitFor(t, "every event delivered", func() bool { return countState(t, s, ids, hookbox.StateDelivered) == n })
	t.Logf("attempts: %d acknowledged, %d failed", oks.Load(), fails.Load())

	nc, err := natsgo.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msgs := readStream(t, nc, stream, n)
	byID := map[string]*hookbox.Event{}
	for _, ev := range evs {
		byID[ev.ID] = ev
	}
	seen := map[string]int{}
	for _, m := range msgs {
		id := m.Header.Get(deliver.HeaderEventID)
		if byID[id] == nil {
			t.Fatalf("unknown event %q in the stream", id)
		}
		seen[id]++
		checkMessage(t, m, byID[id])
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("%s: %d messages, want 1", id, seen[id])
		}
	}

	// A replay publishes every event again.
	if got, err := s.ReplayEvents(context.Background(), hookbox.ReplayFilter{IDs: ids}, time.Now()); err != nil || got != n {
		t.Fatalf("replay: %d, %v; want %d", got, err, n)
	}
	w.Wake()
	brokertest.WaitFor(t, "every replayed event in the stream", func() bool {
		js, _ := jetstream.New(nc)
		st, err := js.Stream(context.Background(), stream)
		return err == nil && st.CachedInfo().State.Msgs >= 2*n
	})
	brokertest.WaitFor(t, "every replayed event delivered", func() bool { return countState(t, s, ids, hookbox.StateDelivered) == n })
	msgs = readStream(t, nc, stream, 2*n)
	replayed := map[string]int{}
	for _, m := range msgs[n:] {
		id := m.Header.Get(deliver.HeaderEventID)
		replayed[id]++
		ev, err := s.FindEventByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		checkMessage(t, m, ev)
		if !strings.HasPrefix(m.Header.Get(jetstream.MsgIDHeader), id+":r") {
			t.Errorf("%s: replayed Nats-Msg-Id %q", id, m.Header.Get(jetstream.MsgIDHeader))
		}
	}
	for _, id := range ids {
		if replayed[id] != 1 {
			t.Errorf("%s: republished %d times, want 1", id, replayed[id])
		}
	}
}

// checkFailedPending checks that at least want events are pending, not
// dead, and that the failed attempts were recorded with an error.
func checkFailedPending(tb testing.TB, s *sqlite.Store, ids []string, want int) {
	tb.Helper()
	brokertest.WaitFor(tb, "a failed attempt recorded", func() bool {
		for _, id := range ids {
			for _, a := range brokertest.Attempts(tb, s, id) {
				if !a.OK && a.Error != "" && a.StatusCode == 0 {
					return true
				}
			}
		}
		return false
	})
	notDelivered := 0
	for _, id := range ids {
		switch brokertest.FindEvent(tb, s, id).State {
		case hookbox.StateDead:
			tb.Fatalf("%s is dead during the outage", id)
		case hookbox.StatePending, hookbox.StateDelivering:
			notDelivered++
		}
	}
	if notDelivered < want-4 { // up to Concurrency may finish meanwhile
		tb.Errorf("%d events waiting during the outage, want about %d", notDelivered, want)
	}
}

// countState returns how many of ids are in state st.
func countState(tb testing.TB, s *sqlite.Store, ids []string, st hookbox.State) int {
	tb.Helper()
	c := 0
	for _, id := range ids {
		if brokertest.FindEvent(tb, s, id).State == st {
			c++
		}
	}
	return c
}
