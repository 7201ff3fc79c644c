package deliver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/stripesig"
)

// Headers hookbox adds to a forwarded event.
const (
	// HeaderIdempotencyKey carries the event id: a destination that
	// records the ids it has processed ignores a second delivery of the
	// same event (after a replay, or a lease that expired mid-request).
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderAttempt carries the attempt number, 1-based, per destination.
	HeaderAttempt = "Hookbox-Attempt"
)

// maxDrain is how much of a response body beyond the kept snippet is read
// (and discarded) so that the connection can be reused; a larger body
// closes the connection instead.
const maxDrain = 64 << 10

// HTTPOptions configure an HTTP destination. The zero value is ready to use.
type HTTPOptions struct {
	// Timeout bounds one attempt, connection and response body included;
	// <= 0 means DefaultTimeout.
	Timeout time.Duration
	// Client sends the requests; nil means a client on a Transport shared
	// by every HTTP destination. A given client is copied and its
	// CheckRedirect replaced: redirects are never followed.
	Client *http.Client
	// Types filters by event type; the zero value accepts every type.
	Types Types
	// Livemode filters by livemode; the zero value accepts both.
	Livemode Livemode
	// APIVersion is the Stripe API version the app understands (Versioned);
	// the zero value states nothing.
	APIVersion hookbox.APIVersion
	// UserAgent is sent with every request; "" means "hookbox/<version>".
	UserAgent string
	// NowFunc is the clock of the signature timestamps; nil means
	// time.Now.
	NowFunc func() time.Time
}

// HTTP forwards events to an HTTP endpoint, as Stripe would: a POST of the
// exact stored body, signed with the destination's own secret. Only a 2xx
// answer counts as delivered; any other status (3xx included: redirects are
// not followed), a timeout or a connection error is a failed attempt.
type HTTP struct {
	name      string
	url       string // as given; only Redacted forms are shown
	redacted  string
	secret    string
	client    *http.Client
	timeout   time.Duration
	filter    Filter
	userAgent string
	version   hookbox.APIVersion
	now       func() time.Time
}

var (
	_ Destination = (*HTTP)(nil)
	_ Versioned   = (*HTTP)(nil)
)

// sharedTransport serves every HTTP destination built without a Client, so
// that connections to one host are reused across destinations and workers.
// Idle connections per host cover DefaultConcurrency in-flight events.
var sharedTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = http.ProxyFromEnvironment
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 2 * DefaultConcurrency
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 0 // the per-attempt timeout bounds it
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return t
}()

// NewHTTP returns an HTTP destination named name that POSTs to rawURL,
// signing with secret. The URL must be absolute http or https with a host;
// the secret must not be empty (the receiver verifies Stripe-Signature with
// it). Errors are coded EINVALID and never include the secret or a password
// in the URL.
func NewHTTP(name, rawURL, secret string, opts HTTPOptions) (*HTTP, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the URL, which may hold a password.
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: invalid URL", name)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: URL %s: scheme must be http or https", name, u.Redacted())
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: URL %s: no host", name, u.Redacted())
	}
	if secret == "" {
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: empty signing secret", name)
	}
	if !opts.Livemode.valid() {
		return nil, hookbox.Errorf(hookbox.EINVALID, "destination %s: livemode filter %q: want any, live or test", name, opts.Livemode)
	}
	d := &HTTP{
		name:      name,
		url:       u.String(),
		redacted:  u.Redacted(),
		secret:    secret,
		timeout:   opts.Timeout,
		filter:    Filter{Types: opts.Types, Livemode: opts.Livemode},
		userAgent: opts.UserAgent,
		version:   opts.APIVersion,
		now:       opts.NowFunc,
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.timeout <= 0 {
		d.timeout = DefaultTimeout
	}
	if d.userAgent == "" {
		d.userAgent = "hookbox/" + Version
	}
	if opts.Client != nil {
		c := *opts.Client
		d.client = &c
	} else {
		d.client = &http.Client{Transport: sharedTransport}
	}
	d.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return d, nil
}

// Name returns the destination's name.
func (d *HTTP) Name() string { return d.name }

// URL returns the destination URL with any password redacted.
func (d *HTTP) URL() string { return d.redacted }

// AttemptTimeout returns the bound of one attempt.
func (d *HTTP) AttemptTimeout() time.Duration { return d.timeout }

// Filter returns the destination's event filter.
func (d *HTTP) Filter() Filter { return d.filter }

// APIVersion returns the Stripe API version the destination understands.
func (d *HTTP) APIVersion() hookbox.APIVersion { return d.version }

// String describes the destination for logs: name and redacted URL, never
// the secret.
func (d *HTTP) String() string { return d.name + " (" + d.redacted + ")" }

// Accepts reports whether ev passes the type and livemode filters.
func (d *HTTP) Accepts(ev *hookbox.Event) bool { return d.filter.Match(ev) }

// Deliver POSTs ev.Body, exactly as stored, with Content-Type
// application/json, a Stripe-Signature computed now (every attempt gets a
// fresh timestamp, as Stripe's own retries do, so receivers with the usual
// 5-minute tolerance accept retries that run for days), Idempotency-Key (the
// event id), Hookbox-Attempt and User-Agent. It keeps the first
// hookbox.MaxResponseSnippet bytes of the response body, byte for byte.
func (d *HTTP) Deliver(ctx context.Context, ev *hookbox.Event, attempt int) hookbox.Attempt {
	start := time.Now()
	a := hookbox.Attempt{EventID: ev.ID, Destination: d.name, Number: attempt, StartedAt: start}
	defer func() { a.Duration = time.Since(start) }()

	actx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, d.url, bytes.NewReader(ev.Body))
	if err != nil {
		a.Error = "build request: " + err.Error()
		a.Duration = time.Since(start)
		return a
	}
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	h["User-Agent"] = []string{d.userAgent}
	h[stripesig.HeaderName] = []string{stripesig.Sign(ev.Body, d.now(), d.secret)}
	h[HeaderIdempotencyKey] = []string{ev.ID}
	h[HeaderAttempt] = []string{strconv.Itoa(attempt)}
	if ev.LateAfter != "" {
		h[HeaderLate] = []string{ev.LateAfter}
	}
	if tp := Traceparent(ctx); tp != "" {
		h[HeaderTraceparent] = []string{tp}
	}

	resp, err := d.client.Do(req)
	if err != nil {
		a.Error = d.describe(ctx, actx, err)
		a.Duration = time.Since(start)
		return a
	}
	var buf [hookbox.MaxResponseSnippet]byte
	n, _ := io.ReadFull(resp.Body, buf[:])
	// Drain a bounded amount so the connection goes back to the pool; a
	// destination answering megabytes gets its connection closed instead.
	io.CopyN(io.Discard, resp.Body, maxDrain)
	resp.Body.Close()

	a.StatusCode = resp.StatusCode
	a.Response = string(buf[:n]) // bytes as received: the stores keep them as a blob
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		a.OK = true
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.Error = "status " + resp.Status + " (redirects are not followed)"
	default:
		a.Error = "status " + resp.Status
	}
	a.Duration = time.Since(start)
	return a
}

// describe turns a client error into a short message without the URL (it
// is known from the destination name, and may hold a password).
func (d *HTTP) describe(parent, actx context.Context, err error) string {
	switch {
	case parent.Err() != nil:
		return "canceled: " + context.Cause(parent).Error()
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("timeout after %s", d.timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// cleanText returns s cut to at most n bytes as valid UTF-8 without NUL
// bytes (error texts go to text columns, and PostgreSQL text holds neither
// invalid UTF-8 nor NUL): a character cut at the end is dropped, other
// invalid bytes and NULs become '?', so the result is never longer than n.
func cleanText(s string, n int) string {
	if len(s) > n {
		s = s[:n]
		// Drop a multi-byte character cut by the limit.
		for i := 1; i <= utf8.UTFMax && i <= len(s); i++ {
			if c := s[len(s)-i]; utf8.RuneStart(c) {
				if !utf8.FullRuneInString(s[len(s)-i:]) {
					s = s[:len(s)-i]
				}
				break
			}
		}
	}
	s = strings.ToValidUTF8(s, "?")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "?")
	}
	return s
}

// Version is the hookbox module version, for the default User-Agent:
// the version from the build information, or "dev" for a build outside a
// module version (tests, go run, a local checkout).
var Version = moduleVersion()

func moduleVersion() string {
	const path = "github.com/hookbox/hookbox"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	v := ""
	if bi.Main.Path == path {
		v = bi.Main.Version
	} else {
		for _, m := range bi.Deps {
			if m.Path == path {
				v = m.Version
				if m.Replace != nil {
					v = m.Replace.Version
				}
			}
		}
	}
	if v == "" || v == "(devel)" {
		return "dev"
	}
	return v
}
