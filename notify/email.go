package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"strings"
	"time"
)

// Email sends a plain-text mail through an SMTP server (net/smtp). It
// requires STARTTLS, unless Insecure is set, which only a loopback server
// may be: credentials and messages never cross a network in clear.
type Email struct {
	Addr     string   // host:port of the SMTP server (submission: 587)
	From     string   // envelope and header sender
	To       []string // recipients
	Username string   // with Password: AUTH PLAIN after STARTTLS; "": no AUTH
	Password string
	// Insecure allows a server without STARTTLS; only for a loopback Addr
	// (a local relay). CheckAddr refuses it elsewhere.
	Insecure  bool
	TLSConfig *tls.Config      // nil: verify the server's certificate for its host name
	Timeout   time.Duration    // the whole exchange; 0: DefaultTimeout
	NowFunc   func() time.Time // the Date header; nil: time.Now
}

// Name returns "email".
func (e *Email) Name() string { return "email" }

// Check reports a configuration Send would refuse: no address, sender or
// recipient, or Insecure off loopback.
func (e *Email) Check() error {
	host, _, err := net.SplitHostPort(e.Addr)
	switch {
	case err != nil:
		return fmt.Errorf("email: addr %q: want host:port", e.Addr)
	case e.From == "" || len(e.To) == 0:
		return errors.New("email: from and to are required")
	case e.Insecure && !loopback(host):
		return fmt.Errorf("email: insecure (no STARTTLS) is allowed for a loopback server only, not %s", host)
	}
	for _, a := range append([]string{e.From}, e.To...) {
		if strings.ContainsAny(a, "\r\n<>") || !strings.Contains(a, "@") {
			return fmt.Errorf("email: address %q: want name@domain", a)
		}
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send mails m to every recipient.
func (e *Email) Send(ctx context.Context, m Message) error {
	if err := e.Check(); err != nil {
		return err
	}
	timeout := e.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return fmt.Errorf("email: connect: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(e.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("email: greeting: %w", err)
	}
	defer c.Close()
	if err := e.exchange(c, host, m); err != nil {
		return fmt.Errorf("email: %w", err)
	}
	return nil
}

func (e *Email) exchange(c *smtp.Client, host string, m Message) error {
	if err := c.Hello("hookbox"); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := e.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	} else if !e.Insecure {
		return errors.New("the server does not offer STARTTLS (set insecure: true only for a loopback relay)")
	}
	if e.Username != "" {
		// smtp.PlainAuth itself refuses to send the password without TLS
		// unless the server is on localhost.
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password, host)); err != nil {
			return errors.New("auth: the server refused the credentials") // its reply may echo them
		}
	}
	if err := c.Mail(e.From); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	for _, to := range e.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("rcpt to: %w", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(e.mail(m)); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return c.Quit()
}

// mail renders m as an RFC 5322 message with CRLF line ends.
func (e *Email) mail(m Message) []byte {
	now := time.Now
	if e.NowFunc != nil {
		now = e.NowFunc
	}
	subject := "[hookbox] " + strings.ToUpper(m.Status()) + ": " + m.Title
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", e.From)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(e.To, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(m.Summary(), "\n", "\r\n"))
	b.WriteString("\r\n")
	return []byte(b.String())
}
