// Package stripefixture generates realistic Stripe webhook events: the event
// envelope Stripe POSTs (id, object, api_version, created, data.object,
// data.previous_attributes on *.updated, livemode, pending_webhooks,
// request, type, and account for Connect) around snapshots shaped like the
// API's objects (a payment_intent.succeeded body is about 3 KB, pretty-printed
// with two-space indentation as Stripe sends it).
//
// The output is deterministic for a seed: the same seed and the same
// sequence of calls give the same bytes, so tests can commit golden files
// and load runs can be repeated. Use a different seed (for example the
// clock) when the events must be new to a receiver that already stored a
// previous run.
//
// The package imports only the standard library. Every body is produced by
// encoding/json from values built here; nothing is pasted into JSON text.
package stripefixture

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// DefaultAPIVersion is the api_version written into events unless the
// Generator's APIVersion says otherwise. It is deliberately not stripe-go
// v85's pinned version: a receiver must store events of any version.
const DefaultAPIVersion = "2025-10-29.clover"

// DefaultStart is the created time of a new Generator's first event. It is
// fixed so that output depends on the seed alone.
var DefaultStart = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// The supported event types, in the order Types returns them, and for each
// the builder of data.object and, for *.updated, data.previous_attributes.
// New types go at the end: the golden files of the others stay put.
var types = []struct {
	name  string
	build func(*scene) (object, previous obj)
}{
	{"payment_intent.succeeded", (*scene).paymentIntentSucceeded},
	{"payment_intent.payment_failed", (*scene).paymentIntentFailed},
	{"invoice.paid", (*scene).invoicePaid},
	{"invoice.payment_failed", (*scene).invoicePaymentFailed},
	{"customer.subscription.updated", (*scene).subscriptionUpdated},
	{"customer.subscription.deleted", (*scene).subscriptionDeleted},
	{"checkout.session.completed", (*scene).checkoutSessionCompleted},
	{"charge.refunded", (*scene).chargeRefunded},
	{"charge.succeeded", (*scene).chargeSucceeded},
	{"customer.created", (*scene).customerCreated},

	{"payment_intent.created", (*scene).paymentIntentCreated},
	{"payment_intent.requires_action", (*scene).paymentIntentRequiresAction},
	{"payment_intent.amount_capturable_updated", (*scene).paymentIntentAmountCapturableUpdated},
	{"payment_intent.canceled", (*scene).paymentIntentCanceled},
	{"charge.failed", (*scene).chargeFailed},
	{"charge.captured", (*scene).chargeCaptured},
	{"charge.updated", (*scene).chargeUpdated},
	{"charge.dispute.created", (*scene).chargeDisputeCreated},
	{"charge.dispute.closed", (*scene).chargeDisputeClosed},
	{"refund.created", (*scene).refundCreated},
	{"refund.updated", (*scene).refundUpdated},
	{"setup_intent.created", (*scene).setupIntentCreated},
	{"setup_intent.succeeded", (*scene).setupIntentSucceeded},
	{"setup_intent.setup_failed", (*scene).setupIntentSetupFailed},
	{"payment_method.attached", (*scene).paymentMethodAttached},
	{"customer.updated", (*scene).customerUpdated},
	{"customer.deleted", (*scene).customerDeleted},
	{"customer.subscription.created", (*scene).subscriptionCreated},
	{"customer.subscription.trial_will_end", (*scene).subscriptionTrialWillEnd},
	{"invoice.created", (*scene).invoiceCreated},
	{"invoice.finalized", (*scene).invoiceFinalized},
	{"invoice.updated", (*scene).invoiceUpdated},
	{"invoice.payment_succeeded", (*scene).invoicePaid},
	{"invoice.upcoming", (*scene).invoiceUpcoming},
	{"invoice.voided", (*scene).invoiceVoided},
	{"checkout.session.expired", (*scene).checkoutSessionExpired},
	{"product.created", (*scene).productCreated},
	{"product.updated", (*scene).productUpdated},
	{"price.created", (*scene).priceCreated},
	{"price.updated", (*scene).priceUpdated},
	{"account.updated", (*scene).accountUpdated},
	{"payout.created", (*scene).payoutCreated},
	{"payout.paid", (*scene).payoutPaid},
	{"payout.failed", (*scene).payoutFailed},
}

// builders indexes types by name.
var builders = func() map[string]func(*scene) (obj, obj) {
	m := make(map[string]func(*scene) (obj, obj), len(types))
	for _, t := range types {
		m[t.name] = t.build
	}
	return m
}()

// Types lists the event types Event can generate.
func Types() []string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = t.name
	}
	return names
}

// Supported reports whether Event can generate typ.
func Supported(typ string) bool {
	_, ok := builders[typ]
	return ok
}

// Generator produces events. It is not safe for concurrent use; give each
// goroutine its own (seeded differently).
type Generator struct {
	// APIVersion is written to every event's api_version.
	APIVersion string
	// Start is the created time of the first event; each later event is
	// created 0-2 s after the previous one. Read on the first call to Event.
	Start time.Time
	// ConnectFraction (0..1) is the share of events that carry an account
	// (acct_...), as events of connected accounts do on a Connect endpoint.
	// At 0 (the default) no random draw is spent on it.
	ConnectFraction float64

	rng      *rand.Rand
	now      int64 // created of the previous event, unix seconds; 0 before the first
	accounts []string
}

// New returns a Generator whose output is determined by seed.
func New(seed int64) *Generator {
	g := &Generator{
		APIVersion: DefaultAPIVersion,
		Start:      DefaultStart,
		// PCG's output sequence is part of math/rand/v2's compatibility
		// promise, which is what makes golden files possible.
		rng: rand.New(rand.NewPCG(uint64(seed), 0x686f6f6b626f78)),
	}
	// A small, fixed pool: Connect endpoints see many events per account.
	for range 8 {
		g.accounts = append(g.accounts, "acct_"+g.id(16))
	}
	return g
}

// Event returns the JSON body of a new event of type typ. It panics if typ
// is not one of Types(): the set is fixed, and callers that take types from
// users check them with Supported first.
func (g *Generator) Event(typ string, livemode bool) []byte {
	build, ok := builders[typ]
	if !ok {
		panic("stripefixture: unsupported event type " + strconv.Quote(typ))
	}
	if g.now == 0 {
		g.now = g.Start.Unix()
	} else {
		g.now += int64(g.rng.IntN(3))
	}
	s := g.newScene(livemode)
	// A connected account's event carries its id, and an account.updated
	// of it describes that same account: draw it before the object.
	if g.ConnectFraction > 0 && g.rng.Float64() < g.ConnectFraction {
		s.account = g.accounts[g.rng.IntN(len(g.accounts))]
	}
	object, previous := build(s)
	return g.envelope(s, typ, object, previous)
}

// envelope returns the JSON body of the event typ of scene s around object
// and, for *.updated, previous (the draws after the object's, in the order
// Event has always made them: the golden files depend on it).
func (g *Generator) envelope(s *scene, typ string, object, previous obj) []byte {
	livemode := s.livemode
	var reqID, reqKey any // null for automatic events
	if s.apiRequest {
		reqID, reqKey = "req_"+g.id(14), g.uuid()
	}
	// The envelope, with Stripe's key order (o puts id and object first,
	// then the rest alphabetically, which is how Stripe writes events too).
	ev := o(
		"id", "evt_"+g.id(24),
		"object", "event",
		"api_version", g.APIVersion,
		"created", s.now,
		"livemode", livemode,
		"pending_webhooks", 1+g.rng.IntN(3),
		"request", o("id", reqID, "idempotency_key", reqKey),
		"type", typ,
	)
	d := o("object", object)
	if previous != nil {
		d = append(d, field{"previous_attributes", previous})
	}
	ev = append(ev, field{"data", d})
	if s.account != "" {
		ev = append(ev, field{"account", s.account})
	}
	slices.SortStableFunc(ev, func(a, b field) int { return cmpKeys(a.key, b.key) })
	// Stripe pretty-prints webhook bodies with two spaces; receivers must
	// verify those exact bytes, whitespace included.
	var b bytes.Buffer
	b.Grow(4096)
	if err := writeJSON(&b, ev, 0); err != nil {
		// Only values built in this package reach the encoder.
		panic("stripefixture: " + err.Error())
	}
	return b.Bytes()
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// id returns n random base62 characters, the tail of Stripe ids.
func (g *Generator) id(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = base62[g.rng.IntN(len(base62))]
	}
	return string(b)
}

// uuid returns a random version 4 UUID, the shape most Stripe client
// libraries use for idempotency keys.
func (g *Generator) uuid() string {
	var u [16]byte
	for i := 0; i < 16; i += 8 {
		v := g.rng.Uint64()
		for j := range 8 {
			u[i+j] = byte(v >> (8 * j))
		}
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (g *Generator) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g *Generator) chance(p float64) bool { return g.rng.Float64() < p }
