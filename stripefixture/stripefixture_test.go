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

// objectOf maps each event type to the object its data.object holds and the
// stripe-go type that must decode it.
var objectOf = map[string]struct {
	object string
	typed  func() any
}{
	"payment_intent.succeeded":      {"payment_intent", func() any { return new(stripe.PaymentIntent) }},
	"payment_intent.payment_failed": {"payment_intent", func() any { return new(stripe.PaymentIntent) }},
	"invoice.paid":                  {"invoice", func() any { return new(stripe.Invoice) }},
	"invoice.payment_failed":        {"invoice", func() any { return new(stripe.Invoice) }},
	"customer.subscription.updated": {"subscription", func() any { return new(stripe.Subscription) }},
	"customer.subscription.deleted": {"subscription", func() any { return new(stripe.Subscription) }},
	"checkout.session.completed":    {"checkout.session", func() any { return new(stripe.CheckoutSession) }},
	"charge.refunded":               {"charge", func() any { return new(stripe.Charge) }},
	"charge.succeeded":              {"charge", func() any { return new(stripe.Charge) }},
	"customer.created":              {"customer", func() any { return new(stripe.Customer) }},
}

var evtID = regexp.MustCompile(`^evt_[0-9A-Za-z]{24}$`)

// TestFixtureEveryType ensures every listed type yields valid JSON with the
// envelope Stripe sends, that stripe-go decodes it as a stripe.Event and
// its data.object as the matching typed object, and that every field we
// write exists in stripe-go's model of that object (no invented fields).
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
	if live != ev.Data.Object["livemode"] {
		t.Fatalf("%s: data.object.livemode = %v, event livemode %v", typ, ev.Data.Object["livemode"], live)
	}
	if strings.HasSuffix(typ, ".updated") != (len(ev.Data.PreviousAttributes) > 0) {
		t.Fatalf("%s: previous_attributes = %v", typ, ev.Data.PreviousAttributes)
	}
	typed := want.typed()
	if err := json.Unmarshal(ev.Data.Raw, typed); err != nil {
		t.Fatalf("%s: data.object as %T: %v", typ, typed, err)
	}
	if id := reflect.ValueOf(typed).Elem().FieldByName("ID").String(); id != ev.Data.Object["id"] {
		t.Fatalf("%s: typed id %q != %v", typ, id, ev.Data.Object["id"])
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
