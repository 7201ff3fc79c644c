package tracing_test

import (
	"testing"

	"github.com/hookbox/hookbox/tracing"
)

// TestEnabled ensures tracing is off unless the OTEL_* variables ask for
// it, and that settings hookbox cannot honor are errors.
func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		on, err bool
	}{
		{"Nothing", nil, false, false},
		{"Endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true, false},
		{"TracesEndpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true, false},
		{"ExporterOTLP", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, false},
		{"ExporterNone", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, false},
		{"SDKDisabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false, false},
		{"ServiceNameAlone", map[string]string{"OTEL_SERVICE_NAME": "x"}, false, false},
		{"ExporterZipkin", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, true},
		{"ProtocolGRPC", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, true},
		{"ProtocolJSON", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, false, true},
		{"TracesProtocolWins", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on, err := tracing.Enabled(func(k string) string { return tc.env[k] })
			if on != tc.on || (err != nil) != tc.err {
				t.Errorf("Enabled = %v, %v; want %v, error %v", on, err, tc.on, tc.err)
			}
		})
	}
}
