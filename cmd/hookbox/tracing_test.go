package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpSink is a local OTLP/HTTP receiver: it accepts POST /v1/traces in
// protobuf and keeps the names of the spans and the service name.
type otlpSink struct {
	mu       sync.Mutex
	names    []string
	services []string
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(b, &req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				s.services = append(s.services, kv.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				s.names = append(s.names, sp.Name)
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(nil)
}

func (s *otlpSink) spans() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := append([]string(nil), s.names...)
	sort.Strings(n)
	return n, append([]string(nil), s.services...)
}

// TestTrace_OTLPFromEnv ensures serve turns tracing on from the standard
// OTEL_* variables and exports over OTLP/HTTP: one webhook forwarded to an
// app reaches a local OTLP receiver as the four spans of the webhook and
// its delivery, under OTEL_SERVICE_NAME, once the receiver closes.
func TestTrace_OTLPFromEnv(t *testing.T) {
	sink := &otlpSink{}
	collector := httptest.NewServer(sink)
	defer collector.Close()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer app.Close()
	vars, _ := e2eVars(t)
	vars["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.URL
	vars["OTEL_SERVICE_NAME"] = "hookbox-test"
	vars["HOOKBOX_FORWARD_TO"] = app.URL
	vars["HOOKBOX_FORWARD_SECRET"] = "whsec_forward_secret_for_the_app"
	m, _ := mustRunMain(t, vars)
	body := e2eEvent("evt_otlp", "invoice.paid")
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: testSecret1, Timestamp: time.Now()}).Header
	if code, resp := postEvent(t, "http://"+m.PublicAddr()+"/webhooks/stripe", body, sig); code != 200 {
		t.Fatal(code, resp)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ev, err := m.Store().FindEventByID(t.Context(), "evt_otlp"); err == nil && ev.State == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("evt_otlp not delivered")
		}
	}
	if err := m.Close(); err != nil { // flushes the spans
		t.Fatal(err)
	}
	names, services := sink.spans()
	if got, want := strings.Join(names, ","), "hookbox.commit,hookbox.deliver,hookbox.verify,hookbox.webhook"; got != want {
		t.Errorf("spans received: %s, want %s", got, want)
	}
	for _, s := range services {
		if s != "hookbox-test" {
			t.Errorf("service.name %q, want OTEL_SERVICE_NAME's hookbox-test", s)
		}
	}
}

// TestTrace_Config ensures a setting hookbox cannot honor stops serve
// with the variable named, instead of dropping every span.
func TestTrace_Config(t *testing.T) {
	for _, tc := range []struct{ key, val, want string }{
		{"OTEL_TRACES_EXPORTER", "zipkin", "OTEL_TRACES_EXPORTER"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "http/protobuf"},
	} {
		vars, _ := e2eVars(t)
		vars["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
		vars[tc.key] = tc.val
		env, _, logs := testEnv(vars)
		cfg, err := parseServeConfig(env, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := openReceiver(t.Context(), cfg, logs, nil)
		if err == nil {
			r.Close()
			t.Fatalf("%s=%s: started", tc.key, tc.val)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: %v, want it to name %s", tc.key, tc.val, err, tc.want)
		}
	}
}
