package notify_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbox/hookbox/notify"
)

const smtpPassword = "smtp-pass-SECRET-123456"

// smtpServer is a minimal in-process SMTP server: EHLO, STARTTLS, AUTH
// PLAIN, MAIL, RCPT, DATA, QUIT. It keeps the mails it accepts and the
// credentials it was given.
type smtpServer struct {
	ln       net.Listener
	cert     tls.Certificate
	pool     *x509.CertPool
	starttls bool
	mu       sync.Mutex
	mails    []string
	auth     []string
	tlsSeen  bool
}

func newSMTPServer(t testing.TB, starttls bool) *smtpServer {
	t.Helper()
	// httptest's TLS server carries a self-signed certificate for
	// 127.0.0.1; borrow it.
	ts := httptest.NewTLSServer(nil)
	cert := ts.TLS.Certificates[0]
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	ts.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, cert: cert, pool: pool, starttls: starttls}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 localhost ESMTP test")
	secure := false
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			exts := []string{"250-localhost"}
			if s.starttls && !secure {
				exts = append(exts, "250-STARTTLS")
			}
			exts = append(exts, "250 AUTH PLAIN")
			for _, e := range exts {
				tp.PrintfLine("%s", e)
			}
		case "STARTTLS":
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{s.cert}})
			if err := tc.Handshake(); err != nil {
				return
			}
			c, secure = tc, true
			tp = textproto.NewConn(tc)
			s.mu.Lock()
			s.tlsSeen = true
			s.mu.Unlock()
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, err := base64.StdEncoding.DecodeString(resp)
			if strings.ToUpper(mech) != "PLAIN" || err != nil {
				tp.PrintfLine("504 unsupported")
				continue
			}
			s.mu.Lock()
			s.auth = append(s.auth, string(b))
			s.mu.Unlock()
			tp.PrintfLine("235 ok")
		case "MAIL", "RCPT", "RSET", "NOOP":
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go on")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.mails = append(s.mails, string(b))
			s.mu.Unlock()
			tp.PrintfLine("250 queued")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("500 what")
		}
	}
}

func (s *smtpServer) got() (mails, auth []string, tlsSeen bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.mails...), append([]string(nil), s.auth...), s.tlsSeen
}

// TestNotifyEmail ensures an email goes out over STARTTLS with AUTH PLAIN,
// says what happened with a console link, and holds no secret.
func TestNotifyEmail(t *testing.T) {
	srv := newSMTPServer(t, true)
	e := &notify.Email{Addr: srv.ln.Addr().String(), From: "hookbox@example.com", To: []string{"ops@example.com"},
		Username: "hookbox", Password: smtpPassword, TLSConfig: &tls.Config{RootCAs: srv.pool, ServerName: "127.0.0.1"}}
	m := notify.Message{Condition: notify.ConditionDead, Subject: "store", Title: "2 new dead event(s)", Text: "Replay them.",
		Link: "https://hookbox.internal/events?state=dead", At: time.Now()}
	if err := e.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	mails, auth, tlsSeen := srv.got()
	if !tlsSeen || len(auth) != 1 || !strings.Contains(auth[0], smtpPassword) {
		t.Fatalf("tls %v, auth %q", tlsSeen, auth)
	}
	if len(mails) != 1 || !strings.Contains(mails[0], "Subject: [hookbox] FIRING: 2 new dead event(s)") ||
		!strings.Contains(mails[0], "https://hookbox.internal/events?state=dead") {
		t.Fatalf("mails %q", mails)
	}
	noSecret(t, mails)
}

// TestNotifyEmailRequiresSTARTTLS ensures a server without STARTTLS gets
// neither the credentials nor the mail unless insecure is set, which only a
// loopback server may be.
func TestNotifyEmailRequiresSTARTTLS(t *testing.T) {
	srv := newSMTPServer(t, false)
	e := &notify.Email{Addr: srv.ln.Addr().String(), From: "hookbox@example.com", To: []string{"ops@example.com"}, Username: "hookbox", Password: smtpPassword}
	m := notify.Message{Condition: notify.ConditionDead, Title: "t", Text: "x"}
	err := e.Send(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("without STARTTLS: %v", err)
	}
	if mails, auth, _ := srv.got(); len(mails)+len(auth) != 0 {
		t.Fatalf("the server got %q %q", mails, auth)
	}
	e.Insecure, e.Username = true, ""
	if err := e.Send(context.Background(), m); err != nil {
		t.Fatalf("insecure on loopback: %v", err)
	}
	if err := (&notify.Email{Addr: "smtp.example.com:25", From: "a@b.c", To: []string{"d@e.f"}, Insecure: true}).Check(); err == nil {
		t.Fatal("insecure off loopback: no error")
	}
}
