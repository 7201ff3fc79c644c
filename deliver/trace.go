package deliver

import (
	"context"

	"github.com/hookbox/hookbox"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderTraceparent is the W3C Trace Context header of a forward or a
// broker message, present when tracing is on: the attempt's span is its
// parent, so the app's own trace of the event joins hookbox's.
const HeaderTraceparent = "traceparent"

// Traceparent returns the W3C traceparent of the span in ctx, or "" when
// ctx has none (tracing off). Broker destinations add it to their
// messages' headers as HeaderTraceparent.
func Traceparent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c[HeaderTraceparent]
}

// startSpan starts the span of one attempt: the root of a new trace (an
// attempt may run days after the webhook, and one webhook fans out to
// several destinations and retries), linked to the span that received the
// event when its traceparent was kept (hookbox.HeaderTraceparent).
func (w *Worker) startSpan(ctx context.Context, t *target) (context.Context, trace.Span) {
	ev := t.ev
	kind := trace.SpanKindProducer // a broker message
	if isHTTP(t.dest) {
		kind = trace.SpanKindClient
	}
	opts := []trace.SpanStartOption{
		trace.WithNewRoot(),
		trace.WithSpanKind(kind),
		trace.WithAttributes(
			attribute.String("hookbox.destination", t.dest.Name()),
			attribute.Int("hookbox.attempt", t.number),
			attribute.String("hookbox.event.id", ev.ID),
			attribute.String("hookbox.event.type", ev.Type),
		),
	}
	if tp := ev.Headers[hookbox.HeaderTraceparent]; tp != "" {
		ictx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{HeaderTraceparent: tp})
		if sc := trace.SpanContextFromContext(ictx); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	return w.Tracer.Start(ctx, "hookbox.deliver", opts...)
}

// endSpan records an attempt's result on its span and ends it. The
// response body is never an attribute; the error is the attempt's short
// error text, which holds no URL and no secret.
func endSpan(span trace.Span, a *hookbox.Attempt) {
	if span.IsRecording() {
		if a.StatusCode != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", a.StatusCode))
		}
		if a.OK {
			span.SetAttributes(attribute.String("hookbox.outcome", "delivered"))
		} else {
			span.SetAttributes(attribute.String("hookbox.outcome", "failed"))
			span.SetStatus(codes.Error, a.Error)
		}
	}
	span.End()
}

// isHTTP reports whether d is an HTTP destination, looking through
// wrappers that implement Unwrap() Destination.
func isHTTP(d Destination) bool {
	for d != nil {
		if _, ok := d.(*HTTP); ok {
			return true
		}
		u, ok := d.(interface{ Unwrap() Destination })
		if !ok {
			return false
		}
		d = u.Unwrap()
	}
	return false
}
