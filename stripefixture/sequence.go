package stripefixture

import (
	"slices"
	"strconv"
)

// Lifecycles: several events about one object, as Stripe sends them over
// its life. Each is built from one scene whose object is mutated step by
// step and encoded at once, so the events agree on everything that did not
// change (ids, amounts, customer) and previous_attributes holds what did.

// lifecycle is a kind Sequence takes: steps builds the object at each of
// times and hands every step's event to emit, in order.
type lifecycle struct {
	name  string
	steps func(s *scene, times []int64, emit func(typ string, object, previous obj))
}

var lifecycles = []lifecycle{
	{"subscription", (*scene).subscriptionLife},
	{"invoice", (*scene).invoiceLife},
	{"payment_intent", (*scene).paymentIntentLife},
}

// Lifecycles lists the kinds of object Sequence can follow.
func Lifecycles() []string {
	names := make([]string, len(lifecycles))
	for i, l := range lifecycles {
		names[i] = l.name
	}
	return names
}

// Sequence returns the bodies of n events (n >= 1) about one new object of
// kind (one of Lifecycles()), in creation order: the same data.object.id
// throughout, created strictly increasing by a few seconds to minutes, and
// the object's fields (status, previous_attributes on *.updated) following
// each step:
//
//   - subscription: customer.subscription.created (trialing or active),
//     customer.subscription.updated (the trial ended, then seats changed),
//     customer.subscription.deleted.
//   - invoice: invoice.created (draft), invoice.updated (the draft edited),
//     invoice.finalized, invoice.paid.
//   - payment_intent: payment_intent.created, then payment_intent.
//     requires_action and payment_intent.payment_failed in turn (3-D Secure,
//     declined cards), payment_intent.succeeded.
//
// The first and last steps are always there (n = 1 gives the first only);
// the middle repeats to make up n. The first event is created when Event's
// next would be, and the Generator's clock stays there: the objects of
// successive calls live side by side, as on a real account. It panics on an
// unknown kind or n < 1.
func (g *Generator) Sequence(kind string, n int, livemode bool) [][]byte {
	i := slices.IndexFunc(lifecycles, func(l lifecycle) bool { return l.name == kind })
	if i < 0 || n < 1 {
		panic("stripefixture: Sequence(" + strconv.Quote(kind) + ", " + strconv.Itoa(n) + ")")
	}
	if g.now == 0 {
		g.now = g.Start.Unix()
	} else {
		g.now += int64(g.rng.IntN(3))
	}
	s := g.newScene(livemode)
	if g.ConnectFraction > 0 && g.rng.Float64() < g.ConnectFraction {
		s.account = g.accounts[g.rng.IntN(len(g.accounts))]
	}
	// Seconds to minutes between steps: a webhook round trip, a customer
	// completing 3-D Secure, a retry with another card.
	times := make([]int64, n)
	times[0] = g.now
	for k := 1; k < n; k++ {
		times[k] = times[k-1] + 1 + int64(g.rng.IntN(300))
	}
	bodies := make([][]byte, 0, n)
	k := 0
	lifecycles[i].steps(s, times, func(typ string, object, previous obj) {
		s.now = times[k]
		bodies = append(bodies, g.envelope(s, typ, object, previous))
		k++
	})
	return bodies
}

// subscriptionLife: created, updated (trial ended early, then seats
// added), deleted.
func (s *scene) subscriptionLife(times []int64, emit func(string, obj, obj)) {
	n := len(times)
	s.now = times[0]
	b := s.newSub()
	b.created, b.periodStart = times[0], times[0]
	status := "active"
	if s.g.chance(0.5) {
		status = "trialing"
	}
	cur := s.subscription(b, status)
	if status == "trialing" {
		cur.set("trial_end", b.periodEnd()).set("trial_start", b.created)
	}
	s.apiRequest = true
	emit("customer.subscription.created", cur, nil)
	for k := 1; k < n-1; k++ {
		s.apiRequest = true
		if status == "trialing" {
			// POST /v1/subscriptions/:id trial_end=now: billed from today.
			status = "active"
			oldEnd := cur.get("trial_end")
			cur.set("status", status).set("trial_end", times[k])
			emit("customer.subscription.updated", cur, o("status", "trialing", "trial_end", oldEnd))
			continue
		}
		old := s.subscriptionItems(b)
		b.quantity++
		cur.set("items", s.subscriptionItems(b))
		emit("customer.subscription.updated", cur, o("items", old))
	}
	if n < 2 {
		return
	}
	end := times[n-1]
	s.apiRequest = true
	cur.set("status", "canceled").
		set("canceled_at", end).
		set("ended_at", end).
		set("cancellation_details", o("comment", nil, "feedback", nil, "reason", "cancellation_requested"))
	emit("customer.subscription.deleted", cur, nil)
}

// invoiceLife: a one-off invoice created as a draft, edited, finalized and
// paid. With n = 2 it is finalized, with n >= 3 also paid.
func (s *scene) invoiceLife(times []int64, emit func(string, obj, obj)) {
	n := len(times)
	s.now = times[0]
	b := s.newSub()
	b.periodStart = times[0]
	inv := s.invoice(b, false)
	number, hosted, pdf := inv.get("number"), inv.get("hosted_invoice_url"), inv.get("invoice_pdf")
	inv = s.draftInvoice(b, times[0]).set("attempt_count", 0)
	s.apiRequest = true
	emit("invoice.created", inv, nil)
	for k := 1; k < n-2; k++ {
		old := inv.get("description")
		inv.set("description", "Order #"+strconv.Itoa(1000+s.g.rng.IntN(9000))+", edit "+strconv.Itoa(k))
		emit("invoice.updated", inv, o("description", old))
	}
	if n < 2 {
		return
	}
	fin := times[n-1]
	if n >= 3 {
		fin = times[n-2]
	}
	s.apiRequest = s.g.chance(0.5) // finalize_invoice, or auto-advance
	inv.set("status", "open").
		set("number", number).
		set("hosted_invoice_url", hosted).
		set("invoice_pdf", pdf).
		set("effective_at", fin).
		set("next_payment_attempt", fin).
		set("webhooks_delivered_at", fin).
		set("status_transitions", o("finalized_at", fin, "marked_uncollectible_at", nil, "paid_at", nil, "voided_at", nil))
	emit("invoice.finalized", inv, nil)
	if n < 3 {
		return
	}
	paid := times[n-1]
	s.apiRequest = false // the automatic charge
	inv.set("status", "paid").
		set("amount_paid", inv.get("amount_due")).
		set("amount_remaining", 0).
		set("attempt_count", 1).
		set("attempted", true).
		set("auto_advance", false).
		set("next_payment_attempt", nil).
		set("status_transitions", o("finalized_at", fin, "marked_uncollectible_at", nil, "paid_at", paid, "voided_at", nil))
	emit("invoice.paid", inv, nil)
}

// paymentIntentLife: created, then 3-D Secure and declines in turn,
// succeeded.
func (s *scene) paymentIntentLife(times []int64, emit func(string, obj, obj)) {
	n := len(times)
	s.now = times[0]
	pi := s.paymentIntent("requires_payment_method", nil).
		set("created", times[0]).
		set("latest_charge", nil).
		set("payment_method", nil)
	s.apiRequest = true
	emit("payment_intent.created", pi, nil)
	for k := 1; k < n-1; k++ {
		s.now = times[k]
		if k%2 == 1 {
			s.apiRequest = true
			secret := pi.get("client_secret").(string)
			pi.set("status", "requires_action").
				set("payment_method", s.pm).
				set("last_payment_error", nil).
				set("next_action", o(
					"redirect_to_url", o(
						"return_url", "https://shop.example.com/checkout/complete",
						"url", "https://hooks.stripe.com/3d_secure_2/hosted?payment_intent="+s.pi+"&payment_intent_client_secret="+secret,
					),
					"type", "redirect_to_url",
				))
			emit("payment_intent.requires_action", pi, nil)
			continue
		}
		s.apiRequest = false // the authentication failed, then the charge
		d := declines[s.g.rng.IntN(len(declines))]
		pi.set("status", "requires_payment_method").
			set("latest_charge", s.ch).
			set("next_action", nil).
			set("payment_method", nil).
			set("last_payment_error", o(
				"charge", s.ch,
				"code", "card_declined",
				"decline_code", d.code,
				"doc_url", "https://stripe.com/docs/error-codes/card-declined",
				"message", d.message,
				"payment_method", s.paymentMethod(),
				"type", "card_error",
			))
		emit("payment_intent.payment_failed", pi, nil)
	}
	if n < 2 {
		return
	}
	s.apiRequest = s.g.chance(0.7)
	pi.set("status", "succeeded").
		set("amount_received", s.amount).
		set("latest_charge", "ch_"+s.g.id(24)).
		set("payment_method", s.pm).
		set("next_action", nil).
		set("last_payment_error", nil)
	emit("payment_intent.succeeded", pi, nil)
}
