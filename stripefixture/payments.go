package stripefixture

import "strconv"

// The rest of a payment's life around payment_intent.succeeded and
// charge.succeeded (objects.go): intents created, awaiting 3-D Secure,
// authorized for a later capture or canceled; charges failed, captured and
// updated; disputes, refunds, setup intents and saved payment methods.

func (s *scene) paymentIntentCreated() (obj, obj) {
	s.apiRequest = true // the integration's POST /v1/payment_intents
	return s.paymentIntent("requires_payment_method", nil).
		set("latest_charge", nil).
		set("payment_method", nil), nil
}

func (s *scene) paymentIntentRequiresAction() (obj, obj) {
	s.apiRequest = true // confirmed server-side with a return_url
	pi := s.paymentIntent("requires_action", nil).set("latest_charge", nil)
	secret := pi.get("client_secret").(string)
	pi.set("next_action", o(
		"redirect_to_url", o(
			"return_url", "https://shop.example.com/checkout/complete",
			"url", "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_"+s.g.id(16)+
				"&payment_intent="+s.pi+"&payment_intent_client_secret="+secret+
				"&publishable_key=pk_"+s.mode()+"_"+s.g.id(99)+"&source=payatt_"+s.g.id(24),
		),
		"type", "redirect_to_url",
	))
	return pi, nil
}

func (s *scene) paymentIntentAmountCapturableUpdated() (obj, obj) {
	// An authorization held for a later capture (capture_method manual).
	s.apiRequest = true
	return s.paymentIntent("requires_capture", nil).
		set("amount_capturable", s.amount).
		set("capture_method", "manual"), nil
}

func (s *scene) paymentIntentCanceled() (obj, obj) {
	reason := s.g.pick([]string{"abandoned", "requested_by_customer", "duplicate"})
	// Abandoned intents are canceled by Stripe (an expired Checkout
	// Session); the others by an API call.
	s.apiRequest = reason != "abandoned"
	return s.paymentIntent("canceled", nil).
		set("canceled_at", s.now).
		set("cancellation_reason", reason).
		set("latest_charge", nil).
		set("payment_method", nil), nil
}

func (s *scene) chargeFailed() (obj, obj) {
	s.apiRequest = s.g.chance(0.7)
	d := declines[s.g.rng.IntN(len(declines))]
	ch := s.charge(0).
		set("amount_captured", 0).
		set("balance_transaction", nil).
		set("captured", false).
		set("failure_code", "card_declined").
		set("failure_message", d.message).
		set("outcome", o(
			"advice_code", "try_again_later",
			"network_advice_code", nil,
			"network_decline_code", "05",
			"network_status", "declined_by_network",
			"reason", d.code,
			"risk_level", "normal",
			"risk_score", s.g.rng.IntN(65),
			"seller_message", "The bank did not return any further details with this decline.",
			"type", "issuer_declined",
		)).
		set("paid", false).
		set("status", "failed")
	card := ch.get("payment_method_details").(obj).get("card").(obj)
	card.set("amount_authorized", nil).set("authorization_code", nil).set("network_transaction_id", nil)
	return ch, nil
}

func (s *scene) chargeCaptured() (obj, obj) {
	s.apiRequest = true // POST /v1/payment_intents/{id}/capture
	return s.charge(0), nil
}

func (s *scene) chargeUpdated() (obj, obj) {
	ch := s.charge(0)
	if s.g.chance(0.6) {
		// Since API 2024-06-20 the balance transaction is attached
		// asynchronously, in a charge.updated of its own.
		return ch, o("balance_transaction", nil)
	}
	s.apiRequest = true
	ch.set("description", s.g.pick(descriptors)+" #"+strconv.Itoa(1000+s.g.rng.IntN(9000))+" (shipped)")
	return ch, o("description", nil)
}

// disputeReasons pairs a dispute reason with the card networks' reason
// codes for it (Visa, Mastercard, American Express).
var disputeReasons = []struct{ reason, visa, mastercard, amex string }{
	{"fraudulent", "10.4", "4837", "F29"},
	{"product_not_received", "13.1", "4855", "C08"},
	{"duplicate", "12.6.1", "4834", "P08"},
	{"subscription_canceled", "13.2", "4841", "C28"},
	{"credit_not_processed", "13.6", "4860", "C02"},
	{"general", "13.3", "4853", "C31"},
}

// disputeFee is Stripe's dispute fee in minor units (15.00 in the
// account's currency).
const disputeFee = 1500

func (s *scene) dispute(status string) obj {
	id := "dp_" + s.g.id(24)
	c := cards[s.card]
	r := disputeReasons[s.g.rng.IntN(len(disputeReasons))]
	code := map[string]string{"visa": r.visa, "mastercard": r.mastercard, "amex": r.amex}[c.brand]
	// The funds (and the fee) leave the balance when the dispute opens.
	txns := []any{s.balanceTransaction(-s.amount, disputeFee, "Chargeback withdrawal for "+s.ch, "dispute", id)}
	enhanced := []any{}
	if c.brand == "visa" && r.reason == "fraudulent" {
		enhanced = []any{"visa_compelling_evidence_3"}
	}
	evidence := o(
		"access_activity_log", nil, "billing_address", nil, "cancellation_policy", nil,
		"cancellation_policy_disclosure", nil, "cancellation_rebuttal", nil,
		"customer_communication", nil, "customer_email_address", nil, "customer_name", nil,
		"customer_purchase_ip", nil, "customer_signature", nil, "duplicate_charge_documentation", nil,
		"duplicate_charge_explanation", nil, "duplicate_charge_id", nil, "enhanced_evidence", o(),
		"product_description", nil, "receipt", nil, "refund_policy", nil,
		"refund_policy_disclosure", nil, "refund_refusal_explanation", nil, "service_date", nil,
		"service_documentation", nil, "shipping_address", nil, "shipping_carrier", nil,
		"shipping_date", nil, "shipping_documentation", nil, "shipping_tracking_number", nil,
		"uncategorized_file", nil, "uncategorized_text", nil,
	)
	// Evidence is due by 23:59:59 UTC some days after the dispute opened.
	created := s.now
	hasEvidence, submissions := false, 0
	if status != "needs_response" {
		created = s.now - int64(20+s.g.rng.IntN(50))*86400
		hasEvidence, submissions = true, 1
		evidence.set("customer_email_address", s.email).
			set("customer_name", s.name).
			set("uncategorized_text", "The customer used the service after the disputed date; access logs attached.").
			set("uncategorized_file", "file_"+s.g.id(24))
		if status == "won" {
			txns = append(txns, s.balanceTransaction(s.amount, 0, "Chargeback reversal for "+s.ch, "dispute_reversal", id))
		}
	}
	dueBy := (created/86400+int64(7+s.g.rng.IntN(14)))*86400 + 86399
	return o(
		"id", id,
		"object", "dispute",
		"amount", s.amount,
		"balance_transactions", txns,
		"charge", s.ch,
		"created", created,
		"currency", s.currency,
		"enhanced_eligibility_types", enhanced,
		"evidence", evidence,
		"evidence_details", o(
			"due_by", dueBy,
			"enhanced_eligibility", o(),
			"has_evidence", hasEvidence,
			"past_due", false,
			"submission_count", submissions,
		),
		"is_charge_refundable", false,
		"livemode", s.livemode,
		"metadata", o(),
		"payment_intent", s.pi,
		"payment_method_details", o(
			"card", o("brand", c.brand, "case_type", "chargeback", "network_reason_code", code),
			"type", "card",
		),
		"reason", r.reason,
		"status", status,
	)
}

// balanceTransaction is a movement of the balance embedded in a dispute.
func (s *scene) balanceTransaction(amount, fee int, description, category, source string) obj {
	var details []any
	if fee != 0 {
		details = []any{o("amount", fee, "application", nil, "currency", s.currency, "description", "Dispute fee", "type", "stripe_fee")}
	} else {
		details = []any{}
	}
	return o(
		"id", "txn_"+s.g.id(24),
		"object", "balance_transaction",
		"amount", amount,
		"available_on", s.now,
		"created", s.now,
		"currency", s.currency,
		"description", description,
		"exchange_rate", nil,
		"fee", fee,
		"fee_details", details,
		"net", amount-fee,
		"reporting_category", category,
		"source", source,
		"status", "available",
		"type", "adjustment",
	)
}

func (s *scene) chargeDisputeCreated() (obj, obj) {
	return s.dispute("needs_response"), nil
}

func (s *scene) chargeDisputeClosed() (obj, obj) {
	return s.dispute(s.g.pick([]string{"won", "lost"})), nil
}

func (s *scene) refund(reference any, referenceStatus string) obj {
	amount := s.amount
	if s.g.chance(0.3) {
		amount = s.amount / 2
	}
	return o(
		"id", "re_"+s.g.id(24),
		"object", "refund",
		"amount", amount,
		"balance_transaction", "txn_"+s.g.id(24),
		"charge", s.ch,
		"created", s.before(3*86400),
		"currency", s.currency,
		"destination_details", o(
			"card", o("reference", reference, "reference_status", referenceStatus, "reference_type", "acquirer_reference_number", "type", "refund"),
			"type", "card",
		),
		"metadata", o(),
		"payment_intent", s.pi,
		"reason", s.g.pick([]string{"requested_by_customer", "requested_by_customer", "duplicate"}),
		"receipt_number", nil,
		"source_transfer_reversal", nil,
		"status", "succeeded",
		"transfer_reversal", nil,
	)
}

func (s *scene) refundCreated() (obj, obj) {
	s.apiRequest = true // from the Dashboard or the API
	return s.refund(nil, "pending").set("created", s.now), nil
}

func (s *scene) refundUpdated() (obj, obj) {
	// The card network assigned the refund its reference (ARN) days later.
	arn := strconv.Itoa(1+s.g.rng.IntN(9)) + s.digits(22)
	return s.refund(arn, "available"),
		o("destination_details", o("card", o("reference", nil, "reference_status", "pending")))
}

func (s *scene) setupIntent(status string) obj {
	id := "seti_" + s.g.id(24)
	return o(
		"id", id,
		"object", "setup_intent",
		"application", nil,
		"automatic_payment_methods", o("allow_redirects", "always", "enabled", true),
		"cancellation_reason", nil,
		"client_secret", id+"_secret_"+s.g.id(32),
		"created", s.before(300),
		"customer", s.customer,
		"description", nil,
		"excluded_payment_method_types", nil,
		"flow_directions", nil,
		"last_setup_error", nil,
		"latest_attempt", nil,
		"livemode", s.livemode,
		"mandate", nil,
		"metadata", o(),
		"next_action", nil,
		"on_behalf_of", nil,
		"payment_method", nil,
		"payment_method_configuration_details", o("id", "pmc_"+s.g.id(24), "parent", nil),
		"payment_method_options", o(
			"card", o("mandate_options", nil, "network", nil, "request_three_d_secure", "automatic"),
			"link", o("persistent_token", nil),
		),
		"payment_method_types", []any{"card", "link"},
		"single_use_mandate", nil,
		"status", status,
		"usage", "off_session",
	)
}

func (s *scene) setupIntentCreated() (obj, obj) {
	s.apiRequest = true
	return s.setupIntent("requires_payment_method"), nil
}

func (s *scene) setupIntentSucceeded() (obj, obj) {
	s.apiRequest = s.g.chance(0.5) // confirmed by Stripe.js or the API
	return s.setupIntent("succeeded").
		set("latest_attempt", "setatt_"+s.g.id(24)).
		set("payment_method", s.pm), nil
}

func (s *scene) setupIntentSetupFailed() (obj, obj) {
	s.apiRequest = s.g.chance(0.5)
	d := declines[s.g.rng.IntN(len(declines))]
	return s.setupIntent("requires_payment_method").
		set("last_setup_error", o(
			"code", "card_declined",
			"decline_code", d.code,
			"doc_url", "https://stripe.com/docs/error-codes/card-declined",
			"message", d.message,
			"payment_method", s.paymentMethod(),
			"type", "card_error",
		)).
		set("latest_attempt", "setatt_"+s.g.id(24)), nil
}

func (s *scene) paymentMethodAttached() (obj, obj) {
	s.apiRequest = true
	return s.paymentMethod(), nil
}

// mode is "live" or "test", as in key and Checkout Session prefixes.
func (s *scene) mode() string {
	if s.livemode {
		return "live"
	}
	return "test"
}

// digits returns n random decimal digits.
func (s *scene) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + s.g.rng.IntN(10))
	}
	return string(b)
}

func (s *scene) checkoutSessionExpired() (obj, obj) {
	// Never paid: 24 hours after its creation Stripe expires the session;
	// no customer, payment intent, invoice or subscription came of it.
	cs, _ := s.checkoutSessionCompleted()
	s.apiRequest = false
	return cs.
		set("created", s.now-86400).
		set("customer", nil).
		set("customer_details", nil).
		set("expires_at", s.now).
		set("invoice", nil).
		set("payment_intent", nil).
		set("payment_status", "unpaid").
		set("status", "expired").
		set("subscription", nil), nil
}
