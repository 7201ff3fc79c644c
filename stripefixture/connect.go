package stripefixture

// Connect and balance events: a connected account's onboarding and
// requirements (account.updated), and payouts to a bank account.

// shops name the connected accounts' businesses.
var shops = []string{"Bluebird Bakery", "Northwind Cycles", "Juniper Yoga", "Harbor Books", "Copperleaf Coffee", "Riverbend Ceramics"}

// onboardingDue is what an Express account owes before charges and
// payouts are enabled.
var onboardingDue = []any{"business_profile.mcc", "business_profile.url", "external_account", "individual.dob.day", "individual.id_number", "tos_acceptance.date", "tos_acceptance.ip"}

// requirements is an account's (future_)requirements hash.
func requirements(due, pastDue []any, deadline, disabledReason any) obj {
	return o(
		"alternatives", []any{},
		"current_deadline", deadline,
		"currently_due", due,
		"disabled_reason", disabledReason,
		"errors", []any{},
		"eventually_due", due,
		"past_due", pastDue,
		"pending_verification", []any{},
	)
}

// bankAccount is a connected account's external account.
func (s *scene) bankAccount(acct string) obj {
	bank, routing := "STRIPE TEST BANK", "110000000"
	if s.livemode {
		banks := []struct{ name, routing string }{{"JPMORGAN CHASE BANK, NA", "021000021"}, {"WELLS FARGO BANK, NA", "121000248"}, {"BANK OF AMERICA, N.A.", "026009593"}}
		b := banks[s.g.rng.IntN(len(banks))]
		bank, routing = b.name, b.routing
	}
	empty := o("currently_due", []any{}, "errors", []any{}, "past_due", []any{}, "pending_verification", []any{})
	return o(
		"id", "ba_"+s.g.id(24),
		"object", "bank_account",
		"account", acct,
		"account_holder_name", nil,
		"account_holder_type", nil,
		"account_type", nil,
		"available_payout_methods", []any{"standard", "instant"},
		"bank_name", bank,
		"country", "US",
		"currency", "usd",
		"default_for_currency", true,
		"fingerprint", s.g.id(16),
		"future_requirements", empty,
		"last4", s.digits(4),
		"metadata", o(),
		"requirements", empty,
		"routing_number", routing,
		"status", "new",
	)
}

// connectedAccount is an onboarded Express account of the platform.
func (s *scene) connectedAccount(acct string) obj {
	shop := s.g.pick(shops)
	slug := ""
	for _, r := range shop {
		switch {
		case r >= 'A' && r <= 'Z':
			slug += string(r + 'a' - 'A')
		case r >= 'a' && r <= 'z':
			slug += string(r)
		}
	}
	created := s.now - int64(1+s.g.rng.IntN(300))*86400
	descriptor := shop
	if len(descriptor) > 22 {
		descriptor = descriptor[:22]
	}
	return o(
		"id", acct,
		"object", "account",
		"business_profile", o(
			"annual_revenue", nil,
			"estimated_worker_count", nil,
			"mcc", s.g.pick([]string{"5462", "5940", "7997", "5942", "5814", "5719"}),
			"minority_owned_business_designation", nil,
			"name", shop,
			"product_description", nil,
			"support_address", nil,
			"support_email", nil,
			"support_phone", nil,
			"support_url", nil,
			"url", "https://"+slug+".example.com",
		),
		"business_type", "individual",
		"capabilities", o("card_payments", "active", "transfers", "active"),
		"charges_enabled", true,
		"controller", o(
			"fees", o("payer", "application"),
			"is_controller", true,
			"losses", o("payments", "application"),
			"requirement_collection", "stripe",
			"stripe_dashboard", o("type", "express"),
			"type", "application",
		),
		"country", "US",
		"created", created,
		"default_currency", "usd",
		"details_submitted", true,
		"email", s.email,
		"external_accounts", list("/v1/accounts/"+acct+"/external_accounts", s.bankAccount(acct)),
		"future_requirements", requirements([]any{}, []any{}, nil, nil),
		"metadata", o("seller_id", "slr_"+s.digits(6)),
		"payouts_enabled", true,
		"requirements", requirements([]any{}, []any{}, nil, nil),
		"settings", o(
			"bacs_debit_payments", o("display_name", nil, "service_user_number", nil),
			"branding", o("icon", nil, "logo", nil, "primary_color", nil, "secondary_color", nil),
			"card_issuing", o("tos_acceptance", o("date", nil, "ip", nil)),
			"card_payments", o(
				"decline_on", o("avs_failure", false, "cvc_failure", false),
				"statement_descriptor_prefix", nil,
				"statement_descriptor_prefix_kana", nil,
				"statement_descriptor_prefix_kanji", nil,
			),
			"dashboard", o("display_name", shop, "timezone", "America/Los_Angeles"),
			"invoices", o("default_account_tax_ids", nil, "hosted_payment_method_save", "offer"),
			"payments", o(
				"statement_descriptor", descriptor,
				"statement_descriptor_kana", nil,
				"statement_descriptor_kanji", nil,
			),
			"payouts", o(
				"debit_negative_balances", true,
				"schedule", o("delay_days", 2, "interval", "daily"),
				"statement_descriptor", nil,
			),
			"sepa_debit_payments", o(),
		),
		"tos_acceptance", o("date", created+600, "ip", "203.0.113."+s.digits(2), "user_agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"),
		"type", "express",
	)
}

func (s *scene) accountUpdated() (obj, obj) {
	// On a Connect endpoint the event's account is the account itself;
	// on an account endpoint it is the platform's own (rare, but sent).
	acct := s.account
	if acct == "" {
		acct = "acct_" + s.g.id(16)
	}
	a := s.connectedAccount(acct)
	switch s.g.rng.IntN(3) {
	case 0: // onboarding finished
		return a, o(
			"charges_enabled", false,
			"details_submitted", false,
			"payouts_enabled", false,
			"requirements", o("currently_due", onboardingDue, "disabled_reason", "requirements.past_due", "eventually_due", onboardingDue, "past_due", onboardingDue),
		)
	case 1: // Stripe asks for an identity document by a deadline
		due := []any{"individual.verification.document"}
		deadline := s.now + 14*86400
		a.set("requirements", requirements(due, []any{}, deadline, nil))
		return a, o("requirements", o("current_deadline", nil, "currently_due", []any{}, "eventually_due", []any{}))
	default: // the deadline passed: payouts paused
		due := []any{"individual.verification.document"}
		a.set("payouts_enabled", false).
			set("requirements", requirements(due, due, nil, "requirements.past_due"))
		return a, o("payouts_enabled", true, "requirements", o("current_deadline", s.now-60, "disabled_reason", nil, "past_due", []any{}))
	}
}

// payout is an automatic daily payout to the account's bank, created at
// created and arriving at midnight UTC two days later.
func (s *scene) payout(status string, created int64) obj {
	arrival := (created/86400 + 2) * 86400
	trace := o("status", "pending", "value", nil)
	reconciliation := "in_progress"
	if status == "paid" {
		trace = o("status", "supported", "value", s.digits(15))
		reconciliation = "completed"
	}
	return o(
		"id", "po_"+s.g.id(24),
		"object", "payout",
		"amount", (100+s.g.rng.IntN(20000))*100+s.g.rng.IntN(100),
		"application_fee", nil,
		"application_fee_amount", nil,
		"arrival_date", arrival,
		"automatic", true,
		"balance_transaction", "txn_"+s.g.id(24),
		"created", created,
		"currency", "usd",
		"description", "STRIPE PAYOUT",
		"destination", "ba_"+s.g.id(24),
		"failure_balance_transaction", nil,
		"failure_code", nil,
		"failure_message", nil,
		"livemode", s.livemode,
		"metadata", o(),
		"method", "standard",
		"original_payout", nil,
		"payout_method", nil,
		"reconciliation_status", reconciliation,
		"reversed_by", nil,
		"source_type", "card",
		"statement_descriptor", nil,
		"status", status,
		"trace_id", trace,
		"type", "bank_account",
	)
}

func (s *scene) payoutCreated() (obj, obj) {
	return s.payout("pending", s.now), nil
}

func (s *scene) payoutPaid() (obj, obj) {
	return s.payout("paid", s.now-2*86400-int64(s.g.rng.IntN(3600))), nil
}

func (s *scene) payoutFailed() (obj, obj) {
	f := []struct{ code, message string }{
		{"account_closed", "The bank account has been closed."},
		{"no_account", "The bank account details on file are probably incorrect. No bank account could be located with those details."},
		{"account_frozen", "The bank account has been frozen."},
	}[s.g.rng.IntN(3)]
	return s.payout("failed", s.now-3*86400).
		set("failure_balance_transaction", "txn_"+s.g.id(24)).
		set("failure_code", f.code).
		set("failure_message", f.message).
		set("trace_id", o("status", "unsupported", "value", nil)), nil
}
