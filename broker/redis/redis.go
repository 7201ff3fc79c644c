package redis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
)

// FieldBody is the entry field holding the event's body; the other fields
// are deliver.MessageHeaders' names.
const FieldBody = "body"

// DefaultStream is the stream template when the URL names none.
const DefaultStream = "stripe"

// maxError bounds the error text of a failed attempt.
const maxError = 512

// Destination appends events to a Redis stream. Create it with New.
type Destination struct {
	name     string
	redacted string // the URL with its password redacted
	password string // to scrub from error texts; never shown
	secret   string
	opts     *goredis.Options
	stream   deliver.Template
	maxLen   int64
	filter   deliver.Filter
	version  hookbox.APIVersion
	timeout  time.Duration
	now      func() time.Time

	mu     sync.Mutex
	client *goredis.Client // nil until the first Deliver
	closed bool
}

var (
	_ deliver.Destination = (*Destination)(nil)
	_ deliver.Timeouter   = (*Destination)(nil)
)

// New returns a destination named name appending to the Redis server of
// rawURL (redis:// or rediss://, see the package doc for its query), each
// entry signed with secret. It does not connect. Errors are EINVALID and
// never include the secret or the URL's password.
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
	invalid := func(format string, args ...any) error {
		return hookbox.Errorf(hookbox.EINVALID, "destination %s: URL %s: %s", name, redacted, fmt.Sprintf(format, args...))
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, invalid("scheme must be redis or rediss")
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, invalid("no host")
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, invalid("invalid query")
	}
	d := &Destination{
		name:     name,
		redacted: redacted,
		secret:   secret,
		filter:   opts.Filter(),
		version:  opts.APIVersion,
		timeout:  opts.AttemptTimeout(),
		now:      opts.Now,
	}
	if p, ok := u.User.Password(); ok {
		d.password = p
	}
	stream := DefaultStream
	if q.Has("stream") {
		stream = q.Get("stream")
	}
	if d.stream, err = deliver.ParseTemplate(stream); err != nil {
		return nil, invalid("stream: %s", hookbox.ErrorMessage(err))
	}
	if q.Has("maxlen") {
		n, err := strconv.ParseInt(q.Get("maxlen"), 10, 64)
		if err != nil || n < 1 {
			return nil, invalid("maxlen %q: want a positive integer", q.Get("maxlen"))
		}
		d.maxLen = n
	}
	for _, k := range []string{"stream", "maxlen"} {
		if len(q[k]) > 1 {
			return nil, invalid("%s given %d times", k, len(q[k]))
		}
		q.Del(k)
	}

	// The rest of the query is go-redis's: let it parse (and refuse) it.
	gu := *u
	gu.RawQuery = q.Encode()
	o, err := goredis.ParseURL(gu.String())
	if err != nil {
		return nil, invalid("%s", strings.TrimPrefix(d.scrub(err.Error()), "redis: "))
	}
	if !q.Has("max_retries") {
		// One attempt is one XADD: the worker's retry policy retries and
		// records each try.
		o.MaxRetries = -1
	}
	// Bound every command by the attempt's context, not only by go-redis's
	// own read and write timeouts.
	o.ContextTimeoutEnabled = true
	d.opts = o
	return d, nil
}

// Name returns the destination's name.
func (d *Destination) Name() string { return d.name }

// APIVersion returns the Stripe API version the consumers understand
// (deliver.Versioned).
func (d *Destination) APIVersion() hookbox.APIVersion { return d.version }

var _ deliver.Versioned = (*Destination)(nil)

// URL returns the destination URL with any password redacted.
func (d *Destination) URL() string { return d.redacted }

// String describes the destination for logs: name and redacted URL, never
// the secret.
func (d *Destination) String() string { return d.name + " (" + d.redacted + ")" }

// AttemptTimeout returns the bound of one attempt.
func (d *Destination) AttemptTimeout() time.Duration { return d.timeout }

// Accepts reports whether ev passes the type and livemode filters.
func (d *Destination) Accepts(ev *hookbox.Event) bool { return d.filter.Match(ev) }

// errClosed fails the attempts made after Close.
var errClosed = errors.New("destination closed")

// conn returns the client, created on first use.
func (d *Destination) conn() (*goredis.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	if d.client == nil {
		o := *d.opts
		d.client = goredis.NewClient(&o)
	}
	return d.client, nil
}

// Deliver appends ev to its stream with XADD: the field body (the exact
// stored bytes) and one field per deliver.MessageHeaders header, with a
// Stripe-Signature made now. It is OK when Redis answers with the entry's
// id, which Response holds with the stream's name. It returns within the
// destination's timeout, or when ctx is done.
func (d *Destination) Deliver(ctx context.Context, ev *hookbox.Event, attempt int) hookbox.Attempt {
	start := time.Now()
	a := hookbox.Attempt{EventID: ev.ID, Destination: d.name, Number: attempt, StartedAt: start}
	c, err := d.conn()
	if err != nil {
		a.Error = err.Error()
		a.Duration = time.Since(start)
		return a
	}
	actx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()

	stream := d.stream.Expand(ev)
	h := deliver.MessageHeaders(ev, attempt, d.secret, d.now())
	values := make([]any, 0, 2+2*len(deliver.HeaderNames))
	values = append(values, FieldBody, ev.Body)
	for _, k := range deliver.HeaderNames {
		values = append(values, k, h[k])
	}
	if tp := deliver.Traceparent(ctx); tp != "" {
		values = append(values, deliver.HeaderTraceparent, tp)
	}
	args := &goredis.XAddArgs{Stream: stream, Values: values}
	if d.maxLen > 0 {
		args.MaxLen, args.Approx = d.maxLen, true
	}
	id, err := c.XAdd(actx, args).Result()
	a.Duration = time.Since(start)
	if err != nil {
		a.Error = d.describe(ctx, actx, err)
		return a
	}
	a.OK = true
	a.Response = clean(id+" in "+stream, hookbox.MaxResponseSnippet)
	return a
}

// describe returns the error text of a failed attempt: short, valid UTF-8,
// without the URL's password.
func (d *Destination) describe(parent, actx context.Context, err error) string {
	switch {
	case parent.Err() != nil:
		return "canceled: " + clean(d.scrub(context.Cause(parent).Error()), maxError)
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("timeout after %s", d.timeout)
	}
	return clean("xadd: "+d.scrub(err.Error()), maxError)
}

// scrub removes the URL's password from s, should a client error ever
// quote it.
func (d *Destination) scrub(s string) string {
	if d.password == "" {
		return s
	}
	return strings.ReplaceAll(s, d.password, "xxxxx")
}

// clean returns s cut to at most n bytes, as valid UTF-8 without NUL bytes
// (attempt texts go to text columns, and PostgreSQL text holds neither).
func clean(s string, n int) string {
	if len(s) > n {
		s = s[:n]
		for len(s) > 0 {
			r, size := utf8.DecodeLastRuneInString(s)
			if r != utf8.RuneError || size != 1 {
				break
			}
			s = s[:len(s)-1] // drop a character cut by the limit
		}
	}
	s = strings.ToValidUTF8(s, "?")
	return strings.ReplaceAll(s, "\x00", "?")
}

// Close releases the connection pool; Deliver fails afterwards. It is
// idempotent.
func (d *Destination) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if d.client == nil {
		return nil
	}
	return d.client.Close()
}
