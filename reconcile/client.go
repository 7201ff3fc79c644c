package reconcile

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	stripe "github.com/stripe/stripe-go/v85"
)

// DefaultHTTPTimeout bounds one request to the Stripe API. A page of 100
// events is a few hundred KB; Stripe answers within seconds.
const DefaultHTTPTimeout = 60 * time.Second

// ClientConfig configures the Stripe API client NewClient builds. The zero
// value talks to api.stripe.com.
type ClientConfig struct {
	// APIBase replaces https://api.stripe.com (stripe-mock, a test fake).
	APIBase string
	// HTTPClient is the transport; nil: a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
}

// NewClient returns a stripe-go client for key set up for reconcile:
//
//   - stripe-go's own retries are off (MaxNetworkRetries 0). It retries 5xx
//     but never a plain 429 rate limit, and it sleeps without watching the
//     context; the Reconciler retries 429, 5xx and network errors itself,
//     with one backoff that a cancelled run stops at once.
//   - stripe-go's logger is silenced: the Reconciler logs what matters.
//   - the key is scrubbed from every error the API returns. Stripe masks it
//     in its messages, but a proxy or a mock may echo the Authorization
//     header (stripe-mock does), and errors end up in logs.
//
// The key is checked to be non-empty and free of whitespace; errors never
// contain it. APIBase must be an absolute http or https URL.
func NewClient(key string, cfg ClientConfig) (*stripe.Client, error) {
	base, err := CheckClient(key, cfg)
	if err != nil {
		return nil, err
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        cfg.HTTPClient,
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		EnableTelemetry:   stripe.Bool(false),
	}
	if bc.HTTPClient == nil {
		bc.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if cfg.APIBase != "" {
		bc.URL = stripe.String(base)
	}
	b := &scrubBackend{Backend: stripe.GetBackendWithConfig(stripe.APIBackend, bc), key: key}
	return stripe.NewClient(key, stripe.WithBackends(&stripe.Backends{API: b, Connect: b, Uploads: b, MeterEvents: b})), nil
}

// DefaultAPIBase is Stripe's API, v1 and v2 alike.
const DefaultAPIBase = "https://api.stripe.com"

// CheckClient checks what every client of the Stripe API that hookbox
// builds (this package's, and the v2 events client of package thin) is
// given: the key non-empty and free of whitespace, the base an absolute
// http or https URL. It returns the base without a trailing slash
// (DefaultAPIBase when cfg has none). Errors never contain the key.
func CheckClient(key string, cfg ClientConfig) (base string, err error) {
	if key == "" {
		return "", errors.New("stripe api: no API key")
	}
	if strings.ContainsAny(key, " \t\r\n") {
		return "", errors.New("stripe api: the API key contains whitespace")
	}
	if cfg.APIBase == "" {
		return DefaultAPIBase, nil
	}
	u, err := url.Parse(cfg.APIBase)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("stripe api base %q: want an http or https URL such as https://api.stripe.com", redactURL(cfg.APIBase))
	}
	return strings.TrimSuffix(cfg.APIBase, "/"), nil
}

// Redact removes key-like strings (Stripe keys, credentials after an auth
// scheme) from a message received from the API.
func Redact(s string) string { return redact(s) }

// redactURL drops a user:password part, should one have been given.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = url.User("REDACTED")
		return u.String()
	}
	return s
}

// scrubBackend removes the API key from the errors of the backend it wraps.
type scrubBackend struct {
	stripe.Backend
	key string
}

func (b *scrubBackend) Call(method, path, key string, params stripe.ParamsContainer, v stripe.LastResponseSetter) error {
	return b.scrub(b.Backend.Call(method, path, key, params, v))
}

func (b *scrubBackend) CallRaw(method, path, key string, body []byte, params *stripe.Params, v stripe.LastResponseSetter) error {
	return b.scrub(b.Backend.CallRaw(method, path, key, body, params, v))
}

func (b *scrubBackend) scrub(err error) error {
	if err == nil {
		return nil
	}
	var se *stripe.Error
	if errors.As(err, &se) {
		se.Msg = strings.ReplaceAll(se.Msg, b.key, redacted)
		se.DeveloperMsg = strings.ReplaceAll(se.DeveloperMsg, b.key, redacted)
		se.OAuthErrorDescription = strings.ReplaceAll(se.OAuthErrorDescription, b.key, redacted)
		if se.LastResponse != nil {
			se.LastResponse.RawJSON = []byte(strings.ReplaceAll(string(se.LastResponse.RawJSON), b.key, redacted))
		}
	}
	if strings.Contains(err.Error(), b.key) {
		// Not a Stripe error (a body that was not JSON, quoted back by
		// stripe-go): keep the text, lose the type.
		return errors.New(strings.ReplaceAll(err.Error(), b.key, redacted))
	}
	return err
}

const redacted = "[REDACTED]"

// keyLike matches what could be an API key or credential in a message from
// the API: Stripe keys, and whatever follows an auth scheme.
var keyLike = regexp.MustCompile(`\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z_*]+|(?i:\b(?:bearer|basic)\s+)[^\s'"]+`)

// redact removes key-like strings from a message received from the API.
func redact(s string) string {
	return keyLike.ReplaceAllStringFunc(s, func(m string) string {
		if i := strings.IndexAny(m, " \t"); i >= 0 {
			return strings.TrimRight(m[:i], " \t") + " " + redacted
		}
		return redacted
	})
}

// ErrAuth is wrapped by the error Run returns when Stripe refuses the API
// key (401) or the key lacks the permission to list events (403).
var ErrAuth = errors.New("stripe refused the API key")

// APIError is an error answer of the Stripe API that reconcile does not
// retry (or stopped retrying). Message is Stripe's, with anything that
// looks like a key removed.
type APIError struct {
	Status    int    // HTTP status
	Type      string // Stripe's error type: invalid_request_error, api_error, ...
	Code      string // Stripe's error code, if any
	RequestID string // Stripe's Request-Id, for support
	Message   string
	// RetryAfter is the API's Retry-After, when it sent one (a 429).
	RetryAfter time.Duration
}

// Retryable reports whether a later retry may succeed: a rate limit (429),
// a conflict (409) or a server error.
func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusConflict || e.Status >= 500
}

func (e *APIError) Error() string {
	var b strings.Builder
	switch e.Status {
	case http.StatusUnauthorized:
		b.WriteString("stripe refused the API key (401): check STRIPE_API_KEY or STRIPE_API_KEY_FILE; the key may be wrong, expired or revoked")
	case http.StatusForbidden:
		b.WriteString("the API key may not list events (403): a restricted key needs read access to Events")
	default:
		fmt.Fprintf(&b, "stripe api: %d", e.Status)
		if e.Type != "" {
			b.WriteString(" " + e.Type)
		}
	}
	if e.Code != "" {
		b.WriteString(" [" + e.Code + "]")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrAuth) true for 401 and 403.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return ErrAuth
	}
	return nil
}

// classify turns an error of a list call into what Run returns, and says
// whether a retry may help and after how long at least (Retry-After).
func classify(err error) (out error, retry bool, after time.Duration) {
	var ae *APIError
	if errors.As(err, &ae) {
		// Already classified (the v2 events client of package thin).
		return ae, ae.Retryable(), ae.RetryAfter
	}
	var se *stripe.Error
	if !errors.As(err, &se) {
		// No answer from the API (connection refused or reset, timeout, a
		// body that is not JSON from a proxy in between): worth a retry.
		return fmt.Errorf("stripe api: %s", redact(err.Error())), true, 0
	}
	ae = &APIError{
		Status:    se.HTTPStatusCode,
		Type:      string(se.Type),
		Code:      string(se.Code),
		RequestID: se.RequestID,
		Message:   redact(se.Msg),
	}
	if se.LastResponse != nil && se.LastResponse.Header != nil {
		ae.RetryAfter = ParseRetryAfter(se.LastResponse.Header.Get("Retry-After"))
	}
	if ae.Retryable() {
		return ae, true, ae.RetryAfter
	}
	return ae, false, 0
}

// ParseRetryAfter reads a Retry-After header in seconds, as Stripe sends
// it; 0 when absent or not a positive number of seconds.
func ParseRetryAfter(s string) time.Duration {
	if s == "" {
		return 0
	}
	if d, err := time.ParseDuration(strings.TrimSpace(s) + "s"); err == nil && d > 0 {
		return d
	}
	return 0
}
