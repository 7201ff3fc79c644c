// Package nats is a hookbox destination that publishes events to NATS
// JetStream: an attempt succeeds only when a stream acknowledges the
// message (the JetStream PubAck), so an event is durable in the stream
// before hookbox marks it delivered.
//
// A destination URL:
//
//	nats://[user:password@|token@]host[:port][,host2[:port]...][?query]
//
// Several servers (a cluster) are separated by commas; the port defaults
// to 4222. The query parameters:
//
//   - subject: the subject to publish on, a deliver.Template over the
//     event ({type}, {account}, {livemode}, {endpoint}, {object}); default
//     "stripe.{type}", e.g. stripe.payment_intent.succeeded.
//   - stream: the JetStream stream that must take the message (optional).
//     When set, a message that some other stream would store is refused
//     (Nats-Expected-Stream), so a misconfigured subject fails loudly.
//   - tls: "1" (or "true") requires TLS: the connection is refused unless
//     it is encrypted. Without it the client still upgrades to TLS when
//     the server demands it. (nats.go's tls:// scheme is not taken: in a
//     hookbox config "tls://" would not say which broker kind it is.)
//   - ca: a PEM file of the certificate authorities that sign the
//     server's certificate (implies tls=1); default: the system roots.
//   - creds: a NATS credentials file (JWT and NKey seed), for accounts of
//     an operator-mode server such as Synadia Cloud.
//
// Any other parameter is an error.
//
// hookbox never creates streams: the stream, its subjects, retention,
// replicas and duplicate window are the operator's decisions, made once
// with e.g.
//
//	nats stream add STRIPE --subjects 'stripe.>' --storage file --dupe-window 2m --defaults
//
// Publishing to a subject no stream takes fails the attempt ("no stream
// takes subject ..."), which retries like any failed delivery.
//
// Each message carries the event's body exactly as stored and, as NATS
// headers, every header of deliver.MessageHeaders: Content-Type,
// Hookbox-Event-Id, Hookbox-Event-Type, Idempotency-Key (the event id),
// Hookbox-Attempt, and a Stripe-Signature of the body made with the
// destination's secret, which a consumer checks exactly as it would a
// webhook's (stripe-go's webhook.ValidatePayload over the message data).
//
// Nats-Msg-Id, JetStream's deduplication key, is the event id: an attempt
// retried after a lost acknowledgement, or by a second worker after a
// lease expired, is stored once when it comes within the stream's
// duplicate window (its ack says duplicate, and counts as delivered). A
// replay is meant to publish again, so after a replay the id is the event
// id, a colon and the replay time ("evt_123:r1733536800000000", in
// microseconds): retries after one replay still share one key. Consumers
// that deduplicate themselves use Hookbox-Event-Id.
//
// The destination connects on its first attempt, not when it is built (a
// config is validated without a broker), keeps one connection for every
// concurrent attempt, and follows server restarts: nats.go reconnects in
// the background, attempts made meanwhile fail at once (nothing is
// buffered for later), and a connection that gave up is dialed again by
// the next attempt.
package nats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// DefaultSubject is the subject template of a URL without subject.
const DefaultSubject = "stripe.{type}"

// DefaultPort is the port of a server given without one.
const DefaultPort = "4222"

// Destination publishes events to NATS JetStream. It is safe for
// concurrent use.
type Destination struct {
	name     string
	redacted string
	secret   string
	servers  []string // nats://host:port, credentials in opts
	password string   // to scrub from error texts; "" if none
	subject  deliver.Template
	stream   string
	opts     []natsgo.Option
	timeout  time.Duration
	filter   deliver.Filter
	version  hookbox.APIVersion
	now      func() time.Time

	mu     sync.Mutex
	conn   *conn // the current connection, or the dial in progress
	closed bool
}

// conn is one connection, ready when done is closed: then either js is
// set or err says why not.
type conn struct {
	done chan struct{}
	nc   *natsgo.Conn
	js   jetstream.JetStream
	err  error
}

var (
	_ deliver.Destination = (*Destination)(nil)
	_ deliver.Timeouter   = (*Destination)(nil)
)

// New returns a destination named name that publishes to the JetStream of
// the NATS servers of rawURL, signing with secret. It validates the name,
// the URL and its query (see the package doc) and does not connect.
// Errors are coded EINVALID and never include a password of the URL.
func New(name, rawURL, secret string, opts deliver.BrokerOptions) (*Destination, error) {
	if err := opts.Check(name, secret); err != nil {
		return nil, err
	}
	hosts, rest := splitHosts(rawURL)
	u, err := url.Parse(rest)
	if err != nil {
		// url.Parse's error quotes the URL, which may hold a password.
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: invalid URL", name)
	}
	if hosts != "" {
		u.Host = hosts
	}
	red := redact(u)
	bad := func(format string, args ...any) error {
		return hookbox.Errorf(hookbox.EINVALID, "destination %s: URL %s: %s", name, red, fmt.Sprintf(format, args...))
	}
	if u.Scheme != "nats" {
		return nil, bad("scheme must be nats (for TLS: nats://...?tls=1)")
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, bad("no host")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, bad("a NATS URL has no path (the subject goes in ?subject=)")
	}
	if u.Fragment != "" {
		return nil, bad("a NATS URL has no fragment")
	}
	d := &Destination{
		name:     name,
		redacted: red,
		secret:   secret,
		timeout:  opts.AttemptTimeout(),
		filter:   opts.Filter(),
		version:  opts.APIVersion,
		now:      opts.Now,
	}
	for _, hp := range strings.Split(u.Host, ",") {
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			host, port = hp, DefaultPort
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if host == "" || strings.ContainsAny(host, "[]/ ") {
			return nil, bad("invalid host %q", hp)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, bad("invalid port %q", port)
		}
		d.servers = append(d.servers, "nats://"+net.JoinHostPort(host, port))
	}

	d.opts = []natsgo.Option{
		natsgo.Name("hookbox " + name),
		// Reconnect for as long as the destination is open; attempts
		// fail at once while disconnected instead of buffering messages
		// that would be published after their attempt was recorded.
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectBufSize(-1),
		natsgo.Timeout(min(d.timeout, 5*time.Second)),
	}
	if ui := u.User; ui != nil {
		user := ui.Username()
		if pw, ok := ui.Password(); ok {
			d.password = pw
			d.opts = append(d.opts, natsgo.UserInfo(user, pw))
		} else if user != "" {
			d.password = user // a token is a secret too
			d.opts = append(d.opts, natsgo.Token(user))
		}
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("invalid query")
	}
	subject := DefaultSubject
	requireTLS := false
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, bad("query parameter %s given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "subject":
			subject = v
		case "stream":
			if !validStreamName(v) {
				return nil, bad("invalid stream name %q (no spaces, dots, wildcards or slashes)", v)
			}
			d.stream = v
		case "tls":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad("tls=%q: want 1 or 0", v)
			}
			requireTLS = requireTLS || b
		case "ca":
			if v == "" {
				return nil, bad("empty ca")
			}
			requireTLS = true
			d.opts = append(d.opts, natsgo.RootCAs(v))
		case "creds":
			if v == "" {
				return nil, bad("empty creds")
			}
			d.opts = append(d.opts, natsgo.UserCredentials(v))
		default:
			return nil, bad("unknown query parameter %q (want subject, stream, tls, ca or creds)", k)
		}
	}
	if requireTLS {
		d.opts = append(d.opts, natsgo.Secure())
	}
	if d.subject, err = deliver.ParseTemplate(subject); err != nil {
		return nil, bad("subject: %v", err)
	}
	if err := checkSubjectTemplate(subject); err != nil {
		return nil, bad("subject %q: %v", subject, err)
	}
	return d, nil
}

// splitHosts takes a server list (a,b:4223,[::1]) out of rawURL, whose
// parser accepts one host only, and returns it and rawURL with a
// placeholder host; hosts is "" when rawURL names at most one server.
func splitHosts(rawURL string) (hosts, rest string) {
	_, after, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "", rawURL
	}
	auth := after
	if i := strings.IndexAny(auth, "/?#"); i >= 0 {
		auth = auth[:i]
	}
	hosts = auth[strings.LastIndexByte(auth, '@')+1:]
	if !strings.Contains(hosts, ",") {
		return "", rawURL
	}
	start := len(rawURL) - len(after) + len(auth) - len(hosts)
	return hosts, rawURL[:start] + "hosts" + rawURL[start+len(hosts):]
}

// validStreamName follows the server's rules for stream names.
func validStreamName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n.*>/\\")
}

// checkSubjectTemplate checks that the template's expansions are subjects
// a message can be published on: no wildcards or whitespace, no empty
// token. Field values are checked again when expanded (validSubject).
func checkSubjectTemplate(t string) error {
	lit := t
	for _, f := range []string{"{type}", "{account}", "{livemode}", "{endpoint}", "{object}"} {
		lit = strings.ReplaceAll(lit, f, "x")
	}
	if !validSubject(lit) {
		return errors.New("not a publishable subject (no spaces, no * or > wildcards, no empty tokens)")
	}
	return nil
}

// validSubject reports whether s is a literal NATS subject.
func validSubject(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n*>") {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" {
			return false
		}
	}
	return true
}

// Name returns the destination's name.
func (d *Destination) Name() string { return d.name }

// APIVersion returns the Stripe API version the consumers understand
// (deliver.Versioned).
func (d *Destination) APIVersion() hookbox.APIVersion { return d.version }

var _ deliver.Versioned = (*Destination)(nil)

// redact is u's text with its credentials hidden: a password, and a user
// given alone, which NATS reads as a token (nats://TOKEN@host).
func redact(u *url.URL) string {
	if u.User != nil {
		if _, hasPassword := u.User.Password(); !hasPassword {
			c := *u
			c.User = url.User("xxxxx")
			return c.String()
		}
	}
	return u.Redacted()
}

// URL returns the destination URL with any password or token redacted.
func (d *Destination) URL() string { return d.redacted }

// AttemptTimeout returns the bound of one attempt, the acknowledgement
// included.
func (d *Destination) AttemptTimeout() time.Duration { return d.timeout }

// Subject returns the subject template.
func (d *Destination) Subject() deliver.Template { return d.subject }

// Accepts reports whether ev passes the type and livemode filters.
func (d *Destination) Accepts(ev *hookbox.Event) bool { return d.filter.Match(ev) }

// String describes the destination for logs: name and redacted URL, never
// the secret.
func (d *Destination) String() string { return d.name + " (" + d.redacted + ")" }

// MsgID returns the Nats-Msg-Id of ev: its id, or after a replay its id
// and the replay time, so that a replay publishes again while retries
// within one replay are deduplicated by the stream.
func MsgID(ev *hookbox.Event) string {
	if ev.ReplayedAt.IsZero() {
		return ev.ID
	}
	return ev.ID + ":r" + strconv.FormatInt(ev.ReplayedAt.UnixMicro(), 10)
}

// Deliver publishes ev.Body on the event's subject with the headers of
// deliver.MessageHeaders and Nats-Msg-Id (MsgID), and waits for the
// stream's acknowledgement. The attempt is OK only with it; Response is
// the stream and sequence ("STRIPE seq 42", "(duplicate)" when the stream
// had the message already). Connecting counts against the attempt's
// timeout.
func (d *Destination) Deliver(ctx context.Context, ev *hookbox.Event, attempt int) hookbox.Attempt {
	start := time.Now()
	a := hookbox.Attempt{EventID: ev.ID, Destination: d.name, Number: attempt, StartedAt: start}
	actx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()

	subject := d.subject.Expand(ev)
	if !validSubject(subject) {
		a.Error = "invalid subject " + strconv.Quote(short(subject, 200)) + " (from template " + d.subject.String() + ")"
		a.Duration = time.Since(start)
		return a
	}
	c, err := d.connect(actx)
	if err != nil {
		a.Error = d.describe(ctx, actx, "connect", err)
		a.Duration = time.Since(start)
		return a
	}
	msg := natsgo.NewMsg(subject)
	msg.Data = ev.Body
	for k, v := range deliver.MessageHeaders(ev, attempt, d.secret, d.now()) {
		msg.Header[k] = []string{v}
	}
	if tp := deliver.Traceparent(ctx); tp != "" {
		msg.Header[deliver.HeaderTraceparent] = []string{tp}
	}
	popts := []jetstream.PublishOpt{jetstream.WithMsgID(MsgID(ev)), jetstream.WithRetryAttempts(0)}
	if d.stream != "" {
		popts = append(popts, jetstream.WithExpectStream(d.stream))
	}
	ack, err := c.js.PublishMsg(actx, msg, popts...)
	a.Duration = time.Since(start)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) {
			a.Error = "no stream takes subject " + short(subject, 200) + " (hookbox never creates streams: add one whose subjects match)"
			return a
		}
		a.Error = d.describe(ctx, actx, "publish", err)
		return a
	}
	a.OK = true
	a.Response = ack.Stream + " seq " + strconv.FormatUint(ack.Sequence, 10)
	if ack.Duplicate {
		a.Response += " (duplicate)"
	}
	return a
}

// connect returns the open connection, dialing it when there is none or
// the last one failed or closed. Concurrent callers share one dial; each
// waits for it until its ctx ends.
func (d *Destination) connect(ctx context.Context) (*conn, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, errors.New("destination closed")
	}
	c := d.conn
	if c != nil {
		select {
		case <-c.done:
			if c.err != nil || c.nc.IsClosed() {
				c = nil
			}
		default: // a dial in progress
		}
	}
	if c == nil {
		c = &conn{done: make(chan struct{})}
		d.conn = c
		go d.dial(c)
	}
	d.mu.Unlock()
	select {
	case <-c.done:
		if c.err != nil {
			return nil, c.err
		}
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// dial connects c. nats.Connect takes no context: it runs on its own and
// is bounded by the Timeout option per server.
func (d *Destination) dial(c *conn) {
	nc, err := natsgo.Connect(strings.Join(d.servers, ","), d.opts...)
	if err == nil {
		c.js, err = jetstream.New(nc)
		if err != nil {
			nc.Close()
		}
	}
	d.mu.Lock()
	if err == nil && d.closed {
		nc.Close() // Close ran during the dial
		err = errors.New("destination closed")
	}
	c.nc, c.err = nc, err
	d.mu.Unlock()
	close(c.done)
}

// Close closes the connection, if any. Later attempts fail. It is
// idempotent and always returns nil.
func (d *Destination) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if c := d.conn; c != nil {
		select {
		case <-c.done:
			if c.err == nil {
				c.nc.Close()
			}
		default: // dial closes it
		}
	}
	return nil
}

// describe turns an error into a short text without the password or
// token of the URL.
func (d *Destination) describe(parent, actx context.Context, op string, err error) string {
	var s string
	switch {
	case parent.Err() != nil:
		s = "canceled: " + context.Cause(parent).Error()
	case errors.Is(actx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		if op == "connect" {
			s = fmt.Sprintf("timeout after %s connecting", d.timeout)
		} else {
			s = fmt.Sprintf("timeout after %s waiting for the JetStream ack", d.timeout)
		}
	case errors.Is(err, natsgo.ErrReconnectBufExceeded):
		// nats.go's words for "not buffered while disconnected".
		s = op + ": disconnected from NATS, reconnecting"
	default:
		s = op + ": " + err.Error()
	}
	if d.password != "" {
		s = strings.ReplaceAll(s, d.password, "xxxxx")
	}
	return short(s, 300)
}

// short cuts s to at most n bytes.
func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
