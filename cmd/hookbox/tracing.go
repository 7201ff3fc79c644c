package main

import (
	"context"

	"github.com/hookbox/hookbox/receiver"
	"github.com/hookbox/hookbox/tracing"
)

// newTracedReceiver builds the receiver with the tracer provider the
// OTEL_* variables ask for (none when they ask for nothing); the receiver
// flushes it on Close.
func newTracedReceiver(ctx context.Context, cfg *serveConfig, opts receiver.Options) (*receiver.Receiver, error) {
	getenv := cfg.getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	tp, err := tracing.New(ctx, getenv, opts.Version)
	if err != nil {
		opts.Store.Close()
		return nil, err
	}
	if tp != nil {
		opts.TracerProvider, opts.TraceFlush = tp, tp.Shutdown
		opts.Logger.Info("tracing on", "exporter", "otlp/http")
	}
	r, err := receiver.New(opts)
	if err != nil && tp != nil {
		tp.Shutdown(ctx)
	}
	return r, err
}
