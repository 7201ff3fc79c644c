package envelope_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stripe/stripe-go/v85"

	"github.com/hookbox/hookbox/envelope"
)

// reference is Parse's specification written with encoding/json: json.Valid
// for the syntax, a token stream for the top-level keys (unescaped by
// encoding/json; an envelope key must appear once, and no other key may equal
// it under bytes.EqualFold), a check that encoding/json replaced nothing in
// a string field, and json.Unmarshal into stripeEvent for the values.
func reference(body []byte) (envelope.Fields, error) {
	var f envelope.Fields
	if !json.Valid(body) {
		return f, errors.New("not valid JSON")
	}
	vals, err := envelopeMembers(body)
	if err != nil {
		return f, err
	}
	for _, name := range []string{"id", "type", "object", "account", "api_version"} {
		raw, ok := vals[name]
		if !ok || string(raw) == "null" {
			continue
		}
		if raw[0] != '"' {
			return f, fmt.Errorf("%s not a string", name)
		}
		if replaced(raw) {
			return f, fmt.Errorf("%s not valid UTF-8", name)
		}
	}
	if raw, ok := vals["created"]; ok && raw[0] == '"' && len(raw)-2 > envelope.MaxFieldLen {
		return f, errors.New("created too long")
	}
	var e stripeEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return f, err
	}
	f = e.fields()
	for _, s := range []string{f.ID, f.Type, f.Object, f.Account, f.APIVersion} {
		if len(s) > envelope.MaxFieldLen {
			return envelope.Fields{}, errors.New("field too long")
		}
	}
	if f.ID == "" || f.Type == "" {
		return envelope.Fields{}, errors.New("missing id or type")
	}
	f.ObjectID, _ = referenceObjectID(body) // "" when it has none
	return f, nil
}

// envelopeMembers returns the values of the top-level envelope keys of the
// valid JSON body, and an error for a body that is not an object or whose
// envelope key appears twice, or under another key that bytes.EqualFold
// finds equal to it (what encoding/json would also match).
func envelopeMembers(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	names := []string{"id", "type", "object", "created", "livemode", "account", "api_version"}
	vals := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		for _, name := range names {
			switch {
			case key == name:
				if _, dup := vals[key]; dup {
					return nil, fmt.Errorf("duplicate %s", key)
				}
				vals[key] = raw
			case bytes.EqualFold([]byte(key), []byte(name)):
				return nil, fmt.Errorf("%q is %s in another case", key, name)
			}
		}
	}
	return vals, nil
}

// replaced reports whether encoding/json, decoding the string token raw,
// replaced anything with U+FFFD: whether the result holds more U+FFFD than
// raw sends, raw or as a \u escape.
func replaced(raw []byte) bool {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return true
	}
	sent := 0
	for i := 1; i < len(raw)-1; {
		switch {
		case raw[i] == '\\' && raw[i+1] == 'u':
			if strings.EqualFold(string(raw[i+2:i+6]), "fffd") {
				sent++
			}
			i += 6
		case raw[i] == '\\':
			i += 2
		default:
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n > 1 {
				sent++
			}
			i += n
		}
	}
	return strings.Count(s, "\ufffd") != sent
}

// stripeEvent has the fields Parse reads, with the JSON names and Go types
// that stripe-go v85 decodes them into with encoding/json: stripe.Event for
// a snapshot event, stripe.V2CoreEventNotification for a thin one (whose
// created is a time.Time). TestStripeEvent checks them against stripe-go.
type stripeEvent struct {
	ID         string  `json:"id"`
	Type       string  `json:"type"` // stripe.EventType, a string
	Object     string  `json:"object"`
	Created    created `json:"created"`
	Livemode   bool    `json:"livemode"`
	Account    string  `json:"account"`
	APIVersion string  `json:"api_version"`
}

func (e stripeEvent) fields() envelope.Fields {
	return envelope.Fields{ID: e.ID, Type: e.Type, Object: e.Object, Created: int64(e.Created),
		Livemode: e.Livemode, Account: e.Account, APIVersion: e.APIVersion}
}

// created decodes a number as stripe.Event's int64 and a string as
// V2CoreEventNotification's time.Time, in unix seconds.
type created int64

func (c *created) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		return nil // as for an int64 or a time.Time
	case b[0] == '"':
		var t time.Time
		if err := t.UnmarshalJSON(b); err != nil {
			return err
		}
		*c = created(t.Unix())
		return nil
	default:
		var n int64
		err := json.Unmarshal(b, &n)
		*c = created(n)
		return err
	}
}

// TestStripeEvent ensures that stripeEvent's fields have the JSON names and
// types of stripe-go's, so that the fuzz targets compare Parse with what a
// consumer using stripe-go reads.
func TestStripeEvent(t *testing.T) {
	byName := func(typ reflect.Type) map[string]reflect.Type {
		m := map[string]reflect.Type{}
		for i := range typ.NumField() {
			sf := typ.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			m[name] = sf.Type
		}
		return m
	}
	snapshot := byName(reflect.TypeFor[stripe.Event]())
	thin := byName(reflect.TypeFor[stripe.V2CoreEventNotification]())
	mirror := reflect.TypeFor[stripeEvent]()
	for i := range mirror.NumField() {
		sf := mirror.Field(i)
		name := sf.Tag.Get("json")
		st, ok := snapshot[name]
		if !ok {
			t.Fatalf("stripe.Event has no field %q", name)
		}
		if name == "created" {
			if st.Kind() != reflect.Int64 || thin[name] != reflect.TypeFor[time.Time]() {
				t.Fatalf("created: stripe.Event has %v, V2CoreEventNotification %v", st, thin[name])
			}
			continue
		}
		if st.Kind() != sf.Type.Kind() {
			t.Fatalf("%s: stripe.Event has %v, stripeEvent %v", name, st, sf.Type)
		}
		if tt, ok := thin[name]; ok && tt.Kind() != sf.Type.Kind() {
			t.Fatalf("%s: V2CoreEventNotification has %v, stripeEvent %v", name, tt, sf.Type)
		}
	}
}

// FuzzParse ensures that Parse agrees with encoding/json on every input: it
// accepts exactly the bodies the reference accepts, with the same fields,
// rejects the others with ErrInvalid, and never panics.
func FuzzParse(f *testing.F) {
	fixtures, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(fixtures) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range fixtures {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"id":"evt_1","type":"t"}`,
		`{"\u0069d":"evt_\ud83d\ude00","type":"a\u0000","ID":"x"}`,
		`{"id":"evt_1","type":"t","created":"2024-09-17T06:20:52.246Z","object":"v2.core.event"}`,
		`{"id":"evt_1","type":"t","created":-9223372036854775808,"livemode":null,"account":null}`,
		`{"id":"evt_1","type":"t","id":"evt_2"}`,
		`{"id":"evt_1","type":"t","d":[1.5e+3,{"a":[true,false,null]},"\/"]}`,
		"{\"id\":\"\xff\",\"type\":\"t\"}",
		`{"id":"evt_1","type":"t","ID":"evt_2"}`,
		"{\"id\":\"evt_1\",\"type\":\"t\",\"api_ver\u017fion\":\"v\"}",
		`{"id":"evt_\ud83d\ud83d\ude00","type":"t\udfff"}`,
		`"2024-09-17T06:20:52\u005a"`,
		`Livemode`,
		`[] `,
		`{"id":"evt_1","type":"t"} x`,
		// Fragments, for the positions inside an event that the fuzz
		// function also tries.
		`"evt_\u00e9\ud800"`,
		`9223372036854775807`,
		`"2024-09-17T08:20:52.246+02:00"`,
		`"account":"acct_1","api_version":null,"livemode":true`,
		`"\u0074ype":"u"`,
		`[{"id":"x"},[[]],-0.5E-2]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, body := range positions(in) {
			checkParse(t, body)
		}
	})
}

// FuzzParseStripe ensures that every body Parse accepts is one that
// encoding/json decodes, into the field types stripe-go uses, to exactly the
// fields Parse returned (hookbox stores, deduplicates and routes an event by
// what a consumer using stripe-go reads from it), and that this reading is
// unambiguous: each field is named by one key only, in any letter case (a
// reader taking the first of several would read otherwise), and no string
// field lost bytes to U+FFFD (two ids would read as one).
func FuzzParseStripe(f *testing.F) {
	// The seeds in testdata/fuzz/FuzzParseStripe are the ambiguous bodies:
	// repeated and case-differing keys, invalid UTF-8, lone surrogates.
	f.Add([]byte(`{"id":"evt_1","type":"t","object":"event","created":1,"livemode":true,"account":"a","api_version":"v"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, body := range positions(in) {
			checkStripe(t, body)
		}
	})
}

// positions returns in as a body, and in each position of an event that is
// otherwise acceptable: random bytes rarely form one.
func positions(in []byte) [][]byte {
	return [][]byte{
		in,
		wrap(`{"id":"evt_1","type":"t","data":`, in, `}`),
		wrap(`{"id":"evt_1","type":"t",`, in, `}`),
		wrap(`{"id":`, in, `,"type":"t"}`),
		wrap(`{"id":"evt_1","type":"t","created":`, in, `}`),
		wrap(`{"id":"evt_1","type":"t","`, in, `":1}`),
	}
}

func checkStripe(t *testing.T, body []byte) {
	t.Helper()
	got, err := envelope.Parse(body)
	if err != nil {
		if !errors.Is(err, envelope.ErrInvalid) {
			t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", body, err)
		}
		return
	}
	var e stripeEvent
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("Parse(%q) accepts as %+v a body encoding/json rejects: %v", body, got, err)
	}
	if want := e.fields(); got != want {
		t.Fatalf("Parse(%q):\n got %+v\nencoding/json %+v", body, got, want)
	}
	vals, err := envelopeMembers(body)
	if err != nil {
		t.Fatalf("Parse(%q) accepts as %+v an ambiguous body: %v", body, got, err)
	}
	for name, raw := range vals {
		if raw[0] == '"' && name != "created" && replaced(raw) {
			t.Fatalf("Parse(%q) accepts as %+v a body whose %s encoding/json reads with U+FFFD", body, got, name)
		}
	}
}

func wrap(prefix string, in []byte, suffix string) []byte {
	return append(append([]byte(prefix), in...), suffix...)
}

func checkParse(t *testing.T, body []byte) {
	t.Helper()
	got, err := envelope.Parse(body)
	want, wantErr := reference(body)
	switch {
	case err != nil && !errors.Is(err, envelope.ErrInvalid):
		t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", body, err)
	case err != nil && wantErr == nil:
		t.Fatalf("Parse(%q) rejects a body the reference accepts as %+v: %v", body, want, err)
	case err == nil && wantErr != nil:
		t.Fatalf("Parse(%q) accepts as %+v a body the reference rejects: %v", body, got, wantErr)
	case got != want:
		t.Fatalf("Parse(%q):\n got %+v\nwant %+v", body, got, want)
	}
}
