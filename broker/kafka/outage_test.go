package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/brokertest"
	"github.com/hookbox/hookbox/deliver"
)

// TestWorker_BrokerOutage ensures a worker delivering to Kafka loses
// nothing when the broker stops mid-run: the events of the first half are
// delivered, the broker is stopped, the second half's attempts fail and
// are recorded while the events stay pending, and once the broker is back
// (same port, its data kept) every event arrives, from the same
// destination and client, without restarting anything. A replay then
// republishes every event.
func TestWorker_BrokerOutage(t *testing.T) {
	const half = 20
	topic := uniqueTopic("outage")
	cl := newCluster(t, 2, topic)
	s := brokertest.OpenStore(t)
	d := mustNew(t, "kafka", cl.url("topic="+topic), deliver.BrokerOptions{Timeout: time.Second})
	w := brokertest.StartWorker(t, &deliver.Worker{
		Queue: s,
		// No breaker: this test watches every event retried through the
		// outage (an open breaker would park them unattempted).
		Destinations: []deliver.Destination{deliver.Controlled(d, deliver.Controls{BreakerFailures: -1})},
		Retry:        brokertest.Retry(5*time.Millisecond, 50*time.Millisecond, 1000),
		Concurrency:  4,
		PollInterval: 20 * time.Millisecond,
	})

	first, second := newEvents("before", half), newEvents("during", half)
	all := append(append([]*hookbox.Event(nil), first...), second...)
	brokertest.Insert(t, s, first...)
	w.Wake()
	brokertest.WaitFor(t, "the first half delivered", func() bool { return brokertest.CountState(t, s, hookbox.StateDelivered) == half })

	cl.stop()
	brokertest.Insert(t, s, second...)
	w.Wake()
	brokertest.WaitFor(t, "failed attempts for every event of the second half", func() bool {
		for _, ev := range second {
			if !brokertest.HasFailedAttempt(t, s, ev.ID) {
				return false
			}
		}
		return true
	})
	for _, ev := range second {
		if st := brokertest.FindEvent(t, s, ev.ID).State; st != hookbox.StatePending && st != hookbox.StateDelivering {
			t.Fatalf("event %s is %s while the broker is down, want pending", ev.ID, st)
		}
	}

	cl.start(2)
	brokertest.WaitFor(t, "every event delivered after the restart", func() bool { return brokertest.CountState(t, s, hookbox.StateDelivered) == 2*half })
	// Exactly once: the first half was acknowledged before the stop, and
	// the attempts made while the broker was down dropped their records
	// (none had reached it), so none is written late beside its retry.
	counts := countKeys(t, cl, topic)
	for _, ev := range all {
		if n := counts[ev.ID]; n != 1 {
			t.Errorf("event %s: %d records, want 1", ev.ID, n)
		}
	}

	n, err := s.ReplayEvents(context.Background(), hookbox.ReplayFilter{IDs: brokertest.IDs(all)}, time.Now())
	if err != nil || n != 2*half {
		t.Fatalf("replay: %d, %v", n, err)
	}
	w.Wake()
	brokertest.WaitFor(t, "every replayed event delivered", func() bool { return brokertest.CountState(t, s, hookbox.StateDelivered) == 2*half })
	after := countKeys(t, cl, topic)
	for _, ev := range all {
		if n := after[ev.ID]; n != 2 {
			t.Errorf("event %s: %d records after the replay, want 2", ev.ID, n)
		}
	}
}

// countKeys consumes every record of topic (as many as the sum of its
// partitions' end offsets: no record can be missed or arrive later than
// the count) and counts them by key.
func countKeys(tb testing.TB, cl *cluster, topic string) map[string]int {
	tb.Helper()
	m := map[string]int{}
	for _, r := range consume(tb, cl.addr(), int(endOffsets(tb, cl, topic)), topic) {
		m[string(r.Key)]++
	}
	return m
}

// endOffsets returns the sum of the end offsets of topic's partitions: its
// number of records (nothing is deleted, and no transaction writes control
// records).
func endOffsets(tb testing.TB, cl *cluster, topic string) int64 {
	tb.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(cl.addr()))
	if err != nil {
		tb.Fatalf("client: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, c)
	if err != nil || len(mresp.Topics) != 1 {
		tb.Fatalf("metadata of %s: %v", topic, err)
	}
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range mresp.Topics[0].Partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p.Partition
		rp.Timestamp = -1 // the end
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c)
	if err != nil {
		tb.Fatalf("list offsets of %s: %v", topic, err)
	}
	var n int64
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				tb.Fatalf("list offsets of %s/%d: error code %d", topic, p.Partition, p.ErrorCode)
			}
			n += p.Offset
		}
	}
	return n
}
