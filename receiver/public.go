package receiver

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"path"
	"time"

	"github.com/hookbox/hookbox/edge"
	"github.com/hookbox/hookbox/ingest"
	"github.com/hookbox/hookbox/stripesig"
)

// publicHandler is the public listener's handler. A request passes, in
// this order:
//
//  1. HSTS: Strict-Transport-Security on answers sent over HTTPS;
//  2. clean paths only: a path not in clean form gets 404 (http.ServeMux
//     would redirect, and Stripe counts a 3xx as a failure);
//  3. the router: an endpoint's Path, or 404;
//  4. the untrusted-forward notice (a warning, once per process);
//  5. require HTTPS (Options.RequireHTTPS): 403 over plain HTTP;
//  6. the Stripe IP allowlist (log or enforce);
//  7. the failed-verification limit: 429 for a client that keeps failing;
//  8. the endpoint's ingest.Handler: read the body (bounded), verify the
//     signature, parse the envelope, commit, answer.
//
// Everything before 8 runs before a byte of the body is read.
func (r *Receiver) publicHandler() (http.Handler, error) {
	mux := http.NewServeMux()
	for _, ep := range r.opts.Endpoints {
		h, err := r.endpointHandler(ep)
		if err != nil {
			return nil, err
		}
		mux.Handle(ep.Path(), r.protect(h))
		r.paths = append(r.paths, ep.Path())
	}
	mux.HandleFunc("/", ingest.NotFound)
	return edge.HSTS(cleanPathsOnly(mux), 0, r.proxies), nil
}

// endpointHandler builds the public handler of one endpoint: its own
// verifier (secrets, tolerance), the shared committer, metrics, and either
// the delivery wake-up (async) or delivery inside the request (sync).
func (r *Receiver) endpointHandler(ep Endpoint) (*ingest.Handler, error) {
	tol := ep.Tolerance
	if tol == 0 {
		tol = stripesig.DefaultTolerance
	}
	verifier, err := stripesig.NewVerifier(ep.Secrets, stripesig.Options{Tolerance: tol})
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: secrets: %w", ep.Name, err)
	}
	h := &ingest.Handler{
		Endpoint:    ep.Name,
		Verifier:    verifier,
		Submit:      r.committer.Submit,
		MaxBody:     r.opts.MaxBody,
		Logger:      r.logger,
		DebugErrors: r.opts.DebugErrors,
		// The same client address everywhere: logs, limits, allowlist.
		ClientAddrFunc: r.proxies.ClientAddr,
		LogSampler:     r.logs,
		Thin:           ep.Payload == PayloadThin,
		Tracer:         r.tracer(),
	}
	if r.worker != nil && r.opts.Mode == ModeSync {
		h.DeliverFunc = r.worker.DeliverNow
	}
	h.OnResult = r.onResult
	return h, nil
}

// onResult feeds one ingest result to metrics, the console's counters, the
// delivery wake-up and the failure limit.
func (r *Receiver) onResult(res ingest.Result) {
	r.metrics.IngestResult(res)
	r.trackIngest(res)
	idx := -1
	if res.Event != nil {
		idx = res.Event.SecretIndex
	}
	r.activity.Record(string(res.Outcome), res.Reason, idx, time.Now())
	switch {
	case res.Outcome == ingest.OutcomeAccepted:
		r.metrics.HealthEvent(res.Endpoint, res.Event)
		r.wake()
	case r.limiter != nil && res.CountsAsFailure():
		// Stripe never sends a body over the limit nor stalls one, nor
		// anything but POST: a client that keeps doing so is probing,
		// flooding or holding connections, and is limited like one
		// failing verification.
		r.limiter.Failed(res.Client)
	}
}

// cleanPathsOnly answers 404 for a path that is not in clean form
// ("//webhooks/stripe", "/webhooks/./stripe"), where http.ServeMux would
// redirect: Stripe counts a 3xx as a failed delivery, and a mistyped
// endpoint URL should fail plainly, as any unknown path does.
func cleanPathsOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "" || p != path.Clean(p) {
			ingest.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// buildEdge builds the public listener's protections: trusted proxies, TLS
// with certificate reload, the Stripe IP allowlist and the limit on failed
// verifications.
func (r *Receiver) buildEdge() error {
	o := r.opts
	var err error
	if r.proxies, err = edge.ParseTrustedProxies(o.TrustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if o.TLSCert != "" {
		if r.certs, err = edge.NewCertReloader(o.TLSCert, o.TLSKey, edge.CertOptions{Logger: r.logger}); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		r.metrics.CertificateExpiry(r.certs.NotAfter())
	}
	// Rejections are logged a few lines per client, reason and interval,
	// then counted: a flood never writes a line per request.
	if r.logs, err = edge.NewLogSampler(r.logger, edge.LogSamplerOptions{}); err != nil {
		return fmt.Errorf("log sampler: %w", err)
	}
	// The allowlist exists even when off: the failure limit exempts
	// Stripe's own addresses (see package edge).
	r.allow, err = edge.NewAllowlist(o.Allowlist, edge.AllowlistOptions{
		Source:         o.AllowlistSource,
		ClientAddrFunc: r.proxies.ClientAddr,
		OnOutside:      r.metrics.AllowlistOutside,
		OnRefresh:      r.metrics.AllowlistRefresh,
		Logger:         r.logger,
		LogSampler:     r.logs,
	})
	if err != nil {
		return fmt.Errorf("--ip-allowlist: %w", err)
	}
	if o.MaxFailedVerify > 0 {
		r.limiter, err = edge.NewFailureLimiter(o.MaxFailedVerify, o.FailedVerifyWindow, edge.LimiterOptions{
			ClientAddrFunc: r.proxies.ClientAddr,
			ExemptFunc:     r.allow.Allows,
			OnLimited:      r.metrics.FailureLimited,
		})
		if err != nil {
			return fmt.Errorf("--max-failed-verifications: %w", err)
		}
	}
	return nil
}

// startAllowlist refreshes the allowlist at start (on) and then every
// AllowlistRefresh.
func (r *Receiver) startAllowlist() {
	o := r.opts
	if o.AllowlistRefresh <= 0 {
		if o.Allowlist != edge.ModeOff {
			r.refreshAllowlist()
		}
		return
	}
	switch {
	case o.Allowlist != edge.ModeOff:
		r.refreshAllowlist()
	case r.limiter == nil:
		return
	}
	// Off, the list still exempts Stripe's addresses from the failure
	// limit: keep it current in a long-running process (no fetch at start,
	// so a machine without outbound access starts quietly on the built-in
	// list).
	r.stops = append(r.stops, r.allow.Start(context.Background(), o.AllowlistRefresh))
}

func (r *Receiver) refreshAllowlist() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.allow.Refresh(ctx); err != nil {
		r.logger.Warn("IP allowlist refresh failed; using the built-in list", "source", r.opts.AllowlistSource, "error", err)
	}
}

// protect wraps an endpoint's handler: HTTPS required (if set), then the
// allowlist, then the failure limit, all before the body is read.
func (r *Receiver) protect(h http.Handler) http.Handler {
	if r.limiter != nil {
		h = r.limiter.Middleware(h)
	}
	h = r.allow.Middleware(h)
	if r.opts.RequireHTTPS {
		h = edge.RequireHTTPS(h, r.proxies)
	}
	return r.noticeUntrustedForward(h)
}

// noticeUntrustedForward logs a warning, once per process, the first time
// a request carries X-Forwarded-For from a peer outside --trusted-proxies:
// hookbox is then behind a proxy it does not believe, so every client has
// the proxy's address in logs and in the failed-verification limit, where
// one forger gets everyone behind the proxy refused.
func (r *Receiver) noticeUntrustedForward(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.forwardWarned.Load() && req.Header.Get("X-Forwarded-For") != "" {
			if peer, err := netip.ParseAddrPort(req.RemoteAddr); err == nil && !r.proxies.Trusts(peer.Addr()) &&
				r.forwardWarned.CompareAndSwap(false, true) {
				r.logger.Warn("request with X-Forwarded-For from a peer outside --trusted-proxies: client addresses "+
					"(logs, failed-verification limit) are the peer's; behind a proxy, set --trusted-proxies to its address",
					"peer", peer.Addr().Unmap().String())
			}
		}
		h.ServeHTTP(w, req)
	})
}
