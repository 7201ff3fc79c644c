package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
)

// DefaultHSTSMaxAge is the max-age HSTS announces when given none: one
// year, the usual production value.
const DefaultHSTSMaxAge = 365 * 24 * time.Hour

// HSTS sets Strict-Transport-Security: max-age=<seconds> on every response
// to a request that arrived over HTTPS, as proxies.IsHTTPS decides (a TLS
// connection, or X-Forwarded-Proto: https from a trusted proxy; proxies may
// be nil). A plain-HTTP response never carries it, as RFC 6797 requires.
// maxAge <= 0 means DefaultHSTSMaxAge. includeSubDomains is not set: the
// host name hookbox answers on says nothing about its siblings.
//
// Stripe does not need it (it is told the https URL); it protects people
// who open the listener's URL in a browser.
func HSTS(next http.Handler, maxAge time.Duration, proxies *Proxies) http.Handler {
	if maxAge <= 0 {
		maxAge = DefaultHSTSMaxAge
	}
	value := "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if proxies.IsHTTPS(r) {
			w.Header().Set("Strict-Transport-Security", value)
		}
		next.ServeHTTP(w, r)
	})
}

// RequireHTTPS answers 403 {"error":"https required"} to a request that did
// not arrive over HTTPS, directly or through a trusted proxy (see
// Proxies.IsHTTPS; proxies may be nil), and passes the others to next.
//
// 403 rather than 400: the request is well formed, and refused by policy;
// nothing in it can be fixed by the client except the URL it was sent to.
// To Stripe any non-2xx is a failed delivery that it retries, so a
// misconfigured http:// endpoint shows up in its dashboard with this body.
// The body is not read.
func RequireHTTPS(next http.Handler, proxies *Proxies) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !proxies.IsHTTPS(r) {
			writeError(w, http.StatusForbidden, respHTTPSRequired)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// redirectWarnEvery spaces out the warning about webhook POSTs reaching the
// plain-HTTP listener: one line is enough to notice, a flood must not fill
// the log.
const redirectWarnEvery = time.Minute

// RedirectHTTPS returns the handler of an optional plain-HTTP listener: it
// answers every request with 308 Permanent Redirect to the same host, path
// and query on HTTPS. httpsAddr is the HTTPS listener's address as bound
// ("0.0.0.0:8443", "[::]:443"); only its port is used, and is left out of
// the URL when it is 443. The host comes from the request's Host header
// (its port dropped); a missing or malformed one gets 400.
//
// 308 rather than 301: a client that follows it repeats the same method and
// body. Stripe does not follow redirects: it counts any 3xx as a failed
// delivery, so Stripe's endpoint must be configured with the https:// URL;
// this listener only helps browsers and humans. A POST that reaches it is
// most likely a webhook sent to an http:// URL, and is logged at WARN (at
// most once a minute) with that advice; logger nil means slog.Default().
// The body is never read.
func RedirectHTTPS(httpsAddr string, logger *slog.Logger) (http.Handler, error) {
	_, port, err := net.SplitHostPort(httpsAddr)
	if err != nil {
		return nil, fmt.Errorf("https address %q: %w", httpsAddr, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil, fmt.Errorf("https address %q: want a port between 1 and 65535 (the bound address, not :0)", httpsAddr)
	}
	if port == "443" {
		port = ""
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &redirect{port: port, logger: logger}, nil
}

type redirect struct {
	port     string
	logger   *slog.Logger
	lastWarn atomic.Int64 // unix nanoseconds of the last POST warning
}

func (h *redirect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, err := requestHost(r.Host)
	if err != nil {
		writeError(w, http.StatusBadRequest, respBadRequest)
		return
	}
	if h.port != "" {
		host = net.JoinHostPort(host, h.port)
	} else if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
		host = "[" + host + "]"
	}
	target := "https://" + host + r.URL.RequestURI()
	if r.Method == http.MethodPost {
		h.warn(r.Context(), target)
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusPermanentRedirect)
}

func (h *redirect) warn(ctx context.Context, target string) {
	now := time.Now().UnixNano()
	last := h.lastWarn.Load()
	if now-last < int64(redirectWarnEvery) || !h.lastWarn.CompareAndSwap(last, now) {
		return
	}
	h.logger.LogAttrs(ctx, slog.LevelWarn,
		"POST on the plain-HTTP listener redirected to HTTPS; Stripe counts a redirect as a failed delivery: configure the endpoint with the https URL",
		slog.String("location", target))
}

var errBadHost = errors.New("bad host")

// requestHost returns the host of a Host header without its port or IPv6
// brackets, if it is a plain DNS name or an IP address.
func requestHost(hostport string) (string, error) {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return "", errBadHost
		}
		return host, nil
	}
	if host == "" || len(host) > 253 {
		return "", errBadHost
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return "", errBadHost
		}
	}
	return host, nil
}
