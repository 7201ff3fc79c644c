package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestReadyzURL ensures healthcheck asks the admin listener where a check
// from the same host reaches it: an unspecified host becomes loopback.
func TestReadyzURL(t *testing.T) {
	for _, tc := range []struct{ listen, want string }{
		{"", "http://127.0.0.1:8081/readyz"},
		{"127.0.0.1:9001", "http://127.0.0.1:9001/readyz"},
		{"0.0.0.0:8081", "http://127.0.0.1:8081/readyz"},
		{":8081", "http://127.0.0.1:8081/readyz"},
		{"[::]:8081", "http://[::1]:8081/readyz"},
		{"[::1]:8081", "http://[::1]:8081/readyz"},
		{"localhost:8081", "http://localhost:8081/readyz"},
		{"10.1.2.3:8081", "http://10.1.2.3:8081/readyz"},
	} {
		got, err := readyzURL(tc.listen)
		if err != nil || got != tc.want {
			t.Errorf("readyzURL(%q) = %q, %v; want %q", tc.listen, got, err, tc.want)
		}
	}
	if _, err := readyzURL("8081"); err == nil {
		t.Error("readyzURL(\"8081\"): no error for an address without a port")
	}
}

// runHealthcheckWith runs "hookbox healthcheck args..." with the given
// environment and returns its error and output.
func runHealthcheckWith(vars map[string]string, args ...string) (string, error) {
	env, out, errb := testEnv(vars)
	err := run(context.Background(), env, append([]string{"healthcheck"}, args...))
	return out.String() + errb.String(), err
}

// TestHealthcheck_RealServe ensures healthcheck passes against a running
// serve, finding its admin listener from HOOKBOX_ADMIN_LISTEN alone, and
// fails once serve is gone.
func TestHealthcheck_RealServe(t *testing.T) {
	vars, _ := e2eVars(t)
	m, _ := mustRunMain(t, vars)
	hc := map[string]string{"HOOKBOX_ADMIN_LISTEN": m.AdminAddr()}
	out, err := runHealthcheckWith(hc)
	if err != nil || !strings.Contains(out, `200 OK {"status":"ready"}`) {
		t.Fatalf("healthcheck of a ready serve: %v, %q", err, out)
	}
	m.Close()
	if _, err := runHealthcheckWith(hc); err == nil {
		t.Fatal("healthcheck passed after serve closed")
	}
}

// TestHealthcheck_Fails ensures anything but a 200 from /readyz fails the
// check, with the reason in the error: a 503, a redirect, a refused
// connection, and an answer slower than --timeout.
func TestHealthcheck_Fails(t *testing.T) {
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"store stalled"}`))
	}))
	defer unavailable.Close()
	redirect := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusFound))
	defer redirect.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/readyz"
	l.Close()

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"Unavailable", []string{"--url", unavailable.URL + "/readyz"}, `503 Service Unavailable {"status":"store stalled"}`},
		{"Redirect", []string{"--url", redirect.URL + "/readyz"}, "302 Found"},
		{"Refused", []string{"--url", closed}, "refused"},
		{"Timeout", []string{"--url", slow.URL + "/readyz", "--timeout", "100ms"}, "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := runHealthcheckWith(nil, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// TestHealthcheck_OK ensures a 200 from --url passes, whatever
// HOOKBOX_ADMIN_LISTEN says.
func TestHealthcheck_OK(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"status":"ready"}`))
	}))
	defer ok.Close()
	out, err := runHealthcheckWith(map[string]string{"HOOKBOX_ADMIN_LISTEN": "127.0.0.1:1"}, "--url", ok.URL+"/readyz")
	if err != nil || !strings.Contains(out, "200 OK") {
		t.Fatalf("%v, %q", err, out)
	}
}
