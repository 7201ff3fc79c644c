package deliver

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/stripesig"
)

// Headers every broker destination (NATS, RabbitMQ, Kafka, Redis Streams)
// attaches to a published event, besides the body as stored. A consumer
// verifies Stripe-Signature with the destination's secret exactly as it
// would a webhook (stripe-go's webhook.ConstructEvent over the body).
const (
	HeaderEventID   = "Hookbox-Event-Id"
	HeaderEventType = "Hookbox-Event-Type"
)

// MessageHeaders returns the headers of one attempt to publish ev: its id
// (also Idempotency-Key), type, the attempt number, Content-Type and a
// Stripe-Signature of the body made at now with secret (a fresh timestamp
// per attempt, as for HTTP forwards). The order is fixed: HeaderNames.
// When tracing is on, the brokers add HeaderTraceparent (Traceparent(ctx))
// after these.
func MessageHeaders(ev *hookbox.Event, attempt int, secret string, now time.Time) map[string]string {
	return map[string]string{
		"Content-Type":       "application/json",
		HeaderEventID:        ev.ID,
		HeaderEventType:      ev.Type,
		HeaderIdempotencyKey: ev.ID,
		HeaderAttempt:        strconv.Itoa(attempt),
		stripesig.HeaderName: stripesig.Sign(ev.Body, now, secret),
	}
}

// HeaderNames lists MessageHeaders' keys in a fixed order, for brokers whose
// headers are a list.
var HeaderNames = []string{"Content-Type", HeaderEventID, HeaderEventType, HeaderIdempotencyKey, HeaderAttempt, stripesig.HeaderName}

// Template names a subject, routing key, topic or stream from an event:
// literal text with the fields {type}, {account}, {livemode}, {endpoint}
// and {object}. {account} is "none" for an event of the platform account,
// {livemode} "live" or "test", {endpoint} "none" when the event recorded
// none, {object} the event's object ("event", or "v2.core.event" for a thin
// event).
type Template struct {
	parts []tmplPart
}

type tmplPart struct {
	lit   string
	field string // "" for a literal part
}

var tmplFields = map[string]func(*hookbox.Event) string{
	"type":    func(ev *hookbox.Event) string { return ev.Type },
	"account": func(ev *hookbox.Event) string { return orNone(ev.Account) },
	"livemode": func(ev *hookbox.Event) string {
		if ev.Livemode {
			return "live"
		}
		return "test"
	},
	"endpoint": func(ev *hookbox.Event) string { return orNone(ev.Endpoint) },
	"object":   func(ev *hookbox.Event) string { return ev.Object },
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// ParseTemplate parses s. An unknown field, an unclosed brace or an empty
// template is EINVALID.
func ParseTemplate(s string) (Template, error) {
	if s == "" {
		return Template{}, hookbox.Errorf(hookbox.EINVALID, "empty template")
	}
	var t Template
	for s != "" {
		i := strings.IndexAny(s, "{}")
		if i < 0 {
			t.parts = append(t.parts, tmplPart{lit: s})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: s[:i]})
		}
		if s[i] == '}' {
			return Template{}, hookbox.Errorf(hookbox.EINVALID, "template: unmatched }")
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return Template{}, hookbox.Errorf(hookbox.EINVALID, "template: unclosed {")
		}
		name := s[i+1 : i+j]
		if _, ok := tmplFields[name]; !ok {
			return Template{}, hookbox.Errorf(hookbox.EINVALID, "template: unknown field {%s} (want {type}, {account}, {livemode}, {endpoint} or {object})", name)
		}
		t.parts = append(t.parts, tmplPart{field: name})
		s = s[i+j+1:]
	}
	return t, nil
}

// Expand returns the template's text for ev.
func (t Template) Expand(ev *hookbox.Event) string {
	if len(t.parts) == 1 && t.parts[0].field == "" {
		return t.parts[0].lit
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == "" {
			b.WriteString(p.lit)
		} else {
			b.WriteString(tmplFields[p.field](ev))
		}
	}
	return b.String()
}

// String returns the template as written.
func (t Template) String() string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == "" {
			b.WriteString(p.lit)
		} else {
			fmt.Fprintf(&b, "{%s}", p.field)
		}
	}
	return b.String()
}

// BrokerOptions configure a broker destination (packages under broker/):
// the same filters, timeout and clock as an HTTP destination's. What is
// specific to a broker (subject, exchange, topic, stream, as Templates) is
// in the destination's URL query.
type BrokerOptions struct {
	// Timeout bounds one attempt, the broker's acknowledgement included;
	// <= 0 means DefaultTimeout.
	Timeout time.Duration
	// Types and Livemode filter the events; the zero values accept all.
	Types    Types
	Livemode Livemode
	// APIVersion is the Stripe API version the consumers understand
	// (Versioned); the zero value states nothing.
	APIVersion hookbox.APIVersion
	// NowFunc is the clock of the signature timestamps; nil: time.Now.
	NowFunc func() time.Time
}

// Filter returns the options' event filter.
func (o BrokerOptions) Filter() Filter { return Filter{Types: o.Types, Livemode: o.Livemode} }

// AttemptTimeout returns Timeout, or DefaultTimeout.
func (o BrokerOptions) AttemptTimeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// Now returns NowFunc(), or time.Now().
func (o BrokerOptions) Now() time.Time {
	if o.NowFunc != nil {
		return o.NowFunc()
	}
	return time.Now()
}

// Check validates what every broker destination's constructor takes
// besides its URL, as NewHTTP does: the name (the key of the destination's
// delivery state), a non-empty signing secret, and the livemode filter.
// Errors are EINVALID and never hold the secret.
func (o BrokerOptions) Check(name, secret string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if secret == "" {
		return hookbox.Errorf(hookbox.EINVALID, "destination %s: empty signing secret", name)
	}
	if !o.Livemode.valid() {
		return hookbox.Errorf(hookbox.EINVALID, "destination %s: livemode filter %q: want any, live or test", name, o.Livemode)
	}
	return nil
}
