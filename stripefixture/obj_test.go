package stripefixture

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestFixtureIndentMatchesEncodingJSON ensures the hand-walked indentation
// is byte for byte what json.Indent makes of the compact encoding, for
// every type (empty objects and arrays, nulls, nesting included).
func TestFixtureIndentMatchesEncodingJSON(t *testing.T) {
	g := New(5)
	g.ConnectFraction = 0.5
	for _, typ := range Types() {
		for range 10 {
			body := g.Event(typ, true)
			var compact, indented bytes.Buffer
			if err := json.Compact(&compact, body); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			if err := json.Indent(&indented, compact.Bytes(), "", "  "); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(indented.Bytes(), body) {
				t.Fatalf("%s: indentation differs from encoding/json:\n%s", typ, body)
			}
		}
	}
	// The compact path (MarshalJSON) agrees too.
	m := o("id", "x", "a", []any{}, "b", o(), "c", []any{o("k", nil)}, "object", "y")
	got, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"x","object":"y","a":[],"b":{},"c":[{"k":null}]}`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
