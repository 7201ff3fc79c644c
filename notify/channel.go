package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hookbox/hookbox/stripesig"
)

// DefaultTimeout bounds one send when a channel's client sets none.
const DefaultTimeout = 10 * time.Second

// Message is one notification: a condition started (Resolved false) or
// resolved. It holds no secret and no event body.
type Message struct {
	Condition string    // a Condition* name
	Subject   string    // what it is about: an endpoint, a destination, "store"
	Resolved  bool      // false: the condition started
	Title     string    // one line
	Text      string    // a few lines
	Link      string    // the console page to look at; "" without a console URL
	At        time.Time // when the notifier saw the change
}

// Status is "firing" or "resolved".
func (m Message) Status() string {
	if m.Resolved {
		return "resolved"
	}
	return "firing"
}

// Summary is the message as plain text: title, text and link.
func (m Message) Summary() string {
	s := m.Title + "\n" + m.Text
	if m.Link != "" {
		s += "\n" + m.Link
	}
	return s
}

// Channel delivers messages to people.
type Channel interface {
	// Name identifies the channel in logs ("slack", "webhook", "email").
	Name() string
	// Send delivers m; an error means it may not have arrived.
	Send(ctx context.Context, m Message) error
}

// Slack posts {"text": ...} to a Slack-compatible incoming webhook URL
// (Slack, Mattermost, Rocket.Chat, Discord's /slack suffix). The URL holds
// a token: it is never logged.
type Slack struct {
	URL    string
	Client *http.Client // nil: a client with DefaultTimeout
}

// Name returns "slack".
func (s *Slack) Name() string { return "slack" }

// Send posts m's Summary, its first line marked as resolved or firing.
func (s *Slack) Send(ctx context.Context, m Message) error {
	mark := ":rotating_light:"
	if m.Resolved {
		mark = ":white_check_mark:"
	}
	text := mark + " " + m.Title + "\n" + m.Text
	if m.Link != "" {
		text += "\n<" + m.Link + "|Open the hookbox console>"
	}
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return err
	}
	return post(ctx, s.Client, s.URL, body, nil)
}

// Webhook posts m as JSON (WebhookPayload), signed like hookbox's forwards:
// a Stripe-Signature header (t=...,v1=HMAC-SHA256 of "t.body" with Secret),
// so the receiver verifies it with any Stripe library.
type Webhook struct {
	URL     string
	Secret  string
	Client  *http.Client     // nil: a client with DefaultTimeout
	NowFunc func() time.Time // the signature's clock; nil: time.Now
}

// WebhookPayload is the JSON body a Webhook posts.
type WebhookPayload struct {
	Type      string    `json:"type"` // always "hookbox.notification"
	Condition string    `json:"condition"`
	Subject   string    `json:"subject"`
	Status    string    `json:"status"` // firing or resolved
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	Link      string    `json:"console_url,omitempty"`
	At        time.Time `json:"at"`
}

// Name returns "webhook".
func (w *Webhook) Name() string { return "webhook" }

// Send posts m as a signed WebhookPayload.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(WebhookPayload{Type: "hookbox.notification", Condition: m.Condition, Subject: m.Subject,
		Status: m.Status(), Title: m.Title, Text: m.Text, Link: m.Link, At: m.At.UTC()})
	if err != nil {
		return err
	}
	now := time.Now
	if w.NowFunc != nil {
		now = w.NowFunc
	}
	h := http.Header{stripesig.HeaderName: {stripesig.Sign(body, now(), w.Secret)}}
	return post(ctx, w.Client, w.URL, body, h)
}

// post sends body as JSON and wants a 2xx. Its errors never hold the URL
// (it may carry a token): only the status or the kind of failure.
func post(ctx context.Context, c *http.Client, url string, body []byte, h http.Header) error {
	if c == nil {
		c = &http.Client{Timeout: DefaultTimeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post: bad URL")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hookbox-notify")
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("post: %w", ctx.Err())
		}
		return fmt.Errorf("post: the request failed (connection or timeout)")
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post: status %d", resp.StatusCode)
	}
	return nil
}
