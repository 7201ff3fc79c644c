// Package tracing builds hookbox's OpenTelemetry tracer provider from the
// standard OTEL_* environment variables, exporting spans over OTLP/HTTP
// (protobuf). It is the only package that imports the OpenTelemetry SDK
// and exporter; ingest and deliver use only the API (a trace.Tracer), so
// a library user passes a provider of their own instead.
//
// Tracing is off unless asked for: OTEL_TRACES_EXPORTER=otlp, or an OTLP
// endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// OTEL_EXPORTER_OTLP_ENDPOINT) with OTEL_TRACES_EXPORTER unset.
// OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true turn it off whatever
// else is set. Only OTLP/HTTP with protobuf is spoken: the gRPC exporter
// would bring google.golang.org/grpc and its dependencies into a receiver
// that has no other use for them, and every OpenTelemetry Collector and
// the common backends accept OTLP/HTTP (port 4318).
package tracing

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// DefaultServiceName is service.name when OTEL_SERVICE_NAME (or
// service.name in OTEL_RESOURCE_ATTRIBUTES) does not name one.
const DefaultServiceName = "hookbox"

// Environment variables read here; the exporter reads the other
// OTEL_EXPORTER_OTLP_* (headers, timeout, compression, certificates), the
// SDK OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, OTEL_BSP_* and
// OTEL_RESOURCE_ATTRIBUTES, from the process environment.
const (
	EnvExporter       = "OTEL_TRACES_EXPORTER"
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvServiceName    = "OTEL_SERVICE_NAME"
	EnvSDKDisabled    = "OTEL_SDK_DISABLED"
)

// Enabled reports whether getenv asks for traces, and an error for a
// setting hookbox cannot honor (an exporter other than otlp or none, the
// grpc or http/json protocol), so that a misconfiguration stops serve
// instead of dropping every span.
func Enabled(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv(EnvSDKDisabled)), "true") {
		return false, nil
	}
	on := false
	switch exp := strings.TrimSpace(getenv(EnvExporter)); exp {
	case "none":
		return false, nil
	case "otlp":
		on = true
	case "":
		on = getenv(EnvTracesEndpoint) != "" || getenv(EnvEndpoint) != ""
	default:
		return false, fmt.Errorf("%s=%q: hookbox exports traces over otlp only (or none)", EnvExporter, exp)
	}
	if !on {
		return false, nil
	}
	for _, k := range []string{EnvTracesProtocol, EnvProtocol} {
		switch p := strings.TrimSpace(getenv(k)); p {
		case "", "http/protobuf":
		default:
			return false, fmt.Errorf("%s=%q: hookbox exports traces over OTLP/HTTP, want http/protobuf (port 4318 of a collector)", k, p)
		}
		if getenv(k) != "" {
			break // the traces-specific setting wins
		}
	}
	return true, nil
}

// Provider is the SDK tracer provider with its OTLP/HTTP exporter.
// Shutdown exports the spans still buffered; call it once, after the
// last span ended.
type Provider struct {
	*sdktrace.TracerProvider
}

// New returns a Provider configured by getenv and the process environment
// (see the package comment), or nil when tracing is off. version is
// service.version. It does not connect: an unreachable collector costs
// dropped spans (logged by the OpenTelemetry error handler), never a
// webhook.
func New(ctx context.Context, getenv func(string) string, version string) (*Provider, error) {
	on, err := Enabled(getenv)
	if err != nil || !on {
		return nil, err
	}
	var opts []otlptracehttp.Option
	// The endpoint is taken from getenv (the injected environment), the
	// traces-specific one as is, the general one with /v1/traces added,
	// as the specification says; unset, the exporter's default
	// (http://localhost:4318/v1/traces).
	if u := strings.TrimSpace(getenv(EnvTracesEndpoint)); u != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(u))
	} else if u := strings.TrimSpace(getenv(EnvEndpoint)); u != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(strings.TrimRight(u, "/")+"/v1/traces"))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", DefaultServiceName)}
	if version != "" {
		attrs = append(attrs, attribute.String("service.version", version))
	}
	ropts := []resource.Option{
		resource.WithAttributes(attrs...),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME: later options win
	}
	if name := strings.TrimSpace(getenv(EnvServiceName)); name != "" {
		ropts = append(ropts, resource.WithAttributes(attribute.String("service.name", name)))
	}
	res, err := resource.New(ctx, ropts...)
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
	)
	return &Provider{tp}, nil
}
