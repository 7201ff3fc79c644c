package kafka_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/brokertest"
	"github.com/hookbox/hookbox/broker/kafka"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/stripesig"
)

// secret is the signing secret of test destinations.
const secret = "whsec_test_kafka_destination"

// No Kafka server runs on this machine (nor in CI): every test runs
// against franz-go's kfake, a Kafka cluster in process that speaks the
// real protocol over TCP, so the destination's client is exercised as it
// would be against Kafka.

// cluster is a kfake cluster the test owns, with its topics seeded. With a
// data directory it can be stopped and started again on the same port with
// its records kept, as a broker restart.
type cluster struct {
	tb     testing.TB
	c      *kfake.Cluster
	port   int
	dir    string
	topics []string
}

// newCluster starts a one-broker kfake cluster with topics (one partition
// each unless partitions says more), closed when the test ends.
func newCluster(tb testing.TB, partitions int32, topics ...string) *cluster {
	tb.Helper()
	cl := &cluster{tb: tb, port: brokertest.FreePort(tb), dir: filepath.Join(tb.TempDir(), "kfake"), topics: topics}
	cl.start(partitions)
	tb.Cleanup(cl.stop)
	return cl
}

func (cl *cluster) start(partitions int32) {
	cl.tb.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(cl.port),
		kfake.DataDir(cl.dir),
		kfake.SeedTopics(partitions, cl.topics...),
	)
	if err != nil {
		cl.tb.Fatalf("start kfake: %v", err)
	}
	cl.c = c
}

// stop closes the cluster (it keeps its data directory).
func (cl *cluster) stop() {
	if cl.c != nil {
		cl.c.Close()
		cl.c = nil
	}
}

// addr is the broker's host:port.
func (cl *cluster) addr() string { return fmt.Sprintf("127.0.0.1:%d", cl.port) }

// url returns a destination URL for the cluster with the query q.
func (cl *cluster) url(q string) string {
	u := "kafka://" + cl.addr()
	if q != "" {
		u += "?" + q
	}
	return u
}

var topicSeq atomic.Int64

// uniqueTopic returns a topic name no other test uses.
func uniqueTopic(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), topicSeq.Add(1))
}

// newEvents returns n events with ids prefix-0...
func newEvents(prefix string, n int) []*hookbox.Event {
	evs := make([]*hookbox.Event, n)
	for i := range evs {
		evs[i] = brokertest.NewEvent(fmt.Sprintf("evt_%s_%03d", prefix, i), "payment_intent.succeeded", false)
	}
	return evs
}

// mustNew returns a destination, closed when the test ends.
func mustNew(tb testing.TB, name, rawURL string, opts deliver.BrokerOptions) *kafka.Destination {
	tb.Helper()
	d, err := kafka.New(name, rawURL, secret, opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// consume reads records of topics from their start with an independent
// franz-go consumer until want records arrived or the deadline passed, and
// returns them.
func consume(tb testing.TB, addr string, want int, topics ...string) []*kgo.Record {
	tb.Helper()
	c, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		tb.Fatalf("consumer: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want && ctx.Err() == nil {
		fs := c.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil {
				tb.Errorf("consume %s/%d: %v", t, p, err)
			}
		})
		recs = append(recs, fs.Records()...)
	}
	if len(recs) < want {
		tb.Fatalf("consumed %d records, want %d", len(recs), want)
	}
	return recs
}

// header returns the value of the record header key.
func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// checkRecord fails unless r carries ev exactly: value, the headers of
// deliver.MessageHeaders in order, and a signature that verifies with the
// destination secret.
func checkRecord(tb testing.TB, r *kgo.Record, ev *hookbox.Event) {
	tb.Helper()
	if string(r.Value) != string(ev.Body) {
		tb.Errorf("record %s: value differs from the stored body", ev.ID)
	}
	var keys []string
	for _, h := range r.Headers {
		keys = append(keys, h.Key)
	}
	if strings.Join(keys, ",") != strings.Join(deliver.HeaderNames, ",") {
		tb.Errorf("record %s: headers %v, want %v", ev.ID, keys, deliver.HeaderNames)
	}
	for k, v := range map[string]string{
		"Content-Type":       "application/json",
		"Hookbox-Event-Id":   ev.ID,
		"Hookbox-Event-Type": ev.Type,
		"Idempotency-Key":    ev.ID,
	} {
		if got := header(r, k); got != v {
			tb.Errorf("record %s: header %s = %q, want %q", ev.ID, k, got, v)
		}
	}
	brokertest.CheckSignature(tb, secret, "record "+ev.ID, r.Value, header(r, stripesig.HeaderName))
}
