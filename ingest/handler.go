// Package ingest is hookbox's public webhook endpoint: an http.Handler that
// reads the raw body once under a size limit, verifies its Stripe-Signature
// before anything parses it, extracts the event envelope, and answers 2xx
// only after the event's row has been durably committed.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/edge"
	"github.com/hookbox/hookbox/envelope"
	"github.com/hookbox/hookbox/stripesig"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Defaults for the handler and the server in front of it.
const (
	// DefaultMaxBody is the largest request body accepted (Stripe events
	// are a few KB; the largest seen are well under 1 MiB).
	DefaultMaxBody = 1 << 20

	// firstRead is the body buffer a request gets before any byte of its
	// body has arrived: all an idle connection costs beyond net/http's own.
	firstRead = 512
)

// Verifier checks a Stripe-Signature header over the raw body and returns the
// position of the secret that matched. *stripesig.Verifier satisfies it.
type Verifier interface {
	Verify(payload []byte, header string) (secretIndex int, err error)
}

// SubmitFunc stores one event and returns only once it is durably committed
// (or has failed). groupcommit.(*Committer).Submit satisfies it.
type SubmitFunc func(ctx context.Context, ev *hookbox.Event) (hookbox.InsertResult, error)

// Outcome names what happened to one request, for logs and metrics hooks.
type Outcome string

const (
	OutcomeAccepted    Outcome = "accepted"
	OutcomeDuplicate   Outcome = "duplicate"
	OutcomeRejected    Outcome = "rejected"    // signature verification failed
	OutcomeInvalid     Outcome = "invalid"     // verified, but not an event
	OutcomeTooLarge    Outcome = "too_large"   // body over the limit
	OutcomeUnavailable Outcome = "unavailable" // the store could not commit
	OutcomeBadMethod   Outcome = "bad_method"  // not a POST
	OutcomeReadError   Outcome = "read_error"  // the client failed to send its body
	// OutcomeNotDelivered: sync mode, stored but not delivered everywhere.
	OutcomeNotDelivered Outcome = "not_delivered"
)

// Result describes one handled request; Handler.OnResult receives it.
type Result struct {
	Endpoint string
	Outcome  Outcome
	Reason   string // for rejections: the stripesig reason (not_signed, too_old, ...) or envelope.Reason
	Client   string
	Event    *hookbox.Event // set for accepted and duplicate
	Duration time.Duration
}

// CountsAsFailure reports whether the request counts toward the per-client
// failure limit (edge.FailureLimiter.Failed): a failed signature
// verification, a body over the limit or not fully sent, or a method other
// than POST. Stripe does none of these with the right secret, so a client
// that keeps doing them is probing, forging or flooding. A body that
// verified but is not an event does not count: its sender holds the secret.
func (r Result) CountsAsFailure() bool {
	switch r.Outcome {
	case OutcomeRejected, OutcomeTooLarge, OutcomeReadError, OutcomeBadMethod:
		return true
	}
	return false
}

// Handler serves POST requests from Stripe. Configure the fields, then use
// it; it is safe for concurrent use once serving.
type Handler struct {
	Endpoint    string // a name for logs ("stripe")
	Verifier    Verifier
	Submit      SubmitFunc
	MaxBody     int64        // 0: DefaultMaxBody
	Logger      *slog.Logger // nil: slog.Default()
	DebugErrors bool         // add internal detail to error bodies (local use only)

	// ClientAddrFunc returns the client address of a request; nil: the host
	// of RemoteAddr.
	ClientAddrFunc func(r *http.Request) string
	// OnResult, if set, is called once per request (metrics hook).
	OnResult func(Result)
	// NowFunc is the clock; nil: time.Now.
	NowFunc func() time.Time
	// LogSampler writes the lines of rejected requests, a few per client
	// and reason and interval, then a count (see edge.LogSampler); share
	// one with the rest of the public listener. nil: one of the handler's
	// own with the default options, writing to Logger.
	LogSampler *edge.LogSampler

	// Thin marks an endpoint of thin events (an event destination with
	// payload thin): a verified body that is not a thin notification
	// (object "v2.core.event") is refused as invalid, reason
	// "wrong_payload". Stripe sends one payload family per destination,
	// so a snapshot event here is a destination configured against the
	// wrong endpoint, and refusing it makes that visible at once (in the
	// Dashboard's delivery log and in hookbox's) instead of storing events
	// that no thin consumer expects.
	Thin bool

	// DeliverFunc, when set, makes the handler synchronous (sync mode):
	// after the event is committed (new or duplicate) it is delivered
	// inside the request, and Stripe gets 200 only when every destination
	// has it, 500 otherwise so that Stripe retries. deliver.(*Worker).DeliverNow
	// satisfies it; it never delivers an event twice to a destination.
	DeliverFunc func(ctx context.Context, eventID string) (allOK bool, err error)

	// Tracer, when set, makes one span per request, "hookbox.webhook",
	// with the endpoint, the outcome, the reason of a refusal and the
	// event's id and type once known, and two children: "hookbox.verify"
	// (the signature check) and "hookbox.commit" (the wait for the group
	// commit). The span is always the root of a new trace: the endpoint
	// is public, and a traceparent sent by a client is not trusted. The
	// span context of a sampled span is kept with the event
	// (hookbox.HeaderTraceparent) for the delivery spans to link to.
	// Neither the body nor a header value is ever an attribute. nil: no
	// spans, and no cost.
	Tracer trace.Tracer

	samplerOnce sync.Once
	sampler     *edge.LogSampler
}

// Fixed response bodies: nothing internal ever reaches Stripe or an attacker.
var (
	respReceived     = []byte(`{"received":true}` + "\n")
	respDuplicate    = []byte(`{"received":true,"duplicate":true}` + "\n")
	respSigFailed    = `signature verification failed`
	respInvalid      = `invalid payload`
	respTooLarge     = `payload too large`
	respMethod       = `method not allowed`
	respUnavail      = `temporarily unavailable`
	respBadReq       = `bad request`
	respNotDelivered = `delivery failed`
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	res := Result{Endpoint: h.Endpoint, Client: h.clientAddr(r)}
	ctx := r.Context()
	var span trace.Span
	if h.Tracer != nil {
		ctx, span = h.Tracer.Start(ctx, "hookbox.webhook", trace.WithNewRoot(),
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("hookbox.endpoint", h.Endpoint)))
	}
	defer func() {
		if span != nil {
			endSpan(span, res)
		}
		res.Duration = h.now().Sub(start)
		h.log(r.Context(), res)
		if h.OnResult != nil {
			h.OnResult(res)
		}
	}()

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		res.Outcome = OutcomeBadMethod
		writeError(w, http.StatusMethodNotAllowed, respMethod, "")
		return
	}

	maxBody := h.MaxBody
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	if r.ContentLength > maxBody {
		res.Outcome = OutcomeTooLarge
		writeError(w, http.StatusRequestEntityTooLarge, respTooLarge, "")
		return
	}

	// Read the raw body exactly once; the bytes that are verified are the
	// bytes that are stored.
	body, err := readBody(http.MaxBytesReader(w, r.Body, maxBody), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			res.Outcome = OutcomeTooLarge
			writeError(w, http.StatusRequestEntityTooLarge, respTooLarge, "")
			return
		}
		res.Outcome, res.Reason = OutcomeReadError, "read_body"
		writeError(w, http.StatusBadRequest, respBadReq, h.debug(err))
		return
	}

	// Verify before anything parses the body. Header lookup is
	// case-insensitive (canonical keys); a request carrying the header more
	// than once is ambiguous and rejected.
	sigs := r.Header.Values(stripesig.HeaderName)
	sig := ""
	var secretIndex int
	var vspan trace.Span
	if span != nil {
		_, vspan = h.Tracer.Start(ctx, "hookbox.verify")
	}
	switch len(sigs) {
	case 0:
		err = stripesig.ErrNotSigned
	case 1:
		sig = sigs[0]
		secretIndex, err = h.Verifier.Verify(body, sig)
	default:
		err = stripesig.ErrInvalidHeader
	}
	if vspan != nil {
		if err != nil {
			vspan.SetStatus(codes.Error, stripesig.Reason(err))
		}
		vspan.End()
	}
	if err != nil {
		res.Outcome, res.Reason = OutcomeRejected, stripesig.Reason(err)
		writeError(w, http.StatusBadRequest, respSigFailed, h.debug(err))
		return
	}

	ev, err := envelope.ParseEvent(body)
	if err != nil {
		// ambiguous_key, invalid_utf8 or invalid_payload: the log says why,
		// the answer stays generic.
		res.Outcome, res.Reason = OutcomeInvalid, envelope.Reason(err)
		writeError(w, http.StatusBadRequest, respInvalid, h.debug(err))
		return
	}
	if h.Thin && ev.Object != hookbox.ThinObject {
		res.Outcome, res.Reason = OutcomeInvalid, "wrong_payload"
		writeError(w, http.StatusBadRequest, respInvalid, h.debug(errWrongPayload))
		return
	}
	ev.Headers = keptHeaders(r, sig)
	if span != nil && span.SpanContext().IsSampled() {
		propagation.TraceContext{}.Inject(ctx, traceparentCarrier(ev.Headers))
	}
	ev.Endpoint = h.Endpoint
	ev.ReceivedAt = start.UTC()
	ev.ClientAddr = res.Client
	ev.SecretIndex = secretIndex
	ev.Source = hookbox.SourceWebhook
	ev.State = hookbox.StatePending
	res.Event = ev

	var cspan trace.Span
	sctx := ctx
	if span != nil {
		sctx, cspan = h.Tracer.Start(ctx, "hookbox.commit")
	}
	ir, err := h.Submit(sctx, ev)
	if err == nil {
		err = ir.Err
	}
	if cspan != nil {
		if err != nil {
			cspan.SetStatus(codes.Error, hookbox.ErrorCode(err))
		}
		cspan.End()
	}
	if err != nil {
		if hookbox.ErrorCode(err) == hookbox.EINVALID {
			res.Outcome, res.Reason = OutcomeInvalid, "rejected_by_store"
			writeError(w, http.StatusBadRequest, respInvalid, h.debug(err))
			return
		}
		// Not committed: 503 makes Stripe retry later. Never 2xx here.
		res.Outcome, res.Reason = OutcomeUnavailable, hookbox.ErrorCode(err)
		// Sampled for all clients together: a failing store (a full disk)
		// fails every request, and one line each would flood the log.
		h.logSampler().Log(r.Context(), slog.LevelError, "store commit failed", "", res.Reason,
			slog.String("endpoint", h.Endpoint), slog.String("event_id", ev.ID), slog.String("client", res.Client), slog.Any("error", err))
		writeError(w, http.StatusServiceUnavailable, respUnavail, h.debug(err))
		return
	}
	if h.DeliverFunc != nil {
		ok, err := h.DeliverFunc(ctx, ev.ID)
		if err != nil || !ok {
			// Stored, but not everywhere yet: a 5xx makes Stripe retry,
			// and the retry delivers only to the destinations missing it.
			res.Outcome, res.Reason = OutcomeNotDelivered, "delivery_failed"
			if err != nil {
				h.logger().LogAttrs(r.Context(), slog.LevelError, "sync delivery failed",
					slog.String("endpoint", h.Endpoint), slog.String("event_id", ev.ID), slog.Any("error", err))
			}
			writeError(w, http.StatusInternalServerError, respNotDelivered, h.debug(err))
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if ir.Duplicate {
		res.Outcome = OutcomeDuplicate
		w.Write(respDuplicate)
	} else {
		res.Outcome = OutcomeAccepted
		w.Write(respReceived)
	}
}

// endSpan records a request's outcome on its span and ends it: the
// outcome, the reason of a refusal, the event's id and type when known.
func endSpan(span trace.Span, res Result) {
	if span.IsRecording() {
		span.SetAttributes(attribute.String("hookbox.outcome", string(res.Outcome)))
		if res.Reason != "" {
			span.SetAttributes(attribute.String("hookbox.reason", res.Reason))
		}
		if ev := res.Event; ev != nil {
			span.SetAttributes(attribute.String("hookbox.event.id", ev.ID),
				attribute.String("hookbox.event.type", ev.Type))
		}
		switch res.Outcome {
		case OutcomeAccepted, OutcomeDuplicate:
		default:
			span.SetStatus(codes.Error, reasonOr(res))
		}
	}
	span.End()
}

// traceparentCarrier stores the traceparent of the request's span in an
// event's headers under hookbox.HeaderTraceparent (and nothing else: the
// tracestate of a span that ingest started is empty).
type traceparentCarrier map[string]string

func (c traceparentCarrier) Get(string) string { return "" }
func (c traceparentCarrier) Set(key, value string) {
	if key == "traceparent" {
		c[hookbox.HeaderTraceparent] = value
	}
}
func (c traceparentCarrier) Keys() []string { return nil }

var errWrongPayload = errors.New(`a snapshot event at a thin endpoint: want object "v2.core.event" (configure this event destination's payload as thin, or point it at a snapshot endpoint)`)

// readBody reads r to its end into a buffer that grows with the bytes that
// arrive, never with the length a client announces: Content-Length costs a
// client nothing to send, and an idle connection announcing 1 MiB must cost
// the server firstRead bytes, not 1 MiB (nor the 64 KiB once reserved up
// front: 10,000 such connections took a server to 1.15 GB). The buffer
// starts at firstRead and doubles when full, so it never holds more than
// firstRead or twice what arrived, whichever is larger; announced is still used as an upper bound of each
// step, so an honest Content-Length ends in a buffer of exactly its size.
// The buffer is not pooled: a pooled buffer that once held 1 MiB would be
// pinned whole by whichever idle connection took it next.
func readBody(r io.Reader, announced int64) ([]byte, error) {
	size := firstRead
	if announced >= 0 && announced < firstRead {
		size = int(announced)
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) && int64(len(buf)) == announced {
			// All announced bytes are in: a one-byte probe, not a larger
			// buffer, to see the end.
			var probe [1]byte
			n, err := r.Read(probe[:])
			buf = append(buf, probe[:n]...)
			if err == io.EOF {
				return buf, nil
			}
			if err != nil {
				return buf, err
			}
			continue
		}
		if len(buf) == cap(buf) {
			grow := max(cap(buf), firstRead)
			if rest := announced - int64(len(buf)); rest > 0 && rest < int64(grow) {
				grow = int(rest) // up to the announced end, no spare room
			}
			nb := make([]byte, len(buf), len(buf)+grow)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// keptHeaders are the request headers worth keeping with the event.
func keptHeaders(r *http.Request, sig string) map[string]string {
	m := make(map[string]string, 4)
	m[stripesig.HeaderName] = sig
	for _, k := range [...]string{"User-Agent", "Content-Type", "Stripe-Webhook-Id"} {
		if v := r.Header.Get(k); v != "" {
			if len(v) > 512 {
				v = v[:512]
			}
			m[k] = v
		}
	}
	return m
}

func (h *Handler) now() time.Time {
	if h.NowFunc != nil {
		return h.NowFunc()
	}
	return time.Now()
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func (h *Handler) clientAddr(r *http.Request) string {
	if h.ClientAddrFunc != nil {
		return h.ClientAddrFunc(r)
	}
	return RemoteHost(r)
}

// RemoteHost returns the host part of r.RemoteAddr.
func RemoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Handler) debug(err error) string {
	if h.DebugErrors && err != nil {
		return err.Error()
	}
	return ""
}

// log writes one line per request: rejections at WARN with the reason and
// the client address, sampled (a flood writes a few lines and a count per
// client and reason, not a line a request), accepted events at INFO with
// id, type and latency. Neither the body nor any header value is logged.
func (h *Handler) log(ctx context.Context, res Result) {
	l := h.logger()
	base := []slog.Attr{
		slog.String("endpoint", h.Endpoint),
		slog.String("client", res.Client),
		slog.String("outcome", string(res.Outcome)),
	}
	switch res.Outcome {
	case OutcomeAccepted, OutcomeDuplicate:
		ev := res.Event
		l.LogAttrs(ctx, slog.LevelInfo, "event received", append(base,
			slog.String("event_id", ev.ID),
			slog.String("type", ev.Type),
			slog.Bool("livemode", ev.Livemode),
			slog.Bool("duplicate", res.Outcome == OutcomeDuplicate),
			slog.Int("secret_index", ev.SecretIndex),
			slog.Float64("latency_ms", float64(res.Duration.Microseconds())/1000),
		)...)
	case OutcomeUnavailable:
		// Already logged at ERROR with the cause.
	case OutcomeNotDelivered:
		ev := res.Event
		l.LogAttrs(ctx, slog.LevelWarn, "event stored, not delivered", append(base,
			slog.String("event_id", ev.ID),
			slog.String("type", ev.Type),
			slog.Bool("livemode", ev.Livemode),
			slog.Float64("latency_ms", float64(res.Duration.Microseconds())/1000),
		)...)
	default:
		reason := reasonOr(res)
		h.logSampler().Log(ctx, slog.LevelWarn, "request rejected", res.Client, reason, append(base,
			slog.String("reason", reason),
		)...)
	}
}

func (h *Handler) logSampler() *edge.LogSampler {
	if h.LogSampler != nil {
		return h.LogSampler
	}
	h.samplerOnce.Do(func() {
		h.sampler, _ = edge.NewLogSampler(h.logger(), edge.LogSamplerOptions{NowFunc: h.NowFunc})
	})
	return h.sampler
}

func reasonOr(res Result) string {
	if res.Reason != "" {
		return res.Reason
	}
	return string(res.Outcome)
}

func writeError(w http.ResponseWriter, status int, msg, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	resp := struct {
		Error  string `json:"error"`
		Detail string `json:"detail,omitempty"`
	}{msg, detail}
	b, _ := json.Marshal(resp)
	w.Write(append(b, '\n'))
}

// NotFound answers every unknown path with a JSON 404.
func NotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "not found", "")
}
