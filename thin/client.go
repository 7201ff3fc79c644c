package thin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	stripe "github.com/stripe/stripe-go/v85"

	"github.com/hookbox/hookbox/reconcile"
)

// apiVersion is the Stripe-Version sent: stripe-go v85's, as its own v2
// calls send it.
const apiVersion = stripe.APIVersion

// Headers of the v2 events API calls, as stripe-go v85 sends them.
const (
	// HeaderContext carries a notification's context back when fetching
	// its event (a connected account's events are read in its context).
	HeaderContext = "Stripe-Context"
	// HeaderTrigger names the event whose handling made the call.
	HeaderTrigger = "Stripe-Request-Trigger"
)

// maxEventBytes bounds one API answer read into memory.
const maxEventBytes = 16 << 20

// Client calls Stripe's v2 events API: GET /v2/core/events/{id} (Retrieve)
// and GET /v2/core/events (ListEvents, a reconcile.V2Lister). It keeps every
// event's raw JSON byte for byte, which stripe-go's typed v2 client does
// not, and reads Retry-After, which stripe-go's v2 errors drop. The key
// and base are checked as reconcile.NewClient checks them
// (reconcile.CheckClient), and errors are reconcile's: an *APIError for an
// answer of the API, with the key and anything key-like removed.
type Client struct {
	key, base string
	http      *http.Client
}

// NewClient returns a client of the v2 events API for key. cfg is the one
// reconcile takes: APIBase (HOOKBOX_STRIPE_API_BASE) points every call of
// hookbox at stripe-mock or a fake.
func NewClient(key string, cfg reconcile.ClientConfig) (*Client, error) {
	base, err := reconcile.CheckClient(key, cfg)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: reconcile.DefaultHTTPTimeout}
	}
	return &Client{key: key, base: base, http: hc}, nil
}

// Retrieve returns the event id exactly as GET /v2/core/events/{id}
// answered it, asked in stripeContext (the notification's context; "" for
// none) and naming the event as the request's trigger.
func (c *Client) Retrieve(ctx context.Context, id, stripeContext string) ([]byte, error) {
	h := http.Header{HeaderTrigger: {"event=" + id}}
	if stripeContext != "" {
		h.Set(HeaderContext, stripeContext)
	}
	return c.get(ctx, "/v2/core/events/"+url.PathEscape(id), h)
}

// ListEvents lists one page of GET /v2/core/events: events created at or
// after from and, unless to is zero, at or before to (created[gte],
// created[lte], RFC 3339 as every v2 time), 100 a page. page is "" for the
// first page, then the next page's path as the API gave it
// (next_page_url); next is "" after the last page.
func (c *Client) ListEvents(ctx context.Context, from, to time.Time, page string) ([]json.RawMessage, string, error) {
	path := page
	if path == "" {
		q := url.Values{"limit": {"100"}}
		if !from.IsZero() {
			q.Set("created[gte]", from.UTC().Format(time.RFC3339))
		}
		if !to.IsZero() {
			q.Set("created[lte]", to.UTC().Format(time.RFC3339))
		}
		path = "/v2/core/events?" + q.Encode()
	} else if !strings.HasPrefix(path, "/v2/core/events") {
		// next_page_url is a path on the API; anything else would send
		// the key elsewhere.
		return nil, "", fmt.Errorf("stripe api: next_page_url %q is not a /v2/core/events path", reconcile.Redact(page))
	}
	b, err := c.get(ctx, path, nil)
	var ae *reconcile.APIError
	if page == "" && (!from.IsZero() || !to.IsZero()) && errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		// An API that reads the created range in another form (stripe-go
		// sends unix seconds where v2 times are RFC 3339) refuses it:
		// list without it; whatever is outside the range is stored only
		// if missing, as any recovered event.
		b, err = c.get(ctx, "/v2/core/events?limit=100", nil)
	}
	if err != nil {
		return nil, "", err
	}
	var list struct {
		Data        []json.RawMessage `json:"data"`
		NextPageURL *string           `json:"next_page_url"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, "", fmt.Errorf("stripe api: list events: %v", err)
	}
	next := ""
	if list.NextPageURL != nil {
		next = *list.NextPageURL
	}
	return list.Data, next, nil
}

// get makes one GET and returns the body of a 2xx answer.
func (c *Client) get(ctx context.Context, path string, h http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("stripe api: %s", reconcile.Redact(err.Error()))
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Stripe-Version", apiVersion)
	req.Header.Set("User-Agent", "hookbox")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("stripe api: %s", c.scrub(err.Error()))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxEventBytes))
	if err != nil {
		return nil, fmt.Errorf("stripe api: read answer: %s", c.scrub(err.Error()))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return b, nil
	}
	return nil, c.apiError(resp, b)
}

// apiError reads a v2 error answer: {"error": {"type", "code", "message"}}.
func (c *Client) apiError(resp *http.Response, b []byte) error {
	var e struct {
		Error struct {
			Type    string `json:"type"`
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(b, &e) // a body that is not Stripe's error leaves the status alone
	return &reconcile.APIError{
		Status:     resp.StatusCode,
		Type:       e.Error.Type,
		Code:       e.Error.Code,
		RequestID:  resp.Header.Get("Request-Id"),
		Message:    c.scrub(e.Error.Message),
		RetryAfter: reconcile.ParseRetryAfter(resp.Header.Get("Retry-After")),
	}
}

// scrub removes the key, and anything key-like, from a message.
func (c *Client) scrub(s string) string {
	return reconcile.Redact(strings.ReplaceAll(s, c.key, "[REDACTED]"))
}
