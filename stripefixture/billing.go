package stripefixture

import "strings"

// Billing events around invoice.paid and customer.subscription.updated
// (objects.go): customers changed and deleted, subscriptions started and
// ending their trial, an invoice's life from draft to paid or void, and
// the catalog (products and prices).

// customerSince returns a customer created up to 400 days ago.
func (s *scene) customerSince() obj {
	return s.customerObject(s.now - int64(1+s.g.rng.IntN(400))*86400)
}

func (s *scene) customerUpdated() (obj, obj) {
	cur := s.customerSince()
	switch s.g.rng.IntN(3) {
	case 0: // a new email address, from the customer portal or the API
		s.apiRequest = s.g.chance(0.7)
		old := strings.Replace(s.email, "@", ".old@", 1)
		return cur, o("email", old)
	case 1: // a default payment method for invoices, after a setup intent
		s.apiRequest = true
		cur.set("invoice_settings", o("custom_fields", nil, "default_payment_method", s.pm, "footer", nil, "rendering_options", nil))
		return cur, o("invoice_settings", o("default_payment_method", nil))
	default: // a billing address, from Checkout
		s.apiRequest = false
		cur.set("address", s.address())
		return cur, o("address", nil)
	}
}

func (s *scene) customerDeleted() (obj, obj) {
	// Stripe sends the customer as it was, not the {"deleted": true} stub
	// that DELETE answers.
	s.apiRequest = true
	return s.customerSince(), nil
}

func (s *scene) subscriptionCreated() (obj, obj) {
	s.apiRequest = true
	b := s.newSub()
	b.created, b.periodStart = s.now, s.now
	switch r := s.g.rng.Float64(); {
	case r < 0.2: // a 30-day trial: the first period is the trial
		return s.subscription(b, "trialing").
			set("trial_end", b.periodEnd()).
			set("trial_start", b.created), nil
	case r < 0.3: // the first payment needs 3-D Secure
		return s.subscription(b, "incomplete"), nil
	}
	return s.subscription(b, "active"), nil
}

func (s *scene) subscriptionTrialWillEnd() (obj, obj) {
	// Sent three days before the trial ends, by Stripe.
	b := s.newSub()
	b.created = s.now - 27*86400
	b.periodStart = b.created
	return s.subscription(b, "trialing").
		set("trial_end", b.periodEnd()).
		set("trial_start", b.created), nil
}

// noTransitions is an invoice's status_transitions before finalization.
func noTransitions() obj {
	return o("finalized_at", nil, "marked_uncollectible_at", nil, "paid_at", nil, "voided_at", nil)
}

// draftInvoice is b's renewal invoice as a draft, created at created: no
// number, no hosted page, finalized an hour later by Stripe.
func (s *scene) draftInvoice(b *sub, created int64) obj {
	return s.invoice(b, false).
		set("attempt_count", 0).
		set("attempted", false).
		set("auto_advance", true).
		set("created", created).
		set("effective_at", nil).
		set("hosted_invoice_url", nil).
		set("invoice_pdf", nil).
		set("next_payment_attempt", created+3600).
		set("number", nil).
		set("status", "draft").
		set("status_transitions", noTransitions()).
		set("webhooks_delivered_at", nil)
}

// renewal returns a subscription whose period just turned.
func (s *scene) renewal() *sub {
	b := s.newSub()
	b.periodStart = s.now - int64(s.g.rng.IntN(3600))
	return b
}

func (s *scene) invoiceCreated() (obj, obj) {
	b := s.renewal()
	return s.draftInvoice(b, b.periodStart), nil
}

func (s *scene) invoiceFinalized() (obj, obj) {
	b := s.renewal()
	finalized := s.now - 3600
	return s.invoice(b, false).
		set("attempt_count", 0).
		set("attempted", false).
		set("next_payment_attempt", s.now).
		set("status_transitions", o("finalized_at", finalized, "marked_uncollectible_at", nil, "paid_at", nil, "voided_at", nil)), nil
}

func (s *scene) invoiceUpdated() (obj, obj) {
	// The invoice.updated that accompanies a payment.
	b := s.newSub()
	inv := s.invoice(b, true)
	return inv, o(
		"amount_paid", 0,
		"amount_remaining", inv.get("amount_due"),
		"attempt_count", 0,
		"attempted", false,
		"status", "open",
		"status_transitions", o("paid_at", nil),
	)
}

func (s *scene) invoiceVoided() (obj, obj) {
	s.apiRequest = true
	return s.invoice(s.newSub(), false).
		set("auto_advance", false).
		set("next_payment_attempt", nil).
		set("status", "void").
		set("status_transitions", o("finalized_at", s.now-3600, "marked_uncollectible_at", nil, "paid_at", nil, "voided_at", s.now)), nil
}

func (s *scene) invoiceUpcoming() (obj, obj) {
	// Sent some days (three by default) before a renewal: a preview of the
	// invoice to come, which has no id yet (nor do its lines).
	b := s.newSub()
	b.periodStart = s.now + 3*86400 // the renewal; the lines cover the next period
	inv := s.draftInvoice(b, b.periodStart).
		set("auto_advance", false).
		set("billing_reason", "upcoming")
	lines := inv.get("lines").(obj)
	lines.set("url", "/v1/invoices/upcoming/lines?customer="+s.customer+"&subscription="+b.id)
	for _, l := range lines.get("data").([]any) {
		l.(obj).set("id", "il_tmp_"+s.g.id(24)).set("invoice", nil)
	}
	return inv.without("id"), nil
}

// product is b's product, created (and last updated) at created.
func (s *scene) product(b *sub, created int64) obj {
	return o(
		"id", b.product,
		"object", "product",
		"active", true,
		"created", created,
		"default_price", b.price,
		"description", b.name+" plan: everything in the "+b.name+" tier, billed monthly.",
		"images", []any{},
		"livemode", s.livemode,
		"marketing_features", []any{},
		"metadata", o(),
		"name", b.name,
		"package_dimensions", nil,
		"shippable", nil,
		"statement_descriptor", nil,
		"tax_code", "txcd_10103001", // Software as a service, business use
		"type", "service",
		"unit_label", nil,
		"updated", created,
		"url", nil,
	)
}

func (s *scene) productCreated() (obj, obj) {
	s.apiRequest = true
	return s.product(s.newSub(), s.now), nil
}

func (s *scene) productUpdated() (obj, obj) {
	s.apiRequest = true
	b := s.newSub()
	before := b.created - 86400 // the catalog predates the subscription
	p := s.product(b, before).set("updated", s.now)
	switch s.g.rng.IntN(3) {
	case 0:
		old := p.get("description")
		p.set("description", strings.TrimSuffix(old.(string), ".")+", with priority support.")
		return p, o("description", old, "updated", before)
	case 1: // a new default price (a price change)
		old := b.price
		p.set("default_price", "price_"+s.g.id(24))
		return p, o("default_price", old, "updated", before)
	default: // archived
		return p.set("active", false), o("active", true, "updated", before)
	}
}

func (s *scene) priceCreated() (obj, obj) {
	s.apiRequest = true
	b := s.newSub()
	return s.price(b).set("created", s.now), nil
}

func (s *scene) priceUpdated() (obj, obj) {
	s.apiRequest = true
	b := s.newSub()
	p := s.price(b)
	if s.g.chance(0.5) { // archived after a price change
		return p.set("active", false), o("active", true)
	}
	old := p.get("lookup_key")
	p.set("lookup_key", old.(string)+"_2026")
	return p, o("lookup_key", old)
}
