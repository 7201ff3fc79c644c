package envelope_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookbox/hookbox/envelope"
)

func mustReadFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestParse_Fixtures ensures that realistic Stripe events (snapshot, Connect
// and thin) yield their top-level fields and never those of data.object, and
// that encoding/json agrees with every field.
func TestParse_Fixtures(t *testing.T) {
	for _, tt := range []struct {
		file string
		want envelope.Fields
	}{
		{"payment_intent.succeeded.json", envelope.Fields{
			ID: "evt_3QBkLmFz8vN2pXqR1aT7yUwE", Type: "payment_intent.succeeded", Object: "event",
			Created: 1729267200, APIVersion: "2024-06-20", ObjectID: "pi_3QBkLmFz8vN2pXqR1c9HdKs2",
		}},
		{"invoice.paid.json", envelope.Fields{
			ID: "evt_1QCq7HFz8vN2pXqRk0PzM3aB", Type: "invoice.paid", Object: "event",
			Created: 1729530000, Livemode: true, APIVersion: "2025-03-31.basil", ObjectID: "in_1QCq6yFz8vN2pXqRg7TbW1eX",
		}},
		{"account.connect.json", envelope.Fields{
			ID: "evt_1QDa2bRr4nK8sLwM0yXc5VqT", Type: "charge.succeeded", Object: "event",
			Created: 1729612345, Livemode: true, Account: "acct_1Nv0FGQ9RKHgCVdK", APIVersion: "2024-06-20",
			ObjectID: "ch_3QDa2aRr4nK8sLwM1fG7hJk9",
		}},
		{"v2.core.event.json", envelope.Fields{
			ID:      "evt_test_65R9Ijk8dKs0jWYz3RP16RB8lVdtSQbJMZpsSgYmmTe4P4",
			Type:    "v1.billing.meter.error_report_triggered",
			Object:  "v2.core.event",
			Created: 1726554052, // 2024-09-17T06:20:52.246Z
		}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			body := mustReadFixture(t, tt.file)
			got, err := envelope.Parse(body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Parse:\n got %+v\nwant %+v", got, tt.want)
			}
			if want, err := reference(body); err != nil || want != got {
				t.Fatalf("reference: %+v, %v", want, err)
			}
		})
	}
}

// deep returns an event whose data nests n arrays, so the body's nesting
// depth is n+1.
func deep(n int) string {
	return `{"id":"evt_1","type":"t","data":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
}

// TestParse_Invalid ensures that every malformed or non-conforming body is
// rejected with an error matching ErrInvalid.
func TestParse_Invalid(t *testing.T) {
	pi := mustReadFixture(t, "payment_intent.succeeded.json")
	long := strings.Repeat("x", envelope.MaxFieldLen+1)
	for _, tt := range []struct{ name, body string }{
		{"Empty", ``},
		{"Whitespace", " \n\t\r "},
		{"Array", `[{"id":"evt_1","type":"t"}]`},
		{"String", `"evt_1"`},
		{"Number", `1`},
		{"Null", `null`},
		{"True", `true`},
		{"Truncated", string(pi[:len(pi)/2])},
		{"TruncatedLastBrace", string(pi[:len(pi)-2])},
		{"TruncatedInKey", `{"id":"evt_1","ty`},
		{"TruncatedAfterColon", `{"id":"evt_1","type":`},
		{"TruncatedInEscape", `{"id":"evt_1","type":"t\`},
		{"TruncatedInUnicodeEscape", `{"id":"evt_1","type":"t\u00`},
		{"TruncatedNested", `{"id":"evt_1","type":"t","data":{"a":[1,`},
		{"TrailingGarbage", string(pi) + "x"},
		{"TrailingObject", `{"id":"evt_1","type":"t"}{}`},
		{"TrailingComma", `{"id":"evt_1","type":"t",}`},
		{"TrailingCommaNested", `{"id":"evt_1","type":"t","d":[1,]}`},
		{"LeadingBOM", "\ufeff" + `{"id":"evt_1","type":"t"}`},
		{"NonJSONWhitespace", "\v" + `{"id":"evt_1","type":"t"}`},
		{"NUL", `{"id":"evt_1","type":"t"}` + "\x00"},
		{"MissingColon", `{"id" "evt_1","type":"t"}`},
		{"MissingComma", `{"id":"evt_1" "type":"t"}`},
		{"UnquotedKey", `{id:"evt_1","type":"t"}`},
		{"SingleQuotes", `{'id':'evt_1','type':'t'}`},
		{"Comment", `{"id":"evt_1","type":"t"/* */}`},
		{"MismatchedClose", `{"id":"evt_1","type":"t","d":[}]}`},
		{"IDMissing", `{"type":"t"}`},
		{"IDNull", `{"id":null,"type":"t"}`},
		{"IDEmpty", `{"id":"","type":"t"}`},
		{"IDNumber", `{"id":1,"type":"t"}`},
		{"IDObject", `{"id":{"id":"evt_1"},"type":"t"}`},
		{"IDArray", `{"id":["evt_1"],"type":"t"}`},
		{"IDTooLong", `{"id":"` + long + `","type":"t"}`},
		{"IDTooLongEscaped", `{"id":"` + strings.Repeat(`\u0078`, envelope.MaxFieldLen+1) + `","type":"t"}`},
		{"TypeMissing", `{"id":"evt_1"}`},
		{"TypeNumber", `{"id":"evt_1","type":1}`},
		{"TypeBool", `{"id":"evt_1","type":true}`},
		{"TypeEmpty", `{"id":"evt_1","type":""}`},
		{"NestedIDOnly", `{"type":"t","data":{"object":{"id":"pi_1"}}}`},
		{"NestedInArrayOnly", `{"data":[{"id":"evt_1","type":"t"}]}`},
		{"EmptyObject", `{}`},
		{"ObjectNumber", `{"id":"evt_1","type":"t","object":1}`},
		{"ObjectTooLong", `{"id":"evt_1","type":"t","object":"` + long + `"}`},
		{"AccountNumber", `{"id":"evt_1","type":"t","account":42}`},
		{"AccountObject", `{"id":"evt_1","type":"t","account":{"id":"acct_1"}}`},
		{"APIVersionBool", `{"id":"evt_1","type":"t","api_version":false}`},
		{"LivemodeString", `{"id":"evt_1","type":"t","livemode":"true"}`},
		{"LivemodeNumber", `{"id":"evt_1","type":"t","livemode":1}`},
		{"CreatedFraction", `{"id":"evt_1","type":"t","created":1.5}`},
		{"CreatedIntegralFraction", `{"id":"evt_1","type":"t","created":1.0}`},
		{"CreatedExponent", `{"id":"evt_1","type":"t","created":1e9}`},
		{"CreatedOverflow", `{"id":"evt_1","type":"t","created":9223372036854775808}`},
		{"CreatedUnderflow", `{"id":"evt_1","type":"t","created":-9223372036854775809}`},
		{"CreatedHuge", `{"id":"evt_1","type":"t","created":123456789012345678901234567890}`},
		{"CreatedBool", `{"id":"evt_1","type":"t","created":true}`},
		{"CreatedObject", `{"id":"evt_1","type":"t","created":{}}`},
		{"CreatedEmptyString", `{"id":"evt_1","type":"t","created":""}`},
		{"CreatedNotRFC3339", `{"id":"evt_1","type":"t","created":"2024-09-17 06:20:52"}`},
		{"CreatedDigitsString", `{"id":"evt_1","type":"t","created":"1729267200"}`},
		// time.Time's UnmarshalJSON, which stripe-go uses for a thin event's
		// created, does not decode escapes.
		{"CreatedRFC3339Escaped", `{"id":"evt_1","type":"t","created":"2024-09-17T06:20:52\u005a"}`},
		{"CreatedRFC3339LowercaseT", `{"id":"evt_1","type":"t","created":"2024-09-17t06:20:52Z"}`},
		{"InvalidEscape", `{"id":"evt\x1","type":"t"}`},
		{"InvalidEscapeNested", `{"id":"evt_1","type":"t","d":{"k":"\a"}}`},
		{"InvalidEscapeInKey", `{"\q":1,"id":"evt_1","type":"t"}`},
		{"InvalidUnicodeEscape", `{"id":"evt\u12G4","type":"t"}`},
		{"ShortUnicodeEscape", `{"id":"evt\u12","type":"t"}`},
		{"UppercaseU", `{"id":"evt\U0041","type":"t"}`},
		{"LeadingZero", `{"id":"evt_1","type":"t","n":01}`},
		{"NegativeLeadingZero", `{"id":"evt_1","type":"t","n":-01}`},
		{"TrailingDot", `{"id":"evt_1","type":"t","n":1.}`},
		{"LeadingDot", `{"id":"evt_1","type":"t","n":.5}`},
		{"BareMinus", `{"id":"evt_1","type":"t","n":-}`},
		{"PlusSign", `{"id":"evt_1","type":"t","n":+1}`},
		{"EmptyExponent", `{"id":"evt_1","type":"t","n":1e}`},
		{"SignOnlyExponent", `{"id":"evt_1","type":"t","n":1e+}`},
		{"Hex", `{"id":"evt_1","type":"t","n":0x10}`},
		{"NaN", `{"id":"evt_1","type":"t","n":NaN}`},
		{"Infinity", `{"id":"evt_1","type":"t","n":-Infinity}`},
		{"BadLiteral", `{"id":"evt_1","type":"t","b":tru}`},
		{"CapitalLiteral", `{"id":"evt_1","type":"t","b":True}`},
		{"TruncatedLiteral", `{"id":"evt_1","type":"t","b":nul`},
		{"RawTabInString", "{\"id\":\"evt\t1\",\"type\":\"t\"}"},
		{"RawNewlineInNestedString", "{\"id\":\"evt_1\",\"type\":\"t\",\"d\":[\"a\nb\"]}"},
		{"RawNULInKey", "{\"a\x00\":1,\"id\":\"evt_1\",\"type\":\"t\"}"},
		{"RawDELIsFineButUnitSeparatorIsNot", "{\"id\":\"evt_1\x1f\",\"type\":\"t\"}"},
		{"TooDeep", deep(envelope.MaxDepth)},
		{"TooDeepObjects", `{"id":"evt_1","type":"t","d":` + strings.Repeat(`{"a":`, envelope.MaxDepth) + `1` + strings.Repeat(`}`, envelope.MaxDepth) + `}`},
		{"VeryDeepUnclosed", `{"id":"evt_1","type":"t","d":` + strings.Repeat("[", 1_000_000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := envelope.Parse([]byte(tt.body))
			if !errors.Is(err, envelope.ErrInvalid) || envelope.Reason(err) != "invalid_payload" {
				t.Fatalf("Parse = %+v, %v; want ErrInvalid", got, err)
			}
			if got != (envelope.Fields{}) {
				t.Fatalf("Parse returned fields %+v with an error", got)
			}
			if _, err := reference([]byte(tt.body)); err == nil {
				t.Fatalf("reference accepts the body: the case is wrong")
			}
		})
	}
}

// TestParse_Valid ensures the edge cases of decoding: escaped keys, other
// keys in any letter case, unicode, U+FFFD sent as such, surrogate pairs,
// nulls, integer limits and the exact depth limit.
func TestParse_Valid(t *testing.T) {
	max := strings.Repeat("x", envelope.MaxFieldLen)
	for _, tt := range []struct {
		name, body string
		want       envelope.Fields
	}{
		{"Minimal", `{"id":"evt_1","type":"t"}`, envelope.Fields{ID: "evt_1", Type: "t"}},
		{"SurroundingWhitespace", " \r\n\t{ \"id\" : \"evt_1\" ,\n\"type\":\t\"t\" }\n\r\t ", envelope.Fields{ID: "evt_1", Type: "t"}},
		{"EscapedKey", `{"\u0069d":"evt_1","typ\u0065":"t"}`, envelope.Fields{ID: "evt_1", Type: "t"}},
		{"FullyEscapedKey", `{"\u0061\u0070\u0069\u005f\u0076\u0065\u0072\u0073\u0069\u006f\u006e":"v","id":"evt_1","type":"t"}`,
			envelope.Fields{ID: "evt_1", Type: "t", APIVersion: "v"}},
		{"CaseDifferingOtherKeysIgnored", `{"Data":1,"id":"evt_1","DATA":2,"type":"t","Pending_Webhooks":3}`, envelope.Fields{ID: "evt_1", Type: "t"}},
		{"KeysThatDoNotFoldIgnored", `{"\u0131d":"evt_X","\u0130D":"evt_Y","\u212Aey":1,"id":"evt_1","type":"t"}`, envelope.Fields{ID: "evt_1", Type: "t"}},
		{"LongerKeyIgnored", `{"ids":"evt_X","api_versions":"v","id":"evt_1","type":"t"}`, envelope.Fields{ID: "evt_1", Type: "t"}},
		{"KeyWithInvalidUTF8Ignored", "{\"i\xffd\":\"evt_X\",\"id\":\"evt_1\",\"type\":\"t\"}", envelope.Fields{ID: "evt_1", Type: "t"}},
		{"KeyWithReplacementCharIgnored", `{"i\ufffdd":"evt_X","id":"evt_1","type":"t"}`, envelope.Fields{ID: "evt_1", Type: "t"}},
		{"NestedIDNotTaken", `{"data":{"id":"pi_1","type":"x","object":{"id":"pi_2"}},"id":"evt_1","type":"t"}`, envelope.Fields{ID: "evt_1", Type: "t", ObjectID: "pi_2"}},
		{"DuplicateOtherKeys", `{"id":"evt_1","data":1,"type":"t","data":2}`, envelope.Fields{ID: "evt_1", Type: "t"}},
		{"Unicode", `{"id":"evt_☃","type":"café.ünïcode"}`, envelope.Fields{ID: "evt_☃", Type: "café.ünïcode"}},
		{"EscapedValue", `{"id":"evt_\u00e9\n\t\"\\\/","type":"t"}`, envelope.Fields{ID: "evt_é\n\t\"\\/", Type: "t"}},
		{"SurrogatePair", `{"id":"evt_\ud83d\ude00","type":"t"}`, envelope.Fields{ID: "evt_😀", Type: "t"}},
		{"SurrogatePairUppercase", `{"id":"evt_\uD83D\uDE00","type":"t"}`, envelope.Fields{ID: "evt_😀", Type: "t"}},
		{"SurrogatePairAfterEscapedBackslash", `{"id":"evt_\\\ud83d\ude00","type":"t"}`, envelope.Fields{ID: "evt_\\😀", Type: "t"}},
		{"EscapedBackslashThenU", `{"id":"evt_\\ud800","type":"t"}`, envelope.Fields{ID: `evt_\ud800`, Type: "t"}},
		{"ReplacementCharSent", "{\"id\":\"evt_\ufffd\",\"type\":\"t_\xef\xbf\xbd\"}", envelope.Fields{ID: "evt_\ufffd", Type: "t_\ufffd"}},
		{"ReplacementCharEscaped", `{"id":"evt_\uFFFD","type":"t"}`, envelope.Fields{ID: "evt_\ufffd", Type: "t"}},
		{"InvalidUTF8InOtherFieldsIgnored", "{\"id\":\"evt_1\",\"type\":\"t\",\"data\":{\"id\":\"\xff\\ud800\"},\"\xff\":1}", envelope.Fields{ID: "evt_1", Type: "t"}},
		{"EscapedNUL", `{"id":"evt_\u0000","type":"t"}`, envelope.Fields{ID: "evt_\x00", Type: "t"}},
		{"RawDEL", "{\"id\":\"evt_\x7f\",\"type\":\"t\"}", envelope.Fields{ID: "evt_\x7f", Type: "t"}},
		{"MaxLen", `{"id":"` + max + `","type":"` + max + `","object":"` + max + `","account":"` + max + `","api_version":"` + max + `"}`,
			envelope.Fields{ID: max, Type: max, Object: max, Account: max, APIVersion: max}},
		{"MaxLenEscaped", `{"id":"` + strings.Repeat(`\u0078`, envelope.MaxFieldLen) + `","type":"t"}`, envelope.Fields{ID: max, Type: "t"}},
		{"Nulls", `{"id":"evt_1","type":"t","object":null,"created":null,"livemode":null,"account":null,"api_version":null}`,
			envelope.Fields{ID: "evt_1", Type: "t"}},
		{"AllFields", `{"account":"acct_1","api_version":"2024-06-20","created":1729267200,"id":"evt_1","livemode":true,"object":"event","type":"t"}`,
			envelope.Fields{ID: "evt_1", Type: "t", Object: "event", Created: 1729267200, Livemode: true, Account: "acct_1", APIVersion: "2024-06-20"}},
		{"LivemodeFalse", `{"id":"evt_1","type":"t","livemode":false}`, envelope.Fields{ID: "evt_1", Type: "t"}},
		{"CreatedZero", `{"id":"evt_1","type":"t","created":0}`, envelope.Fields{ID: "evt_1", Type: "t"}},
		{"CreatedNegativeZero", `{"id":"evt_1","type":"t","created":-0}`, envelope.Fields{ID: "evt_1", Type: "t"}},
		{"CreatedNegative", `{"id":"evt_1","type":"t","created":-86400}`, envelope.Fields{ID: "evt_1", Type: "t", Created: -86400}},
		{"CreatedMaxInt64", `{"id":"evt_1","type":"t","created":9223372036854775807}`, envelope.Fields{ID: "evt_1", Type: "t", Created: math.MaxInt64}},
		{"CreatedMinInt64", `{"id":"evt_1","type":"t","created":-9223372036854775808}`, envelope.Fields{ID: "evt_1", Type: "t", Created: math.MinInt64}},
		{"CreatedRFC3339Offset", `{"id":"evt_1","type":"t","created":"2024-09-17T08:20:52+02:00"}`, envelope.Fields{ID: "evt_1", Type: "t", Created: 1726554052}},
		{"CreatedRFC3339BeforeEpochRoundsDown", `{"id":"evt_1","type":"t","created":"1969-12-31T23:59:59.5Z"}`, envelope.Fields{ID: "evt_1", Type: "t", Created: -1}},
		{"OtherNumbers", `{"id":"evt_1","type":"t","n":[0,-0,1.5,-1.25e+10,2E-3,1e0,123456789012345678901234567890]}`, envelope.Fields{ID: "evt_1", Type: "t"}},
		{"EmptyContainers", `{"id":"evt_1","type":"t","a":[],"o":{},"n":[[],{},[{}]]}`, envelope.Fields{ID: "evt_1", Type: "t"}},
		{"MaxDepth", deep(envelope.MaxDepth - 1), envelope.Fields{ID: "evt_1", Type: "t"}},
		{"MaxDepthObjects", `{"id":"evt_1","type":"t","d":` + strings.Repeat(`{"a":`, envelope.MaxDepth-1) + `1` + strings.Repeat(`}`, envelope.MaxDepth-1) + `}`,
			envelope.Fields{ID: "evt_1", Type: "t"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := envelope.Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Parse:\n got %+v\nwant %+v", got, tt.want)
			}
			if want, err := reference([]byte(tt.body)); err != nil || want != got {
				t.Fatalf("reference disagrees: %+v, %v", want, err)
			}
		})
	}
}

// TestParse_Ambiguous ensures that a body whose envelope key appears twice,
// or in another letter case as encoding/json folds it (which stripe-go would
// read, the last one winning), is refused with ErrAmbiguousKey, and a string
// field that is not valid UTF-8 (which encoding/json would read with U+FFFD,
// so that two different ids collide) with ErrInvalidUTF8.
func TestParse_Ambiguous(t *testing.T) {
	for _, tt := range []struct{ name, body, reason string }{
		{"DuplicateID", `{"id":"evt_1","type":"t","id":"evt_2"}`, "ambiguous_key"},
		{"DuplicateIDSameValue", `{"id":"evt_1","type":"t","id":"evt_1"}`, "ambiguous_key"},
		{"DuplicateIDEscaped", `{"id":"evt_1","type":"t","\u0069d":"evt_2"}`, "ambiguous_key"},
		{"DuplicateIDNull", `{"id":"evt_1","type":"t","id":null}`, "ambiguous_key"},
		{"DuplicateType", `{"type":"a","id":"evt_1","type":"b"}`, "ambiguous_key"},
		{"DuplicateLivemode", `{"id":"evt_1","type":"t","livemode":false,"livemode":true}`, "ambiguous_key"},
		{"DuplicateCreated", `{"id":"evt_1","type":"t","created":1,"created":2}`, "ambiguous_key"},
		{"UppercaseIDAfter", `{"id":"evt_1","type":"t","ID":"evt_2"}`, "ambiguous_key"},
		{"UppercaseIDBefore", `{"ID":"evt_2","id":"evt_1","type":"t"}`, "ambiguous_key"},
		{"MixedCaseID", `{"id":"evt_1","type":"t","iD":"evt_2"}`, "ambiguous_key"},
		{"CapitalizedIDNull", `{"id":"evt_1","type":"t","Id":null}`, "ambiguous_key"},
		{"EscapedUppercaseID", `{"id":"evt_1","type":"t","\u0049D":"evt_2"}`, "ambiguous_key"},
		{"UppercaseType", `{"id":"evt_1","type":"t","TYPE":"u"}`, "ambiguous_key"},
		{"UppercaseKeysOnly", `{"ID":"evt_1","Type":"t"}`, "ambiguous_key"},
		{"CaseVariantLivemodeAlone", `{"id":"evt_1","type":"t","Livemode":true}`, "ambiguous_key"},
		{"CaseVariantCreatedAlone", `{"id":"evt_1","type":"t","Created":5}`, "ambiguous_key"},
		{"CaseVariantAccountAlone", `{"id":"evt_1","type":"t","ACCOUNT":"acct_1"}`, "ambiguous_key"},
		{"CaseVariantObjectAlone", `{"id":"evt_1","type":"t","Object":"event"}`, "ambiguous_key"},
		{"LongSInAPIVersion", "{\"id\":\"evt_1\",\"type\":\"t\",\"api_version\":\"a\",\"api_ver\u017fion\":\"b\"}", "ambiguous_key"},
		{"LongSInAPIVersionEscaped", `{"id":"evt_1","type":"t","api_ver\u017Fion":"b"}`, "ambiguous_key"},
		{"InvalidUTF8ID", "{\"id\":\"evt_\xff\",\"type\":\"t\"}", "invalid_utf8"},
		{"InvalidUTF8IDEscaped", "{\"id\":\"evt_\\n\xff\",\"type\":\"t\"}", "invalid_utf8"},
		{"TruncatedRuneID", "{\"id\":\"evt_\xe2\x82\",\"type\":\"t\"}", "invalid_utf8"},
		{"EncodedSurrogateID", "{\"id\":\"evt_\xed\xa0\x80\",\"type\":\"t\"}", "invalid_utf8"},
		{"OverlongID", "{\"id\":\"evt_\xc0\xaf\",\"type\":\"t\"}", "invalid_utf8"},
		{"LoneHighSurrogateID", `{"id":"evt_\ud83d","type":"t"}`, "invalid_utf8"},
		{"LoneHighSurrogateBeforeText", `{"id":"evt_\ud83dx\ude00","type":"t"}`, "invalid_utf8"},
		{"LoneLowSurrogateID", `{"id":"evt_\ude00","type":"t"}`, "invalid_utf8"},
		{"HighHighLow", `{"id":"evt_\ud83d\ud83d\ude00","type":"t"}`, "invalid_utf8"},
		{"HighThenOtherEscape", `{"id":"evt_\ud83d\n","type":"t"}`, "invalid_utf8"},
		{"HighAtEnd", `{"id":"evt_1\uDBFF","type":"t"}`, "invalid_utf8"},
		{"InvalidUTF8Type", "{\"id\":\"evt_1\",\"type\":\"t\xfe\"}", "invalid_utf8"},
		{"LoneSurrogateType", `{"id":"evt_1","type":"t\udfff"}`, "invalid_utf8"},
		{"InvalidUTF8Object", "{\"id\":\"evt_1\",\"type\":\"t\",\"object\":\"\x80\"}", "invalid_utf8"},
		{"InvalidUTF8Account", "{\"id\":\"evt_1\",\"type\":\"t\",\"account\":\"acct_\xff\"}", "invalid_utf8"},
		{"LoneSurrogateAPIVersion", `{"id":"evt_1","type":"t","api_version":"\ud800"}`, "invalid_utf8"},
		{"IDTooLongAfterReplacement", `{"id":"` + strings.Repeat("\xff", 86) + `","type":"t"}`, "invalid_utf8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := envelope.Parse([]byte(tt.body))
			if !errors.Is(err, envelope.ErrInvalid) {
				t.Fatalf("Parse = %+v, %v; want ErrInvalid", got, err)
			}
			if r := envelope.Reason(err); r != tt.reason {
				t.Fatalf("Reason(%v) = %q, want %q", err, r, tt.reason)
			}
			if got != (envelope.Fields{}) {
				t.Fatalf("Parse returned fields %+v with an error", got)
			}
			if _, err := reference([]byte(tt.body)); err == nil {
				t.Fatalf("reference accepts the body: the case is wrong")
			}
		})
	}
}

// TestReason ensures that Reason names nil, a plain rejection and an error
// that is not Parse's.
func TestReason(t *testing.T) {
	_, err := envelope.Parse([]byte(`{"id":1}`))
	for _, tt := range []struct {
		err  error
		want string
	}{{nil, ""}, {err, "invalid_payload"}, {errors.New("other"), "invalid_payload"}} {
		if got := envelope.Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestParse_Allocs ensures that a 3 KB event costs one allocation (the
// returned strings) and no more.
func TestParse_Allocs(t *testing.T) {
	body := mustReadFixture(t, "payment_intent.succeeded.json")
	n := testing.AllocsPerRun(100, func() {
		if _, err := envelope.Parse(body); err != nil {
			t.Fatal(err)
		}
	})
	if n > 1 {
		t.Fatalf("Parse allocates %v times per call, want at most 1", n)
	}
}

// TestParse_DoesNotRetainBody ensures that the returned strings are copies:
// reusing the request buffer must not change them.
func TestParse_DoesNotRetainBody(t *testing.T) {
	body := []byte(`{"id":"evt_1","type":"t","account":"acct_1"}`)
	f, err := envelope.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'x'
	}
	if f.ID != "evt_1" || f.Type != "t" || f.Account != "acct_1" {
		t.Fatalf("fields changed with the body: %+v", f)
	}
}

var sink envelope.Fields

// BenchmarkParse3KB measures Parse on a realistic 3 KB event whose type comes
// last, so the whole body is scanned.
func BenchmarkParse3KB(b *testing.B) {
	body := mustReadFixture(b, "payment_intent.succeeded.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := envelope.Parse(body)
		if err != nil {
			b.Fatal(err)
		}
		sink = f
	}
}

// BenchmarkEncodingJSON3KB measures what Parse replaces: json.Unmarshal of
// the same body into a struct holding only the envelope fields.
func BenchmarkEncodingJSON3KB(b *testing.B) {
	body := mustReadFixture(b, "payment_intent.succeeded.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var e struct {
			ID         string `json:"id"`
			Type       string `json:"type"`
			Object     string `json:"object"`
			Created    int64  `json:"created"`
			Livemode   bool   `json:"livemode"`
			Account    string `json:"account"`
			APIVersion string `json:"api_version"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			b.Fatal(err)
		}
		sink = envelope.Fields{ID: e.ID, Type: e.Type, Object: e.Object, Created: e.Created,
			Livemode: e.Livemode, Account: e.Account, APIVersion: e.APIVersion}
	}
}
