package amqp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	amqpgo "github.com/rabbitmq/amqp091-go"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// DefaultRoutingKey is the routing key template when the URL sets none.
const DefaultRoutingKey = "stripe.{type}"

// clientParams are RabbitMQ's own URI query parameters, passed to the
// client as they are. connection_timeout is not among them: the attempt's
// timeout bounds the dial.
var clientParams = map[string]bool{
	"heartbeat": true, "channel_max": true, "auth_mechanism": true,
	"certfile": true, "keyfile": true, "cacertfile": true, "server_name_indication": true,
}

// closeTimeout bounds the close handshake of a connection.
const closeTimeout = 5 * time.Second

// errClosed is the error of an attempt after Close.
var errClosed = errors.New("destination closed")

// Destination publishes events to a RabbitMQ exchange. It is safe for
// concurrent use.
type Destination struct {
	name       string
	dialURL    string // the URL without hookbox's parameters; never shown
	redacted   string
	secret     string
	exchange   string
	routingKey deliver.Template
	opts       deliver.BrokerOptions
	filter     deliver.Filter
	version    hookbox.APIVersion
	timeout    time.Duration

	dialing chan struct{} // holds a token while one Deliver dials

	mu     sync.Mutex
	conn   *amqpgo.Connection // nil until the first dial, or after a failure
	idle   []*channel         // confirm-mode channels of conn, not in use
	closed bool
}

var (
	_ deliver.Destination = (*Destination)(nil)
	_ deliver.Timeouter   = (*Destination)(nil)
)

// channel is a confirm-mode channel used by one attempt at a time: a
// basic.return arriving before the confirm of its publish belongs to it.
type channel struct {
	conn    *amqpgo.Connection
	ch      *amqpgo.Channel
	returns chan amqpgo.Return
	closes  chan *amqpgo.Error
}

// New returns a destination named name publishing to the RabbitMQ of
// rawURL (amqp or amqps; see the package doc for its query), signing with
// secret. It validates and never connects. Errors are EINVALID and never
// include the secret or the URL's password.
func New(name, rawURL, secret string, opts deliver.BrokerOptions) (*Destination, error) {
	if err := opts.Check(name, secret); err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the URL, which may hold a password.
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: invalid URL", name)
	}
	redacted := u.Redacted()
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: URL %s: scheme must be amqp or amqps", name, redacted)
	}
	if u.Hostname() == "" {
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: URL %s: no host", name, redacted)
	}
	if u.Fragment != "" {
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: URL %s: unexpected #fragment", name, redacted)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: URL %s: invalid query", name, redacted)
	}
	d := &Destination{
		name:     name,
		redacted: redacted,
		secret:   secret,
		opts:     opts,
		filter:   opts.Filter(),
		version:  opts.APIVersion,
		timeout:  opts.AttemptTimeout(),
		dialing:  make(chan struct{}, 1),
	}
	rk := DefaultRoutingKey
	client := url.Values{}
	for _, k := range sortedKeys(q) {
		vs := q[k]
		switch {
		case len(vs) != 1:
			return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: URL %s: parameter %s given %d times", name, redacted, k, len(vs))
		case k == "exchange":
			d.exchange = vs[0]
		case k == "routing_key":
			rk = vs[0]
		case clientParams[k]:
			client[k] = vs
		default:
			return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: URL %s: unknown parameter %q (want exchange, routing_key or RabbitMQ's %s)", name, redacted, k, strings.Join(sortedKeys(clientParams), ", "))
		}
	}
	if d.routingKey, err = deliver.ParseTemplate(rk); err != nil {
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: routing_key: %s", name, hookbox.ErrorMessage(err))
	}
	if len(rk) > 255 || len(d.exchange) > 255 {
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: exchange and routing_key are at most 255 bytes", name)
	}
	du := *u
	du.RawQuery = client.Encode()
	d.dialURL = du.String()
	// The client's own parser checks ports and its parameters' values; its
	// errors may quote them, never the password, but say only what failed.
	if _, err := amqpgo.ParseURI(d.dialURL); err != nil {
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: URL %s: not an AMQP URI (port, heartbeat, channel_max)", name, redacted)
	}
	return d, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Name returns the destination's name.
func (d *Destination) Name() string { return d.name }

// APIVersion returns the Stripe API version the consumers understand
// (deliver.Versioned).
func (d *Destination) APIVersion() hookbox.APIVersion { return d.version }

var _ deliver.Versioned = (*Destination)(nil)

// URL returns the destination URL with its password redacted.
func (d *Destination) URL() string { return d.redacted }

// AttemptTimeout returns the bound of one attempt, dial and confirm
// included.
func (d *Destination) AttemptTimeout() time.Duration { return d.timeout }

// String describes the destination for logs: name and redacted URL.
func (d *Destination) String() string { return d.name + " (" + d.redacted + ")" }

// Accepts reports whether ev passes the type and livemode filters.
func (d *Destination) Accepts(ev *hookbox.Event) bool { return d.filter.Match(ev) }

// Deliver publishes ev (persistent, mandatory) and waits for the broker's
// confirm. The attempt is OK only on a basic.ack without a basic.return;
// Response then names the exchange and routing key. It returns by ctx's
// end or the attempt timeout, whichever comes first.
func (d *Destination) Deliver(ctx context.Context, ev *hookbox.Event, attempt int) hookbox.Attempt {
	start := time.Now()
	a := hookbox.Attempt{EventID: ev.ID, Destination: d.name, Number: attempt, StartedAt: start}
	actx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	resp, err := d.publish(actx, ev, attempt)
	if err != nil {
		a.Error = d.describe(ctx, actx, err)
	} else {
		a.OK, a.Response = true, resp
	}
	a.Duration = time.Since(start)
	return a
}

// describe turns a failure into a short message; none of them holds the
// URL or the secret.
func (d *Destination) describe(parent, actx context.Context, err error) string {
	switch {
	case parent.Err() != nil:
		return "canceled: " + context.Cause(parent).Error()
	case errors.Is(actx.Err(), context.DeadlineExceeded) && errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timeout after %s: %s", d.timeout, err)
	}
	var ae *amqpgo.Error
	if errors.As(err, &ae) {
		// "Exception (404) Reason: ..." as the client prints it, shorter.
		return fmt.Sprintf("%s: %d %s", errPrefix(err), ae.Code, ae.Reason)
	}
	return err.Error()
}

// errPrefix is the operation an error happened in, from its wrapping.
func errPrefix(err error) string {
	s := err.Error()
	if op, _, ok := strings.Cut(s, ": "); ok {
		return op
	}
	return "amqp"
}

// publish makes one attempt: a channel, the publish, the confirm.
func (d *Destination) publish(ctx context.Context, ev *hookbox.Event, attempt int) (string, error) {
	ch, err := d.channel(ctx)
	if err != nil {
		return "", err
	}
	key := d.routingKey.Expand(ev)
	now := d.opts.Now()
	hs := deliver.MessageHeaders(ev, attempt, d.secret, now)
	table := make(amqpgo.Table, len(hs))
	for k, v := range hs {
		table[k] = v
	}
	if tp := deliver.Traceparent(ctx); tp != "" {
		table[deliver.HeaderTraceparent] = tp
	}
	msg := amqpgo.Publishing{
		Headers:      table,
		ContentType:  hs["Content-Type"],
		DeliveryMode: amqpgo.Persistent,
		MessageId:    ev.ID,
		Timestamp:    now,
		Type:         ev.Type,
		AppId:        "hookbox",
		Body:         ev.Body,
	}

	// The client's writes do not heed a context (a broker applying TCP
	// back-pressure blocks them), so the publish runs aside and the
	// attempt returns at ctx's end; the channel is then dropped.
	type sent struct {
		dc  *amqpgo.DeferredConfirmation
		err error
	}
	done := make(chan sent, 1)
	go func() {
		dc, err := ch.ch.PublishWithDeferredConfirm(d.exchange, key, true, false, msg)
		done <- sent{dc, err}
	}()
	var s sent
	select {
	case s = <-done:
	case <-ctx.Done():
		go func() { <-done; d.drop(ch) }()
		return "", fmt.Errorf("publish: %w", ctx.Err())
	}
	if s.err != nil {
		d.drop(ch)
		return "", fmt.Errorf("publish: %w", closeReason(ch, s.err))
	}
	select {
	case <-s.dc.Done():
	case <-ctx.Done():
		// A late confirm or return would be taken for the next publish's.
		d.drop(ch)
		return "", fmt.Errorf("confirm: %w", ctx.Err())
	}
	// RabbitMQ sends basic.return before the basic.ack of the same
	// message, and the client hands it to ch.returns (buffered) before it
	// resolves the confirm: a return, if any, is there now.
	// (The client closes ch.returns when the channel closes.)
	select {
	case r, ok := <-ch.returns:
		if ok {
			d.release(ch)
			return "", fmt.Errorf("returned: %d %s (no queue bound to exchange %q with routing key %q)", r.ReplyCode, r.ReplyText, d.exchange, key)
		}
	default:
	}
	if !s.dc.Acked() {
		// A nack, or the channel closed before its confirm (a missing
		// exchange, a lost connection): the closing error says which.
		d.drop(ch)
		return "", fmt.Errorf("confirm: %w", closeReason(ch, errors.New("nacked by the broker")))
	}
	d.release(ch)
	return fmt.Sprintf("confirmed: exchange %q routing key %q", d.exchange, key), nil
}

// closeReason returns why ch closed when it did, else err.
func closeReason(ch *channel, err error) error {
	select {
	case e, ok := <-ch.closes:
		if ok && e != nil {
			return e
		}
	default:
	}
	return err
}

// channel returns an idle channel of the live connection, or a new one,
// dialing first when there is no live connection.
func (d *Destination) channel(ctx context.Context) (*channel, error) {
	conn, err := d.connection(ctx)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	for len(d.idle) > 0 {
		ch := d.idle[len(d.idle)-1]
		d.idle = d.idle[:len(d.idle)-1]
		if ch.conn == conn && !ch.ch.IsClosed() {
			d.mu.Unlock()
			return ch, nil
		}
		go ch.ch.Close()
	}
	d.mu.Unlock()

	// Opening a channel is a round trip that does not heed a context.
	type opened struct {
		ch  *channel
		err error
	}
	done := make(chan opened, 1)
	go func() {
		ch, err := openChannel(conn)
		done <- opened{ch, err}
	}()
	select {
	case o := <-done:
		if o.err != nil {
			// A connection that cannot open a channel is dropped.
			d.dropConn(conn)
			return nil, fmt.Errorf("open channel: %w", o.err)
		}
		return o.ch, nil
	case <-ctx.Done():
		go func() {
			if o := <-done; o.ch != nil {
				o.ch.ch.Close()
			}
		}()
		return nil, fmt.Errorf("open channel: %w", ctx.Err())
	}
}

// openChannel opens a channel on conn in confirm mode, listening for its
// returns and its closing.
func openChannel(conn *amqpgo.Connection) (*channel, error) {
	c, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := c.Confirm(false); err != nil {
		c.Close()
		return nil, err
	}
	return &channel{
		conn:    conn,
		ch:      c,
		returns: c.NotifyReturn(make(chan amqpgo.Return, 1)),
		closes:  c.NotifyClose(make(chan *amqpgo.Error, 1)),
	}, nil
}

// release gives ch back to the pool, or closes it when it is no longer of
// the live connection or the destination is closed.
func (d *Destination) release(ch *channel) {
	d.mu.Lock()
	if !d.closed && ch.conn == d.conn && !ch.ch.IsClosed() {
		d.idle = append(d.idle, ch)
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	go ch.ch.Close()
}

// drop closes ch after a failure: it is never reused.
func (d *Destination) drop(ch *channel) { go ch.ch.Close() }

// connection returns the live connection, dialing one when there is none
// (first use, or after the last one failed). One Deliver dials at a time;
// the others wait for it, each until its own ctx ends.
func (d *Destination) connection(ctx context.Context) (*amqpgo.Connection, error) {
	if c, err := d.live(); c != nil || err != nil {
		return c, err
	}
	select {
	case d.dialing <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("dial: %w", ctx.Err())
	}
	defer func() { <-d.dialing }()
	if c, err := d.live(); c != nil || err != nil {
		return c, err
	}
	c, err := d.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		go c.CloseDeadline(time.Now().Add(closeTimeout))
		return nil, errClosed
	}
	d.conn, d.idle = c, nil
	d.mu.Unlock()
	return c, nil
}

// live returns the connection when it is open, errClosed after Close.
func (d *Destination) live() (*amqpgo.Connection, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	if d.conn != nil && !d.conn.IsClosed() {
		return d.conn, nil
	}
	return nil, nil
}

// dropConn forgets conn, if it is still the live one, and closes it.
func (d *Destination) dropConn(conn *amqpgo.Connection) {
	d.mu.Lock()
	if d.conn == conn {
		d.conn, d.idle = nil, nil
	}
	d.mu.Unlock()
	go conn.CloseDeadline(time.Now().Add(closeTimeout))
}

// dial opens a connection within ctx: the TCP dial and the TLS and AMQP
// handshakes end at its deadline, or as soon as it is canceled.
func (d *Destination) dial(ctx context.Context) (*amqpgo.Connection, error) {
	var stop func() bool
	props := amqpgo.NewConnectionProperties()
	props.SetClientConnectionName("hookbox " + d.name)
	conn, err := amqpgo.DialConfig(d.dialURL, amqpgo.Config{
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			var nd net.Dialer
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if dl, ok := ctx.Deadline(); ok {
				c.SetDeadline(dl) // the handshakes'; cleared once open
			}
			stop = context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
			return c, nil
		},
	})
	if err != nil {
		if stop != nil {
			stop()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if !stop() {
		// ctx ended as the handshake completed: its deadline may be set.
		conn.Close()
		return nil, ctx.Err()
	}
	return conn, nil
}

// Close closes the connection; attempts after it fail. It is idempotent.
func (d *Destination) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	conn := d.conn
	d.conn, d.idle = nil, nil
	d.mu.Unlock()
	if conn == nil || conn.IsClosed() {
		return nil
	}
	if err := conn.CloseDeadline(time.Now().Add(closeTimeout)); err != nil && !errors.Is(err, amqpgo.ErrClosed) {
		return fmt.Errorf("close %s: %w", d.name, err)
	}
	return nil
}
