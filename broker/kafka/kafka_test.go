package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/brokertest"
	"github.com/hookbox/hookbox/broker/kafka"
	"github.com/hookbox/hookbox/deliver"
)

// TestNew_Invalid ensures New rejects bad names, URLs and queries as
// EINVALID, and that no error shows the URL's password.
func TestNew_Invalid(t *testing.T) {
	for _, tc := range []struct{ name, url, secret, want string }{
		{"bad name!", "kafka://h:9092", secret, "name"},
		{"d", "http://h:9092", secret, "scheme must be kafka"},
		{"d", "kafka://", secret, "no broker"},
		{"d", "kafka://h,,h2:9092", secret, "empty broker"},
		{"d", "kafka://h:9092,h2:99999", secret, "invalid port"},
		{"d", "kafka://h:9092/topic", secret, "no path"},
		{"d", "kafka://h:9092", "", "empty signing secret"},
		{"d", "kafka://h:9092?topic=", secret, "empty template"},
		{"d", "kafka://h:9092?topic={nope}", secret, "unknown field"},
		{"d", "kafka://h:9092?topic=stripe:{type}", secret, "a Kafka topic holds only"},
		{"d", "kafka://h:9092?topic=a%2Fb", secret, "a Kafka topic holds only"},
		{"d", "kafka://h:9092?topic=a&topic=b", secret, "given 2 times"},
		{"d", "kafka://h:9092?key=customer", secret, "want event or object"},
		{"d", "kafka://h:9092?tls=yes", secret, "tls="},
		{"d", "kafka://u:s3cr3tpw@h:9092?sasl=gssapi", secret, "want plain"},
		{"d", "kafka://h:9092?sasl=plain", secret, "without a user"},
		{"d", "kafka://u:s3cr3tpw@h:9092?subject=x", secret, "unknown query parameter"},
		{"d", "kafka://u:s3cr3tpw@h:9092%zz", secret, "invalid URL"},
		{"d", "kafka://u:s3cr3tpw@[::1]:9092,[::2]:9092", secret, "invalid URL"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			_, err := kafka.New(tc.name, tc.url, tc.secret, deliver.BrokerOptions{})
			if err == nil {
				t.Fatal("New succeeded")
			}
			if hookbox.ErrorCode(err) != hookbox.EINVALID {
				t.Errorf("code %q, want EINVALID: %v", hookbox.ErrorCode(err), err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3tpw") || strings.Contains(err.Error(), secret) {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

// TestNew_Valid ensures valid URLs build a destination without any broker
// running (New never connects), with the password redacted from URL and
// String.
func TestNew_Valid(t *testing.T) {
	for _, u := range []string{
		"kafka://127.0.0.1:1",
		"kafka://h1:9092,h2:9093/",
		"kafka://h1,h2:9092",
		"kafka://h1",
		"kafka://[::1]:9092?topic=stripe.{livemode}.{type}&key=object&tls=1",
		"kafka://user:s3cr3tpw@h1:9092?sasl=scram-sha-512&tls=true",
	} {
		d, err := kafka.New("kafka-dest", u, secret, deliver.BrokerOptions{Timeout: 3 * time.Second})
		if err != nil {
			t.Errorf("New(%s): %v", u, err)
			continue
		}
		if d.Name() != "kafka-dest" || d.AttemptTimeout() != 3*time.Second {
			t.Errorf("%s: name %q timeout %s", u, d.Name(), d.AttemptTimeout())
		}
		if strings.Contains(d.URL(), "s3cr3tpw") || strings.Contains(d.String(), "s3cr3tpw") || strings.Contains(d.String(), secret) {
			t.Errorf("%s: URL %q / String %q shows a secret", u, d.URL(), d.String())
		}
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// TestDeliver_PublishConsume ensures events delivered concurrently arrive
// at an independent consumer each exactly once, with the exact body, the
// event id as key, the message headers and a signature that verifies, and
// that each attempt reports where its record went.
func TestDeliver_PublishConsume(t *testing.T) {
	const n = 100
	topic := uniqueTopic("stripe")
	cl := newCluster(t, 3, topic)
	d := mustNew(t, "kafka", cl.url("topic="+topic), deliver.BrokerOptions{})

	evs := newEvents("pc", n)
	atts := make([]hookbox.Attempt, n)
	var wg sync.WaitGroup
	for i, ev := range evs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			atts[i] = d.Deliver(context.Background(), ev, 1)
		}()
	}
	wg.Wait()
	for i, a := range atts {
		if !a.OK || a.Error != "" || a.StatusCode != 0 || !strings.HasPrefix(a.Response, topic+"/") {
			t.Errorf("attempt %d: %+v", i, a)
		}
	}

	byID := map[string]*hookbox.Event{}
	for _, ev := range evs {
		byID[ev.ID] = ev
	}
	seen := map[string]int{}
	for _, r := range consume(t, cl.addr(), n, topic) {
		id := string(r.Key)
		seen[id]++
		ev, ok := byID[id]
		if !ok {
			t.Errorf("record with unknown key %q", id)
			continue
		}
		checkRecord(t, r, ev)
		if got := header(r, "Hookbox-Attempt"); got != "1" {
			t.Errorf("record %s: attempt header %q", id, got)
		}
	}
	for _, ev := range evs {
		if seen[ev.ID] != 1 {
			t.Errorf("event %s consumed %d times", ev.ID, seen[ev.ID])
		}
	}
}

// TestDeliver_TopicAndKey ensures the topic template expands per event and
// that key=object keys records by the event's object id, so an object's
// events share a partition.
func TestDeliver_TopicAndKey(t *testing.T) {
	prefix := uniqueTopic("t")
	paid, failed := prefix+".invoice.paid", prefix+".invoice.payment_failed"
	cl := newCluster(t, 4, paid, failed)
	d := mustNew(t, "kafka", cl.url("topic="+prefix+".{type}&key=object"), deliver.BrokerOptions{})

	ev1 := brokertest.NewEvent("evt_tk_1", "invoice.paid", false)
	ev2 := brokertest.NewEvent("evt_tk_2", "invoice.payment_failed", false)
	thin := brokertest.NewEvent("evt_tk_3", "invoice.paid", false)
	thin.Object = "v2.core.event"
	thin.Body = []byte(`{"id":"evt_tk_3","object":"v2.core.event","type":"invoice.paid","related_object":{"id":"in_thin","type":"invoice"}}`)
	for _, ev := range []*hookbox.Event{ev1, ev2, thin} {
		if a := d.Deliver(context.Background(), ev, 1); !a.OK {
			t.Fatalf("deliver %s: %+v", ev.ID, a)
		}
	}
	keys := map[string]string{}
	for _, r := range consume(t, cl.addr(), 3, paid, failed) {
		keys[header(r, "Hookbox-Event-Id")] = r.Topic + " " + string(r.Key)
	}
	want := map[string]string{
		"evt_tk_1": paid + " pi_evt_tk_1",
		"evt_tk_2": failed + " pi_evt_tk_2",
		"evt_tk_3": paid + " in_thin",
	}
	for id, w := range want {
		if keys[id] != w {
			t.Errorf("event %s: topic and key %q, want %q", id, keys[id], w)
		}
	}
}

// TestDeliver_MissingTopic ensures a topic the cluster does not have is a
// failed attempt naming the topic, within the attempt timeout: hookbox
// never creates topics.
func TestDeliver_MissingTopic(t *testing.T) {
	cl := newCluster(t, 1, uniqueTopic("exists"))
	d := mustNew(t, "kafka", cl.url("topic=no-such-topic"), deliver.BrokerOptions{Timeout: 2 * time.Second})
	start := time.Now()
	a := d.Deliver(context.Background(), brokertest.NewEvent("evt_missing", "invoice.paid", false), 1)
	if a.OK || !strings.Contains(a.Error, "no-such-topic") {
		t.Errorf("attempt %+v, want a failure naming the topic", a)
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("attempt took %s, timeout 2s", el)
	}
}

// TestDeliver_NoBroker ensures an attempt with no broker answering fails
// by the attempt timeout, and by ctx's end when that comes first.
func TestDeliver_NoBroker(t *testing.T) {
	d := mustNew(t, "kafka", fmt.Sprintf("kafka://127.0.0.1:%d", brokertest.FreePort(t)), deliver.BrokerOptions{Timeout: 500 * time.Millisecond})
	start := time.Now()
	a := d.Deliver(context.Background(), brokertest.NewEvent("evt_nobroker", "invoice.paid", false), 1)
	if a.OK || !strings.Contains(a.Error, "no acknowledgement within 500ms") || !strings.Contains(a.Error, "connection refused") {
		t.Errorf("attempt %+v", a)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("attempt took %s, timeout 500ms", el)
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("worker stopping"))
	a = d.Deliver(ctx, brokertest.NewEvent("evt_canceled", "invoice.paid", false), 2)
	if a.OK || !strings.Contains(a.Error, "canceled: worker stopping") {
		t.Errorf("attempt with a canceled context: %+v", a)
	}
}

// TestClose ensures Close is idempotent and that attempts after it fail
// without panicking.
func TestClose(t *testing.T) {
	topic := uniqueTopic("close")
	cl := newCluster(t, 1, topic)
	d := mustNew(t, "kafka", cl.url("topic="+topic), deliver.BrokerOptions{})
	if a := d.Deliver(context.Background(), brokertest.NewEvent("evt_close_1", "invoice.paid", false), 1); !a.OK {
		t.Fatalf("deliver: %+v", a)
	}
	for range 2 {
		if err := d.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if a := d.Deliver(context.Background(), brokertest.NewEvent("evt_close_2", "invoice.paid", false), 1); a.OK || !strings.Contains(a.Error, "closed") {
		t.Errorf("attempt after Close: %+v", a)
	}
}

// TestDeliver_SASL ensures the URL's user authenticates with the mechanism
// of sasl= (PLAIN, SCRAM), and that a wrong password is a failed attempt
// whose error does not show it.
func TestDeliver_SASL(t *testing.T) {
	topic := uniqueTopic("sasl")
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(1, topic),
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plainuser", "plain-pw-1"),
		kfake.Superuser("SCRAM-SHA-512", "scramuser", "scram-pw-2"),
	)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	for _, tc := range []struct {
		userinfo, query string
		ok              bool
	}{
		{"plainuser:plain-pw-1", "", true},
		{"scramuser:scram-pw-2", "&sasl=scram-sha-512", true},
		{"plainuser:wrong-pw-3", "&sasl=plain", false},
	} {
		d := mustNew(t, "kafka", "kafka://"+tc.userinfo+"@"+addr+"?topic="+topic+tc.query, deliver.BrokerOptions{Timeout: 2 * time.Second})
		a := d.Deliver(context.Background(), brokertest.NewEvent("evt_sasl", "invoice.paid", false), 1)
		if a.OK != tc.ok {
			t.Errorf("%s%s: attempt %+v, want OK %t", tc.userinfo, tc.query, a, tc.ok)
		}
		if strings.Contains(a.Error, "-pw-") {
			t.Errorf("%s: error shows the password: %q", tc.userinfo, a.Error)
		}
		if strings.Contains(d.URL(), "-pw-") {
			t.Errorf("URL shows the password: %s", d.URL())
		}
		// kfake closes the connection on a failed authentication (Kafka
		// answers SASL_AUTHENTICATION_FAILED): the attempt says the
		// connection failed.
		if !tc.ok && !strings.Contains(a.Error, "last broker connection: ") {
			t.Errorf("wrong password: error %q does not say the connection failed", a.Error)
		}
	}
}
