package stripefixture

import (
	"strconv"
	"strings"
)

// Pools of plausible values. Emails use example.com (RFC 2606) so that a
// fixture can never address a real person.
var (
	firstNames = []string{"Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger", "Radia", "Guido", "Hedy"}
	lastNames  = []string{"Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Dijkstra", "Perlman", "Rossum", "Lamarr"}
	addresses  = []struct{ line1, city, state, postal, country string }{
		{"510 Townsend St", "San Francisco", "CA", "94103", "US"},
		{"1 Infinite Loop", "Cupertino", "CA", "95014", "US"},
		{"350 Fifth Avenue", "New York", "NY", "10118", "US"},
		{"221B Baker Street", "London", "", "NW1 6XE", "GB"},
		{"Unter den Linden 77", "Berlin", "", "10117", "DE"},
		{"8 Rue de Rivoli", "Paris", "", "75004", "FR"},
		{"100 Queen St W", "Toronto", "ON", "M5H 2N2", "CA"},
	}
	cards = []struct{ brand, last4, funding, country string }{
		{"visa", "4242", "credit", "US"},
		{"visa", "1881", "debit", "US"},
		{"mastercard", "4444", "credit", "US"},
		{"mastercard", "8210", "debit", "GB"},
		{"amex", "8431", "credit", "US"},
	}
	products = []struct {
		name   string
		amount int
	}{
		{"Starter", 900}, {"Pro", 2900}, {"Team", 9900}, {"Business", 24900},
	}
	currencies  = []string{"usd", "usd", "usd", "eur", "gbp"}
	declines    = []struct{ code, message string }{{"insufficient_funds", "Your card has insufficient funds."}, {"generic_decline", "Your card was declined."}, {"expired_card", "Your card has expired."}, {"lost_card", "Your card was declined."}}
	descriptors = []string{"Order", "Subscription update", "Invoice payment", "Gift card", "Annual plan"}
)

// scene is the coherent world of one event: one customer, one card, one
// amount, ids that refer to each other (a payment intent's latest_charge is
// the charge of the same event).
type scene struct {
	g          *Generator
	livemode   bool
	now        int64  // the event's created
	apiRequest bool   // caused by an API call (request.id set), else automatic
	account    string // the connected account of a Connect event, else ""

	customer, name, email, phone string
	addr                         int
	card                         int
	currency                     string
	amount                       int
	pm, pi, ch, fingerprint      string
	expMonth, expYear            int
}

func (g *Generator) newScene(livemode bool) *scene {
	first, last := g.pick(firstNames), g.pick(lastNames)
	s := &scene{
		g:           g,
		livemode:    livemode,
		now:         g.now,
		customer:    "cus_" + g.id(14),
		name:        first + " " + last,
		email:       strings.ToLower(first+"."+last) + strconv.Itoa(g.rng.IntN(100)) + "@example.com",
		phone:       "+1415555" + strconv.Itoa(1000+g.rng.IntN(9000)),
		addr:        g.rng.IntN(len(addresses)),
		card:        g.rng.IntN(len(cards)),
		currency:    g.pick(currencies),
		amount:      (5 + g.rng.IntN(500)) * 100,
		pm:          "pm_" + g.id(24),
		pi:          "pi_" + g.id(24),
		ch:          "ch_" + g.id(24),
		fingerprint: g.id(16),
		expMonth:    1 + g.rng.IntN(12),
		expYear:     2027 + g.rng.IntN(6),
	}
	if g.chance(0.3) {
		s.amount -= 1 // 49.99 rather than 50.00, now and then
	}
	return s
}

func (s *scene) address() obj {
	a := addresses[s.addr]
	return o("city", a.city, "country", a.country, "line1", a.line1, "line2", nil, "postal_code", a.postal, "state", nilIfEmpty(a.state))
}

func (s *scene) billingDetails() obj {
	return o("address", s.address(), "email", s.email, "name", s.name, "phone", nil, "tax_id", nil)
}

func (s *scene) metadata() obj {
	return o("order_id", "ord_"+strconv.Itoa(100000+s.g.rng.IntN(900000)), "source", s.g.pick([]string{"web", "ios", "android"}))
}

func (s *scene) before(maxSeconds int) int64 { return s.now - int64(s.g.rng.IntN(maxSeconds+1)) }

func (s *scene) paymentMethod() obj {
	c := cards[s.card]
	return o(
		"id", s.pm,
		"object", "payment_method",
		"allow_redisplay", "unspecified",
		"billing_details", s.billingDetails(),
		"card", o(
			"brand", c.brand,
			"checks", o("address_line1_check", nil, "address_postal_code_check", "pass", "cvc_check", "pass"),
			"country", c.country,
			"display_brand", c.brand,
			"exp_month", s.expMonth,
			"exp_year", s.expYear,
			"fingerprint", s.fingerprint,
			"funding", c.funding,
			"generated_from", nil,
			"last4", c.last4,
			"networks", o("available", []any{c.brand}, "preferred", nil),
			"regulated_status", "unregulated",
			"three_d_secure_usage", o("supported", true),
			"wallet", nil,
		),
		"created", s.before(600),
		"customer", s.customer,
		"livemode", s.livemode,
		"metadata", o(),
		"type", "card",
	)
}

func (s *scene) shipping() any {
	if !s.g.chance(0.5) {
		return nil
	}
	return o("address", s.address(), "carrier", nil, "name", s.name, "phone", s.phone, "tracking_number", nil)
}

func (s *scene) paymentIntent(status string, lastError any) obj {
	received := 0
	if status == "succeeded" {
		received = s.amount
	}
	return o(
		"id", s.pi,
		"object", "payment_intent",
		"amount", s.amount,
		"amount_capturable", 0,
		"amount_details", o("tip", o()),
		"amount_received", received,
		"application", nil,
		"application_fee_amount", nil,
		"automatic_payment_methods", o("allow_redirects", "always", "enabled", true),
		"canceled_at", nil,
		"cancellation_reason", nil,
		"capture_method", "automatic_async",
		"client_secret", s.pi+"_secret_"+s.g.id(25),
		"confirmation_method", "automatic",
		"created", s.before(30),
		"currency", s.currency,
		"customer", s.customer,
		"description", s.g.pick(descriptors)+" #"+strconv.Itoa(1000+s.g.rng.IntN(9000)),
		"excluded_payment_method_types", nil,
		"last_payment_error", lastError,
		"latest_charge", s.ch,
		"livemode", s.livemode,
		"metadata", s.metadata(),
		"next_action", nil,
		"on_behalf_of", nil,
		"payment_method", s.pm,
		"payment_method_configuration_details", o("id", "pmc_"+s.g.id(24), "parent", nil),
		"payment_method_options", o(
			"card", o("installments", nil, "mandate_options", nil, "network", nil, "request_three_d_secure", "automatic"),
			"link", o("persistent_token", nil),
		),
		"payment_method_types", []any{"card", "link"},
		"processing", nil,
		"receipt_email", s.email,
		"review", nil,
		"setup_future_usage", nil,
		"shipping", s.shipping(),
		"source", nil,
		"statement_descriptor", nil,
		"statement_descriptor_suffix", nil,
		"status", status,
		"transfer_data", nil,
		"transfer_group", nil,
	)
}

func (s *scene) paymentIntentSucceeded() (obj, obj) {
	s.apiRequest = s.g.chance(0.7)
	return s.paymentIntent("succeeded", nil), nil
}

func (s *scene) paymentIntentFailed() (obj, obj) {
	s.apiRequest = s.g.chance(0.7)
	d := declines[s.g.rng.IntN(len(declines))]
	lastError := o(
		"charge", s.ch,
		"code", "card_declined",
		"decline_code", d.code,
		"doc_url", "https://stripe.com/docs/error-codes/card-declined",
		"message", d.message,
		"payment_method", s.paymentMethod(),
		"type", "card_error",
	)
	return s.paymentIntent("requires_payment_method", lastError), nil
}

func (s *scene) charge(refunded int) obj {
	c := cards[s.card]
	receiptPath := "https://pay.stripe.com/receipts/payment/" + s.g.id(64) + "?s=ap"
	return o(
		"id", s.ch,
		"object", "charge",
		"amount", s.amount,
		"amount_captured", s.amount,
		"amount_refunded", refunded,
		"application", nil,
		"application_fee", nil,
		"application_fee_amount", nil,
		"balance_transaction", "txn_"+s.g.id(24),
		"billing_details", s.billingDetails(),
		"calculated_statement_descriptor", "HOOKBOX EXAMPLE",
		"captured", true,
		"created", s.before(60),
		"currency", s.currency,
		"customer", s.customer,
		"description", nil,
		"disputed", false,
		"failure_balance_transaction", nil,
		"failure_code", nil,
		"failure_message", nil,
		"fraud_details", o(),
		"livemode", s.livemode,
		"metadata", s.metadata(),
		"on_behalf_of", nil,
		"outcome", o(
			"advice_code", nil,
			"network_advice_code", nil,
			"network_decline_code", nil,
			"network_status", "approved_by_network",
			"reason", nil,
			"risk_level", "normal",
			"risk_score", s.g.rng.IntN(65),
			"seller_message", "Payment complete.",
			"type", "authorized",
		),
		"paid", true,
		"payment_intent", s.pi,
		"payment_method", s.pm,
		"payment_method_details", o(
			"card", o(
				"amount_authorized", s.amount,
				"authorization_code", strconv.Itoa(100000+s.g.rng.IntN(900000)),
				"brand", c.brand,
				"checks", o("address_line1_check", nil, "address_postal_code_check", "pass", "cvc_check", "pass"),
				"country", c.country,
				"exp_month", s.expMonth,
				"exp_year", s.expYear,
				"extended_authorization", o("status", "disabled"),
				"fingerprint", s.fingerprint,
				"funding", c.funding,
				"incremental_authorization", o("status", "unavailable"),
				"installments", nil,
				"last4", c.last4,
				"mandate", nil,
				"multicapture", o("status", "unavailable"),
				"network", c.brand,
				"network_token", o("used", false),
				"network_transaction_id", s.g.id(15),
				"overcapture", o("maximum_amount_capturable", s.amount, "status", "unavailable"),
				"regulated_status", "unregulated",
				"three_d_secure", nil,
				"wallet", nil,
			),
			"type", "card",
		),
		"radar_options", o(),
		"receipt_email", s.email,
		"receipt_number", nil,
		"receipt_url", receiptPath,
		"refunded", refunded == s.amount,
		"review", nil,
		"shipping", s.shipping(),
		"source", nil,
		"source_transfer", nil,
		"statement_descriptor", nil,
		"statement_descriptor_suffix", nil,
		"status", "succeeded",
		"transfer_data", nil,
		"transfer_group", nil,
	)
}

func (s *scene) chargeSucceeded() (obj, obj) {
	s.apiRequest = s.g.chance(0.7)
	return s.charge(0), nil
}

func (s *scene) chargeRefunded() (obj, obj) {
	// Refunds come from the Dashboard or the API: always a request.
	s.apiRequest = true
	refunded := s.amount
	if s.g.chance(0.3) {
		refunded = s.amount / 2
	}
	return s.charge(refunded), nil
}

func (s *scene) customerObject(created int64) obj {
	return o(
		"id", s.customer,
		"object", "customer",
		"address", nil,
		"balance", 0,
		"created", created,
		"currency", nil,
		"default_source", nil,
		"delinquent", false,
		"description", nil,
		"discount", nil,
		"email", s.email,
		"invoice_prefix", strings.ToUpper(s.g.id(8)),
		"invoice_settings", o("custom_fields", nil, "default_payment_method", nil, "footer", nil, "rendering_options", nil),
		"livemode", s.livemode,
		"metadata", o(),
		"name", s.name,
		"next_invoice_sequence", 1,
		"phone", nil,
		"preferred_locales", []any{},
		"shipping", nil,
		"tax_exempt", "none",
		"test_clock", nil,
	)
}

func (s *scene) customerCreated() (obj, obj) {
	s.apiRequest = s.g.chance(0.6)
	return s.customerObject(s.now), nil
}

// sub is one subscription with its single price, coherent across the
// subscription, invoice and line objects of an event.
type sub struct {
	id, item, price, product, name string
	unit, quantity                 int
	created, periodStart           int64
}

func (s *scene) newSub() *sub {
	p := products[s.g.rng.IntN(len(products))]
	created := s.now - int64(30+s.g.rng.IntN(400))*86400
	// Monthly periods anchored on created; the current one contains now.
	start := created + (s.now-created)/(30*86400)*(30*86400)
	quantity := 1
	if s.g.chance(0.2) { // seats
		quantity = 2 + s.g.rng.IntN(9)
	}
	return &sub{
		id: "sub_" + s.g.id(24), item: "si_" + s.g.id(14),
		price: "price_" + s.g.id(24), product: "prod_" + s.g.id(14), name: p.name,
		unit: p.amount, quantity: quantity,
		created: created, periodStart: start,
	}
}

func (b *sub) periodEnd() int64 { return b.periodStart + 30*86400 }

func (s *scene) plan(b *sub) obj {
	return o(
		"id", b.price,
		"object", "plan",
		"active", true,
		"amount", b.unit,
		"amount_decimal", strconv.Itoa(b.unit),
		"billing_scheme", "per_unit",
		"created", b.created-86400,
		"currency", s.currency,
		"interval", "month",
		"interval_count", 1,
		"livemode", s.livemode,
		"metadata", o(),
		"meter", nil,
		"nickname", nil,
		"product", b.product,
		"tiers_mode", nil,
		"transform_usage", nil,
		"trial_period_days", nil,
		"usage_type", "licensed",
	)
}

func (s *scene) price(b *sub) obj {
	return o(
		"id", b.price,
		"object", "price",
		"active", true,
		"billing_scheme", "per_unit",
		"created", b.created-86400,
		"currency", s.currency,
		"custom_unit_amount", nil,
		"livemode", s.livemode,
		"lookup_key", strings.ToLower(b.name)+"_monthly",
		"metadata", o(),
		"nickname", nil,
		"product", b.product,
		"recurring", o("interval", "month", "interval_count", 1, "meter", nil, "trial_period_days", nil, "usage_type", "licensed"),
		"tax_behavior", "unspecified",
		"tiers_mode", nil,
		"transform_quantity", nil,
		"type", "recurring",
		"unit_amount", b.unit,
		"unit_amount_decimal", strconv.Itoa(b.unit),
	)
}

func (s *scene) subscriptionItems(b *sub) obj {
	item := o(
		"id", b.item,
		"object", "subscription_item",
		"billing_thresholds", nil,
		"created", b.created,
		"current_period_end", b.periodEnd(),
		"current_period_start", b.periodStart,
		"discounts", []any{},
		"metadata", o(),
		"plan", s.plan(b),
		"price", s.price(b),
		"quantity", b.quantity,
		"subscription", b.id,
		"tax_rates", []any{},
	)
	return list("/v1/subscription_items?subscription="+b.id, item)
}

func (s *scene) subscription(b *sub, status string) obj {
	return o(
		"id", b.id,
		"object", "subscription",
		"application", nil,
		"application_fee_percent", nil,
		"automatic_tax", o("disabled_reason", nil, "enabled", false, "liability", nil),
		"billing_cycle_anchor", b.created,
		"billing_cycle_anchor_config", nil,
		"billing_mode", o("flexible", nil, "type", "classic"),
		"billing_thresholds", nil,
		"cancel_at", nil,
		"cancel_at_period_end", false,
		"canceled_at", nil,
		"cancellation_details", o("comment", nil, "feedback", nil, "reason", nil),
		"collection_method", "charge_automatically",
		"created", b.created,
		"currency", s.currency,
		"customer", s.customer,
		"days_until_due", nil,
		"default_payment_method", s.pm,
		"default_source", nil,
		"default_tax_rates", []any{},
		"description", nil,
		"discounts", []any{},
		"ended_at", nil,
		"invoice_settings", o("account_tax_ids", nil, "issuer", o("type", "self")),
		"items", s.subscriptionItems(b),
		"latest_invoice", "in_"+s.g.id(24),
		"livemode", s.livemode,
		"metadata", o("plan", strings.ToLower(b.name)),
		"next_pending_invoice_item_invoice", nil,
		"on_behalf_of", nil,
		"pause_collection", nil,
		"payment_settings", o("payment_method_options", nil, "payment_method_types", nil, "save_default_payment_method", "off"),
		"pending_invoice_item_interval", nil,
		"pending_setup_intent", nil,
		"pending_update", nil,
		"schedule", nil,
		"start_date", b.created,
		"status", status,
		"test_clock", nil,
		"transfer_data", nil,
		"trial_end", nil,
		"trial_settings", o("end_behavior", o("missing_payment_method", "create_invoice")),
		"trial_start", nil,
	)
}

func (s *scene) subscriptionUpdated() (obj, obj) {
	b := s.newSub()
	switch s.g.rng.IntN(3) {
	case 0: // plan change: Stripe puts the whole previous items list in previous_attributes
		s.apiRequest = true
		old := *b
		old.price, old.product, old.unit = "price_"+s.g.id(24), "prod_"+s.g.id(14), b.unit/3
		return s.subscription(b, "active"), o("items", s.subscriptionItems(&old))
	case 1: // cancellation scheduled at period end, from the customer portal
		s.apiRequest = s.g.chance(0.5)
		cur := s.subscription(b, "active").
			set("cancel_at", b.periodEnd()).
			set("cancel_at_period_end", true).
			set("canceled_at", s.now).
			set("cancellation_details", o("comment", nil, "feedback", "too_expensive", "reason", "cancellation_requested"))
		return cur, o("cancel_at", nil, "cancel_at_period_end", false, "canceled_at", nil,
			"cancellation_details", o("comment", nil, "feedback", nil, "reason", nil))
	default: // a retried invoice got paid: past_due -> active, automatically
		return s.subscription(b, "active"), o("status", "past_due")
	}
}

func (s *scene) subscriptionDeleted() (obj, obj) {
	b := s.newSub()
	s.apiRequest = s.g.chance(0.3) // mostly the end of a period, automatic
	cur := s.subscription(b, "canceled").
		set("canceled_at", s.now).
		set("ended_at", s.now).
		set("cancellation_details", o("comment", nil, "feedback", nil, "reason", s.g.pick([]string{"cancellation_requested", "payment_failed"})))
	return cur, nil
}

func (s *scene) invoice(b *sub, paid bool) obj {
	id := "in_" + s.g.id(24)
	total := b.unit * b.quantity
	line := o(
		"id", "il_"+s.g.id(24),
		"object", "line_item",
		"amount", total,
		"currency", s.currency,
		"description", strconv.Itoa(b.quantity)+" × "+b.name+" (at "+money(b.unit, s.currency)+" / month)",
		"discount_amounts", []any{},
		"discountable", true,
		"discounts", []any{},
		"invoice", id,
		"livemode", s.livemode,
		"metadata", o(),
		"parent", o(
			"invoice_item_details", nil,
			"subscription_item_details", o(
				"invoice_item", nil,
				"proration", false,
				"proration_details", o("credited_items", nil),
				"subscription", b.id,
				"subscription_item", b.item,
			),
			"type", "subscription_item_details",
		),
		"period", o("end", b.periodEnd(), "start", b.periodStart),
		"pretax_credit_amounts", []any{},
		"pricing", o("price_details", o("price", b.price, "product", b.product), "type", "price_details", "unit_amount_decimal", strconv.Itoa(b.unit)),
		"quantity", b.quantity,
		"taxes", []any{},
	)
	status, paidAmount, remaining := "paid", total, 0
	var paidAt, nextAttempt any = s.now, nil
	attempts := 1
	if !paid {
		status, paidAmount, remaining, paidAt = "open", 0, total, nil
		attempts = 1 + s.g.rng.IntN(3)
		nextAttempt = s.now + int64(attempts)*3*86400
	}
	number := strings.ToUpper(s.g.id(8)) + "-" + strconv.Itoa(1000+s.g.rng.IntN(9000))
	hosted := "https://invoice.stripe.com/i/acct_" + s.g.id(16) + "/test_" + s.g.id(60)
	billingReason := "subscription_cycle"
	if s.g.chance(0.2) {
		billingReason = "subscription_create"
	}
	return o(
		"id", id,
		"object", "invoice",
		"account_country", "US",
		"account_name", "Hookbox Example, Inc.",
		"account_tax_ids", nil,
		"amount_due", total,
		"amount_overpaid", 0,
		"amount_paid", paidAmount,
		"amount_remaining", remaining,
		"amount_shipping", 0,
		"application", nil,
		"attempt_count", attempts,
		"attempted", true,
		"auto_advance", !paid,
		"automatic_tax", o("disabled_reason", nil, "enabled", false, "liability", nil, "provider", nil, "status", nil),
		"automatically_finalizes_at", nil,
		"billing_reason", billingReason,
		"collection_method", "charge_automatically",
		"created", s.now-3600,
		"currency", s.currency,
		"custom_fields", nil,
		"customer", s.customer,
		"customer_address", nil,
		"customer_email", s.email,
		"customer_name", s.name,
		"customer_phone", nil,
		"customer_shipping", nil,
		"customer_tax_exempt", "none",
		"customer_tax_ids", []any{},
		"default_payment_method", nil,
		"default_source", nil,
		"default_tax_rates", []any{},
		"description", nil,
		"discounts", []any{},
		"due_date", nil,
		"effective_at", s.now-3600,
		"ending_balance", 0,
		"footer", nil,
		"from_invoice", nil,
		"hosted_invoice_url", hosted+"?s=ap",
		"invoice_pdf", hosted+"/pdf?s=ap",
		"issuer", o("type", "self"),
		"last_finalization_error", nil,
		"latest_revision", nil,
		"lines", list("/v1/invoices/"+id+"/lines", line),
		"livemode", s.livemode,
		"metadata", o(),
		"next_payment_attempt", nextAttempt,
		"number", number,
		"on_behalf_of", nil,
		"parent", o(
			"quote_details", nil,
			"subscription_details", o("metadata", o("plan", strings.ToLower(b.name)), "subscription", b.id),
			"type", "subscription_details",
		),
		"payment_settings", o("default_mandate", nil, "payment_method_options", nil, "payment_method_types", nil),
		"period_end", b.periodStart,
		"period_start", b.periodStart-30*86400,
		"post_payment_credit_notes_amount", 0,
		"pre_payment_credit_notes_amount", 0,
		"receipt_number", nil,
		"rendering", o("amount_tax_display", nil, "pdf", o("page_size", "auto"), "template", nil, "template_version", nil),
		"shipping_cost", nil,
		"shipping_details", nil,
		"starting_balance", 0,
		"statement_descriptor", nil,
		"status", status,
		"status_transitions", o("finalized_at", s.now-3600, "marked_uncollectible_at", nil, "paid_at", paidAt, "voided_at", nil),
		"subtotal", total,
		"subtotal_excluding_tax", total,
		"test_clock", nil,
		"total", total,
		"total_discount_amounts", []any{},
		"total_excluding_tax", total,
		"total_pretax_credit_amounts", []any{},
		"total_taxes", []any{},
		"webhooks_delivered_at", s.now-3600,
	)
}

func (s *scene) invoicePaid() (obj, obj) {
	// Renewals are automatic: request id and idempotency key are null.
	return s.invoice(s.newSub(), true), nil
}

func (s *scene) invoicePaymentFailed() (obj, obj) {
	return s.invoice(s.newSub(), false), nil
}

func (s *scene) checkoutSessionCompleted() (obj, obj) {
	mode := "payment"
	var subscription, invoice, paymentIntent any = nil, nil, s.pi
	amount := s.amount
	if s.g.chance(0.4) {
		b := s.newSub()
		mode, subscription, invoice, paymentIntent = "subscription", b.id, "in_"+s.g.id(24), nil
		amount = b.unit * b.quantity
	}
	prefix := "cs_test_"
	if s.livemode {
		prefix = "cs_live_"
	}
	id := prefix + "a1" + s.g.id(56)
	return o(
		"id", id,
		"object", "checkout.session",
		"adaptive_pricing", o("enabled", true),
		"after_expiration", nil,
		"allow_promotion_codes", nil,
		"amount_subtotal", amount,
		"amount_total", amount,
		"automatic_tax", o("enabled", false, "liability", nil, "provider", nil, "status", nil),
		"billing_address_collection", nil,
		"cancel_url", "https://shop.example.com/cart",
		"client_reference_id", nil,
		"client_secret", nil,
		"collected_information", o("shipping_details", nil),
		"consent", nil,
		"consent_collection", nil,
		"created", s.before(900),
		"currency", s.currency,
		"currency_conversion", nil,
		"custom_fields", []any{},
		"custom_text", o("after_submit", nil, "shipping_address", nil, "submit", nil, "terms_of_service_acceptance", nil),
		"customer", s.customer,
		"customer_creation", "if_required",
		"customer_details", o(
			"address", s.address(),
			"email", s.email,
			"name", s.name,
			"phone", nil,
			"tax_exempt", "none",
			"tax_ids", []any{},
		),
		"customer_email", nil,
		"discounts", []any{},
		"expires_at", s.now+86400-int64(s.g.rng.IntN(900)),
		"invoice", invoice,
		"invoice_creation", o("enabled", false, "invoice_data", o("account_tax_ids", nil, "custom_fields", nil, "description", nil, "footer", nil, "issuer", nil, "metadata", o(), "rendering_options", nil)),
		"livemode", s.livemode,
		"locale", nil,
		"metadata", s.metadata(),
		"mode", mode,
		"origin_context", nil,
		"payment_intent", paymentIntent,
		"payment_link", nil,
		"payment_method_collection", "always",
		"payment_method_configuration_details", o("id", "pmc_"+s.g.id(24), "parent", nil),
		"payment_method_options", o("card", o("request_three_d_secure", "automatic")),
		"payment_method_types", []any{"card", "link"},
		"payment_status", "paid",
		"permissions", nil,
		"phone_number_collection", o("enabled", false),
		"recovered_from", nil,
		"saved_payment_method_options", o("allow_redisplay_filters", []any{"always"}, "payment_method_remove", "disabled", "payment_method_save", nil),
		"setup_intent", nil,
		"shipping_address_collection", nil,
		"shipping_cost", nil,
		"shipping_options", []any{},
		"status", "complete",
		"submit_type", nil,
		"subscription", subscription,
		"success_url", "https://shop.example.com/thanks?session_id={CHECKOUT_SESSION_ID}",
		"total_details", o("amount_discount", 0, "amount_shipping", 0, "amount_tax", 0),
		"ui_mode", "hosted",
		"url", nil,
		"wallet_options", nil,
	), nil
}

func nilIfEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// money formats minor units the way Stripe's line descriptions do.
func money(minor int, currency string) string {
	sym := map[string]string{"usd": "$", "eur": "€", "gbp": "£"}[currency]
	return sym + strconv.Itoa(minor/100) + "." + strconv.Itoa(minor%100/10) + strconv.Itoa(minor%10)
}
