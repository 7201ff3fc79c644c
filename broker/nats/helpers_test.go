package nats_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/brokertest"
	natsdest "github.com/hookbox/hookbox/broker/nats"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/stripesig"
)

// secret is the signing secret of test destinations.
const secret = "whsec_test_nats_destination_secret"

// systemURL is the NATS server with JetStream that runs on every machine
// (CI's included).
const systemURL = "nats://127.0.0.1:4222"

// mustSystemNATS connects to the system NATS server. It skips the test,
// loudly, when the server does not answer and CI is unset; under CI it
// fails.
func mustSystemNATS(tb testing.TB) *natsgo.Conn {
	tb.Helper()
	nc, err := natsgo.Connect(systemURL, natsgo.Timeout(2*time.Second))
	if err != nil {
		brokertest.Unavailable(tb, "NATS at %s does not answer (%v): start nats-server -js to run this test", systemURL, err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// mustStream creates a stream of a random name taking the subjects
// "<prefix>.>" and deletes it when the test ends. It returns the stream's
// name and the subject prefix.
func mustStream(tb testing.TB, nc *natsgo.Conn) (stream, prefix string) {
	tb.Helper()
	id := brokertest.RandID(tb)
	stream, prefix = "HBTEST_"+strings.ToUpper(id), "hbtest."+id
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       stream,
		Subjects:   []string{prefix + ".>"},
		Storage:    jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
	}); err != nil {
		tb.Fatalf("create stream: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, stream); err != nil && !nc.IsClosed() {
			tb.Logf("delete stream %s: %v", stream, err)
		}
	})
	return stream, prefix
}

// mustNew returns a destination or fails the test; it is closed when the
// test ends.
func mustNew(tb testing.TB, name, url string, opts deliver.BrokerOptions) *natsdest.Destination {
	tb.Helper()
	d, err := natsdest.New(name, url, secret, opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// message is one message read back from a stream.
type message struct {
	Subject string
	Data    []byte
	Header  natsgo.Header
	Seq     uint64
}

// readStream reads every message of stream with an independent ordered
// consumer, expecting want of them, and checks that no more are stored.
func readStream(tb testing.TB, nc *natsgo.Conn, stream string, want int) []message {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		tb.Fatalf("stream %s: %v", stream, err)
	}
	if n := s.CachedInfo().State.Msgs; n != uint64(want) {
		tb.Errorf("stream %s holds %d messages, want %d", stream, n, want)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		tb.Fatalf("ordered consumer: %v", err)
	}
	var msgs []message
	for len(msgs) < want && ctx.Err() == nil {
		batch, err := c.Fetch(want-len(msgs), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			tb.Fatalf("fetch: %v", err)
		}
		for m := range batch.Messages() {
			md, _ := m.Metadata()
			msgs = append(msgs, message{Subject: m.Subject(), Data: m.Data(), Header: m.Headers(), Seq: md.Sequence.Stream})
		}
	}
	if len(msgs) != want {
		tb.Fatalf("read %d messages from %s, want %d", len(msgs), stream, want)
	}
	return msgs
}

// checkMessage checks that m is ev as a consumer must see it: exact body,
// every header of deliver.MessageHeaders, a Stripe-Signature that verifies
// with the destination's secret.
func checkMessage(tb testing.TB, m message, ev *hookbox.Event) {
	tb.Helper()
	if string(m.Data) != string(ev.Body) {
		tb.Errorf("%s: body %q, want the stored body %q", ev.ID, m.Data, ev.Body)
	}
	for k, want := range map[string]string{
		"Content-Type":               "application/json",
		deliver.HeaderEventID:        ev.ID,
		deliver.HeaderEventType:      ev.Type,
		deliver.HeaderIdempotencyKey: ev.ID,
		jetstream.MsgIDHeader:        natsdest.MsgID(ev),
	} {
		if got := m.Header.Get(k); got != want {
			tb.Errorf("%s: header %s = %q, want %q", ev.ID, k, got, want)
		}
	}
	if m.Header.Get(deliver.HeaderAttempt) == "" {
		tb.Errorf("%s: no %s header", ev.ID, deliver.HeaderAttempt)
	}
	sig := m.Header.Get(stripesig.HeaderName)
	brokertest.CheckSignature(tb, secret, ev.ID, m.Data, sig)
	// As a consumer on stripe-go would check it.
	if err := webhook.ValidatePayload(m.Data, sig, secret); err != nil {
		tb.Errorf("%s: stripe-go rejects Stripe-Signature %q: %v", ev.ID, sig, err)
	}
}

// server is a throwaway nats-server with JetStream that a test owns: it
// can stop and restart it on the same port and store directory.
type server struct {
	tb   testing.TB
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
}

// startServer starts a throwaway nats-server -js on a free port, stopped
// when the test ends. It skips the test when no nats-server binary exists
// and CI is unset.
func startServer(tb testing.TB) *server {
	tb.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
		if _, err := os.Stat(bin); err != nil {
			brokertest.Unavailable(tb, "no nats-server binary: install nats-server to run this test")
		}
	}
	s := &server{tb: tb, bin: bin, port: brokertest.FreePort(tb), dir: tb.TempDir()}
	s.start()
	tb.Cleanup(s.stop)
	return s
}

// URL returns the server's URL.
func (s *server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// start runs the server and waits until it accepts clients.
func (s *server) start() {
	s.tb.Helper()
	s.cmd = exec.Command(s.bin, "-js", "-a", "127.0.0.1", "-p", fmt.Sprint(s.port), "-sd", s.dir)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, io.Discard
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatalf("start nats-server: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		nc, err := natsgo.Connect(s.URL(), natsgo.Timeout(time.Second))
		if err == nil {
			nc.Close()
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("nats-server on port %d does not answer: %v", s.port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop kills the server (as a crash would) and waits for it to exit.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}
