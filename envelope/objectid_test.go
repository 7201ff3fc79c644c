package envelope_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookbox/hookbox/envelope"
)

// TestObjectID_Fixtures ensures that realistic Stripe events yield the id of
// their data.object (not the event's own id), and that a thin event, which
// has no data, yields none.
func TestObjectID_Fixtures(t *testing.T) {
	for _, tt := range []struct {
		file string
		want string
		ok   bool
	}{
		{"payment_intent.succeeded.json", "pi_3QBkLmFz8vN2pXqR1c9HdKs2", true},
		{"invoice.paid.json", "in_1QCq6yFz8vN2pXqRg7TbW1eX", true},
		{"account.connect.json", "ch_3QDa2aRr4nK8sLwM1fG7hJk9", true},
		{"v2.core.event.json", "", false},
	} {
		t.Run(tt.file, func(t *testing.T) {
			body := mustReadFixture(t, tt.file)
			got, ok := envelope.ObjectID(body)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ObjectID = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
			if want, wantOK := referenceObjectID(body); want != got || wantOK != ok {
				t.Fatalf("reference: %q, %v", want, wantOK)
			}
		})
	}
}

// TestObjectID ensures that ObjectID reads data.object.id as encoding/json
// reads it into a map (exact keys after unescaping, the last of duplicates),
// and refuses an id that is absent, not a string, empty, too long, not valid
// UTF-8 or holding a control character, and a body that is not valid JSON.
func TestObjectID(t *testing.T) {
	long := strings.Repeat("x", envelope.MaxFieldLen)
	for _, tt := range []struct {
		name, body string
		want       string // "" for none
	}{
		{"OK", `{"id":"evt_1","type":"t","data":{"object":{"id":"pi_1","object":"payment_intent"}}}`, "pi_1"},
		{"Whitespace", " {\n \"data\" : {\t\"object\" :{ \"id\" : \"pi_1\" } } }\r\n", "pi_1"},
		{"IDFirstThenOthers", `{"data":{"object":{"id":"pi_1","customer":{"id":"cus_1"}},"previous_attributes":{"id":"x"}}}`, "pi_1"},
		{"NestedIDNotTaken", `{"data":{"object":{"customer":{"id":"cus_1"},"items":[{"id":"si_1"}]}}}`, ""},
		{"TopLevelIDNotTaken", `{"id":"evt_1","data":{"id":"x","object":{}}}`, ""},
		{"DataIDNotTaken", `{"data":{"id":"x","object":null}}`, ""},
		{"NoData", `{"id":"evt_1","type":"invoice.upcoming"}`, ""},
		{"NoObject", `{"id":"evt_1","data":{"previous_attributes":{"id":"x"}}}`, ""},
		{"DataNull", `{"data":null}`, ""},
		{"DataArray", `{"data":[{"object":{"id":"x"}}]}`, ""},
		{"DataString", `{"data":"x"}`, ""},
		{"ObjectNull", `{"data":{"object":null}}`, ""},
		{"ObjectString", `{"data":{"object":"pi_1"}}`, ""},
		{"ObjectArray", `{"data":{"object":[{"id":"pi_1"}]}}`, ""},
		{"IDNumber", `{"data":{"object":{"id":12}}}`, ""},
		{"IDNull", `{"data":{"object":{"id":null}}}`, ""},
		{"IDTrue", `{"data":{"object":{"id":true}}}`, ""},
		{"IDObject", `{"data":{"object":{"id":{"id":"x"}}}}`, ""},
		{"IDEmpty", `{"data":{"object":{"id":""}}}`, ""},
		{"IDEscapedEmpty", `{"data":{"object":{"id":"\u0000"}}}`, ""},
		{"IDMaxLen", `{"data":{"object":{"id":"` + long + `"}}}`, long},
		{"IDTooLong", `{"data":{"object":{"id":"` + long + `x"}}}`, ""},
		{"IDEscapedTooLong", `{"data":{"object":{"id":"` + long + `\u0078"}}}`, ""},
		{"IDEscapedMaxLen", `{"data":{"object":{"id":"` + long[1:] + `\u0078"}}}`, long[1:] + "x"},
		{"IDEscaped", `{"data":{"object":{"id":"pi\u005f1\/a\"b\\c"}}}`, `pi_1/a"b\c`},
		{"IDEscapedUnicode", `{"data":{"object":{"id":"pi_\u00e9\ud83d\ude00"}}}`, "pi_é😀"},
		{"IDRawUnicode", `{"data":{"object":{"id":"pi_é😀"}}}`, "pi_é😀"},
		{"IDReplacementCharKept", `{"data":{"object":{"id":"a\ufffd�"}}}`, "a\ufffd\ufffd"},
		{"IDLoneSurrogate", `{"data":{"object":{"id":"pi_\ud800"}}}`, ""},
		{"IDInvalidUTF8", "{\"data\":{\"object\":{\"id\":\"pi_\xff\"}}}", ""},
		{"IDEscapedControl", `{"data":{"object":{"id":"pi\n1"}}}`, ""},
		{"IDEscapedNUL", `{"data":{"object":{"id":"pi\u00001"}}}`, ""},
		{"IDDEL", "{\"data\":{\"object\":{\"id\":\"pi\x7f1\"}}}", ""},
		{"EscapedKeys", `{"d\u0061ta":{"\u006f\u0062ject":{"\u0069\u0064":"pi_1"}}}`, "pi_1"},
		{"EscapedKeySlash", `{"data":{"object":{"i\/d":"x","\/id":"y"}}}`, ""},
		{"KeyCaseDiffers", `{"Data":{"object":{"id":"pi_1"}}}`, ""},
		{"KeyCaseDiffers2", `{"data":{"object":{"ID":"pi_1"}}}`, ""},
		{"KeyLongS", "{\"data\":{\"object\":{\"id\":\"pi_1\"}},\"\u017fata\":{}}", "pi_1"},
		{"KeyLonger", `{"datas":{"object":{"id":"x"}},"dat":{"object":{"id":"y"}}}`, ""},
		{"KeyEscapedLonger", `{"d\u0061tas":{"object":{"id":"x"}},"\u0064at":{"object":{"id":"y"}}}`, ""},
		{"KeyEscapedNonASCII", `{"d\u00e1ta":{"object":{"id":"x"}}}`, ""},
		{"DuplicateDataLastWins", `{"data":{"object":{"id":"a"}},"data":{"object":{"id":"b"}}}`, "b"},
		{"DuplicateDataLastNull", `{"data":{"object":{"id":"a"}},"data":null}`, ""},
		{"DuplicateDataLastNoObject", `{"data":{"object":{"id":"a"}},"data":{}}`, ""},
		{"DuplicateDataLastArray", `{"data":{"object":{"id":"a"}},"data":[{"object":{"id":"b"}}]}`, ""},
		{"DuplicateDataFirstNull", `{"data":null,"data":{"object":{"id":"b"}}}`, "b"},
		{"DuplicateObjectLastWins", `{"data":{"object":{"id":"a"},"object":{"id":"b"}}}`, "b"},
		{"DuplicateObjectLastString", `{"data":{"object":{"id":"a"},"object":"b"}}`, ""},
		{"DuplicateObjectLastArray", `{"data":{"object":{"id":"a"},"object":[]}}`, ""},
		{"DuplicateIDLastWins", `{"data":{"object":{"id":"a","id":"b"}}}`, "b"},
		{"DuplicateIDLastNumber", `{"data":{"object":{"id":"a","id":1}}}`, ""},
		{"DuplicateIDLastObject", `{"data":{"object":{"id":"a","id":{}}}}`, ""},
		{"DuplicateIDLastEmpty", `{"data":{"object":{"id":"a","id":""}}}`, ""},
		{"DuplicateIDLastInvalid", `{"data":{"object":{"id":"a","id":"\ud800"}}}`, ""},
		{"DuplicateEscapedLastWins", `{"data":{"object":{"id":"a"}},"d\u0061ta":{"object":{"id":"b"}}}`, "b"},
		{"NotObject", `[{"data":{"object":{"id":"a"}}}]`, ""},
		{"Empty", ``, ""},
		{"EmptyObject", `{}`, ""},
		{"TrailingData", `{"data":{"object":{"id":"a"}}} x`, ""},
		{"TwoObjects", `{"data":{"object":{"id":"a"}}}{}`, ""},
		{"Truncated", `{"data":{"object":{"id":"a"}}`, ""},
		{"InvalidAfterID", `{"data":{"object":{"id":"a",}}}`, ""},
		{"InvalidElsewhere", `{"data":{"object":{"id":"a"}},"x":[1,]}`, ""},
		{"TooDeep", `{"data":{"object":{"id":"a"}},"x":` + strings.Repeat("[", envelope.MaxDepth) + strings.Repeat("]", envelope.MaxDepth) + `}`, ""},
		{"TooDeepInObject", `{"data":{"object":{"id":"a","x":` + strings.Repeat("[", envelope.MaxDepth-2) + strings.Repeat("]", envelope.MaxDepth-2) + `}}}`, ""},
		{"DeepestInObject", `{"data":{"object":{"id":"a","x":` + strings.Repeat("[", envelope.MaxDepth-3) + strings.Repeat("]", envelope.MaxDepth-3) + `}}}`, "a"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			got, ok := envelope.ObjectID(body)
			if got != tt.want || ok != (tt.want != "") {
				t.Fatalf("ObjectID(%q) = %q, %v; want %q", tt.body, got, ok, tt.want)
			}
			if want, wantOK := referenceObjectID(body); want != got || wantOK != ok {
				t.Fatalf("reference(%q) = %q, %v; ObjectID %q, %v", tt.body, want, wantOK, got, ok)
			}
			// Parse reads the same id in its own pass, of the body as it is
			// or made an event (an id and a type added in front).
			ev := body
			if trimmed := strings.TrimLeft(tt.body, " \t\r\n"); len(trimmed) > 2 && trimmed[0] == '{' {
				if _, err := envelope.Parse(ev); err != nil {
					ev = []byte(`{"id":"evt_0","type":"t",` + trimmed[1:])
				}
			}
			if f, err := envelope.Parse(ev); err == nil && f.ObjectID != got {
				t.Fatalf("Parse(%q).ObjectID = %q; ObjectID %q", ev, f.ObjectID, got)
			} else if err != nil && ok {
				t.Fatalf("Parse(%q): %v; ObjectID found %q", ev, err, got)
			}
		})
	}
}

// TestObjectID_Allocs ensures that a 3 KB event costs one allocation (the
// returned string), even when its keys are escaped.
func TestObjectID_Allocs(t *testing.T) {
	fixture := mustReadFixture(t, "payment_intent.succeeded.json")
	escaped := []byte(`{"id":"evt_1","d\u0061ta":{"\u006fbject":{"\u0069d":"pi_1"}}}`)
	for _, body := range [][]byte{fixture, escaped} {
		n := testing.AllocsPerRun(100, func() {
			if _, ok := envelope.ObjectID(body); !ok {
				t.Fatalf("ObjectID(%q): none", body)
			}
		})
		if n > 1 {
			t.Fatalf("ObjectID allocates %v times per call, want at most 1", n)
		}
	}
}

// TestObjectID_DoesNotRetainBody ensures that the returned id is a copy.
func TestObjectID_DoesNotRetainBody(t *testing.T) {
	body := []byte(`{"data":{"object":{"id":"pi_1"}}}`)
	id, _ := envelope.ObjectID(body)
	for i := range body {
		body[i] = 'x'
	}
	if id != "pi_1" {
		t.Fatalf("id changed with the body: %q", id)
	}
}

var sinkID string

// BenchmarkObjectID3KB measures ObjectID on a realistic 3 KB event.
func BenchmarkObjectID3KB(b *testing.B) {
	body := mustReadFixture(b, "payment_intent.succeeded.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		id, ok := envelope.ObjectID(body)
		if !ok {
			b.Fatal("no object id")
		}
		sinkID = id
	}
}

// referenceObjectID is ObjectID's specification written with encoding/json:
// json.Valid and a top-level object; data -> object -> id followed through
// map[string]any (the last of duplicate keys wins); a string id of 1 to
// MaxFieldLen bytes without ASCII control characters, that encoding/json
// did not have to repair with U+FFFD (checked on the raw token found along
// the same path through map[string]json.RawMessage).
func referenceObjectID(body []byte) (string, bool) {
	if !json.Valid(body) {
		return "", false
	}
	var top map[string]any
	if json.Unmarshal(body, &top) != nil {
		return "", false // not an object
	}
	data, _ := top["data"].(map[string]any)
	obj, _ := data["object"].(map[string]any)
	id, ok := obj["id"].(string)
	if !ok || id == "" || len(id) > envelope.MaxFieldLen {
		return "", false
	}
	for _, c := range []byte(id) {
		if c < 0x20 || c == 0x7f {
			return "", false
		}
	}
	raw := body
	for _, key := range []string{"data", "object", "id"} {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			panic(err) // cannot happen: map[string]any found an object here
		}
		raw = m[key]
	}
	if replaced(raw) {
		return "", false
	}
	return id, true
}

// FuzzObjectID ensures that ObjectID agrees with referenceObjectID on every
// input, and never panics. Each input is also tried in each position along
// data.object.id of an event, since random bytes rarely form one.
func FuzzObjectID(f *testing.F) {
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
		`{"data":{"object":{"id":"pi_1"}}}`,
		`{"d\u0061ta":{"object":{"\u0069d":"pi_\u00e9\ud83d\ude00"}},"data":null}`,
		`{"data":{"object":{"id":"a","id":1,"x":{"id":"b"}},"object":{"id":"c"}}}`,
		`{"data":{"object":{"id":"a"}},"data":[{"object":{"id":"b"}}]}`,
		"{\"data\":{\"object\":{\"id\":\"\xff\",\"Id\":\"x\"}}}",
		`{"data":{"object":{"id":"a\ud800\u0000"}}} x`,
		`[{"data":{"object":{"id":"pi_1"}}}]`,
		// Fragments for the positions.
		`"pi_\/\"\\\b\f\n\r\t\u0041"`,
		`{"id":"pi_1","id":"pi_2"}`,
		`{"object":{"id":"pi_1"}}`,
		`"id":"a","i\u0064":"b"`,
		`d\u0061t\u0061`,
		`[{"id":"x"},[[]],-0.5E-2,true,false,null]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, body := range [][]byte{
			in,
			wrap(`{"id":"evt_1","data":`, in, `}`),
			wrap(`{"data":{"object":`, in, `}}`),
			wrap(`{"data":{"object":{"id":`, in, `}}}`),
			wrap(`{"data":{"object":{"id":"pi_1",`, in, `}},"type":"t"}`),
			wrap(`{"data":{"object":{"id":"pi_1"}},"`, in, `":{"object":{"id":"pi_2"}}}`),
			wrap(`{"data":{"object":{"`, in, `":"pi_1"}}}`),
			// Events Parse accepts, for its own reading of the id.
			wrap(`{"id":"evt_1","type":"t","data":{"object":{"id":`, in, `}}}`),
			wrap(`{"id":"evt_1","type":"t","data":{"object":{"id":"pi_1",`, in, `}}}`),
			wrap(`{"id":"evt_1","type":"t","data":{"object":{"id":"pi_1"}},"`, in, `":{"object":{"id":"pi_2"}}}`),
			wrap(`{"id":"evt_1","type":"t","data":`, in, `}`),
		} {
			got, ok := envelope.ObjectID(body)
			want, wantOK := referenceObjectID(body)
			if got != want || ok != wantOK {
				t.Fatalf("ObjectID(%q) = %q, %v; reference %q, %v", body, got, ok, want, wantOK)
			}
			// Parse reads the same id in its one pass.
			if f, err := envelope.Parse(body); err == nil && f.ObjectID != got {
				t.Fatalf("Parse(%q).ObjectID = %q; ObjectID %q", body, f.ObjectID, got)
			}
		}
	})
}

// TestParse_DataDepth ensures that Parse, which walks data instead of
// skipping it, still accepts exactly the nesting encoding/json accepts
// there, and reads the same object id, at the limit and past it.
func TestParse_DataDepth(t *testing.T) {
	for n := envelope.MaxDepth - 4; n <= envelope.MaxDepth; n++ {
		nest := strings.Repeat("[", n) + strings.Repeat("]", n)
		for _, body := range []string{
			`{"id":"evt_1","type":"t","data":{"object":{"id":"a","x":` + nest + `}}}`,
			`{"id":"evt_1","type":"t","data":{"x":` + nest + `,"object":{"id":"a"}}}`,
			`{"id":"evt_1","type":"t","data":` + nest + `}`,
		} {
			checkParse(t, []byte(body))
		}
	}
}
