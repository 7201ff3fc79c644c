package edge

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCertCheckInterval is how often, at most, a TLS handshake looks at
// the certificate files: often enough that a renewal is served within
// seconds, rarely enough that a handshake flood costs no file reads.
const DefaultCertCheckInterval = 10 * time.Second

// CertOptions configure NewCertReloader. The zero value is usable.
type CertOptions struct {
	// CheckInterval is the least time between two looks at the files from
	// GetCertificate; 0 means DefaultCertCheckInterval, a negative value
	// every handshake.
	CheckInterval time.Duration
	// Logger receives reloads and failed reloads; nil: slog.Default().
	Logger *slog.Logger
	// NowFunc is the clock; nil: time.Now.
	NowFunc func() time.Time
}

// CertReloader serves a certificate and key from two PEM files and picks up
// new files without a restart: GetCertificate rereads them at most once per
// CheckInterval, and Reload does at once (on SIGHUP, say). A new pair is
// served from the next handshake on; established connections keep theirs.
// A new pair that cannot be read, parsed, or whose key does not match the
// certificate is logged once and ignored: the old certificate stays in
// service until the files hold a valid pair (a renewal tool writing one
// file, then the other, is picked up once both are in place).
//
// Changes are detected by a SHA-256 of both files' contents, so a swap that
// keeps sizes and modification times (a Kubernetes secret's symlink, cp -p)
// is seen too; the cost is reading two small files per interval.
type CertReloader struct {
	certFile, keyFile string
	interval          time.Duration
	logger            *slog.Logger
	now               func() time.Time

	cert      atomic.Pointer[tls.Certificate]
	nextCheck atomic.Int64 // unix nanoseconds

	mu        sync.Mutex // serializes reloads; guards the fields below
	sum       [sha256.Size]byte
	failedSum [sha256.Size]byte // contents already found invalid
	failedErr error
	lastErr   string // last error logged, so that a lasting one is logged once
}

// NewCertReloader loads certFile and keyFile (PEM, the certificate file may
// hold the chain after the leaf) and returns a reloader serving them. The
// error says which file is unreadable or that the key does not match.
func NewCertReloader(certFile, keyFile string, opts CertOptions) (*CertReloader, error) {
	c := &CertReloader{
		certFile: certFile,
		keyFile:  keyFile,
		interval: opts.CheckInterval,
		logger:   opts.Logger,
		now:      opts.NowFunc,
	}
	if c.interval == 0 {
		c.interval = DefaultCertCheckInterval
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.reloadLocked(); err != nil {
		return nil, err
	}
	c.nextCheck.Store(c.now().Add(c.interval).UnixNano())
	return c, nil
}

// GetCertificate returns the certificate to present; its signature is that
// of tls.Config.GetCertificate. When CheckInterval has passed since the
// last look, it first rereads the files (one handshake does, concurrent
// ones are served the current certificate meanwhile).
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c.now().UnixNano() >= c.nextCheck.Load() && c.mu.TryLock() {
		c.checkLocked()
		c.mu.Unlock()
	}
	return c.cert.Load(), nil
}

// Reload rereads the files now. It returns nil when they are unchanged or
// hold a valid new pair (then served from the next handshake), and the
// reason otherwise, the old certificate staying in service.
func (c *CertReloader) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextCheck.Store(c.now().Add(c.interval).UnixNano())
	_, err := c.reloadLocked()
	if err != nil {
		c.logFailure(err)
	}
	return err
}

// NotAfter is the expiry of the certificate being served, for a metric or
// an alert on a renewal that did not happen.
func (c *CertReloader) NotAfter() time.Time {
	if leaf := c.cert.Load().Leaf; leaf != nil {
		return leaf.NotAfter
	}
	return time.Time{}
}

// TLSConfig returns a new tls.Config serving the reloader's certificate:
// TLS 1.2 at least (the floor; Stripe's senders speak 1.2 and 1.3),
// and for TLS 1.2 only ECDHE key exchange with AEAD ciphers, the Mozilla
// "intermediate" profile (TLS 1.3 suites are not configurable and all
// AEAD). Curves and the rest are Go's defaults. Pass it to
// http.Server.TLSConfig and call ServeTLS(ln, "", ""), which adds h2 and
// http/1.1 to NextProtos.
func (c *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.GetCertificate,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

func (c *CertReloader) checkLocked() {
	c.nextCheck.Store(c.now().Add(c.interval).UnixNano())
	if _, err := c.reloadLocked(); err != nil {
		c.logFailure(err)
	}
}

// reloadLocked reads both files and, if their contents changed and form a
// valid pair, serves them. It reports whether the certificate changed.
func (c *CertReloader) reloadLocked() (bool, error) {
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return false, fmt.Errorf("read tls certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(c.keyFile)
	if err != nil {
		return false, fmt.Errorf("read tls key: %w", err)
	}
	sum := pairSum(certPEM, keyPEM)
	if sum == c.sum {
		c.lastErr = ""
		return false, nil
	}
	if c.failedErr != nil && sum == c.failedSum {
		return false, c.failedErr
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		err = fmt.Errorf("load tls certificate %s and key %s: %w", c.certFile, c.keyFile, err)
		c.failedSum, c.failedErr = sum, err
		return false, err
	}
	if cert.Leaf == nil { // x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			err = fmt.Errorf("load tls certificate %s: %w", c.certFile, err)
			c.failedSum, c.failedErr = sum, err
			return false, err
		}
	}
	first := c.cert.Load() == nil
	c.cert.Store(&cert)
	c.sum, c.failedErr, c.lastErr = sum, nil, ""
	leaf := cert.Leaf
	msg := "tls certificate reloaded"
	if first {
		msg = "tls certificate loaded"
	}
	c.logger.LogAttrs(context.Background(), slog.LevelInfo, msg,
		slog.String("cert_file", c.certFile),
		slog.String("subject", leaf.Subject.String()),
		slog.Any("dns_names", leaf.DNSNames),
		slog.Time("not_after", leaf.NotAfter))
	if now := c.now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		c.logger.LogAttrs(context.Background(), slog.LevelWarn, "tls certificate is outside its validity period",
			slog.String("cert_file", c.certFile),
			slog.Time("not_before", leaf.NotBefore), slog.Time("not_after", leaf.NotAfter))
	}
	return true, nil
}

// logFailure logs a failed reload once per distinct error.
func (c *CertReloader) logFailure(err error) {
	if err.Error() == c.lastErr {
		return
	}
	c.lastErr = err.Error()
	c.logger.LogAttrs(context.Background(), slog.LevelError, "tls certificate not reloaded; still serving the previous one",
		slog.Any("error", err))
}

func pairSum(certPEM, keyPEM []byte) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(certPEM)))
	h.Write(n[:])
	h.Write(certPEM)
	h.Write(keyPEM)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
