package stripefixture_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hookbox/hookbox/stripefixture"
	"github.com/stripe/stripe-go/v85"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/events")

// objectOf maps each event type to the object its data.object holds, the
// prefix of that object's id, and the stripe-go type that must decode it.
var objectOf = map[string]struct {
	object, prefix string
	typed          func() any
}{
	"payment_intent.succeeded":                 {"payment_intent", "pi_", newOf[stripe.PaymentIntent]},
	"payment_intent.payment_failed":            {"payment_intent", "pi_", newOf[stripe.PaymentIntent]},
	"payment_intent.created":                   {"payment_intent", "pi_", newOf[stripe.PaymentIntent]},
	"payment_intent.requires_action":           {"payment_intent", "pi_", newOf[stripe.PaymentIntent]},
	"payment_intent.amount_capturable_updated": {"payment_intent", "pi_", newOf[stripe.PaymentIntent]},
	"payment_intent.canceled":                  {"payment_intent", "pi_", newOf[stripe.PaymentIntent]},
	"invoice.paid":                             {"invoice", "in_", newOf[stripe.Invoice]},
	"invoice.payment_failed":                   {"invoice", "in_", newOf[stripe.Invoice]},
	"invoice.created":                          {"invoice", "in_", newOf[stripe.Invoice]},
	"invoice.finalized":                        {"invoice", "in_", newOf[stripe.Invoice]},
	"invoice.updated":                          {"invoice", "in_", newOf[stripe.Invoice]},
	"invoice.payment_succeeded":                {"invoice", "in_", newOf[stripe.Invoice]},
	"invoice.upcoming":                         {"invoice", "", newOf[stripe.Invoice]}, // no id yet
	"invoice.voided":                           {"invoice", "in_", newOf[stripe.Invoice]},
	"customer.subscription.updated":            {"subscription", "sub_", newOf[stripe.Subscription]},
	"customer.subscription.deleted":            {"subscription", "sub_", newOf[stripe.Subscription]},
	"customer.subscription.created":            {"subscription", "sub_", newOf[stripe.Subscription]},
	"customer.subscription.trial_will_end":     {"subscription", "sub_", newOf[stripe.Subscription]},
	"checkout.session.completed":               {"checkout.session", "cs_", newOf[stripe.CheckoutSession]},
	"checkout.session.expired":                 {"checkout.session", "cs_", newOf[stripe.CheckoutSession]},
	"charge.refunded":                          {"charge", "ch_", newOf[stripe.Charge]},
	"charge.succeeded":                         {"charge", "ch_", newOf[stripe.Charge]},
	"charge.failed":                            {"charge", "ch_", newOf[stripe.Charge]},
	"charge.captured":                          {"charge", "ch_", newOf[stripe.Charge]},
	"charge.updated":                           {"charge", "ch_", newOf[stripe.Charge]},
	"charge.dispute.created":                   {"dispute", "dp_", newOf[stripe.Dispute]},
	"charge.dispute.closed":                    {"dispute", "dp_", newOf[stripe.Dispute]},
	"refund.created":                           {"refund", "re_", newOf[stripe.Refund]},
	"refund.updated":                           {"refund", "re_", newOf[stripe.Refund]},
	"setup_intent.created":                     {"setup_intent", "seti_", newOf[stripe.SetupIntent]},
	"setup_intent.succeeded":                   {"setup_intent", "seti_", newOf[stripe.SetupIntent]},
	"setup_intent.setup_failed":                {"setup_intent", "seti_", newOf[stripe.SetupIntent]},
	"payment_method.attached":                  {"payment_method", "pm_", newOf[stripe.PaymentMethod]},
	"customer.created":                         {"customer", "cus_", newOf[stripe.Customer]},
	"customer.updated":                         {"customer", "cus_", newOf[stripe.Customer]},
	"customer.deleted":                         {"customer", "cus_", newOf[stripe.Customer]},
	"product.created":                          {"product", "prod_", newOf[stripe.Product]},
	"product.updated":                          {"product", "prod_", newOf[stripe.Product]},
	"price.created":                            {"price", "price_", newOf[stripe.Price]},
	"price.updated":                            {"price", "price_", newOf[stripe.Price]},
	"account.updated":                          {"account", "acct_", newOf[stripe.Account]},
	"payout.created":                           {"payout", "po_", newOf[stripe.Payout]},
	"payout.paid":                              {"payout", "po_", newOf[stripe.Payout]},
	"payout.failed":                            {"payout", "po_", newOf[stripe.Payout]},
}

func newOf[T any]() any { return new(T) }

// idTail is the random part of an object id (cs_ ids carry a mode before
// it: cs_test_..., cs_live_...).
var idTail = regexp.MustCompile(`^(test_|live_)?[0-9A-Za-z]{14,}$`)

var evtID = regexp.MustCompile(`^evt_[0-9A-Za-z]{24}$`)

// TestFixtureEveryType ensures every listed type yields valid JSON with the
// envelope Stripe sends, that stripe-go decodes it as a stripe.Event and
// its data.object as the matching typed object (id with the object's
// prefix, livemode agreeing with the event's), that previous_attributes
// comes with *.updated only and names fields of the object, and that every
// field we write exists in stripe-go's model of that object (no invented
// fields).
func TestFixtureEveryType(t *testing.T) {
	if len(stripefixture.Types()) != len(objectOf) {
		t.Fatalf("Types() = %v, test knows %d types", stripefixture.Types(), len(objectOf))
	}
	g := stripefixture.New(42)
	for _, typ := range stripefixture.Types() {
		for _, live := range []bool{false, true} {
			// Several draws per type: the builders branch on random choices.
			for range 20 {
				body := g.Event(typ, live)
				checkEvent(t, typ, live, body)
			}
		}
	}
}

func checkEvent(t *testing.T, typ string, live bool, body []byte) {
	t.Helper()
	want, ok := objectOf[typ]
	if !ok {
		t.Fatalf("test does not know type %q", typ)
	}
	if !json.Valid(body) {
		t.Fatalf("%s: invalid JSON:\n%s", typ, body)
	}
	var ev stripe.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("%s: stripe.Event: %v", typ, err)
	}
	if !evtID.MatchString(ev.ID) || ev.Object != "event" || string(ev.Type) != typ || ev.Livemode != live {
		t.Fatalf("%s: envelope id=%q object=%q type=%q livemode=%v", typ, ev.ID, ev.Object, ev.Type, ev.Livemode)
	}
	if ev.APIVersion != stripefixture.DefaultAPIVersion || ev.Created == 0 || ev.PendingWebhooks < 1 || ev.Request == nil {
		t.Fatalf("%s: envelope api_version=%q created=%d pending_webhooks=%d request=%v", typ, ev.APIVersion, ev.Created, ev.PendingWebhooks, ev.Request)
	}
	if (ev.Request.ID == "") != (ev.Request.IdempotencyKey == "") {
		t.Fatalf("%s: request id and idempotency_key must be both set or both null: %+v", typ, ev.Request)
	}
	if got := ev.Data.Object["object"]; got != want.object {
		t.Fatalf("%s: data.object.object = %v, want %s", typ, got, want.object)
	}
	typed := want.typed()
	// Objects with a livemode field (all but refunds) agree with the event.
	if got, ok := ev.Data.Object["livemode"]; ok != hasField(typed, "livemode") || ok && got != live {
		t.Fatalf("%s: data.object.livemode = %v, event livemode %v", typ, got, live)
	}
	id, _ := ev.Data.Object["id"].(string)
	if want.prefix == "" {
		if _, ok := ev.Data.Object["id"]; ok {
			t.Fatalf("%s: data.object has an id: %v", typ, ev.Data.Object["id"])
		}
	} else if tail, ok := strings.CutPrefix(id, want.prefix); !ok || !idTail.MatchString(tail) {
		t.Fatalf("%s: data.object.id %q, want %s...", typ, id, want.prefix)
	}
	if acct, ok := ev.Data.Object["id"].(string); ok && typ == "account.updated" && ev.Account != "" && acct != ev.Account {
		t.Fatalf("%s: event of account %s describes account %s", typ, ev.Account, acct)
	}
	if strings.HasSuffix(typ, ".updated") != (len(ev.Data.PreviousAttributes) > 0) {
		t.Fatalf("%s: previous_attributes = %v", typ, ev.Data.PreviousAttributes)
	}
	if err := json.Unmarshal(ev.Data.Raw, typed); err != nil {
		t.Fatalf("%s: data.object as %T: %v", typ, typed, err)
	}
	if got := reflect.ValueOf(typed).Elem().FieldByName("ID").String(); got != id {
		t.Fatalf("%s: typed id %q != %q", typ, got, id)
	}
	var raw map[string]any
	if err := json.Unmarshal(ev.Data.Raw, &raw); err != nil {
		t.Fatal(err)
	}
	checkKnownFields(t, typ, reflect.TypeOf(typed), raw)
	for k := range ev.Data.PreviousAttributes {
		if _, ok := raw[k]; !ok {
			t.Fatalf("%s: previous_attributes.%s is not a field of the object", typ, k)
		}
	}
}

// reported keeps checkKnownFields from repeating one finding per draw.
var reported = map[string]bool{}

// checkKnownFields fails if v (decoded JSON) has a key that the stripe-go
// struct type rt has no field for, recursing into nested objects and lists.
func checkKnownFields(t *testing.T, path string, rt reflect.Type, v any) {
	t.Helper()
	for rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	switch v := v.(type) {
	case map[string]any:
		if rt.Kind() != reflect.Struct {
			return // metadata and other free-form maps
		}
		if object, ok := v["object"].(string); ok {
			if pt, ok := polymorphic(rt, object); ok {
				rt = pt
			}
		}
		fields := jsonFields(rt)
		for k, sub := range v {
			ft, ok := fields[k]
			if !ok {
				// stripe-go's ListMeta has no field for a list's "object": "list".
				if _, isList := fields["has_more"]; isList && k == "object" {
					continue
				}
				if !reported[path+"."+k] {
					reported[path+"."+k] = true
					t.Errorf("%s.%s: no such field in %s", path, k, rt)
				}
				continue
			}
			checkKnownFields(t, path+"."+k, ft, sub)
		}
	case []any:
		elem := rt
		if rt.Kind() == reflect.Slice {
			elem = rt.Elem()
		} else if rt.Kind() == reflect.Struct {
			// A stripe list object: the items are the Data field.
			if f, ok := jsonFields(rt)["data"]; ok && f.Kind() == reflect.Slice {
				elem = f.Elem()
			}
		}
		for _, e := range v {
			checkKnownFields(t, path+"[]", elem, e)
		}
	}
}

// hasField reports whether the stripe-go struct v points to has a JSON
// field name.
func hasField(v any, name string) bool {
	_, ok := jsonFields(reflect.TypeOf(v).Elem())[name]
	return ok
}

// polymorphic returns, for a stripe-go struct that decodes one of several
// objects into fields tagged json:"-" (AccountExternalAccount: BankAccount
// or Card), the type of the field for object ("bank_account").
func polymorphic(rt reflect.Type, object string) (reflect.Type, bool) {
	for i := range rt.NumField() {
		f := rt.Field(i)
		if f.Tag.Get("json") != "-" || f.Type.Kind() != reflect.Pointer || f.Type.Elem().Kind() != reflect.Struct {
			continue
		}
		var snake strings.Builder
		for j, r := range f.Type.Elem().Name() {
			if r >= 'A' && r <= 'Z' {
				if j > 0 {
					snake.WriteByte('_')
				}
				r += 'a' - 'A'
			}
			snake.WriteRune(r)
		}
		if snake.String() == object {
			return f.Type.Elem(), true
		}
	}
	return nil, false
}

func jsonFields(rt reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range rt.NumField() {
		f := rt.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range jsonFields(ft) {
				m[k] = v
			}
			continue
		}
		if name != "" && name != "-" {
			m[name] = f.Type
		}
	}
	return m
}

// TestFixtureDeterministic ensures a seed fixes the output and different
// seeds give different events.
func TestFixtureDeterministic(t *testing.T) {
	a, b, c := stripefixture.New(7), stripefixture.New(7), stripefixture.New(8)
	for _, typ := range stripefixture.Types() {
		x, y, z := a.Event(typ, false), b.Event(typ, false), c.Event(typ, false)
		if !bytes.Equal(x, y) {
			t.Fatalf("%s: same seed, different bytes", typ)
		}
		if bytes.Equal(x, z) {
			t.Fatalf("%s: different seeds, same bytes", typ)
		}
	}
}

// TestFixtureUniqueIDs ensures event ids do not repeat within a long run,
// which a load test relies on to count duplicates.
func TestFixtureUniqueIDs(t *testing.T) {
	g := stripefixture.New(1)
	seen := map[string]bool{}
	types := stripefixture.Types()
	for i := range 5000 {
		var ev struct{ ID string }
		if err := json.Unmarshal(g.Event(types[i%len(types)], false), &ev); err != nil {
			t.Fatal(err)
		}
		if seen[ev.ID] {
			t.Fatalf("event %d: id %s repeated", i, ev.ID)
		}
		seen[ev.ID] = true
	}
}

// TestFixtureConnect ensures ConnectFraction controls the account field.
func TestFixtureConnect(t *testing.T) {
	for _, tc := range []struct {
		fraction float64
		min, max int
	}{{0, 0, 0}, {1, 200, 200}, {0.5, 60, 140}} {
		g := stripefixture.New(3)
		g.ConnectFraction = tc.fraction
		n := 0
		for range 200 {
			var ev struct{ Account *string }
			if err := json.Unmarshal(g.Event("charge.succeeded", true), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Account != nil {
				if !strings.HasPrefix(*ev.Account, "acct_") {
					t.Fatalf("account %q", *ev.Account)
				}
				n++
			}
		}
		if n < tc.min || n > tc.max {
			t.Errorf("fraction %v: %d of 200 events with account", tc.fraction, n)
		}
	}
}

// TestFixtureUnsupportedType ensures an unknown type is refused loudly
// rather than producing an event no Stripe account would send.
func TestFixtureUnsupportedType(t *testing.T) {
	if stripefixture.Supported("nope.nope") || !stripefixture.Supported("invoice.paid") {
		t.Fatal("Supported is wrong")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	stripefixture.New(1).Event("nope.nope", false)
}

// TestFixtureGolden ensures the output for seed 1 stays byte for byte what
// is committed in testdata/events (other packages' tests use those files);
// run with -update after an intended change.
func TestFixtureGolden(t *testing.T) {
	dir := filepath.Join("..", "testdata", "events")
	for _, typ := range stripefixture.Types() {
		// A fresh generator per type, so adding a type changes no file.
		body := stripefixture.New(1).Event(typ, false)
		path := filepath.Join(dir, typ+".json")
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, body, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./stripefixture -run Golden -update)", err)
		}
		if !bytes.Equal(body, want) {
			t.Errorf("%s differs from %s (run with -update if intended)", typ, path)
		}
	}
}

func BenchmarkFixtureEvent(b *testing.B) {
	g := stripefixture.New(1)
	types := stripefixture.Types()
	n := 0
	for i := 0; b.Loop(); i++ {
		n += len(g.Event(types[i%len(types)], false))
	}
	b.SetBytes(int64(n / max(b.N, 1)))
}
