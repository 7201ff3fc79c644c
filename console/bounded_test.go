package console_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/console"
)

// hostileBodies are signed-looking events whose indented form grows with
// depth times elements (issue 19): arrays nested to the deepest level
// encoding/json accepts, and a 190 KB body with thousands of elements at
// the bottom of that nesting.
func hostileBodies() map[string][]byte {
	const deep = 9998 // + the top-level object and "data" = encoding/json's 10,000
	nest := func(inner string) []byte {
		return []byte(`{"id":"evt_deep","object":"event","type":"x.y","data":` +
			strings.Repeat("[", deep) + inner + strings.Repeat("]", deep) + `}`)
	}
	wide := strings.TrimSuffix(strings.Repeat("1,", 85000), ",")
	return map[string][]byte{"Deep": nest(""), "Wide190KB": nest(wide)}
}

// maxView is the most any view of body may write: a small multiple of the
// body, plus a constant for the page around it.
func maxView(body []byte) int { return 8*len(body) + 256<<10 }

// TestShowEvent_HostileBodyBounded ensures the event page and GET
// /api/events/{id} of a body whose indented form would take hundreds of
// megabytes stay within a small multiple of the body, that the page says
// it shows the body as received, and that the API's document still holds
// the body, unchanged as a JSON value.
func TestShowEvent_HostileBodyBounded(t *testing.T) {
	for name, body := range hostileBodies() {
		t.Run(name, func(t *testing.T) {
			store := mustOpenStore(t)
			ev := newEvent("evt_deep", "x.y", "", time.Now(), hookbox.StatePending, "")
			ev.Body = body
			mustInsert(t, store, ev)
			ts := newConsole(t, console.Options{Store: store})
			c := client(t)

			res, page := do(t, c, "GET", ts.URL+"/events/evt_deep", "", nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("page: %d", res.StatusCode)
			}
			if len(page) > maxView(body) {
				t.Errorf("page is %d bytes for a %d-byte body", len(page), len(body))
			}
			if !strings.Contains(page, "Shown as received, not indented") {
				t.Error("the page does not say the body is shown as received")
			}

			res, doc := do(t, c, "GET", ts.URL+"/api/events/evt_deep", "", nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("api: %d", res.StatusCode)
			}
			if len(doc) > maxView(body) {
				t.Errorf("API document is %d bytes for a %d-byte body", len(doc), len(body))
			}
			t.Logf("body %d bytes: page %d, API document %d", len(body), len(page), len(doc))
			var got struct{ Body json.RawMessage }
			if err := json.Unmarshal([]byte(doc), &got); err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			json.Compact(&want, body)
			if !bytes.Equal(got.Body, want.Bytes()) {
				t.Error("the API's body differs from the stored body")
			}
		})
	}
}

// TestShowEvent_HostileBodyMemory ensures rendering the event page of the
// 190 KB hostile body allocates a bounded amount (it took 5.66 GB), not
// one growing with depth times elements.
func TestShowEvent_HostileBodyMemory(t *testing.T) {
	body := hostileBodies()["Wide190KB"]
	store := mustOpenStore(t)
	ev := newEvent("evt_deep", "x.y", "", time.Now(), hookbox.StatePending, "")
	ev.Body = body
	mustInsert(t, store, ev)
	srv, err := console.New(console.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/events/evt_deep", "/api/events/evt_deep"} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1"+path, nil))
		runtime.ReadMemStats(&after)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d", path, rec.Code)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 64*uint64(len(body))+(32<<20) {
			t.Errorf("%s allocated %d bytes for a %d-byte body", path, n, len(body))
		}
	}
}

// TestIndentJSON ensures IndentJSON writes what json.Indent writes for
// ordinary JSON (Stripe-shaped, empty containers, escapes), and refuses,
// leaving dst as it was, a value whose indented form passes the bound.
func TestIndentJSON(t *testing.T) {
	for _, src := range []string{
		`{}`, `[]`, `{"a":[]}`, `{"a":{},"b":[1,2,{"c":null}]}`, `"x"`, `12`,
		`{"s":"a\"b\\","t":"[{,:}]"}`,
		" {\n  \"pretty\": [ 1 , 2 ],\n  \"x\": { }\n}",
		string(newEvent("evt_1", "invoice.paid", "in_1", time.Unix(1700000000, 0), hookbox.StatePending, `"lines":{"data":[{"id":"il_1","amount":1}]}`).Body),
	} {
		var want, got bytes.Buffer
		json.Indent(&want, []byte(src), "> ", "\t")
		got.WriteString("keep")
		if !console.IndentJSON(&got, []byte(src), "> ", "\t") || got.String() != "keep"+want.String() {
			t.Errorf("IndentJSON(%s) = %q, want %q", src, got.String(), "keep"+want.String())
		}
	}
	for name, src := range hostileBodies() {
		var got bytes.Buffer
		got.WriteString("keep")
		if console.IndentJSON(&got, src, "", "  ") || got.String() != "keep" {
			t.Errorf("%s: IndentJSON indented it (%d bytes)", name, got.Len())
		}
	}
	if console.IndentJSON(new(bytes.Buffer), []byte(`{"a":`), "", "  ") {
		t.Error("IndentJSON accepted invalid JSON")
	}
}

// BenchmarkShowEvent_Hostile measures the event page of the 190 KB
// hostile body (before the bound: seconds and gigabytes per view).
func BenchmarkShowEvent_Hostile(b *testing.B) {
	body := hostileBodies()["Wide190KB"]
	store := mustOpenStore(b)
	ev := newEvent("evt_deep", "x.y", "", time.Now(), hookbox.StatePending, "")
	ev.Body = body
	mustInsert(b, store, ev)
	srv, err := console.New(console.Options{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1/events/evt_deep", nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
