// Package kafka is a hookbox destination that produces events to Apache
// Kafka (or any broker speaking its protocol: Redpanda, WarpStream, ...)
// with franz-go.
//
// # URL
//
//	kafka://[user:password@]host1:9092,host2:9092[/]?topic=stripe&key=event&tls=1&sasl=plain
//
// The host part lists the seed brokers as host:port, comma-separated (the
// last one must have a port for Go's URL parser; a single broker without
// one gets 9092; an IPv6 literal works only as the single broker). Query
// parameters, all optional, any other is an error:
//
//   - topic: a deliver.Template over the event ({type}, {account},
//     {livemode}, {endpoint}, {object}); default "stripe". The topic must
//     exist, or the brokers must create topics on first use
//     (auto.create.topics.enable): hookbox never creates topics, so that
//     partitions, replication and retention stay the operator's choice. A
//     missing topic is a failed attempt, retried like any other.
//   - key: what the record key is. "event" (the default): the event id.
//     "object": the id of the event's object (data.object.id, or
//     related_object.id for a thin event; the event id when there is
//     none), so that every event of one object lands in one partition, in
//     the order hookbox delivers them.
//   - tls: "1" or "true" to connect with TLS (system roots, TLS 1.2+).
//   - sasl: the SASL mechanism used when the URL has a user: "plain" (the
//     default), "scram-sha-256" or "scram-sha-512". Use TLS with PLAIN.
//
// # Guarantees
//
// An attempt succeeds only when the record is produced: acks=all (every
// in-sync replica has it) with franz-go's idempotent producer, so the
// client's own retries within an attempt never duplicate a record. A
// failed attempt (no broker, a missing topic, a timeout) drops its record
// from the client and is retried by the worker like an HTTP failure, so a
// broker outage does not leave stale records to be written when it is
// back. A record the broker wrote but whose acknowledgement the attempt did
// not see is written again by the retry: delivery is at least once, and
// consumers deduplicate on the event id (Hookbox-Event-Id, also the record
// key by default), as they would HTTP deliveries.
//
// # Record
//
// The value is the event's body exactly as stored. The headers are
// deliver.MessageHeaders in the order of deliver.HeaderNames: Content-Type,
// Hookbox-Event-Id, Hookbox-Event-Type, Idempotency-Key, Hookbox-Attempt
// and Stripe-Signature, a signature of the value with the destination's
// secret made at the attempt, which a consumer verifies as it would a
// Stripe webhook.
//
// New never connects, so a configuration is validated without a broker;
// the client is built on the first Deliver, reconnects by itself after
// broker failures, and is shared by concurrent Deliver calls.
package kafka

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// DefaultTopic is the topic of a URL without a topic parameter.
const DefaultTopic = "stripe"

// DefaultPort is the port of a broker listed without one.
const DefaultPort = "9092"

// Key kinds of the key parameter.
const (
	KeyEvent  = "event"
	KeyObject = "object"
)

// Destination produces events to Kafka. It is safe for concurrent use.
type Destination struct {
	name     string
	redacted string
	secret   string
	opts     deliver.BrokerOptions
	filter   deliver.Filter
	version  hookbox.APIVersion
	topic    deliver.Template
	key      string
	kopts    []kgo.Opt // the client's options, built by New

	mu     sync.Mutex
	client *kgo.Client // nil until the first Deliver
	closed bool

	conns connHook
}

// connHook remembers the last failed broker connection (dial, TLS or
// SASL), so that an attempt timing out can say why; a connection that
// succeeds clears it.
type connHook struct {
	mu   sync.Mutex
	last string
}

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (h *connHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.last = ""
	} else {
		h.last = err.Error()
	}
}

func (h *connHook) lastError() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

var (
	_ deliver.Destination = (*Destination)(nil)
	_ deliver.Timeouter   = (*Destination)(nil)
)

// New returns a Kafka destination named name producing to the brokers of
// rawURL (see the package documentation), signing with secret. It validates
// and never connects. Errors are coded EINVALID and never contain the
// secret or the URL's password.
func New(name, rawURL, secret string, opts deliver.BrokerOptions) (*Destination, error) {
	if err := opts.Check(name, secret); err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the URL, which may hold a password.
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: invalid URL (list brokers as host:port,host:port)", name)
	}
	bad := func(format string, args ...any) error {
		return hookbox.Errorf(hookbox.EINVALID, "destination %s: URL %s: %s", name, u.Redacted(), fmt.Sprintf(format, args...))
	}
	if u.Scheme != "kafka" {
		return nil, bad("scheme must be kafka")
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return nil, bad("want kafka://host:port,host:port?topic=...; no path or fragment")
	}
	brokers, err := parseBrokers(u.Host)
	if err != nil {
		return nil, bad("%v", err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("invalid query")
	}
	d := &Destination{
		name:     name,
		redacted: u.Redacted(),
		secret:   secret,
		opts:     opts,
		filter:   opts.Filter(),
		version:  opts.APIVersion,
		key:      KeyEvent,
	}
	topic := DefaultTopic
	useTLS := false
	mech := ""
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, bad("query parameter %s given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "topic":
			topic = v
		case "key":
			if v != KeyEvent && v != KeyObject {
				return nil, bad("key=%q: want event or object", v)
			}
			d.key = v
		case "tls":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad("tls=%q: want 1 or 0", v)
			}
			useTLS = b
		case "sasl":
			mech = strings.ToLower(v)
		default:
			return nil, bad("unknown query parameter %q (want topic, key, tls or sasl)", k)
		}
	}
	if d.topic, err = deliver.ParseTemplate(topic); err != nil {
		return nil, bad("topic: %s", hookbox.ErrorMessage(err))
	}
	// Kafka topic names are [A-Za-z0-9._-], at most 249 bytes; the fields
	// expand within that alphabet, so checking the template on a sample
	// event catches a bad literal at configuration, not on every attempt.
	sample := d.topic.Expand(&hookbox.Event{Type: "a.b", Account: "acct_1", Endpoint: "e", Object: "event"})
	if !validTopic(sample) {
		return nil, bad("topic %q: a Kafka topic holds only letters, digits, '.', '_' and '-'", topic)
	}

	d.kopts = []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		// acks=all is what the idempotent producer (franz-go's default,
		// never disabled here) requires; said explicitly because it is
		// the guarantee an attempt's success stands for.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// An attempt that ends without an acknowledgement drops its
		// record, even one already sent: otherwise the records of the
		// attempts made while a broker is down stay buffered behind the
		// first unanswered batch and are all written when it is back,
		// stale signatures included, besides the retries' records (the
		// outage test saw every event twice). A dropped record that had
		// reached the broker is written again by the retry: at least once,
		// as for HTTP; the client's own retries within an attempt stay
		// deduplicated by the idempotent producer.
		kgo.AllowIdempotentProduceCancellation(),
		kgo.ClientID("hookbox"),
		kgo.SoftwareNameAndVersion("hookbox", softwareVersion(deliver.Version)),
		kgo.DialTimeout(min(5*time.Second, opts.AttemptTimeout())),
	}
	if useTLS {
		d.kopts = append(d.kopts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	if u.User != nil {
		m, err := mechanism(mech, u.User)
		if err != nil {
			return nil, bad("%v", err)
		}
		d.kopts = append(d.kopts, kgo.SASL(m))
	} else if mech != "" {
		return nil, bad("sasl=%s without a user in the URL", mech)
	}
	return d, nil
}

// parseBrokers splits the URL's host into host:port seeds, adding the
// default port where none is given.
func parseBrokers(host string) ([]string, error) {
	if host == "" {
		return nil, errors.New("no broker")
	}
	var out []string
	for _, b := range strings.Split(host, ",") {
		if b == "" {
			return nil, errors.New("empty broker in the list")
		}
		h, p, err := net.SplitHostPort(b)
		if err != nil {
			// No port (or an IPv6 literal without one).
			h, p = strings.TrimSuffix(strings.TrimPrefix(b, "["), "]"), DefaultPort
		}
		if h == "" {
			return nil, fmt.Errorf("broker %q: no host", b)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("broker %q: invalid port", b)
		}
		out = append(out, net.JoinHostPort(h, p))
	}
	return out, nil
}

// mechanism returns the SASL mechanism named (default plain) with the
// URL's credentials.
func mechanism(name string, user *url.Userinfo) (sasl.Mechanism, error) {
	pass, _ := user.Password()
	switch name {
	case "", "plain":
		return plain.Auth{User: user.Username(), Pass: pass}.AsMechanism(), nil
	case "scram-sha-256":
		return scram.Auth{User: user.Username(), Pass: pass}.AsSha256Mechanism(), nil
	case "scram-sha-512":
		return scram.Auth{User: user.Username(), Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("sasl=%q: want plain, scram-sha-256 or scram-sha-512", name)
}

// softwareVersion makes v acceptable as a Kafka client software version
// (letters, digits, '.', '-').
func softwareVersion(v string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '-'
	}, v)
}

// Name returns the destination's name.
func (d *Destination) Name() string { return d.name }

// APIVersion returns the Stripe API version the consumers understand
// (deliver.Versioned).
func (d *Destination) APIVersion() hookbox.APIVersion { return d.version }

var _ deliver.Versioned = (*Destination)(nil)

// URL returns the destination URL with any password redacted.
func (d *Destination) URL() string { return d.redacted }

// AttemptTimeout returns the bound of one attempt, the broker's
// acknowledgement included.
func (d *Destination) AttemptTimeout() time.Duration { return d.opts.AttemptTimeout() }

// Accepts reports whether ev passes the type and livemode filters.
func (d *Destination) Accepts(ev *hookbox.Event) bool { return d.filter.Match(ev) }

// String describes the destination for logs: name and redacted URL, never
// the secret.
func (d *Destination) String() string { return d.name + " (" + d.redacted + ")" }

// Close closes the client, if one was built; later attempts fail. It is
// idempotent and always returns nil.
func (d *Destination) Close() error {
	d.mu.Lock()
	c := d.client
	d.client, d.closed = nil, true
	d.mu.Unlock()
	if c != nil {
		c.Close()
	}
	return nil
}

// errClosed fails the attempts after Close.
var errClosed = errors.New("destination closed")

// producer returns the client, building it on first use. Building does not
// dial: the client connects, and reconnects, as records need it.
func (d *Destination) producer() (*kgo.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	if d.client == nil {
		c, err := kgo.NewClient(append(d.kopts, kgo.WithHooks(&d.conns))...)
		if err != nil {
			return nil, err
		}
		d.client = c
	}
	return d.client, nil
}

// Deliver produces ev as one record (see the package documentation) and
// waits for the brokers' acknowledgement, at most AttemptTimeout and never
// past ctx. Response is the record's place, "topic/partition@offset".
func (d *Destination) Deliver(ctx context.Context, ev *hookbox.Event, attempt int) hookbox.Attempt {
	start := time.Now()
	a := hookbox.Attempt{EventID: ev.ID, Destination: d.name, Number: attempt, StartedAt: start}

	c, err := d.producer()
	if err != nil {
		a.Error = "client: " + err.Error()
		a.Duration = time.Since(start)
		return a
	}
	hs := deliver.MessageHeaders(ev, attempt, d.secret, d.opts.Now())
	headers := make([]kgo.RecordHeader, 0, len(deliver.HeaderNames))
	for _, k := range deliver.HeaderNames {
		headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(hs[k])})
	}
	if tp := deliver.Traceparent(ctx); tp != "" {
		headers = append(headers, kgo.RecordHeader{Key: deliver.HeaderTraceparent, Value: []byte(tp)})
	}
	rec := &kgo.Record{
		Topic:   d.topic.Expand(ev),
		Key:     []byte(d.recordKey(ev)),
		Value:   ev.Body,
		Headers: headers,
	}

	timeout := d.opts.AttemptTimeout()
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	// When actx ends first the client drops the record, even one already
	// sent (see AllowIdempotentProduceCancellation in New).
	c.Produce(actx, rec, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err = <-done:
	case <-actx.Done():
		err = actx.Err()
	}
	a.Duration = time.Since(start)
	switch {
	case err == nil:
		a.OK = true
		a.Response = fmt.Sprintf("%s/%d@%d", rec.Topic, rec.Partition, rec.Offset)
	case ctx.Err() != nil:
		a.Error = "canceled: " + context.Cause(ctx).Error()
	case errors.Is(err, context.DeadlineExceeded):
		a.Error = fmt.Sprintf("topic %s: no acknowledgement within %s", rec.Topic, timeout)
		if e := d.conns.lastError(); e != "" {
			a.Error += " (last broker connection: " + e + ")"
		}
	default:
		a.Error = fmt.Sprintf("topic %s: %v", rec.Topic, err)
	}
	return a
}

// recordKey returns the record key of ev: its id, or with key=object its
// object's id.
func (d *Destination) recordKey(ev *hookbox.Event) string {
	if d.key == KeyObject {
		if id := objectID(ev.Body); id != "" {
			return id
		}
	}
	return ev.ID
}

// objectID returns the id of the object an event is about: data.object.id
// for a snapshot event, related_object.id for a thin one; "" if none.
func objectID(body []byte) string {
	var env struct {
		Data struct {
			Object struct {
				ID string `json:"id"`
			} `json:"object"`
		} `json:"data"`
		RelatedObject struct {
			ID string `json:"id"`
		} `json:"related_object"`
	}
	if json.Unmarshal(body, &env) != nil {
		return ""
	}
	if env.Data.Object.ID != "" {
		return env.Data.Object.ID
	}
	return env.RelatedObject.ID
}

// validTopic reports whether t is a legal Kafka topic name.
func validTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
