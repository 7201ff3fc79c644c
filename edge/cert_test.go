package edge_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbox/hookbox/edge"
)

// testCert is a self-signed certificate for localhost and its key, as PEM.
type testCert struct {
	serial  int64
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte
}

func newTestCert(tb testing.TB, serial int64) testCert {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "hookbox test"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: it is its own root in the client's pool
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return testCert{
		serial:  serial,
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}

// writeFile replaces path atomically, as renewal tools do.
func writeFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

// tlsServer serves h over TLS with the reloader's config on 127.0.0.1, as
// serve.go is expected to: http.Server.TLSConfig and ServeTLS(ln, "", "").
func tlsServer(tb testing.TB, cr *edge.CertReloader, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: cr.TLSConfig(), ReadHeaderTimeout: 5 * time.Second}
	srv.ErrorLog = log.New(io.Discard, "", 0) // the refused TLS 1.1 handshake
	go srv.ServeTLS(ln, "", "")
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// servedSerial makes a fresh verified TLS handshake with addr and returns
// the serial number of the certificate presented.
func servedSerial(tb testing.TB, addr string, roots *x509.CertPool) int64 {
	tb.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		tb.Fatalf("handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestCertReloader ensures a real handshake is served the loaded
// certificate, a replaced pair is served after the check interval without
// a restart, an invalid new pair keeps the old one (and is logged), and the
// HTTPS response carries HSTS.
func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c1, c2, c3 := newTestCert(t, 1), newTestCert(t, 2), newTestCert(t, 3)
	writeFile(t, certFile, c1.certPEM)
	writeFile(t, keyFile, c1.keyPEM)

	clk := newClock()
	logger, logs := newLogger()
	cr, err := edge.NewCertReloader(certFile, keyFile, edge.CertOptions{
		CheckInterval: 10 * time.Second, Logger: logger, NowFunc: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cr.NotAfter().Equal(c1.cert.NotAfter) {
		t.Errorf("NotAfter = %v, want %v", cr.NotAfter(), c1.cert.NotAfter)
	}
	handler := edge.HSTS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}), 0, nil)
	addr := tlsServer(t, cr, handler)
	roots := x509.NewCertPool()
	for _, c := range []testCert{c1, c2, c3} {
		roots.AddCert(c.cert)
	}

	if got := servedSerial(t, addr, roots); got != 1 {
		t.Fatalf("served serial %d, want 1", got)
	}

	t.Run("HSTSOverTLS", func(t *testing.T) {
		client := &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"},
		}}
		defer client.CloseIdleConnections()
		resp, err := client.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Errorf("Strict-Transport-Security = %q", got)
		}
		if resp.TLS.Version < tls.VersionTLS12 {
			t.Errorf("negotiated %x", resp.TLS.Version)
		}
	})

	t.Run("Reloaded", func(t *testing.T) {
		writeFile(t, certFile, c2.certPEM)
		writeFile(t, keyFile, c2.keyPEM)
		clk.Advance(5 * time.Second)
		if got := servedSerial(t, addr, roots); got != 1 {
			t.Errorf("served serial %d before the check interval, want 1", got)
		}
		clk.Advance(5 * time.Second)
		if got := servedSerial(t, addr, roots); got != 2 {
			t.Errorf("served serial %d after the change, want 2", got)
		}
		if !strings.Contains(logs.String(), "tls certificate reloaded") {
			t.Errorf("reload not logged:\n%s", logs)
		}
	})

	t.Run("MismatchedKeepsOld", func(t *testing.T) {
		writeFile(t, certFile, c3.certPEM) // with c2's key
		clk.Advance(10 * time.Second)
		if got := servedSerial(t, addr, roots); got != 2 {
			t.Errorf("served serial %d, want 2 (the old pair)", got)
		}
		err := cr.Reload()
		if err == nil || !strings.Contains(err.Error(), "private key does not match public key") {
			t.Errorf("Reload() = %v, want a mismatch error", err)
		}
		if n := strings.Count(logs.String(), "tls certificate not reloaded"); n != 1 {
			t.Errorf("the failure was logged %d times, want once:\n%s", n, logs)
		}
	})

	t.Run("GarbageKeepsOld", func(t *testing.T) {
		writeFile(t, keyFile, []byte("not a key"))
		clk.Advance(10 * time.Second)
		if got := servedSerial(t, addr, roots); got != 2 {
			t.Errorf("served serial %d, want 2", got)
		}
		if err := os.Remove(keyFile); err != nil {
			t.Fatal(err)
		}
		if err := cr.Reload(); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Reload() with the key gone = %v, want not exist", err)
		}
		if got := servedSerial(t, addr, roots); got != 2 {
			t.Errorf("served serial %d, want 2", got)
		}
	})

	t.Run("SecondFileCompletesPair", func(t *testing.T) {
		writeFile(t, keyFile, c3.keyPEM) // the cert file already holds c3
		if err := cr.Reload(); err != nil {
			t.Fatal(err)
		}
		if got := servedSerial(t, addr, roots); got != 3 {
			t.Errorf("served serial %d, want 3", got)
		}
	})

	t.Run("TLS11Refused", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{
			RootCAs: roots, ServerName: "localhost",
			MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
		})
		if err == nil {
			conn.Close()
			t.Fatal("a TLS 1.1 handshake succeeded")
		}
		if !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("err = %v, want a protocol version alert", err)
		}
	})
}

// TestNewCertReloaderErrors ensures an unreadable or mismatched pair is a
// clear error at construction.
func TestNewCertReloaderErrors(t *testing.T) {
	dir := t.TempDir()
	c1, c2 := newTestCert(t, 1), newTestCert(t, 2)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeFile(t, certFile, c1.certPEM)
	writeFile(t, keyFile, c2.keyPEM)
	logger, _ := newLogger()
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"NoCert", filepath.Join(dir, "missing.crt"), keyFile, "read tls certificate"},
		{"NoKey", certFile, filepath.Join(dir, "missing.key"), "read tls key"},
		{"Mismatch", certFile, keyFile, "private key does not match public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := edge.NewCertReloader(tc.cert, tc.key, edge.CertOptions{Logger: logger})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
