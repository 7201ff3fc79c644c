package receiver_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/deliver"
	"github.com/hookbox/hookbox/receiver"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestTrace ensures one webhook and its delivery make the spans the README
// promises: "hookbox.webhook" with its endpoint, outcome, event id and
// type, and the children "hookbox.verify" and "hookbox.commit"; then
// "hookbox.deliver", the root of a trace of its own, linked to the webhook
// span, with destination, attempt, status and event; and that the app
// receives a traceparent naming the delivery span. No attribute holds the
// body or the secret.
func TestTrace(t *testing.T) {
	var (
		mu sync.Mutex
		tp string
	)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		tp = r.Header.Get("traceparent")
		mu.Unlock()
	}))
	defer app.Close()
	d, _ := deliver.NewHTTP("app", app.URL, testSecret, deliver.HTTPOptions{})
	rec := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	r := mustOpen(t, receiver.Options{Store: mustOpenSQLite(t), TracerProvider: provider,
		Endpoints: []receiver.Endpoint{{Name: "stripe", Secrets: []string{testSecret}, Destinations: []deliver.Destination{d}}}})
	body := event("evt_traced")
	if code, _ := post(t, r.Handler(), receiver.DefaultPath, body); code != 200 {
		t.Fatal(code)
	}
	waitState(t, r.Store(), "evt_traced", hookbox.StateDelivered)
	ev, err := r.Store().FindEventByID(context.Background(), "evt_traced")
	if err != nil {
		t.Fatal(err)
	}

	var spans map[string]sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		spans = map[string]sdktrace.ReadOnlySpan{}
		for _, s := range rec.Ended() {
			spans[s.Name()] = s
		}
		if len(spans) == 4 || time.Now().After(deadline) {
			break
		}
	}
	web, verify, commit, del := spans["hookbox.webhook"], spans["hookbox.verify"], spans["hookbox.commit"], spans["hookbox.deliver"]
	if web == nil || verify == nil || commit == nil || del == nil {
		t.Fatalf("spans %v: want hookbox.webhook, hookbox.verify, hookbox.commit, hookbox.deliver", keys(spans))
	}
	wantAttrs(t, web, map[string]string{"hookbox.endpoint": "stripe", "hookbox.outcome": "accepted",
		"hookbox.event.id": "evt_traced", "hookbox.event.type": "invoice.paid"})
	if web.Parent().IsValid() || web.SpanKind() != trace.SpanKindServer {
		t.Errorf("webhook span: parent %v, kind %v: want a server root", web.Parent(), web.SpanKind())
	}
	for _, c := range []sdktrace.ReadOnlySpan{verify, commit} {
		if c.Parent().SpanID() != web.SpanContext().SpanID() {
			t.Errorf("%s: parent %v, want the webhook span %v", c.Name(), c.Parent().SpanID(), web.SpanContext().SpanID())
		}
	}
	if got := ev.Headers[hookbox.HeaderTraceparent]; !strings.Contains(got, web.SpanContext().TraceID().String()) {
		t.Errorf("stored %s = %q: want the webhook span's trace", hookbox.HeaderTraceparent, got)
	}

	wantAttrs(t, del, map[string]string{"hookbox.destination": "app", "hookbox.attempt": "1",
		"hookbox.event.id": "evt_traced", "hookbox.event.type": "invoice.paid",
		"hookbox.outcome": "delivered", "http.response.status_code": "200"})
	if del.Parent().IsValid() || del.SpanContext().TraceID() == web.SpanContext().TraceID() {
		t.Errorf("deliver span: parent %v, trace %v: want the root of a new trace", del.Parent(), del.SpanContext().TraceID())
	}
	if links := del.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != web.SpanContext().SpanID() {
		t.Errorf("deliver span links %v: want one, to the webhook span", links)
	}
	mu.Lock()
	got := tp
	mu.Unlock()
	want := "00-" + del.SpanContext().TraceID().String() + "-" + del.SpanContext().SpanID().String() + "-01"
	if got != want {
		t.Errorf("app got traceparent %q, want %q (the delivery span)", got, want)
	}

	for _, s := range rec.Ended() {
		for _, kv := range s.Attributes() {
			if v := kv.Value.Emit(); strings.Contains(v, testSecret) || strings.Contains(v, `"data"`) {
				t.Errorf("%s: attribute %s holds the secret or the body", s.Name(), kv.Key)
			}
		}
	}
}

func keys(m map[string]sdktrace.ReadOnlySpan) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func wantAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[string]string) {
	t.Helper()
	got := map[attribute.Key]string{}
	for _, kv := range s.Attributes() {
		got[kv.Key] = kv.Value.Emit()
	}
	for k, v := range want {
		if got[attribute.Key(k)] != v {
			t.Errorf("%s: %s = %q, want %q", s.Name(), k, got[attribute.Key(k)], v)
		}
	}
}
