package nats_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/broker/brokertest"
	natsdest "github.com/hookbox/hookbox/broker/nats"
	"github.com/hookbox/hookbox/deliver"
)

// TestNew ensures New validates the name, URL, query and templates without
// connecting, and that its errors never show the URL's password.
func TestNew(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for _, u := range []string{
			"nats://127.0.0.1:1", // nothing listens: New must not connect
			"nats://localhost",
			"nats://[::1]:4224",
			"nats://u:pw@a:4222,[::1]:4223,c?subject=stripe.{livemode}.{type}&stream=STRIPE",
			"nats://token@a?tls=1&ca=/etc/ca.pem&creds=/etc/hb.creds",
		} {
			d, err := natsdest.New("dest", u, secret, deliver.BrokerOptions{})
			if err != nil {
				t.Errorf("New(%q): %v", u, err)
				continue
			}
			d.Close()
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		d := mustNew(t, "dest", "nats://u:hunter22@127.0.0.1:1", deliver.BrokerOptions{})
		if got := d.Subject().String(); got != natsdest.DefaultSubject {
			t.Errorf("subject %q, want %q", got, natsdest.DefaultSubject)
		}
		if d.AttemptTimeout() != deliver.DefaultTimeout {
			t.Errorf("timeout %s, want %s", d.AttemptTimeout(), deliver.DefaultTimeout)
		}
		if strings.Contains(d.URL(), "hunter22") || strings.Contains(d.String(), "hunter22") {
			t.Errorf("URL %q / String %q show the password", d.URL(), d.String())
		}
		if d.Name() != "dest" {
			t.Errorf("name %q", d.Name())
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, tc := range []struct{ name, url, secret, want string }{
			{"bad name!", "nats://h", secret, "name"},
			{"d", "tls://u:hunter22@h", secret, "scheme must be nats"},
			{"d", "http://u:hunter22@h", secret, "scheme must be nats"},
			{"d", "nats://u:hunter22@h", "", "empty signing secret"},
			{"d", "nats:opaque", secret, "no host"},
			{"d", "nats://u:hunter22@h/path", secret, "no path"},
			{"d", "nats://u:hunter22@h:99999", secret, "invalid port"},
			{"d", "nats://u:hunter22@h:x", secret, "invalid"},
			{"d", "nats://u:hunter22@a,,b", secret, "invalid host"},
			{"d", "nats://u:hunter22@a,b:0", secret, "invalid port"},
			{"d", "nats://u:hunter22@h?topic=x", secret, "unknown query parameter"},
			{"d", "nats://u:hunter22@h?subject=a&subject=b", secret, "given 2 times"},
			{"d", "nats://u:hunter22@h?subject={nope}", secret, "unknown field"},
			{"d", "nats://u:hunter22@h?subject=stripe.>", secret, "not a publishable subject"},
			{"d", "nats://u:hunter22@h?subject=stripe.*.x", secret, "not a publishable subject"},
			{"d", "nats://u:hunter22@h?subject=stripe..{type}", secret, "not a publishable subject"},
			{"d", "nats://u:hunter22@h?subject=.{type}", secret, "not a publishable subject"},
			{"d", "nats://u:hunter22@h?subject=", secret, "empty template"},
			{"d", "nats://u:hunter22@h?stream=a.b", secret, "invalid stream name"},
			{"d", "nats://u:hunter22@h?tls=maybe", secret, "tls="},
			{"d", "nats://u:hunter22@h?creds=", secret, "empty creds"},
			{"d", "nats://u:hunter22@h\x7f", secret, "invalid URL"},
		} {
			_, err := natsdest.New(tc.name, tc.url, tc.secret, deliver.BrokerOptions{})
			switch {
			case err == nil:
				t.Errorf("New(%q, %q): no error", tc.name, tc.url)
			case hookbox.ErrorCode(err) != hookbox.EINVALID:
				t.Errorf("New(%q): code %q, want EINVALID: %v", tc.url, hookbox.ErrorCode(err), err)
			case !strings.Contains(err.Error(), tc.want):
				t.Errorf("New(%q): %v, want it to say %q", tc.url, err, tc.want)
			case strings.Contains(err.Error(), "hunter22"):
				t.Errorf("New(%q): error shows the password: %v", tc.url, err)
			}
		}
		_, err := natsdest.New("d", "nats://h", secret, deliver.BrokerOptions{Livemode: "sometimes"})
		if hookbox.ErrorCode(err) != hookbox.EINVALID {
			t.Errorf("livemode sometimes: %v, want EINVALID", err)
		}
	})
}

// TestMsgID ensures retries share the event id as Nats-Msg-Id while each
// replay gets its own, so that the stream deduplicates retries but a
// replay publishes again.
func TestMsgID(t *testing.T) {
	ev := brokertest.NewEvent("evt_1", "charge.succeeded", false)
	if got := natsdest.MsgID(ev); got != "evt_1" {
		t.Errorf("MsgID = %q, want the event id", got)
	}
	ev.ReplayedAt = time.UnixMicro(1733536800000001)
	if got := natsdest.MsgID(ev); got != "evt_1:r1733536800000001" {
		t.Errorf("MsgID after a replay = %q", got)
	}
}

// TestDeliver publishes events concurrently to the system NATS and reads
// them with an independent consumer: each once, on its subject, with the
// exact body, the headers and a signature that verifies; a second attempt
// of the same event is acknowledged as a duplicate and not stored again;
// after a replay it is stored again.
func TestDeliver(t *testing.T) {
	nc := mustSystemNATS(t)
	stream, prefix := mustStream(t, nc)
	d := mustNew(t, "bus", systemURL+"?subject="+prefix+".{livemode}.{type}&stream="+stream, deliver.BrokerOptions{})

	const n = 40
	evs := make([]*hookbox.Event, n)
	for i := range evs {
		evs[i] = brokertest.NewEvent(fmt.Sprintf("evt_%s_%03d", brokertest.RandID(t), i), []string{"charge.succeeded", "invoice.paid"}[i%2], false)
	}
	var wg sync.WaitGroup
	atts := make([]hookbox.Attempt, n)
	for i, ev := range evs {
		wg.Go(func() { atts[i] = d.Deliver(context.Background(), ev, 1) })
	}
	wg.Wait()
	for i, a := range atts {
		if !a.OK || a.Error != "" || a.StatusCode != 0 || !strings.HasPrefix(a.Response, stream+" seq ") {
			t.Fatalf("attempt %d: %+v, want OK with %q", i, a, stream+" seq N")
		}
	}

	msgs := readStream(t, nc, stream, n)
	byID := map[string]*hookbox.Event{}
	for _, ev := range evs {
		byID[ev.ID] = ev
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		id := m.Header.Get(deliver.HeaderEventID)
		ev := byID[id]
		if ev == nil || seen[id] {
			t.Fatalf("message %d: event %q unknown or seen twice", m.Seq, id)
		}
		seen[id] = true
		if want := prefix + ".test." + ev.Type; m.Subject != want {
			t.Errorf("%s: subject %q, want %q", id, m.Subject, want)
		}
		checkMessage(t, m, ev)
	}

	// A retry (the ack was lost, say): deduplicated by the stream.
	a := d.Deliver(context.Background(), evs[0], 2)
	if !a.OK || !strings.HasSuffix(a.Response, "(duplicate)") {
		t.Errorf("second attempt: %+v, want OK (duplicate)", a)
	}
	readStream(t, nc, stream, n)

	// A replay publishes again.
	evs[0].ReplayedAt = time.Now()
	if a := d.Deliver(context.Background(), evs[0], 3); !a.OK || strings.Contains(a.Response, "duplicate") {
		t.Errorf("attempt after a replay: %+v, want OK, not a duplicate", a)
	}
	msgs = readStream(t, nc, stream, n+1)
	last := msgs[len(msgs)-1]
	checkMessage(t, last, evs[0])
	if last.Header.Get(deliver.HeaderAttempt) != "3" {
		t.Errorf("replayed message: attempt %q, want 3", last.Header.Get(deliver.HeaderAttempt))
	}
}

// TestDeliverNoStream ensures an attempt fails, quickly and saying why,
// when no stream takes the subject, or when the stream that takes it is
// not the one the URL names.
func TestDeliverNoStream(t *testing.T) {
	nc := mustSystemNATS(t)
	_, prefix := mustStream(t, nc)
	ev := brokertest.NewEvent("evt_nostream", "charge.succeeded", false)

	d := mustNew(t, "nostream", systemURL+"?subject=hbtest.none."+brokertest.RandID(t)+".{type}", deliver.BrokerOptions{Timeout: 20 * time.Second})
	a := d.Deliver(context.Background(), ev, 1)
	if a.OK || !strings.Contains(a.Error, "no stream takes subject") {
		t.Errorf("no stream: %+v, want a failure saying no stream takes the subject", a)
	}
	if a.Duration > 10*time.Second {
		t.Errorf("no stream: took %s, want a prompt failure", a.Duration)
	}

	d = mustNew(t, "wrongstream", systemURL+"?subject="+prefix+".{type}&stream=HBTEST_OTHER", deliver.BrokerOptions{})
	if a := d.Deliver(context.Background(), ev, 1); a.OK || !strings.Contains(a.Error, "stream") {
		t.Errorf("another stream: %+v, want a failure", a)
	}
}

// TestDeliverTLSRequired ensures tls=1 refuses a server that does not
// speak TLS rather than publish in clear.
func TestDeliverTLSRequired(t *testing.T) {
	mustSystemNATS(t)
	d := mustNew(t, "tls", systemURL+"?tls=1", deliver.BrokerOptions{Timeout: 3 * time.Second})
	a := d.Deliver(context.Background(), brokertest.NewEvent("evt_tls", "charge.succeeded", false), 1)
	if a.OK || !strings.Contains(strings.ToLower(a.Error), "secure") {
		t.Errorf("attempt: %+v, want a failure: TLS required", a)
	}
}

// TestDeliverUnreachable ensures an attempt to a server that does not
// answer fails within its timeout, without the URL's password, and that
// Close is idempotent and fails later attempts.
func TestDeliverUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	d := mustNew(t, "down", fmt.Sprintf("nats://hb:hunter22@127.0.0.1:%d", port), deliver.BrokerOptions{Timeout: 3 * time.Second})
	ev := brokertest.NewEvent("evt_down", "charge.succeeded", false)
	a := d.Deliver(context.Background(), ev, 1)
	if a.OK || a.Error == "" || strings.Contains(a.Error, "hunter22") {
		t.Errorf("attempt: %+v, want a failure without the password", a)
	}
	if a.Duration > 5*time.Second {
		t.Errorf("attempt took %s, want at most its timeout", a.Duration)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if a := d.Deliver(ctx, ev, 2); a.OK || !strings.Contains(a.Error, "cancel") {
		t.Errorf("canceled attempt: %+v", a)
	}

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if a := d.Deliver(context.Background(), ev, 3); a.OK || !strings.Contains(a.Error, "closed") {
		t.Errorf("attempt after Close: %+v, want a failure", a)
	}
}
